// One Python worker process: spawn, handshake, calls in flight, output lines, exit.
//
// The protocol runs over the child's descriptor 3, a socket pair that libuv creates
// for a 'pipe' stdio entry (transport 'pipe'), or over a loopback TCP connection the
// worker makes to a listener of ours and proves with a one-time token (transport 'tcp',
// tcp-listener.js; the process is spawned once the listener has its port), framed by
// transport.js. Descriptors 1 and 2 carry what Python code prints; they never carry
// frames. Descriptor 0 is /dev/null.
//
// A Worker knows nothing of queues, timeouts or retries: the pool (pool.js)
// decides what to send and what a failure means for each call. The worker
// reports replies and, once the process is gone, how it ended and which calls
// it still held.
//
// Besides replies it hands CALLBACKs (a JS function passed in the call's arguments)
// to its CallbackServer (callback-server.js), and STREAM_ITEMS, PROGRESS and DETACHED
// to the Call they belong to. A call holds the worker (`busy`) until it is answered or
// DETACHED.

import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { CallbackServer } from './callback-server.js'
import { nowMs } from './clock.js'
import { encodeMessage, markAhead, peekEnvelope } from './codec.js'
import { workerExited, workerReady, workerSpawned } from './debug.js'
import {
  ProtocolError, SerializationError, VersionMismatchError, WorkerCrashedError, WorkerStartError,
  fromErrorInfo,
} from './errors.js'
import { HandleTable } from './handle.js'
import { InFlight } from './in-flight.js'
import { Intake } from './intake.js'
import { Tail, forEachLine } from './lines.js'
import {
  CALLBACK, CANCEL, DETACHED, ERROR, HELLO, PROGRESS, PROTOCOL_VERSION, RELEASE, RESULT, STREAM_CLOSE,
  STREAM_CREDIT, STREAM_END, STREAM_ITEMS, WITHDRAW, WITHDRAWN,
} from './protocol.js'
import { VERSION, exitedAtStart, mismatch, pyferryArgv, startFailure } from './runtime.js'
import { TOKEN_VARIABLE, TokenListener } from './tcp-listener.js'
import { Transport } from './transport.js'

export { VERSION } from './runtime.js'
const CLIENT = `pyferry-js/${VERSION}`
const DRAIN_AFTER_EXIT_MS = 200
const KILL_AFTER_EOF_MS = 5000

export class Worker extends EventEmitter {
  #child = null // null until spawned (transport 'tcp': once the listener has its port)
  #listener = null // transport 'tcp': until the worker has connected
  #transport
  #pending = new InFlight() // the calls sent and not yet answered
  #intake
  #callbacks // the CallbackServer running the JS functions of the calls in flight
  #stderrTail = new Tail(40, 2000) // what a crash or start error quotes: lines, chars each
  #hello = null
  #state = 'starting' // starting -> ready -> closing -> exited
  #failure = null // makes the error for the calls this worker still holds, once it failed
  #killed = false
  #interpreter
  #exited
  #killTimer = null
  #spawnedAt = nowMs()
  calls = 0 // answers received (RESULT, ERROR, STREAM_END): what maxCallsPerWorker counts
  frames = 0 // frames received

