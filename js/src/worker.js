// One Python worker process: spawn, handshake, calls in flight, output lines, exit.
//
// The protocol runs over the child's descriptor 3, a socket pair that libuv
// creates for a 'pipe' stdio entry. Descriptors 1 and 2 carry what Python code
// prints; they never carry frames. Descriptor 0 is /dev/null.
//
// A Worker knows nothing of queues, timeouts or retries: the pool (pool.js)
// decides what to send and what a failure means for each call. The worker
// reports replies and, once the process is gone, how it ended and which calls
// it still held.

import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { createRequire } from 'node:module'
import { decodeMessage, encodeMessage, peekEnvelope } from './codec.js'
import {
  ProtocolError, SerializationError, VersionMismatchError, WorkerCrashedError, WorkerStartError, fromErrorInfo,
} from './errors.js'
import { howToFix } from './find-python.js'
import { forEachLine } from './lines.js'
import { CALL, CANCEL, ERROR, FrameReader, HELLO, PROTOCOL_VERSION, RESULT } from './protocol.js'

const STDERR_TAIL_LINES = 40
const STDERR_TAIL_LINE_CHARS = 2000
const CLIENT = `pyferry-js/${createRequire(import.meta.url)('../package.json').version}`
const DRAIN_AFTER_EXIT_MS = 200
const KILL_AFTER_EOF_MS = 5000

export class Worker extends EventEmitter {
  #child
  #socket
  #pending = new Map() // call id -> job
  #stderrTail = []
  #hello = null
  #state = 'starting' // starting -> ready -> closing -> exited
  #failure = null // makes the error for the calls this worker still holds, once it failed
  #killed = false
  #interpreter
  #exited
  #killTimer = null
  calls = 0 // replies received: what maxCallsPerWorker counts

  // Spawn `<python> -m pyferry worker` and send our HELLO at once; calls may follow immediately.
  constructor({ interpreter, args, cwd, env, maxMessageBytes }) {
    super()
    this.#interpreter = interpreter
    this.#child = spawn(interpreter.command, ['-m', 'pyferry', 'worker', ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    })
    this.#socket = this.#child.stdio[3]
    this.#exited = new Promise((resolve) => this.once('exit', resolve))

    const reader = new FrameReader((header, buffers) => this.#onFrame(header, buffers), { maxMessageBytes })
    this.#socket.on('data', (chunk) => {
      if (this.#failure || this.#killed) return // it is being killed; nothing it sends counts
      try {
        reader.push(chunk)
      } catch (error) {
        const Class = error instanceof ProtocolError ? error.constructor : ProtocolError
        this.#fail(() => new Class(error.message, { cause: error.cause ?? error }))
        this.#child.kill('SIGKILL')
      }
    })
    this.#socket.on('error', () => {}) // EPIPE after a crash: the exit handler reports it
    forEachLine(this.#child.stdout, (line) => this.emit('stdout', line))
    forEachLine(this.#child.stderr, (line) => {
      this.#stderrTail.push(line.length > STDERR_TAIL_LINE_CHARS ? `${line.slice(0, STDERR_TAIL_LINE_CHARS)}…` : line)
      if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift()
      this.emit('stderr', line)
    })
    this.#child.on('error', (error) => this.#onSpawnError(error))
    this.#child.on('exit', (code, signal) => this.#onExit(code, signal))

    this.#write(encodeMessage([HELLO, 0, { protocol: PROTOCOL_VERSION, client: CLIENT }]))
    this.#setRef(true) // until the handshake: a start-up failure must be reported
  }

  get pid() {
    return this.#child.pid
  }

  // The worker's HELLO info, null until the handshake is done.
  get info() {
    return this.#hello
  }

  get state() {
    return this.#state
  }

  // Whether new calls may be sent: not failed, closing or gone.
  get usable() {
    return this.#failure === null && !this.#killed && (this.#state === 'starting' || this.#state === 'ready')
  }

  get pending() {
    return this.#pending.size
  }

