// The errors pyferry rejects with: one base class, a stable `code` per class.
//
// PyferryError                  PYFERRY_ERROR
// ├── PythonError               PYFERRY_PYTHON              the called Python code raised
// ├── TargetError               PYFERRY_TARGET              the dotted name cannot be called
// │   ├── TargetNotFoundError   PYFERRY_TARGET_NOT_FOUND
// │   └── TargetForbiddenError  PYFERRY_TARGET_FORBIDDEN    a segment starts with `_`
// │       └── NotAllowedError   PYFERRY_NOT_ALLOWED         outside the worker's allow-list
// ├── SerializationError        PYFERRY_SERIALIZATION       a value cannot cross (see `path`)
// ├── ProtocolError             PYFERRY_PROTOCOL            the byte stream broke the protocol
// │   └── VersionMismatchError  PYFERRY_VERSION_MISMATCH
// ├── WorkerStartError          PYFERRY_WORKER_START        no worker could be started
// ├── WorkerCrashedError        PYFERRY_WORKER_CRASHED      the worker died during the call (or, backend: 'dask', the cluster's)
// ├── BackendUnavailableError   PYFERRY_BACKEND_UNAVAILABLE the Dask scheduler cannot be reached, or was lost
// ├── TimeoutError              PYFERRY_TIMEOUT             the call's `timeout` ran out
// ├── AbortError                ABORT_ERR                   the call's `signal` aborted (`cause`: its reason)
// ├── QueueFullError            PYFERRY_QUEUE_FULL          `maxQueue` calls were already waiting
// ├── PoolClosedError           PYFERRY_POOL_CLOSED         the client was closed or destroyed
// └── HandleError               PYFERRY_HANDLE              a PyHandle cannot be used in this call
//     ├── HandleReleasedError   PYFERRY_HANDLE_RELEASED     it was released (or the worker no longer has it)
//     └── HandleInvalidatedError PYFERRY_HANDLE_INVALIDATED its worker exited

import { likelyCause } from './platform.js'

export { likelyCause } // what an exit code or signal most likely means (platform.js)

export class PyferryError extends Error {}

// Put `name` and `code` on the prototype, as Node's own errors do.
function brand(Class, name, code) {
  for (const [key, value] of [['name', name], ['code', code]]) {
    Object.defineProperty(Class.prototype, key, { value, writable: true, configurable: true })
  }
  return Class
}

function define(name, code, Parent = PyferryError) {
  return brand({ [name]: class extends Parent {} }[name], name, code)
}

brand(PyferryError, 'PyferryError', 'PYFERRY_ERROR')

// A Python exception raised by the called code, with its type, message and traceback.
export class PythonError extends PyferryError {
  constructor(info, options) {
    super(`${shortType(info.type)}: ${info.message}`, options)
    this.pythonType = info.type
    this.pythonMessage = info.message
    this.pythonTraceback = info.traceback
  }
}
brand(PythonError, 'PythonError', 'PYFERRY_PYTHON')

export const TargetError = define('TargetError', 'PYFERRY_TARGET')
export const TargetNotFoundError = define('TargetNotFoundError', 'PYFERRY_TARGET_NOT_FOUND', TargetError)
export const TargetForbiddenError = define('TargetForbiddenError', 'PYFERRY_TARGET_FORBIDDEN', TargetError)
export const ProtocolError = define('ProtocolError', 'PYFERRY_PROTOCOL')
export const VersionMismatchError = define('VersionMismatchError', 'PYFERRY_VERSION_MISMATCH', ProtocolError)
export const WorkerStartError = define('WorkerStartError', 'PYFERRY_WORKER_START')
export const NotAllowedError = define('NotAllowedError', 'PYFERRY_NOT_ALLOWED', TargetForbiddenError)
export const TimeoutError = define('TimeoutError', 'PYFERRY_TIMEOUT')
export const QueueFullError = define('QueueFullError', 'PYFERRY_QUEUE_FULL')
export const PoolClosedError = define('PoolClosedError', 'PYFERRY_POOL_CLOSED')
export const HandleError = define('HandleError', 'PYFERRY_HANDLE')
export const HandleReleasedError = define('HandleReleasedError', 'PYFERRY_HANDLE_RELEASED', HandleError)
export const HandleInvalidatedError = define('HandleInvalidatedError', 'PYFERRY_HANDLE_INVALIDATED', HandleError)
// The Dask scheduler a `backend: 'dask'` client uses cannot be reached, or was lost during the call.
export const BackendUnavailableError = define('BackendUnavailableError', 'PYFERRY_BACKEND_UNAVAILABLE')

