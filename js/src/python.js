// The public client: `new Python(options)`, `call()`, `start()`, `stats()`, `close()`, `destroy()`.
//
// It checks options and arguments, encodes each call, and hands it to its
// pool (pool.js), which owns the worker processes.

import { availableParallelism } from 'node:os'
import { EventEmitter } from 'node:events'
import { Kwargs, encodeCall } from './codec.js'
import { PyferryError, SerializationError } from './errors.js'
import { findPython } from './find-python.js'
import { Pool } from './pool.js'
import { CALL, DEFAULT_MAX_MESSAGE_BYTES, messageBytes } from './protocol.js'
import { Worker } from './worker.js'

const MAX_TIMER_MS = 2 ** 31 - 1

// Per-call options, given as a trailing `opts({ timeout, signal })` argument.
export class CallOptions {
  constructor(options) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('opts() takes an object such as { timeout: 1000, signal }')
    }
    const { timeout, signal } = options
    checkTimeout(timeout, 'opts().timeout')
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError('opts().signal must be an AbortSignal')
    }
    this.timeout = timeout
    this.signal = signal
  }
}

// Mark call options: `py.call('f', x, opts({ timeout: 500 }))`.
export function opts(options) {
  return new CallOptions(options)
}

function checkTimeout(value, name) {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= MAX_TIMER_MS)) {
    throw new RangeError(`${name} must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}`)
  }
}

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
  return {
    python,
    cwd,
    env,
    paths: checkStrings(options.path, 'options.path', 'a directory'),
    allow: checkStrings(options.allow, 'options.allow', "a pattern such as 'numpy.*'"),
    preload: checkStrings(options.preload, 'options.preload', 'a module name'),
    maxMessageBytes: checkCount(options.maxMessageBytes, 'options.maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES, 64, false),
    maxMemoryBytes,
    workers: checkCount(options.workers, 'options.workers', availableParallelism(), 1, false),
    maxQueue: checkCount(options.maxQueue, 'options.maxQueue', Infinity, 0),
    maxCallsPerWorker: checkCount(options.maxCallsPerWorker, 'options.maxCallsPerWorker', Infinity),
    timeout: options.timeout,
    killGrace: options.killGrace ?? 1000,
  }
}

export class Python extends EventEmitter {
  #options
  #pool
  #nextId = 1
  #closing = null

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
    })
  }

  // Start every worker of the pool now instead of on demand; resolves with the first one's info.
  async start() {
    return this.#pool.start()
  }

  // Call the Python callable named `target` (e.g. 'numpy.fft.rfft') with `args`; a trailing
  // kw({...}) gives keyword arguments and opts({ timeout, signal }) options for this call.
  async call(target, ...args) {
    if (typeof target !== 'string' || target === '') {
      throw new TypeError('call target must be a non-empty string such as "numpy.sum"')
    }
    let kwargs
    let options
    for (let i = 0; i < 2; i++) {
      const last = args.at(-1)
      if (last instanceof Kwargs && kwargs === undefined) kwargs = args.pop().values
      else if (last instanceof CallOptions && options === undefined) options = args.pop()
    }
    const id = this.#nextId++
    const chunks = encodeCall(CALL, id, target, args, kwargs)
    const size = messageBytes(chunks)
    if (size > this.#options.maxMessageBytes) {
      throw new SerializationError(
        `the call's message of ${size} bytes exceeds maxMessageBytes (${this.#options.maxMessageBytes})`, 'args')
    }
    const job = { id, target, chunks, timeout: options?.timeout ?? this.#options.timeout, signal: options?.signal }
    try {
      return await this.#pool.submit(job)
    } catch (error) {
      // Make the stack show the caller's line, then the Python traceback.
      if (error instanceof PyferryError) {
        Error.captureStackTrace(error)
        if (error.pythonTraceback) error.stack += `\n\nPython traceback:\n${error.pythonTraceback.trimEnd()}`
      }
      throw error
    }
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

  #emit(event, ...args) {
    if ((event === 'stdout' || event === 'stderr') && this.listenerCount(event) === 0) {
      process.stderr.write(`[python ${args[1].pid}] ${args[0]}\n`)
    } else {
      this.emit(event, ...args)
    }
  }

  #spawn() {
    const { python, paths, cwd, env, maxMessageBytes, allow, preload, maxMemoryBytes } = this.#options
    const fullEnv = { ...process.env, ...env }
    const interpreter = findPython({ python, cwd, env: fullEnv })
    const args = ['--max-message-bytes', String(maxMessageBytes)]
    for (const p of paths) args.push('--path', p)
    for (const pattern of allow) args.push('--allow', pattern)
    for (const name of preload) args.push('--preload', name)
    if (maxMemoryBytes) args.push('--max-memory-bytes', String(maxMemoryBytes))
    return new Worker({ interpreter, args, cwd, env: fullEnv, maxMessageBytes })
  }
}