  // The jobs sent and not yet answered.
  jobs() {
    return [...this.#pending.values()]
  }

  // Resolves with { pid, code, signal, started, closed, failure, jobs } once the process is gone:
  // `started` if the handshake was done, `closed` if close() was called, `failure()` makes the
  // error for `jobs`, the calls it still held.
  get exited() {
    return this.#exited
  }

  // Send job.chunks (an encoded CALL with id job.id); the reply comes as a 'reply' event.
  send(job) {
    this.#pending.set(job.id, job)
    if (this.#pending.size === 1) this.#setRef(true)
    this.#write(job.chunks)
  }

  // Ask Python to interrupt the call; its reply (result, error or Cancelled) still follows.
  cancel(job) {
    if (this.#pending.has(job.id) && this.#state !== 'exited') this.#write(encodeMessage([CANCEL, job.id]))
  }

  // End the request channel (EOF): the worker exits once its running call, if any, is abandoned
  // or done; it is killed if it has not exited within 5 s.
  close() {
    if (this.#state === 'exited' || this.#state === 'closing') return this.#exited
    this.#state = 'closing'
    this.#socket.end()
    this.#setRef(true)
    this.#killTimer = setTimeout(() => this.#child.kill('SIGKILL'), KILL_AFTER_EOF_MS)
    return this.#exited
  }

  // Kill the process now (SIGKILL); the exit reports the calls it holds as crashed.
  kill() {
    this.#killed = true
    if (this.#state !== 'exited') {
      this.#setRef(true) // whoever kills it waits for the exit
      this.#child.kill('SIGKILL')
    }
    return this.#exited
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
      // envelope names a call in flight, only that call fails. A protocol
      // violation (an unknown extension type) fails the worker.
      const [kind, id] = peekEnvelope(header) ?? []
      const job = kind === RESULT || kind === ERROR ? this.#pending.get(id) : undefined
      if (job === undefined || error instanceof ProtocolError) throw error
      this.#reply(id, new SerializationError(`the reply cannot be decoded: ${error.message}`, 'result', { cause: error }))
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
    if (!this.#pending.has(id)) throw new ProtocolError(`reply for unknown call id ${id}`)
    if (kind === RESULT) this.#reply(id, null, body)
    else this.#reply(id, fromErrorInfo(body))
  }

  #reply(id, error, value) {
    const job = this.#pending.get(id)
    this.#pending.delete(id)
    this.calls++
    if (this.#pending.size === 0 && this.#state !== 'closing') this.#setRef(false)
    this.emit('reply', job, error, value)
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
    this.emit('ready', info)
  }

  // Mark the worker failed; the calls it holds reject with `makeError()` once it has exited.
  // `makeError` builds a fresh error per call, so that each caller's stack is its own.
  #fail(makeError) {
    this.#failure ??= makeError
  }

  #onSpawnError(error) {
    this.#fail(() => new WorkerStartError(
      `could not start the Python worker: ${error.message}\n${howToFix(this.#interpreter)}`,
      { cause: error },
    ))
    this.#finish(null, null) // there is no 'exit' after a failed spawn
  }

  async #onExit(code, signal) {
    if (this.#state === 'exited') return
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
    this.#finish(code, signal)
  }

  #finish(code, signal) {
    if (this.#state === 'exited') return
    const started = this.#hello !== null
    const closed = this.#state === 'closing'
    this.#state = 'exited'
    clearTimeout(this.#killTimer)
    const stderr = [...this.#stderrTail]
    const pid = this.#child.pid
    let failure = this.#failure
    if (failure === null && !started) {
      const how = signal ?? `code ${code}`
      failure = () => new WorkerStartError(
        `the Python worker exited during start-up (${how})` +
          (stderr.length ? `:\n  ${stderr.join('\n  ')}` : '') + `\n${howToFix(this.#interpreter)}`,
      )
    }
    failure ??= () => new WorkerCrashedError({ pid, exitCode: code, signal, stderr })
    const jobs = [...this.#pending.values()]
    this.#pending.clear()
    this.#setRef(false)
    this.emit('exit', { pid, code, signal, started, closed, failure, jobs })
  }
}