// Named and coded like the AbortError Node's own APIs reject with; `cause` is the signal's reason.
export class AbortError extends PyferryError {
  constructor(message = 'The operation was aborted', options) {
    super(message, options)
  }
}
brand(AbortError, 'AbortError', 'ABORT_ERR')

// A value that cannot cross; `path` names where it sits, e.g. `args[1].foo[2]`.
export class SerializationError extends PyferryError {
  constructor(reason, path = '', options) {
    super(path ? `${reason} at ${path}` : reason, options)
    this.reason = reason
    this.path = path
  }
}
brand(SerializationError, 'SerializationError', 'PYFERRY_SERIALIZATION')

// The worker process died while the call was running (exit code or signal, stderr tail).
// A protocol failure ends the worker too, but rejects with ProtocolError instead.
// With `backend: 'dask'` (from a Dask gateway's ERROR: the cluster's workers died running the
// call, KilledWorker) it carries the gateway's `message` and no pid, exit code or stderr.
export class WorkerCrashedError extends PyferryError {
  constructor({ pid, exitCode, signal, stderr, backend = 'local', message }, options) {
    if (backend === 'dask') {
      super(message, options)
    } else {
      const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`
      const tail = stderr?.length ? `\nLast lines of its stderr:\n  ${stderr.join('\n  ')}` : ''
      super(`Python worker ${pid} ${how} during the call${likelyCause(signal, exitCode)}${tail}`, options)
    }
    this.backend = backend
    this.pid = pid ?? null
    this.exitCode = exitCode ?? null
    this.signal = signal ?? null
    this.stderr = stderr ?? []
  }
}
brand(WorkerCrashedError, 'WorkerCrashedError', 'PYFERRY_WORKER_CRASHED')

function shortType(type) {
  return type.startsWith('builtins.') ? type.slice('builtins.'.length) : type
}

const byCode = {
  PYFERRY_TARGET: TargetError,
  PYFERRY_TARGET_NOT_FOUND: TargetNotFoundError,
  PYFERRY_TARGET_FORBIDDEN: TargetForbiddenError,
  PYFERRY_NOT_ALLOWED: NotAllowedError,
  PYFERRY_PROTOCOL: ProtocolError,
  PYFERRY_VERSION_MISMATCH: VersionMismatchError,
  // The worker's table has no such id: this client released it (or never had it).
  PYFERRY_HANDLE: HandleReleasedError,
  // A Dask gateway's: the Dask worker that held the object was lost.
  PYFERRY_HANDLE_INVALIDATED: HandleInvalidatedError,
  // A Dask gateway's: one call names objects of two Dask workers, as handles of two workers.
  PYFERRY_HANDLE_MIXED: HandleError,
  PYFERRY_BACKEND_UNAVAILABLE: BackendUnavailableError,
}

// Build the JS error for an error-info map sent by the worker (see docs/protocol.md).
export function fromErrorInfo(info) {
  let cause
  const chain = Array.isArray(info.chain) ? info.chain : []
  for (let i = chain.length - 1; i >= 0; i--) {
    cause = new PythonError(chain[i], cause === undefined ? undefined : { cause })
    cause.relation = chain[i].relation
  }
  const options = cause === undefined ? undefined : { cause }
  let error
  if (info.code === 'PYFERRY_WORKER_CRASHED') {
    // Only a Dask gateway sends it: a local worker's death is seen by its exit.
    error = new WorkerCrashedError({ backend: 'dask', message: info.message }, options)
  } else if (info.code === 'PYFERRY_SERIALIZATION') {
    error = new SerializationError(info.reason ?? info.message, info.path ?? '', options)
  } else if (byCode[info.code]) {
    error = new byCode[info.code](info.message, options)
  } else {
    return new PythonError(info, options)
  }
  error.pythonType = info.type
  error.pythonTraceback = info.traceback
  return error
}
