// The client's options: every default in one place, each checked on entry with an error
// naming the option (TypeError for the wrong kind of value, RangeError out of range).
// `new Python(options)` is checked by checkOptions(), a call's opts() by CallOptions.

import { availableParallelism } from 'node:os'
import { memoryLimitProblem } from './platform.js'
import { DEFAULT_MAX_MESSAGE_BYTES } from './protocol.js'

export { DEFAULT_MAX_MESSAGE_BYTES } // the worker's own default too (protocol.js)

// setTimeout's largest delay: timeouts, killGrace and close()'s timeout stay under it.
export const MAX_TIMER_MS = 2 ** 31 - 1

// Milliseconds a call that overran its timeout (or was aborted) gets to end after its CANCEL,
// before its worker is killed and replaced.
export const DEFAULT_KILL_GRACE_MS = 1000

// Items a stream may have in flight (protocol section 3.4), unless opts({ window }) says.
export const DEFAULT_WINDOW = 1024
const MAX_WINDOW = 2 ** 32 - 1

// Calls a busy worker may be sent ahead of time (protocol section 3.7): 'auto' sends short
// calls ahead to workers whose calls are short (pool.js), a number that many to any busy worker.
export const DEFAULT_PIPELINE = 'auto'

// Microseconds a worker's main thread polls for its next call before it sleeps, while calls come
// quickly (pyferry.inbox): a sleep and a wake-up cost more than a small call itself.
export const DEFAULT_SPIN_US = 100
const MAX_SPIN_US = 10_000

// The protocol channel: 'pipe' (descriptor 3, a socket pair) or 'tcp' (loopback TCP with a
// one-time token, tcp-listener.js). Windows defaults to 'tcp': a 'pipe' there is a
// synchronous named pipe, which serializes reads and writes and cannot be half-closed.
export const TRANSPORTS = ['pipe', 'tcp']
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000

// options.transport, else PYFERRY_TRANSPORT, else this OS's default; checked.
function checkTransport(value, env = process.env) {
  const fromEnv = env.PYFERRY_TRANSPORT
  const name = value !== undefined ? 'options.transport' : 'PYFERRY_TRANSPORT'
  const transport = value ?? (fromEnv || (process.platform === 'win32' ? 'tcp' : 'pipe'))
  if (!TRANSPORTS.includes(transport)) {
    throw new TypeError(`${name} must be 'pipe' or 'tcp', got ${JSON.stringify(transport)}`)
  }
  return transport
}

// PYFERRY_CONNECT_TIMEOUT_MS: how long a 'tcp' worker has to connect and present its token.
// options.connectTimeout, else (for transport 'tcp') PYFERRY_CONNECT_TIMEOUT_MS, else undefined:
// the default of what connects (30 s for a 'tcp' worker, the Dask backend's own for a gateway).
function checkConnectTimeout(value, env = process.env) {
  if (value !== undefined) {
    if (!(Number.isInteger(value) && value > 0 && value <= MAX_TIMER_MS)) {
      throw new RangeError(`options.connectTimeout must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${String(value)}`)
    }
    return value
  }
  const text = env.PYFERRY_CONNECT_TIMEOUT_MS
  if (text === undefined || text === '') return undefined
  const ms = Number(text)
  if (!(Number.isInteger(ms) && ms > 0 && ms <= MAX_TIMER_MS)) {
    throw new RangeError(`PYFERRY_CONNECT_TIMEOUT_MS must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${JSON.stringify(text)}`)
  }
  return ms
}

function checkCount(value, name, fallback, min = 1, infinite = true) {
  const n = value ?? fallback
  if (!((infinite && n === Infinity) || (Number.isSafeInteger(n) && n >= min))) {
    throw new RangeError(`${name} must be an integer of at least ${min}`)
  }
  return n
}

function checkPipeline(value) {
  if (value === undefined || value === 'auto') return DEFAULT_PIPELINE
  if (!(Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`options.pipeline must be 'auto' or an integer of at least 0 (0: calls wait in the client), got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`)
  }
  return value
}

function checkStrings(value, name, what) {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value]
  if (!list.every((p) => typeof p === 'string' && p !== '')) {
    throw new TypeError(`${name} must be ${what} or an array of them`)
  }
  return list
}

