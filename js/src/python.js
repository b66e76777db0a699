// The public client: `new Python(options)`, `call()`, `get()`, `import()`, `stream()`,
// `start()`, `stats()`, `close()`, `destroy()`.
//
// It checks options and arguments, encodes each call, and hands it to its
// pool (pool.js), which owns the worker processes. PyHandles (handle.js) and
// module proxies (proxy.js) call through it too.

import { availableParallelism } from 'node:os'
import { EventEmitter } from 'node:events'
import { Call } from './call.js'
import { currentCallback } from './callback-server.js'
import { Kwargs, Refs, encodeCall } from './codec.js'
import { PyferryError, SerializationError } from './errors.js'
import { findPython } from './find-python.js'
import { handleState } from './handle.js'
import { Pool } from './pool.js'
import { CALL, DEFAULT_MAX_MESSAGE_BYTES, messageBytes } from './protocol.js'
import { moduleProxy } from './proxy.js'
import { DEFAULT_WINDOW, PyStream } from './stream.js'
import { Worker } from './worker.js'

const MAX_TIMER_MS = 2 ** 31 - 1
const PLAIN_CALL = Object.freeze({}) // the wire options call() implies: none

// Per-call options, given as a trailing `opts({ timeout, signal, handle, onProgress, window })` argument.
export class CallOptions {
  constructor(options) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('opts() takes an object such as { timeout: 1000, signal }')
    }
    const { timeout, signal, handle, onProgress, window } = options
    checkTimeout(timeout, 'opts().timeout')
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError('opts().signal must be an AbortSignal')
    }
    if (handle !== undefined && typeof handle !== 'boolean') throw new TypeError('opts().handle must be a boolean')
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new TypeError('opts().onProgress must be a function ({ done, total, message }) => void')
    }
    if (window !== undefined && !(Number.isSafeInteger(window) && window >= 1 && window < 2 ** 32)) {
      throw new RangeError('opts().window must be an integer from 1 to 2 ** 32 - 1 (items in flight)')
    }
    this.timeout = timeout
    this.signal = signal
    this.handle = handle
    this.onProgress = onProgress
    this.window = window
  }
}

// Mark call options: `py.call('f', x, opts({ timeout: 500 }))`.
export function opts(options) {
  return new CallOptions(options)
}

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

function checkTimeout(value, name) {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= MAX_TIMER_MS)) {
    throw new RangeError(`${name} must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}`)
  }
}

// Calls a busy worker may be sent ahead of time (protocol section 3.7); off unless asked.
const DEFAULT_PIPELINE = 0

// Microseconds a worker's main thread polls for its next call before it sleeps, while calls come
// quickly (pyferry.inbox): a sleep and a wake-up cost more than a small call itself.
const DEFAULT_SPIN_US = 100
const MAX_SPIN_US = 10_000

function checkCount(value, name, fallback, min = 1, infinite = true) {
  const n = value ?? fallback
  if (!((infinite && n === Infinity) || (Number.isSafeInteger(n) && n >= min))) {
    throw new RangeError(`${name} must be an integer of at least ${min}`)
  }
  return n
}

function checkStrings(value, name, what) {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value]
  if (!list.every((p) => typeof p === 'string' && p !== '')) {
    throw new TypeError(`${name} must be ${what} or an array of them`)
  }
  return list
}