  // Spawn `<python> -m pyferry worker` (or the bundled runtime's launcher, runtime.js) and
  // send our HELLO at once; calls may follow immediately. `interpreter`: findPython()'s
  // choice; `client` is what its handles call through ({ invoke(target, args, options) });
  // `transport`: 'pipe' or 'tcp'; `connectTimeout`: ms a 'tcp' worker has to connect.
  constructor({ interpreter, args, cwd, env, maxMessageBytes, client, transport = 'pipe', connectTimeout = 30_000 }) {
    super()
    this.#interpreter = interpreter
    this.#exited = new Promise((resolve) => this.once('exit', resolve))
    this.handles = new HandleTable({
      pid: undefined,
      client,
      owner: this,
      send: (ids) => this.#release(ids),
      onEmpty: () => this.emit('unpinned'),
    })
    this.#intake = new Intake({
      context: { handle: (id, type, repr) => this.handles.adopt(id, type, repr) },
      ignoring: () => this.#failure !== null || this.#killed,
      onMessage: (message) => this.#onMessage(message),
      onUndecodable: (header, error, failure) => this.#undecodable(header, error, failure),
      onBroken: (error) => this.#broken(error),
    })
    this.#callbacks = new CallbackServer({
      worker: this,
      handles: this.handles,
      send: (chunks) => {
        if (this.#writable()) this.#write(chunks)
      },
      maxMessageBytes,
    })
    this.#transport = new Transport(null, {
      onFrame: (header, buffers) => this.#onFrame(header, buffers),
      onBroken: (error) => this.#broken(error),
      maxMessageBytes,
    })
    const argv = ['worker', ...args]
    if (transport === 'tcp') {
      this.#listen(argv, { cwd, env }, connectTimeout)
    } else {
      this.#spawn(argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })
      this.#transport.attach(this.#child.stdio[3])
    }
    this.#write(encodeMessage([HELLO, 0, { protocol: PROTOCOL_VERSION, client: CLIENT }]))
    this.#setRef(true) // until the handshake: a start-up failure must be reported
  }

  #spawn(args, { cwd, env, stdio }) {
    const argv = pyferryArgv(this.#interpreter, args)
    const child = spawn(this.#interpreter.command, argv, { cwd, env, stdio, windowsHide: true })
    this.#child = child
    this.handles.pid = child.pid
    // The debug channel never shows the token (it proves the one connection, then means nothing).
    const shown = env?.[TOKEN_VARIABLE] === undefined ? env : { ...env, [TOKEN_VARIABLE]: '(one-time token)' }
    workerSpawned({ pid: child.pid, interpreter: this.#interpreter, args: argv, cwd, env: shown })
    forEachLine(child.stdout, (line) => this.emit('stdout', line))
    forEachLine(child.stderr, (line) => {
      this.#stderrTail.push(line)
      this.emit('stderr', line)
    })
    child.on('error', (error) => this.#onSpawnError(error))
    child.on('exit', (code, signal) => this.#onExit(code, signal))
    if (this.#refd) this.#setRef(true)
    this.emit('spawn', child.pid)
  }

  // transport 'tcp': listen, then spawn the worker with the port and the token; its
  // connection becomes the channel (tcp-listener.js), anything else fails the start.
  #listen(args, { cwd, env }, connectTimeout) {
    const listener = new TokenListener({
      onAccept: (socket) => {
        this.#listener = null
        this.#transport.attach(socket)
      },
      onRefuse: (message) => {
        this.#listener = null
        this.#fail(() => new WorkerStartError(message))
        this.#child?.kill('SIGKILL')
      },
    })
    this.#listener = listener
    listener.listen().then((port) => {
      if (this.#listener !== listener) return // killed or closed meanwhile
      const childEnv = { ...env, [TOKEN_VARIABLE]: listener.token }
      this.#spawn([...args, '--connect', `tcp:127.0.0.1:${port}`], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
      listener.deadline(connectTimeout)
      listener.ref(this.#refd)
    }, (error) => {
      this.#listener = null
      this.#onSpawnError(error)
    })
  }

  // Python's own pid once its HELLO came (on Windows a venv's Scripts\python.exe is a
  // launcher that starts the real interpreter: the spawned process is not Python), else
  // the spawned process's; undefined until it is spawned (transport 'tcp': a tick after
  // the constructor).
  get pid() {
    return this.#hello?.pid ?? this.#child?.pid
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

  // Calls sent and not answered (DETACHED ones included).
  get pending() {
    return this.#pending.size
  }

  // Whether a call holds its main thread; calls sent ahead while it was busy; the Calls sent
  // and not yet answered, oldest first (in-flight.js).
  get busy() { return this.#pending.busy }
  get ahead() { return this.#pending.ahead }
  jobs() { return this.#pending.list() }

  // Resolves with { pid, code, signal, started, closed, failure, jobs } once the process is gone:
  // `started` if the handshake was done, `closed` if close() was called, `failure()` makes the
  // error for `jobs`, the calls it still held.
  get exited() {
    return this.#exited
  }

  // Send a Call (call.send() does, having marked it sent); the reply comes as a 'reply'
  // event. `ahead`: sent while the worker is busy; it may come back as a 'withdrawn' event.
  send(call, ahead = false) {
    this.#pending.add(call, ahead)
    if (call.callbacks) this.#callbacks.add(call.callbacks)
    if (this.#pending.size === 1) this.#setRef(true)
    this.#write(ahead ? markAhead(call.chunks) : call.chunks)
  }

  // Take back a call sent in this turn of the event loop, before it left: true if it never
  // reaches Python (it is forgotten here, as if never sent). Not a call sent ahead: a
  // CANCEL reaches it before it can start anyway (it waits behind the running call).
  unsend(call) {
    if (call.ahead || !this.#pending.has(call.id) || !this.#transport.unwrite(call.chunks)) return false
    this.#forget(call)
    return true
  }

  // Ask for a call sent ahead back: a 'withdrawn' event if it had not started, else its reply.
  withdraw(call) {
    this.#control(call, [WITHDRAW, call.id])
  }

  // Ask Python to interrupt the call; its reply (result, error or Cancelled) still follows.
  cancel(call) {
    this.#control(call, [CANCEL, call.id])
  }

  // Let a stream send `n` more items.
  credit(call, n) {
    this.#control(call, [STREAM_CREDIT, call.id, n])
  }

  // Ask a stream to stop; its STREAM_END (or ERROR) follows.
  closeStream(call) {
    this.#control(call, [STREAM_CLOSE, call.id])
  }

  #control(call, message) {
    if (this.#pending.has(call.id) && this.#writable()) this.#write(encodeMessage(message))
  }

  #writable() {
    return this.#state !== 'exited' && this.#transport.writable
  }

  #release(ids) {
    if (this.#writable()) this.#write(encodeMessage([RELEASE, 0, ids]))
  }

  // End the request channel (EOF): the worker exits once its running call, if any, is abandoned
  // or done; it is killed if it has not exited within 5 s.
  close() {
    if (this.#state === 'exited' || this.#state === 'closing') return this.#exited
    this.#state = 'closing'
    this.#transport.end()
    this.#setRef(true)
    this.#killTimer = setTimeout(() => this.#child?.kill('SIGKILL'), KILL_AFTER_EOF_MS)
    if (this.#child === null) this.#abandon()
    return this.#exited
  }

  // Kill the process now (SIGKILL); the exit reports the calls it holds as crashed.
  kill() {
    this.#killed = true
    this.#transport.ignoreInput() // it is being killed; nothing it sends counts
    if (this.#state !== 'exited') {
      this.#setRef(true) // whoever kills it waits for the exit
      if (this.#child === null) this.#abandon()
      else this.#child.kill('SIGKILL')
    }
    return this.#exited
  }

  // Messages written in one turn of the event loop leave in one writev (transport.js).
  #write(chunks) {
    this.#transport.write(chunks)
  }

  // Closed or killed before the process was spawned (transport 'tcp'): it never will be.
  #abandon() {
    this.#listener?.close()
    this.#listener = null
    this.#fail(() => new WorkerStartError('the worker was closed before its process started'))
    process.nextTick(() => this.#finish(null, null))
  }

  #refd = true
  #setRef(on) {
    this.#refd = on
    this.#transport.ref(on)
    this.#listener?.ref(on)
    const child = this.#child
    if (child === null) return
    for (const handle of [child, child.stdout, child.stderr]) {
      if (on) handle.ref?.()
      else handle.unref?.()
    }
  }

  // The stream broke the protocol: fail what this worker holds and kill it. Even when idle
  // it holds Node open until it has exited: the pool replaces it then.
  #broken(error) {
    const Class = error instanceof ProtocolError ? error.constructor : ProtocolError
    this.#fail(() => new Class(error.message, { cause: error.cause ?? error }))
    this.#setRef(true)
    this.#child?.kill('SIGKILL')
  }

  #onFrame(header, buffers) {
    this.frames++
    this.#intake.take(header, buffers)
  }

  // A message that could not be decoded; `failure`: the error for its call, if it names one.
  #undecodable(header, error, failure = new SerializationError(`the reply cannot be decoded: ${error.message}`, 'result', { cause: error })) {
    // Frames are length-prefixed, so the stream is still in step: if the
    // envelope names a call in flight, only that call fails (a callback's
    // undecodable arguments fail in Python). A protocol violation (an unknown
    // extension type) fails the worker.
    if (error instanceof ProtocolError) throw error
    const [kind, id] = peekEnvelope(header) ?? []
    if (kind === CALLBACK && Number.isSafeInteger(id) && id > 0) {
      this.#callbacks.refuse(id, error)
      return
    }
    const call = kind === RESULT || kind === ERROR || kind === STREAM_ITEMS ? this.#pending.get(id) : undefined
    if (call === undefined) throw error
    if (kind === STREAM_ITEMS) call.failStream(failure)
    else this.#answer(call, failure)
  }

  #onMessage(message) {
    if (!Array.isArray(message) || message.length < 3) {
      throw new ProtocolError('a message must be an array [kind, id, ...]')
    }
    const [kind, id, body] = message
    switch (kind) {
      case HELLO:
        return this.#onHello(body)
      case RESULT:
        return this.#answer(this.#call(id, 'RESULT', false), null, body)
      case ERROR:
        // id 0: the worker as a whole failed (bad frame, version mismatch); it exits next.
        if (id === 0) return this.#fail(() => fromErrorInfo(body))
        return this.#answer(this.#call(id, 'ERROR'), fromErrorInfo(body))
      case STREAM_END:
        return this.#answer(this.#call(id, 'STREAM_END', true), null, undefined)
      case STREAM_ITEMS:
        return this.#onItems(this.#call(id, 'STREAM_ITEMS', true), body)
      case PROGRESS:
        return this.#onProgress(this.#call(id, 'PROGRESS'), body)
      case DETACHED:
        return this.#onDetached(this.#call(id, 'DETACHED'))
      case WITHDRAWN:
        return this.#onWithdrawn(this.#call(id, 'WITHDRAWN'))
      case CALLBACK:
        return this.#callbacks.call(id, body, message[3])
      default:
        throw new ProtocolError(`unexpected message kind ${kind}`)
    }
  }

  // The Call a message names; `stream`: whether the kind belongs to streams only (true),
  // to plain calls only (false) or to both (undefined).
  #call(id, kind, stream) {
    const call = this.#pending.get(id)
    if (call === undefined) throw new ProtocolError(`${kind} for unknown call id ${id}`)
    if (stream !== undefined && Boolean(call.stream) !== stream) {
      throw new ProtocolError(`${kind} for call id ${id}, which is ${call.stream ? 'a stream' : 'not a stream'}`)
    }
    return call
  }

  // The call is answered: RESULT, ERROR, STREAM_END, or a reply that could not be decoded.
  #answer(call, error, value) {
    this.#forget(call)
    this.calls++
    this.emit('reply', call, call.failure ?? error, value)
  }

  // The call never started; the pool may send it elsewhere.
  #onWithdrawn(call) {
    this.#forget(call)
    this.emit('withdrawn', call)
  }

  // Forget a call that is answered or withdrawn.
  #forget(call) {
    this.#pending.remove(call)
    if (call.callbacks) this.#callbacks.remove(call.callbacks)
    if (this.#pending.size === 0 && this.#state !== 'closing') this.#setRef(false)
  }

  #onItems(call, items) {
    if (!Array.isArray(items)) throw new ProtocolError(`STREAM_ITEMS for call id ${call.id} without an array of items`)
    call.pushItems(items)
  }

  #onProgress(call, body) {
    if (!Array.isArray(body) || body.length !== 3) {
      throw new ProtocolError(`PROGRESS for call id ${call.id} is not [done, total, message]`)
    }
    call.progress(body[0], body[1], body[2])
  }

  #onDetached(call) {
    if (!call.detach()) return
    this.#pending.letGo(call)
    this.emit('free')
  }

  #onHello(info) {
    if (this.#hello !== null || info === null || typeof info !== 'object') {
      throw new ProtocolError('unexpected HELLO')
    }
    // The halves must be the same version (README "Install"): never run a pair silently.
    if (info.protocol !== PROTOCOL_VERSION || info.pyferry !== VERSION) {
      throw new VersionMismatchError(mismatch(info, { pyferry: VERSION, protocol: PROTOCOL_VERSION }, this.#interpreter))
    }
    this.#hello = info
    if (Number.isSafeInteger(info.pid)) this.handles.pid = info.pid
    workerReady(info, nowMs() - this.#spawnedAt)
    if (this.#state === 'starting') this.#state = 'ready'
    // Started with no call waiting (start()): an idle worker must not hold Node open.
    if (this.#pending.size === 0 && this.#state === 'ready') this.#setRef(false)
    this.emit('ready', info)
  }

  // Mark the worker failed; the calls it holds reject with `makeError()` once it has exited.
  // `makeError` builds a fresh error per call, so that each caller's stack is its own.
  #fail(makeError) {
    this.#failure ??= makeError
    this.#transport.ignoreInput() // nothing it sends counts any more
  }

  #onSpawnError(error) {
    const message = startFailure({ kind: 'spawn', interpreter: this.#interpreter, error })
    this.#fail(() => new WorkerStartError(message, { cause: error }))
    this.#finish(null, null) // there is no 'exit' after a failed spawn
  }

  async #onExit(code, signal) {
    if (this.#state === 'exited') return
    // 'exit' can come before the last bytes the process wrote: let its replies
    // (calls that did finish) and its last stderr lines (a traceback, faulthandler's
    // dump) arrive first. A grandchild holding stderr open must not stall this, hence the bound.
    const stderr = this.#child.stderr
    const ends = [this.#transport.readEnd()]
    if (!stderr.readableEnded && !stderr.destroyed) ends.push(once(stderr, 'end').catch(() => {}))
    const pending = ends.filter((end) => end !== null)
    if (pending.length) {
      await Promise.race([
        Promise.all(pending),
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
    const stderr = this.#stderrTail.lines()
    const pid = this.pid
    this.#listener?.close()
    this.#listener = null
    let failure = this.#failure
    if (failure === null && !started) {
      const message = exitedAtStart({ interpreter: this.#interpreter, pid, code, signal, stderr })
      failure = () => new WorkerStartError(message)
    }
    failure ??= () => new WorkerCrashedError({ pid, exitCode: code, signal, stderr })
    const jobs = this.#pending.clear()
    this.#callbacks.clear()
    this.handles.invalidate()
    this.#setRef(false)
    const reason = closed ? 'closed' : this.#killed ? 'killed' : started ? 'crashed' : 'start-failed'
    workerExited({ pid, code, signal, reason, failure, lost: jobs.length })
    this.emit('exit', { pid, code, signal, started, closed, failure, jobs })
  }
}