// Options that mean nothing for a worker whose calls run on a cluster (backend: 'dask').
const NOT_FOR_DASK = ['path', 'preload', 'maxMemoryBytes', 'maxCallsPerWorker', 'spin']

// The client's scheduler-comm batching interval in a Dask gateway, in ms (Dask's own is 10).
export const DEFAULT_BATCH_INTERVAL_MS = 1
const MAX_BATCH_INTERVAL_MS = 1000

// Throw unless `address` may be used (pyferry.backends.dask_security.check_address, which the
// worker applies again): tls:// with `security`; tcp:// to loopback, or to any host if `insecure`,
// and not while `security` requires encryption.
function checkScheduler(address, insecure, security) {
  const match = /^(tcp|tls):\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(address)
  if (match === null) {
    throw new TypeError(`options.scheduler must be tcp://HOST:PORT or tls://HOST:PORT, got ${JSON.stringify(address)}`)
  }
  if (match[1] === 'tls') {
    if (security === undefined) {
      throw new TypeError(`options.scheduler ${address} is tls:// and needs options.security: { ca, cert, key } (PEM file paths)`)
    }
    return
  }
  if (security?.requireEncryption) {
    throw new TypeError(`options.scheduler ${address} is plain tcp:// while options.security requires encryption: ` +
      "use the scheduler's tls:// address (or security.requireEncryption: false)")
  }
  const host = match[2].replace(/^\[|\]$/g, '')
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
  if (!loopback && !insecure) {
    throw new TypeError(`options.scheduler ${address} is not a loopback address: a Dask scheduler runs ` +
      'whatever its clients send, and tcp:// is neither encrypted nor authenticated. Use tls:// with ' +
      'options.security: { ca, cert, key }, or set options.insecureScheduler: true on a network you trust')
  }
}

// options.security, checked: { ca, cert, key, requireEncryption } with the default filled in.
function checkSecurity(security) {
  if (security === null || typeof security !== 'object') {
    throw new TypeError('options.security must be an object { ca, cert, key } of PEM file paths')
  }
  const { ca, cert, key, requireEncryption = true } = security
  for (const [name, value, needed] of [['ca', ca, true], ['cert', cert, true], ['key', key, false]]) {
    if ((needed || value !== undefined) && (typeof value !== 'string' || value === '')) {
      throw new TypeError(`options.security.${name} must be a non-empty string (a PEM file path)`)
    }
  }
  if (typeof requireEncryption !== 'boolean') throw new TypeError('options.security.requireEncryption must be a boolean')
  // Relative paths are the application's: python.js resolves them against its root, as `path`.
  return { ca, cert, key, requireEncryption }
}

const DASK_ONLY = ['scheduler', 'schedulerFile', 'insecureScheduler', 'security', 'batchInterval']

// The Dask options (backend, scheduler, schedulerFile, insecureScheduler, security,
// batchInterval), checked.
function checkBackend(options) {
  const { backend = 'local', scheduler, schedulerFile, insecureScheduler = false } = options
  if (backend !== 'local' && backend !== 'dask') {
    throw new TypeError(`options.backend must be 'local' or 'dask', got ${JSON.stringify(backend)}`)
  }
  if (typeof insecureScheduler !== 'boolean') throw new TypeError('options.insecureScheduler must be a boolean')
  if (backend === 'local') {
    for (const name of DASK_ONLY) {
      if (options[name] !== undefined) throw new TypeError(`options.${name} needs backend: 'dask'`)
    }
    return { backend }
  }
  for (const name of NOT_FOR_DASK) {
    if (options[name] !== undefined) {
      throw new TypeError(`options.${name} means nothing with backend: 'dask' (calls run on the cluster)`)
    }
  }
  const security = options.security === undefined ? undefined : checkSecurity(options.security)
  const batchInterval = options.batchInterval ?? DEFAULT_BATCH_INTERVAL_MS
  if (!(typeof batchInterval === 'number' && batchInterval >= 0 && batchInterval <= MAX_BATCH_INTERVAL_MS)) {
    throw new RangeError(`options.batchInterval must be a number of milliseconds from 0 to ${MAX_BATCH_INTERVAL_MS}`)
  }
  if ((scheduler === undefined) === (schedulerFile === undefined)) {
    throw new TypeError("backend: 'dask' needs one of options.scheduler and options.schedulerFile")
  }
  if (scheduler !== undefined) {
    if (typeof scheduler !== 'string') throw new TypeError('options.scheduler must be a string such as tcp://127.0.0.1:8786')
    checkScheduler(scheduler, insecureScheduler, security)
  } else if (typeof schedulerFile !== 'string' || schedulerFile === '') {
    throw new TypeError('options.schedulerFile must be a non-empty string (a path)')
  }
  return { backend, scheduler, schedulerFile, insecureScheduler, security, batchInterval }
}