function checkOptions(options) {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const { python, cwd, env } = options
  if (python !== undefined && (typeof python !== 'string' || python === '')) {
    throw new TypeError('options.python must be a non-empty string (path to the interpreter)')
  }
  if (cwd !== undefined && typeof cwd !== 'string') throw new TypeError('options.cwd must be a string')
  if (env !== undefined && (env === null || typeof env !== 'object')) {
    throw new TypeError('options.env must be an object of environment variables')
  }
  checkTimeout(options.timeout, 'options.timeout')
  checkTimeout(options.killGrace, 'options.killGrace')
  const maxMemoryBytes = options.maxMemoryBytes
  if (maxMemoryBytes !== undefined && !(Number.isSafeInteger(maxMemoryBytes) && maxMemoryBytes >= 2 ** 26)) {
    throw new RangeError('options.maxMemoryBytes must be an integer of at least 64 MiB (2 ** 26)')
  }
  const spin = options.spin ?? DEFAULT_SPIN_US
  if (!(Number.isInteger(spin) && spin >= 0 && spin <= MAX_SPIN_US)) {
    throw new RangeError(`options.spin must be a whole number of microseconds from 0 to ${MAX_SPIN_US}`)
  }
  return {
    python,
    cwd,
    env,
    spin,
    paths: checkStrings(options.path, 'options.path', 'a directory'),
    allow: checkStrings(options.allow, 'options.allow', "a pattern such as 'numpy.*'"),
    preload: checkStrings(options.preload, 'options.preload', 'a module name'),
    maxMessageBytes: checkCount(options.maxMessageBytes, 'options.maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES, 64, false),
    maxMemoryBytes,
    workers: checkCount(options.workers, 'options.workers', availableParallelism(), 1, false),
    maxQueue: checkCount(options.maxQueue, 'options.maxQueue', Infinity, 0),
    maxCallsPerWorker: checkCount(options.maxCallsPerWorker, 'options.maxCallsPerWorker', Infinity),
    pipeline: checkCount(options.pipeline, 'options.pipeline', DEFAULT_PIPELINE, 0, false),
    timeout: options.timeout,
    killGrace: options.killGrace ?? 1000,
  }
}

export class Python extends EventEmitter {
  #options
  #pool
  #nextId = 1
  #nextCallbackId = 1
  #takeCallbackId = () => this.#nextCallbackId++ // for the Refs of each call
  #closing = null
  // What PyHandles call through.
  #client = { invoke: (target, args, extra) => this.#invoke(target, args, extra) }

  // Check the options; nothing starts until the first call or start().
  constructor(options = {}) {
    super()
    const o = (this.#options = checkOptions(options))
    this.#pool = new Pool({
      size: o.workers,
      spawn: () => this.#spawn(),
      emit: (event, ...args) => this.#emit(event, ...args),
      maxQueue: o.maxQueue,
      maxCallsPerWorker: o.maxCallsPerWorker === Infinity ? 0 : o.maxCallsPerWorker,
      killGrace: o.killGrace,
      pipeline: o.pipeline,
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
    const id = this.#nextId++
    const refs = new Refs({ nextCallbackId: this.#takeCallbackId })
    const chunks = encodeCall(CALL, id, target, args, kwargs, Object.keys(wire).length ? wire : undefined, refs)
    if (refs.handles !== null) for (const state of refs.handles) state.table.hold(state)
    // A stream runs as long as its consumer wants: only its signal stops it.
    const timeout = stream ? undefined : (options?.timeout ?? this.#options.timeout)
    return new Call(id, describeTarget(target), chunks, refs, options, timeout, currentCallback(), stream || undefined)
  }

  async #submit(call) {
    try {
      // A Promise only while an Arrow table waits for apache-arrow to load (see arrow.js).
      if (call.chunks instanceof Promise) await call.loadChunks()
      const size = messageBytes(call.chunks)
      if (size > this.#options.maxMessageBytes) {
        throw new SerializationError(
          `the call's message of ${size} bytes exceeds maxMessageBytes (${this.#options.maxMessageBytes})`, 'args')
      }
    } catch (error) {
      call.dropHandles()
      throw error
    }
    return this.#pool.submit(call)
  }

  #emit(event, ...args) {
    if ((event === 'stdout' || event === 'stderr') && this.listenerCount(event) === 0) {
      process.stderr.write(`[python ${args[1].pid}] ${args[0]}\n`)
    } else {
      this.emit(event, ...args)
    }
  }

  #spawn() {
    const { python, paths, cwd, env, maxMessageBytes, allow, preload, maxMemoryBytes, spin } = this.#options
    const fullEnv = { ...process.env, ...env }
    const interpreter = findPython({ python, cwd, env: fullEnv })
    const args = ['--max-message-bytes', String(maxMessageBytes)]
    for (const p of paths) args.push('--path', p)
    for (const pattern of allow) args.push('--allow', pattern)
    for (const name of preload) args.push('--preload', name)
    if (maxMemoryBytes) args.push('--max-memory-bytes', String(maxMemoryBytes))
    if (spin !== DEFAULT_SPIN_US) args.push('--spin-us', String(spin))
    return new Worker({ interpreter, args, cwd, env: fullEnv, maxMessageBytes, client: this.#client })
  }
}
