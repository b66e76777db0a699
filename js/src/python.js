// The public client: `new Python(options)`, `call()`, `get()`, `import()`, `stream()`,
// `start()`, `stats()`, `close()`, `destroy()`.
//
// It checks options and arguments, encodes each call, and hands it to its
// pool (pool.js), which owns the worker processes. PyHandles (handle.js) and
// module proxies (proxy.js) call through it too.

import { EventEmitter } from 'node:events'
import { Call } from './call.js'
import { currentCallback } from './callback-server.js'
import { Kwargs, Refs, encodeCall } from './codec.js'
import { callStarted, tracing } from './debug.js'
import { PyferryError, SerializationError } from './errors.js'
import { findPython, fromRoot } from './find-python.js'
import { handleState } from './handle.js'
import { mergeEnv } from './platform.js'
import { Pool } from './pool.js'
import { CallOptions, DEFAULT_BATCH_INTERVAL_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_SPIN_US, DEFAULT_WINDOW, checkOptions, checkTimeout } from './options.js'
import { messageBytes } from './protocol.js'
import { moduleProxy } from './proxy.js'
import { PyStream } from './stream.js'
import { Worker } from './worker.js'

const PLAIN_CALL = Object.freeze({}) // the wire options call() implies: none

// opts() and its class are part of the client's API (index.js takes them from here).
export { CallOptions, opts } from './options.js'

// Split the trailing kw() and opts() (in either order) off a call's arguments.
function splitArgs(args) {
  let kwargs
  let options
  for (let i = 0; i < 2; i++) {
    const last = args.at(-1)
    if (last instanceof Kwargs && kwargs === undefined) kwargs = args.pop().values
    else if (last instanceof CallOptions && options === undefined) options = args.pop()
  }
  return { args, kwargs, options }
}

// How a call names its target in errors: the dotted name, or `<type>.<names> (handle <id>)`.
function describeTarget(target) {
  if (typeof target === 'string') return target
  const [handle, ...names] = target
  const state = handleState(handle)
  return `${[state.type, ...names].join('.')} (handle ${state.id})`
}

export class Python extends EventEmitter {
  #options
  #pool
  #nextId = 1
  #nextCallbackId = 1
  #takeCallbackId = () => this.#nextCallbackId++ // for the Refs of each call
  #closing = null
  // Why a JS function cannot be an argument here, or null (it can).
  #noCallbacks = null
  // What PyHandles call through.
  #client = { invoke: (target, args, extra) => this.#invoke(target, args, extra) }

