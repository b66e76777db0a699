// One call, from the moment python.js has encoded it until it settles: what it runs,
// where it is, its promise, its timeout and abort listener.
//
//   new --enqueue--> queued --send--> running --cancel--> cancelling
//    |                 ^                 |                    |
//    |                 +----enqueue------+ (withdrawn, or     | reply, or killGrace: kill
//    |                                     behind a crash)    v
//    +--send (made inside a JS callback)                   settled <--settle-- any state
//
// The pool decides what happens to a call (which queue, which worker, what a failure
// means); the Call carries it out and keeps its own fields consistent. Nothing else
// writes them: the pool, the worker and the stream go through the methods below.

import { callEnded } from './debug.js'
import { AbortError, TimeoutError } from './errors.js'

export class Call {
  promise
  trace = null // debug.js's record of it, when something listened as it went to the pool
  #id
  #target
  #chunks
  #timeout
  #signal
  #handles
  #callbacks
  #owner
  #via
  #onProgress
  #stream
  #state = 'new'
  #queue = null // the pool's queue it waits in, while queued
  #worker = null // the worker it was sent to, while running or cancelling
  #ahead = false // sent while its worker was busy (protocol section 3.7)
  #detached = false // DETACHED: no longer holds its worker's main thread
  #direct = false // made inside a JS callback and sent straight to the worker that called back
  #withdrawing = false // a WITHDRAW for it is in flight
  #closeOnDetach = false // its stream was closed before it started streaming
  #failure = undefined // its stream's items could not be decoded: the error it ends with
  #cancelError = null // what it settles with once cancelled
  #timer
  #killTimer
  #onAbort
  #resolve
  #reject

  // `id`: the call id of its CALL; `target`: how errors name what it calls; `chunks`: the
  // encoded CALL (or a Promise of it, see arrow.js); `refs`: the Refs it was encoded with
  // (handles it holds until sent, JS functions it passes); `options`: its opts(), if any;
  // `via`: the callback context it was made in; `stream`: a stream's hooks ({ push }).
  // Positional, so that making one costs no options object on the hot path.
  constructor(id, target, chunks, refs, options, timeout, via, stream) {
    this.#id = id
    this.#target = target
    this.#chunks = chunks
    this.#timeout = timeout
    this.#signal = options?.signal
    this.#handles = refs.handles // null when it names none
    this.#callbacks = refs.callbacks
    this.#owner = refs.table?.owner ?? undefined
    this.#via = via
    this.#onProgress = options?.onProgress
    this.#stream = stream
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  get id() { return this.#id }
  get target() { return this.#target }
  get chunks() { return this.#chunks }
  get timeout() { return this.#timeout }
  get signal() { return this.#signal }
  get callbacks() { return this.#callbacks }
  // The worker whose handles it names (only that one can run it), or undefined.
  get owner() { return this.#owner }
  get via() { return this.#via }
  get stream() { return this.#stream }
  get state() { return this.#state }
  get queue() { return this.#queue }
  get worker() { return this.#worker }
  get ahead() { return this.#ahead }
  get detached() { return this.#detached }
  get direct() { return this.#direct }
  get withdrawing() { return this.#withdrawing }
  get failure() { return this.#failure }

  // Wait for chunks still being encoded (an Arrow table waiting for apache-arrow).
  async loadChunks() {
    this.#chunks = await this.#chunks
  }

  // Arm its timeout and abort listener: they call abort(call, error), the pool's decision.
  watch(abort) {
    if (this.#timeout !== undefined) {
      this.#timer = setTimeout(() => abort(this, new TimeoutError(
        `the call to ${this.#target} did not finish within its timeout of ${this.#timeout} ms`)), this.#timeout)
    }
    if (this.#signal) {
      this.#onAbort = () => abort(this, this.abortError())
      this.#signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }

  // The AbortError its signal makes it fail with.
  abortError() {
    return new AbortError(`the call to ${this.#target} was aborted`, { cause: this.#signal.reason })
  }

  // Wait in `queue` (the caller puts it there): new, or back from a worker that never started it.
  enqueue(queue) {
    this.#state = 'queued'
    this.#queue = queue
    this.#worker = null
    this.#withdrawing = false
  }

  // Send it to `worker`; `ahead`: while the worker is busy; `direct`: made inside a callback.
  send(worker, ahead = false, direct = false) {
    this.#state = 'running'
    this.#queue = null
    this.#worker = worker
    this.#ahead = ahead
    this.#detached = false
    this.#direct = direct
    worker.send(this, ahead)
    this.dropHandles() // after the write: a RELEASE for them may follow from now on
  }

  // Ask its worker for it back (it was sent ahead); a 'withdrawn' event or its reply follows.
  withdraw() {
    this.#withdrawing = true
    this.#worker.withdraw(this)
  }

  // Interrupt it in Python, to settle with `error`; if it has not ended after `killGrace`
  // ms, settle it and kill its worker.
  cancel(error, killGrace) {
    const worker = this.#worker
    this.#state = 'cancelling'
    this.#cancelError = error
    worker.cancel(this)
    this.#killTimer = setTimeout(() => {
      this.settle(this.#cancelError)
      worker.kill()
    }, killGrace)
  }

  // A call being cancelled has ended (answered, withdrawn or lost): settle it as cancelled.
  settleCancelled() {
    this.settle(this.#cancelError)
  }

  // DETACHED: it no longer holds its worker's main thread. False if it already did not.
  detach() {
    if (this.#detached) return false
    this.#detached = true
    if (this.#closeOnDetach) this.#worker.closeStream(this) // return() came before the stream started
    return true
  }

  // Let a running stream send `n` more items; false if it runs nowhere now.
  credit(n) {
    if (this.#worker === null) return false
    this.#worker.credit(this, n)
    return true
  }

  // Stop a running stream (return()): now if it streams, else as soon as it does.
  closeStream() {
    if (this.#detached) this.#worker.closeStream(this)
    else this.#closeOnDetach = true
  }

  // A stream's items arrived (ignored once it failed or settled).
  pushItems(items) {
    if (this.#failure === undefined && this.#state !== 'settled') this.#stream.push(items)
  }

  // Items that cannot be decoded end the stream with `error`, once its worker has closed it.
  failStream(error) {
    if (this.#failure !== undefined) return
    this.#failure = error
    this.#worker.closeStream(this)
  }

  // PROGRESS arrived: tell its onProgress handler, if it has one and is not settled.
  progress(done, total, message) {
    if (this.#onProgress === undefined || this.#state === 'settled') return
    try {
      this.#onProgress({ done, total, message })
    } catch (error) {
      // The handler's own bug: report it as an event listener's would be, not as the call's.
      process.nextTick(() => { throw error })
    }
  }

  // Let go of the handles it names, which it held so that none is released before it is
  // sent (see handle.js): sent, or settled unsent.
  dropHandles() {
    if (!this.#handles) return
    for (const state of this.#handles) state.table.unhold(state)
    this.#handles = null
  }

  // Resolve with `value`, or reject with `error`; the first settle wins.
  settle(error, value) {
    if (this.#state === 'settled') return
    this.#state = 'settled'
    this.#queue = null
    clearTimeout(this.#timer)
    clearTimeout(this.#killTimer)
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.dropHandles()
    this.#chunks = null
    if (this.trace !== null) callEnded(this.trace, this.#worker, error)
    if (error) this.#reject(error)
    else this.#resolve(value)
  }
}