// options.python, checked: undefined, a non-empty string (the interpreter: a path or a name on
// PATH), or an argv array whose first item is the program and the rest its arguments, put
// before `-m pyferry ...` (e.g. ['py', '-3.12'] for Windows' launcher).
export function checkPython(python, name = 'options.python') {
  if (python === undefined || (typeof python === 'string' && python !== '')) return python
  if (Array.isArray(python)) {
    if (python.length === 0) {
      throw new TypeError(`${name} is an empty array: give the interpreter first, e.g. ['py', '-3.12'] or ['/usr/bin/python3']`)
    }
    const bad = python.findIndex((word) => typeof word !== 'string' || word === '')
    if (bad !== -1) {
      throw new TypeError(`${name}[${bad}] must be a non-empty string (an argv array holds the program, then its arguments), got ${typeof python[bad] === 'string' ? '""' : typeof python[bad]}`)
    }
    return [...python]
  }
  throw new TypeError(`${name} must be a non-empty string (the interpreter's path or name) or an argv array such as ['py', '-3.12']`)
}

// The options of `new Python(options)`, checked, with their defaults filled in. `platform`:
// the system the workers run on (process.platform; a test may name another).
export function checkOptions(options, platform = process.platform) {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const { cwd, env } = options
  const python = checkPython(options.python)
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
  // Refused here, before any spawn: a worker could only fail its start with it (exit 6).
  if (maxMemoryBytes !== undefined && memoryLimitProblem(platform) !== null) throw new TypeError(memoryLimitProblem(platform))
  const spin = options.spin ?? DEFAULT_SPIN_US
  if (!(Number.isInteger(spin) && spin >= 0 && spin <= MAX_SPIN_US)) {
    throw new RangeError(`options.spin must be a whole number of microseconds from 0 to ${MAX_SPIN_US}`)
  }
  if (options.once !== undefined && typeof options.once !== 'boolean') throw new TypeError('options.once must be a boolean')
  return {
    ...checkBackend(options),
    once: options.once ?? false,
    transport: checkTransport(options.transport),
    connectTimeout: checkConnectTimeout(options.connectTimeout),
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
    pipeline: checkPipeline(options.pipeline),
    timeout: options.timeout,
    killGrace: options.killGrace ?? DEFAULT_KILL_GRACE_MS,
  }
}

// Throw a RangeError naming `name` unless `value` is undefined or a valid timer delay.
export function checkTimeout(value, name) {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= MAX_TIMER_MS)) {
    throw new RangeError(`${name} must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}`)
  }
}

// Per-call options, given as a trailing `opts({ timeout, signal, handle, onProgress, window, once })` argument.
export class CallOptions {
  constructor(options) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('opts() takes an object such as { timeout: 1000, signal }')
    }
    const { timeout, signal, handle, onProgress, window, once } = options
    checkTimeout(timeout, 'opts().timeout')
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError('opts().signal must be an AbortSignal')
    }
    if (handle !== undefined && typeof handle !== 'boolean') throw new TypeError('opts().handle must be a boolean')
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new TypeError('opts().onProgress must be a function ({ done, total, message }) => void')
    }
    if (window !== undefined && !(Number.isSafeInteger(window) && window >= 1 && window <= MAX_WINDOW)) {
      throw new RangeError('opts().window must be an integer from 1 to 2 ** 32 - 1 (items in flight)')
    }
    if (once !== undefined && typeof once !== 'boolean') throw new TypeError('opts().once must be a boolean')
    this.timeout = timeout
    this.signal = signal
    this.handle = handle
    this.onProgress = onProgress
    this.window = window
    this.once = once
  }
}

// Mark call options: `py.call('f', x, opts({ timeout: 500 }))`.
export function opts(options) {
  return new CallOptions(options)
}