  // Check the options; nothing starts until the first call or start().
  constructor(options = {}) {
    super()
    const o = (this.#options = checkOptions(options))
    if (o.backend === 'dask') {
      this.#noCallbacks = "a JS function (callback) does not cross to a Dask cluster (backend: 'dask')"
    }
    this.#pool = new Pool({
      size: o.workers,
      spawn: () => this.#spawn(),
      emit: (event, ...args) => this.#emit(event, ...args),
      maxQueue: o.maxQueue,
      maxCallsPerWorker: o.maxCallsPerWorker === Infinity ? 0 : o.maxCallsPerWorker,
      killGrace: o.killGrace,
      pipeline: o.pipeline,
      spin: o.backend === 'dask' ? 0 : o.spin, // a gateway's answers take milliseconds
    })
  }

  // Start every worker of the pool now instead of on demand; resolves with the first one's info.
  async start() {
    return this.#pool.start()
  }

  // Call the Python callable named `target` (e.g. 'numpy.fft.rfft') with `args`; a trailing
  // kw({...}) gives keyword arguments and opts({...}) options for this call.
  async call(target, ...args) {
    if (typeof target !== 'string' || target === '') {
      throw new TypeError('call target must be a non-empty string such as "numpy.sum"')
    }
    return this.#invoke(target, args, PLAIN_CALL)
  }

  // The object named `name` (e.g. 'numpy.pi'): its value, or a PyHandle when it cannot cross.
  async get(name, ...rest) {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError('get() takes a non-empty dotted name such as "numpy.pi"')
    }
    return this.#invoke(name, rest, { op: 'get' })
  }

  // A module proxy: `py.import('numpy').fft.rfft(x)` calls 'numpy.fft.rfft'. No round trip.
  import(name) {
    return moduleProxy(this, name)
  }

  // The items of the iterable that `target` (a dotted name, called with `args`, or a
  // PyHandle, iterated itself) gives, as an async iterable. Nothing is sent before the
  // first next(). `timeout` does not apply; `signal` does; `window` bounds items in flight.
  stream(target, ...args) {
    const isHandle = handleState(target) !== undefined
    if (!isHandle && (typeof target !== 'string' || target === '')) {
      throw new TypeError('stream target must be a non-empty dotted name such as "mymodule.rows", or a PyHandle')
    }
    const { options } = splitArgs([...args])
    return new PyStream((hooks) => {
      const call = this.#prepare(isHandle ? [target] : target, args, { op: isHandle ? 'get' : undefined, stream: hooks })
      return { call, outcome: this.#submit(call), withdraw: () => this.#pool.withdraw(call) }
    }, options?.window ?? DEFAULT_WINDOW)
  }

  // HELLO info (pid, versions) of the oldest ready worker, or null before any started.
  get info() {
    return this.#pool.info
  }

  // Live, busy and queued counts, restarts, and each worker's pid, state and calls served.
  stats() {
    return this.#pool.stats()
  }

  // Reject queued calls, let running ones finish, stop the workers. With `timeout`, running
  // calls still going after that many ms are cancelled (then killed after killGrace).
  close({ timeout } = {}) {
    checkTimeout(timeout, 'close() timeout')
    this.#closing ??= this.#pool.close({ timeout })
    return this.#closing
  }

  // Kill every worker now; calls not yet settled reject with PoolClosedError.
  destroy() {
    this.#closing = this.#pool.destroy()
    return this.#closing
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }

  // Encode and submit one call; rejects with the outcome. `target`: a dotted name or
  // [PyHandle, ...names]; `extra`: { op, result } wire options the method implies.
  async #invoke(target, args, extra) {
    const call = this.#prepare(target, args, extra)
    try {
      return await this.#submit(call)
    } catch (error) {
      // Make the stack show the caller's line, then the Python traceback.
      if (error instanceof PyferryError) {
        Error.captureStackTrace(error)
        if (error.pythonTraceback) error.stack += `\n\nPython traceback:\n${error.pythonTraceback.trimEnd()}`
      }
      throw error
    }
  }

  // The Call for a call (throws what is wrong with its arguments). It holds the handles it
  // names until it is sent, so that they are not released before (see handle.js).
  #prepare(target, rawArgs, { op, result, stream }) {
    const { args, kwargs, options } = splitArgs(rawArgs)
    if (op === 'get' && (args.length || kwargs !== undefined)) {
      throw new TypeError(`reading ${describeTarget(target)} takes no arguments, only opts()`)
    }
    const wire = {}
    if (op !== undefined) wire.op = op
    if (result !== undefined) wire.result = result
    else if (options?.handle) wire.result = 'handle'
    if (stream) wire.stream = options?.window ?? DEFAULT_WINDOW
    if (options?.onProgress) wire.progress = true
    if (options?.once ?? this.#options.once) wire.once = true // never started twice (dask_delivery)
    const id = this.#nextId++
    const refs = new Refs({ nextCallbackId: this.#takeCallbackId, noCallbacks: this.#noCallbacks })
    const chunks = encodeCall(id, target, args, kwargs, Object.keys(wire).length ? wire : undefined, refs)
    if (refs.handles !== null) for (const state of refs.handles) state.table.hold(state)
    // A stream runs as long as its consumer wants: only its signal stops it.
    const timeout = stream ? undefined : (options?.timeout ?? this.#options.timeout)
    return new Call(id, describeTarget(target), chunks, refs, options, timeout, currentCallback(), stream || undefined)
  }

  // Submit a Call to the pool: its outcome, a Promise (rejected if the message is too large).
  // Not an async function: on the hot path that would add a Promise layer to every call.
  #submit(call) {
    // A Promise only while an Arrow table waits for apache-arrow to load (see arrow.js).
    if (call.chunks instanceof Promise) return this.#submitLoaded(call)
    const size = messageBytes(call.chunks)
    if (size > this.#options.maxMessageBytes) {
      call.dropHandles()
      return Promise.reject(new SerializationError(
        `the call's message of ${size} bytes exceeds maxMessageBytes (${this.#options.maxMessageBytes})`, 'args'))
    }
    if (tracing()) call.trace = callStarted(this, call)
    return this.#pool.submit(call)
  }

  async #submitLoaded(call) {
    try {
      await call.loadChunks()
    } catch (error) {
      call.dropHandles()
      throw error
    }
    return this.#submit(call)
  }

  #emit(event, ...args) {
    if ((event === 'stdout' || event === 'stderr') && this.listenerCount(event) === 0) {
      process.stderr.write(`[python ${args[1].pid}] ${args[0]}\n`)
    } else {
      this.emit(event, ...args)
    }
  }

  #spawn() {
    const { python, paths, cwd, env, maxMessageBytes, allow, preload, maxMemoryBytes, spin, backend, transport, connectTimeout } = this.#options
    const fullEnv = mergeEnv(process.env, env) // names ignore case on Windows
    const interpreter = findPython({ python, env: fullEnv })
    // Relative `cwd` and `path` entries name folders of the application (README
    // "How Python is found"), whatever folder it was started from.
    const workerCwd = cwd === undefined ? undefined : fromRoot(interpreter.root, cwd)
    const args = ['--max-message-bytes', String(maxMessageBytes)]
    for (const p of paths) args.push('--path', fromRoot(interpreter.root, p))
    for (const pattern of allow) args.push('--allow', pattern)
    for (const name of preload) args.push('--preload', name)
    if (maxMemoryBytes) args.push('--max-memory-bytes', String(maxMemoryBytes))
    if (spin !== DEFAULT_SPIN_US) args.push('--spin-us', String(spin))
    if (backend === 'dask') {
      // A gateway: its calls go to the scheduler (pyferry.backends.dask).
      const { scheduler, schedulerFile, insecureScheduler, security, batchInterval } = this.#options
      args.push('--backend', 'dask')
      if (scheduler !== undefined) args.push('--scheduler', scheduler)
      else args.push('--scheduler-file', fromRoot(interpreter.root, schedulerFile))
      if (insecureScheduler) args.push('--insecure-tcp-scheduler', 'yes')
      if (batchInterval !== DEFAULT_BATCH_INTERVAL_MS) args.push('--batch-interval-ms', String(batchInterval))
      if (connectTimeout !== undefined) args.push('--scheduler-timeout-ms', String(connectTimeout))
      if (security !== undefined) {
        const file = (name) => fromRoot(interpreter.root, name)
        args.push('--tls-ca-file', file(security.ca), '--tls-cert', file(security.cert))
        if (security.key !== undefined) args.push('--tls-key', file(security.key))
        if (!security.requireEncryption) args.push('--tls-require-encryption', 'no')
      }
    }
    return new Worker({ interpreter, args, cwd: workerCwd, env: fullEnv, maxMessageBytes, client: this.#client, transport, connectTimeout: connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS })
  }
}
