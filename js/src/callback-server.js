// The JS side of callbacks (protocol section 3.3): a call may pass JS functions, which
// its worker calls back (CALLBACK) while the call runs. One CallbackServer per worker
// runs them and answers CALLBACK_RESULT or CALLBACK_ERROR.
//
// Each function runs in an AsyncLocalStorage context naming its worker, so that the
// calls it makes go straight to that worker (pool.js), which waits for the answer and
// runs them meanwhile. A function is served from the send of the call that passed it
// until that call is answered or withdrawn; a CALLBACK for one that is gone is answered
// with a CallbackExpiredError.

import { AsyncLocalStorage } from 'node:async_hooks'
import { Refs, encodeAnswer, encodeMessage } from './codec.js'
import { ProtocolError, PyferryError, SerializationError } from './errors.js'
import { CALLBACK_ERROR, CALLBACK_RESULT, messageBytes } from './protocol.js'

// While a JS callback runs: { worker, active }. Calls made in it go to that worker (pool.js).
const callbackContext = new AsyncLocalStorage()
let runningCallbacks = 0 // JS callbacks of any worker whose context is active

// The callback context a call is made in ({ worker, active }), or undefined outside any.
export function currentCallback() {
  if (runningCallbacks > 0) return callbackContext.getStore()
  // No callback runs, so no context could be active. While enabled, the AsyncLocalStorage
  // has Node (20, 22) run a hook for every promise made: ~2 µs more Node CPU for each
  // small call after the first callback. Disable it until the next callback's run().
  callbackContext.disable()
  return undefined
}

export class CallbackServer {
  #functions = new Map() // callback id -> function, for the calls in flight
  #worker
  #handles
  #send
  #maxMessageBytes

  // `worker`: what the context names; `handles`: its HandleTable (answers may name those
  // handles only); `send(chunks)`: write a frame if the worker still takes writes.
  constructor({ worker, handles, send, maxMessageBytes }) {
    this.#worker = worker
    this.#handles = handles
    this.#send = send
    this.#maxMessageBytes = maxMessageBytes
  }

  // Serve the functions of a call just sent (a Map callback id -> function).
  add(callbacks) {
    for (const [id, fn] of callbacks) this.#functions.set(id, fn)
  }

  // Stop serving the functions of a call that was answered or withdrawn.
  remove(callbacks) {
    for (const id of callbacks.keys()) this.#functions.delete(id)
  }

  // Stop serving every function: the worker is gone.
  clear() {
    this.#functions.clear()
  }

  // Run the JS function `callbackId` with `args` and answer CALLBACK_RESULT or CALLBACK_ERROR.
  call(cid, callbackId, args) {
    if (!Number.isSafeInteger(cid) || cid <= 0 || !Array.isArray(args)) {
      throw new ProtocolError('a CALLBACK must be [6, cid, callback id, args] with cid a positive integer')
    }
    const fn = this.#functions.get(callbackId)
    if (fn === undefined) {
      this.#answerError(cid, {
        type: 'CallbackExpiredError',
        message: `JS callback ${callbackId} is gone: the call it was passed to has ended`,
        traceback: '',
        code: 'PYFERRY_CALLBACK',
      })
      return
    }
    const context = { worker: this.#worker, active: true }
    runningCallbacks++
    const done = () => {
      context.active = false
      runningCallbacks--
    }
    let result
    try {
      result = callbackContext.run(context, fn, ...args)
    } catch (error) {
      done()
      this.#answerError(cid, errorInfo(error, 'PYFERRY_JS'))
      return
    }
    Promise.resolve(result).then(
      (value) => {
        done()
        this.#answerValue(cid, value)
      },
      (error) => {
        done()
        this.#answerError(cid, errorInfo(error, 'PYFERRY_JS'))
      },
    )
  }

  // Answer CALLBACK `cid` with `error`: its arguments could not be decoded.
  refuse(cid, error) {
    this.#answerError(cid, errorInfo(error, codeOf(error)))
  }

  #answerValue(cid, value) {
    let chunks
    try {
      // An answer may name handles of this worker only, and no functions.
      chunks = encodeAnswer(CALLBACK_RESULT, cid, value, new Refs({ table: this.#handles }))
    } catch (error) {
      this.refuse(cid, error)
      return
    }
    Promise.resolve(chunks).then((ready) => {
      const size = messageBytes(ready)
      if (size > this.#maxMessageBytes) {
        throw new SerializationError(`the callback's answer of ${size} bytes exceeds maxMessageBytes (${this.#maxMessageBytes})`, 'result')
      }
      this.#send(ready)
    }).catch((error) => this.refuse(cid, error))
  }

  #answerError(cid, info) {
    this.#send(encodeMessage([CALLBACK_ERROR, cid, info]))
  }
}

// The error-info of a CALLBACK_ERROR for `error`, whatever was thrown (protocol section 3.3).
function errorInfo(error, code) {
  if (error instanceof Error) {
    return { type: text(error.name, 'Error'), message: text(error.message, ''), traceback: text(error.stack, ''), code }
  }
  let message
  try {
    message = String(error)
  } catch {
    message = `<unprintable ${typeof error}>`
  }
  return { type: 'Error', message: message.toWellFormed(), traceback: '', code }
}

// The code of an answer this client could not give: pyferry's own error, else the JS function's.
function codeOf(error) {
  return error instanceof PyferryError ? error.code : 'PYFERRY_JS'
}

function text(value, fallback) {
  return typeof value === 'string' ? value.toWellFormed() : fallback
}
