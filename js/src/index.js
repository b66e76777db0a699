// pyferry: call Python (NumPy, SciPy, your own modules) from Node.js. Re-exports only.

export { Python, opts, CallOptions } from './python.js'
export { kw, Kwargs } from './codec.js'
export { NDArray, Complex } from './ndarray.js'
export { PyHandle } from './handle.js'
export {
  PyferryError,
  PythonError,
  TargetError,
  TargetNotFoundError,
  TargetForbiddenError,
  NotAllowedError,
  SerializationError,
  ProtocolError,
  VersionMismatchError,
  WorkerStartError,
  WorkerCrashedError,
  TimeoutError,
  AbortError,
  QueueFullError,
  PoolClosedError,
  HandleError,
  HandleReleasedError,
  HandleInvalidatedError,
  BackendUnavailableError,
} from './errors.js'
export { PROTOCOL_VERSION } from './protocol.js'
