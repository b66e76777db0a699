// One Python worker process: spawn, handshake, calls in flight, output lines, exit.
//
// The protocol runs over the child's descriptor 3, a socket pair that libuv
// creates for a 'pipe' stdio entry. Descriptors 1 and 2 carry what Python code
// prints; they never carry frames. Descriptor 0 is /dev/null.

import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { createRequire } from 'node:module'
import { decodeMessage, encodeCall, encodeMessage, peekEnvelope } from './codec.js'
import {
  ClosedError, ProtocolError, SerializationError, VersionMismatchError, WorkerCrashedError, WorkerStartError,
  fromErrorInfo,
} from './errors.js'
import { howToFix } from './find-python.js'
import { forEachLine } from './lines.js'
import { CALL, ERROR, FrameReader, HELLO, PROTOCOL_VERSION, RESULT, messageBytes } from './protocol.js'

const STDERR_TAIL = 20
const CLIENT = `pyferry-js/${createRequire(import.meta.url)('../package.json').version}`
const DRAIN_AFTER_EXIT_MS = 200

// Promise.withResolvers() arrived in Node 22; this is the same for Node 20.
function deferred() {
  let resolve
  let reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

export class Worker extends EventEmitter {
  #child
  #socket
  #pending = new Map()
  #nextId = 1
  #stderrTail = []
  #hello = null
  #state = 'starting' // starting -> ready -> closing -> exited
  #ready
  #exited
  #failure = null // makes the error each later call rejects with, once the worker is unusable
  #interpreter
  #maxMessageBytes

  // Spawn `<python> -m pyferry worker` and send our HELLO at once; calls may follow immediately.
  constructor({ interpreter, paths = [], cwd, env, maxMessageBytes }) {
    super()
    this.#interpreter = interpreter
    this.#maxMessageBytes = maxMessageBytes
    const args = ['-m', 'pyferry', 'worker', '--max-message-bytes', String(maxMessageBytes)]
    for (const p of paths) args.push('--path', p)
    this.#child = spawn(interpreter.command, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    })
    this.#socket = this.#child.stdio[3]
    this.#ready = deferred()
    this.#ready.promise.catch(() => {}) // observed through ready()/call(); never unhandled
    this.#exited = deferred() // resolves on 'exit', or on a spawn 'error' (there is no 'exit' then)

    const reader = new FrameReader((header, buffers) => this.#onFrame(header, buffers), { maxMessageBytes })
    this.#socket.on('data', (chunk) => {
      try {
        reader.push(chunk)
      } catch (error) {
        this.#fail(() => error instanceof ProtocolError
          ? new error.constructor(error.message, { cause: error.cause }) // same class, own stack
          : new ProtocolError(error.message, { cause: error }))
        this.#child.kill('SIGKILL')
      }
    })
    this.#socket.on('error', () => {}) // EPIPE after a crash: the exit handler reports it
    forEachLine(this.#child.stdout, (line) => this.emit('stdout', line))
    forEachLine(this.#child.stderr, (line) => {
      this.#stderrTail.push(line)
      if (this.#stderrTail.length > STDERR_TAIL) this.#stderrTail.shift()
      this.emit('stderr', line)
    })
    this.#child.on('error', (error) => this.#onSpawnError(error))
    this.#child.on('exit', (code, signal) => this.#onExit(code, signal))

    this.#write(encodeMessage([HELLO, 0, { protocol: PROTOCOL_VERSION, client: CLIENT }]))
    this.#setRef(true)
  }

  get pid() {
    return this.#child.pid
  }

  get info() {
    return this.#hello
  }

  // False once the worker failed, is closing or has exited: route new calls elsewhere.
  get usable() {
    return this.#failure === null && (this.#state === 'starting' || this.#state === 'ready')
  }

  get pending() {
    return this.#pending.size
  }

  // Resolves with the worker's HELLO info once the handshake is done.
  ready() {
    return this.#ready.promise
  }

  // Send a CALL; resolves with the result or rejects with a PyferryError.
  call(target, args, kwargs) {
    if (this.#failure) return Promise.reject(this.#failure())
    if (this.#state === 'closing' || this.#state === 'exited') {
      return Promise.reject(new ClosedError('the worker is closing'))
    }
    const id = this.#nextId++
    let chunks
    try {
      chunks = encodeCall(CALL, id, target, args, kwargs)
    } catch (error) {
      return Promise.reject(error)
    }
    const size = messageBytes(chunks)
    if (size > this.#maxMessageBytes) {
      return Promise.reject(new SerializationError(
        `the call's message of ${size} bytes exceeds maxMessageBytes (${this.#maxMessageBytes})`, 'args'))
    }
    const call = deferred()
    this.#pending.set(id, call)
    if (this.#pending.size === 1) this.#setRef(true)
    this.#write(chunks)
    return call.promise
  }

  // Let calls in flight finish, then end the channel (EOF) and wait for the exit.
  // The process is killed if it has not exited `killAfter` ms after EOF.
  async close(killAfter = 5000) {
    if (this.#state !== 'exited') {
      this.#state = 'closing'
      while (this.#pending.size) {
        await Promise.allSettled([...this.#pending.values()].map((p) => p.promise))
      }
      this.#socket.end()
      this.#setRef(true)
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), killAfter)
      try {
        await this.#exited.promise
      } finally {
        clearTimeout(timer)
      }
    }
  }

  // Kill the process now; calls in flight reject with WorkerCrashedError.
  kill(signal = 'SIGKILL') {
    this.#child.kill(signal)
    return this.#exited.promise
  }

  #write(chunks) {
    if (chunks.length === 1) {
      this.#socket.write(chunks[0])
      return
    }
    this.#socket.cork()
    for (const chunk of chunks) this.#socket.write(chunk)
    this.#socket.uncork()
  }

  #setRef(on) {
    for (const handle of [this.#child, this.#socket, this.#child.stdout, this.#child.stderr]) {
      if (on) handle.ref?.()
      else handle.unref?.()
    }
  }

  #onFrame(header, buffers) {
    let message
    try {
      message = decodeMessage(header, buffers)
    } catch (error) {
      // Frames are length-prefixed, so the stream is still in step: if the
      // envelope names a call in flight, only that call fails.
      const [kind, id] = peekEnvelope(header) ?? []
      const call = kind === RESULT || kind === ERROR ? this.#pending.get(id) : undefined
      if (call === undefined) throw error
      this.#settle(id)
      call.reject(new SerializationError(`the reply cannot be decoded: ${error.message}`, 'result', { cause: error }))
      return
    }
    if (!Array.isArray(message) || message.length < 3) {
      throw new ProtocolError('a message must be an array [kind, id, ...]')
    }
    const [kind, id, body] = message
    if (kind === HELLO) return this.#onHello(body)
    if (kind !== RESULT && kind !== ERROR) throw new ProtocolError(`unexpected message kind ${kind}`)
    if (id === 0 && kind === ERROR) {
      // The worker as a whole failed (bad frame, version mismatch); it exits next.
      this.#fail(() => fromErrorInfo(body))
      return
    }
    const call = this.#pending.get(id)
    if (call === undefined) throw new ProtocolError(`reply for unknown call id ${id}`)
    this.#settle(id)
    if (kind === RESULT) call.resolve(body)
    else call.reject(fromErrorInfo(body))
  }

  #onHello(info) {
    if (this.#hello !== null || info === null || typeof info !== 'object') {
      throw new ProtocolError('unexpected HELLO')
    }
    if (info.protocol !== PROTOCOL_VERSION) {
      throw new VersionMismatchError(
        `worker ${info.pid} (pyferry ${info.pyferry}) speaks protocol version ${info.protocol}, ` +
          `this client (${CLIENT}) speaks ${PROTOCOL_VERSION}`,
      )
    }
    this.#hello = info
    if (this.#state === 'starting') this.#state = 'ready'
    // Started with no call waiting (start()): an idle worker must not hold Node open.
    if (this.#pending.size === 0 && this.#state === 'ready') this.#setRef(false)
    this.#ready.resolve(info)
  }

  #settle(id) {
    this.#pending.delete(id)
    if (this.#pending.size === 0 && this.#state !== 'closing') this.#setRef(false)
  }

  // Mark the worker unusable: reject what is in flight and every later call with `error`.
  // `makeError` builds a fresh error per call, so that each caller's stack is its own.
  #fail(makeError) {
    this.#failure ??= makeError
    this.#ready.reject(this.#failure())
    for (const [id, call] of this.#pending) {
      this.#pending.delete(id)
      call.reject(this.#failure())
    }
    this.#setRef(false)
  }

  #onSpawnError(error) {
    this.#state = 'exited'
    this.#fail(() => new WorkerStartError(
      `could not start the Python worker: ${error.message}\n${howToFix(this.#interpreter)}`,
      { cause: error },
    ))
    this.#exited.resolve()
    this.emit('exit', { code: null, signal: null })
  }

  async #onExit(code, signal) {
    const wasStarting = this.#hello === null
    const expected = this.#state === 'closing'
    this.#state = 'exited'
    // 'exit' can come before the last bytes the process wrote: let its replies
    // (calls that did finish) and its last stderr lines (a traceback, faulthandler's
    // dump) arrive first. A grandchild holding stderr open must not stall this, hence the bound.
    const streams = [this.#socket, this.#child.stderr].filter((s) => !s.readableEnded && !s.destroyed)
    if (streams.length) {
      await Promise.race([
        Promise.all(streams.map((s) => once(s, 'end').catch(() => {}))),
        new Promise((resolve) => setTimeout(resolve, DRAIN_AFTER_EXIT_MS).unref()),
      ])
    }
    const stderr = [...this.#stderrTail]
    if (wasStarting && !this.#failure) {
      this.#fail(() => new WorkerStartError(
        `the Python worker exited during start-up (${signal ?? `code ${code}`})` +
          (stderr.length ? `:\n  ${stderr.join('\n  ')}` : '') + `\n${howToFix(this.#interpreter)}`,
      ))
    } else if (!expected || this.#pending.size) {
      this.#fail(() => new WorkerCrashedError({ pid: this.#child.pid, exitCode: code, signal, stderr }))
    } else {
      this.#failure ??= () => new ClosedError('the worker was closed')
    }
    this.#setRef(false)
    this.#exited.resolve()
    this.emit('exit', { code, signal })
  }
}
