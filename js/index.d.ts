// Hand-written public types for pyferry: exactly what src/index.js exports.
//
// Keep in step with src/: every declaration below names the module it mirrors.
// Call results are `unknown` unless the caller names a type: nothing on the JS
// side knows what a Python function returns.

/// <reference types="node" />

import { EventEmitter } from 'node:events'

// ---------------------------------------------------------------- python.js

/**
 * Options for `new Python(options)`. All are optional and checked on entry:
 * a wrong type throws a `TypeError` (a bad size a `RangeError`) naming the option.
 */
export interface PythonOptions {
  /**
   * Path or command of the interpreter that runs the workers (non-empty).
   *
   * Without it pyferry tries, in order: `$PYFERRY_PYTHON`, `./.venv` (relative
   * to `cwd`), then `python3` on PATH (`python` on Windows).
   */
  python?: string | undefined
  /**
   * Directory, or directories, put in front of the worker's `sys.path`, so
   * that your own modules can be called (`py.call('mymodule.f')`). Non-empty strings.
   */
  path?: string | readonly string[] | undefined
  /** Working directory of the worker processes (default: `process.cwd()`). */
  cwd?: string | undefined
  /**
   * Environment variables for the workers, laid over `process.env`.
   * A variable set to `undefined` is removed from the worker's environment.
   */
  env?: Record<string, string | undefined> | undefined
  /**
   * Largest frame, in bytes, either side accepts: header plus array buffers.
   * An integer of at least 64; default 2**30 (1 GiB).
   */
  maxMessageBytes?: number | undefined
}

/**
 * What a worker says about itself in its handshake (`HELLO`): returned by
 * `start()` and kept in `py.info`.
 */
export interface WorkerInfo {
  /** Protocol version the worker speaks; equal to `PROTOCOL_VERSION` once started. */
  protocol: number
  /** Version of the `pyferry` Python package, e.g. `'0.1.0'`. */
  pyferry: string
  /** Python version, e.g. `'3.12.4'`. */
  python: string
  /** `sys.implementation.name`, e.g. `'cpython'`. */
  implementation: string
  /** Installed numpy version, or `null` when numpy is not installed. */
  numpy: string | null
  /** Process id of the worker. */
  pid: number
}

/** The events a `Python` client emits, as listener parameter lists. */
export interface PythonEvents {
  /** A worker process was started (only emitted when the OS gave it a pid). */
  spawn: [worker: { pid: number }]
  /**
   * A worker process ended, expectedly (`close()`) or not (a crash). The next
   * call starts a new one. `pid` is `undefined` when the process never started
   * (the interpreter could not be run); `code` and `signal` are then both `null`.
   */
  exit: [worker: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null }]
  /** A line the worker printed to its stdout (without the line ending). */
  stdout: [line: string, worker: { pid: number }]
  /** A line the worker printed to its stderr (without the line ending). */
  stderr: [line: string, worker: { pid: number }]
}

/**
 * A client that calls Python functions in a persistent worker process.
 *
 * Constructing one starts nothing: the worker is spawned by the first `call()`
 * (or by `start()`), stays alive between calls, is replaced by the next call
 * if it crashes, and stops on `close()`. An idle worker does not keep Node
 * running.
 *
 * Events (see {@link PythonEvents}): `'spawn'`, `'exit'`, `'stdout'`,
 * `'stderr'`. While nobody listens for `'stdout'` or `'stderr'`, the worker's
 * output lines go to `process.stderr`, prefixed with `[python <pid>]`. It
 * never emits `'error'`: failures reject the call they belong to.
 *
 * @example
 * ```js
 * import { Python, kw } from 'pyferry'
 *
 * const py = new Python()
 * try {
 *   const sum = await py.call<number>('numpy.sum', [1, 2, 3])    // 6
 *   const samples = new Float64Array(4096)
 *   const spectrum = await py.call('numpy.fft.rfft', samples, kw({ n: 1024 }))
 * } finally {
 *   await py.close()
 * }
 * ```
 */
export declare class Python extends EventEmitter {
  /**
   * Check the options; nothing starts until the first call or `start()`.
   *
   * @throws {TypeError} an option of the wrong type (the message names it).
   * @throws {RangeError} `maxMessageBytes` is not an integer of at least 64.
   */
  constructor(options?: PythonOptions)

  /**
   * Start the worker now instead of on the first call.
   *
   * Resolves with the worker's handshake info once it is ready (at once if it
   * already is). Rejects with `WorkerStartError` if the interpreter cannot be
   * run or lacks the `pyferry` package, `VersionMismatchError` if it speaks
   * another protocol version, `PoolClosedError` after `close()`.
   */
  start(): Promise<WorkerInfo>

  /**
   * Call the Python callable named `target` with `args` and resolve with its result.
   *
   * `target` is a dotted name: a module path, then attributes
   * (`'numpy.fft.rfft'`, `'mymodule.MyClass.method'`). A trailing `kw({...})`
   * argument gives keyword arguments. Arguments and the result are copied
   * across by value (see the codec table in the README): numbers, BigInts,
   * strings, booleans, `null`/`undefined`, arrays, plain objects, Maps, Dates,
   * `Uint8Array` (as `bytes`), other TypedArrays and `NDArray` (as numpy
   * arrays), `Complex`.
   *
   * The result type is `unknown` unless you name it: `call<number>(...)` is
   * an unchecked assertion, not a conversion.
   *
   * Rejects with `PythonError` (the Python code raised), `TargetNotFoundError`
   * / `TargetForbiddenError`, `SerializationError` (a value cannot cross),
   * `WorkerCrashedError`, `WorkerStartError`, `ProtocolError`, `PoolClosedError`
   * (after `close()`), or `TypeError` when `target` is not a non-empty string.
   *
   * @example
   * ```ts
   * const total = await py.call<number>('numpy.sum', [[1, 2], [3, 4]], kw({ axis: null }))
   * ```
   */
  call<T = unknown>(target: string, ...args: unknown[]): Promise<T>

  /** The running worker's handshake info, or `null` before it is ready and after it exits. */
  readonly info: WorkerInfo | null

  /**
   * Let calls in flight finish, then stop the worker.
   *
   * Idempotent: every call returns the same promise. Later calls and `start()`
   * reject with `PoolClosedError`.
   */
  close(): Promise<void>

  /** Same as `close()`, for `await using py = new Python()` (Node 24+). */
  [Symbol.asyncDispose](): Promise<void>

  /**
   * Listen for one of the {@link PythonEvents}. A `'stdout'` or `'stderr'`
   * listener also stops those lines from being copied to `process.stderr`.
   */
  on<E extends keyof PythonEvents>(event: E, listener: (...args: PythonEvents[E]) => void): this
  /** Listen for one of the {@link PythonEvents}, once. */
  once<E extends keyof PythonEvents>(event: E, listener: (...args: PythonEvents[E]) => void): this
  /** Remove a listener added with `on()` or `once()`. */
  off<E extends keyof PythonEvents>(event: E, listener: (...args: PythonEvents[E]) => void): this
}

// ----------------------------------------------------------------- codec.js

/**
 * What `kw()` accepts: any object except an array or a function (`never` for those).
 *
 * Keys are the Python parameter names; values cross as call arguments do.
 */
export type KeywordArguments<T> = T extends readonly unknown[] | ((...args: never[]) => unknown) ? never : T

/**
 * Keyword arguments for a call; build them with `kw()`.
 *
 * Only valid as the last argument of `call()`; anywhere else the call rejects
 * with `SerializationError`.
 */
export declare class Kwargs<T extends object = object> {
  /**
   * Wrap `values` as keyword arguments.
   *
   * @throws {TypeError} `values` is not an object, or is an array.
   */
  constructor(values: KeywordArguments<T>)
  /** The keyword arguments, by parameter name (the object given, not a copy). */
  readonly values: T
}

/**
 * Mark an object as keyword arguments (only valid as a call's last argument).
 *
 * @example
 * ```ts
 * await py.call('numpy.mean', rows, kw({ axis: 0 }))   // numpy.mean(rows, axis=0)
 * ```
 * @throws {TypeError} `values` is not an object, or is an array.
 */
export declare function kw<T extends object>(values: KeywordArguments<T>): Kwargs<T>

// --------------------------------------------------------------- ndarray.js

/**
 * The TypedArray that holds the data of an array of each numpy dtype.
 *
 * `bool` uses one byte per element (0 or 1); complex dtypes use two floats per
 * element (real, imaginary), so their `data` is twice as long as `size`.
 */
export interface DTypeArrays {
  bool: Uint8Array
  int8: Int8Array
  uint8: Uint8Array
  int16: Int16Array
  uint16: Uint16Array
  int32: Int32Array
  uint32: Uint32Array
  int64: BigInt64Array
  uint64: BigUint64Array
  float32: Float32Array
  float64: Float64Array
  complex64: Float32Array
  complex128: Float64Array
}

/** The numpy dtypes that can cross: `'bool'`, `'int8'` ... `'uint64'`, `'float32'`, `'float64'`, `'complex64'`, `'complex128'`. */
export type DType = keyof DTypeArrays

/** The JS value of one element of an array of each dtype (what `get()` returns). */
export interface DTypeElements {
  bool: boolean
  int8: number
  uint8: number
  int16: number
  uint16: number
  int32: number
  uint32: number
  int64: bigint
  uint64: bigint
  float32: number
  float64: number
  complex64: Complex
  complex128: Complex
}

/** The dtypes an `NDArray` gets when constructed without one (from the TypedArray's class). */
export type DefaultDType = Exclude<DType, 'bool' | 'complex64' | 'complex128'>

/** Nested plain arrays, as returned by `NDArray#toArray()`. */
export type NestedArray<T> = Array<T | NestedArray<T>>

/**
 * An n-dimensional array: a flat, C-ordered (row-major) TypedArray `data`
 * plus `shape` and `dtype`; crosses to Python as a `numpy.ndarray`.
 *
 * Results arrive as an `NDArray` when they are n-d, or 1-d of a dtype without
 * a TypedArray of its own (`bool`, `uint8`, complex); other 1-d arrays arrive
 * as plain TypedArrays.
 *
 * @example
 * ```ts
 * const m = new NDArray(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3])   // NDArray<'float64'>
 * m.get(1, 2)                       // 6
 * const mask = new NDArray(new Uint8Array([1, 0]), [2], 'bool')
 * ```
 */
export interface NDArray<D extends DType = DType> {
  /** The elements, flat and C-ordered; shared, not copied. */
  readonly data: DTypeArrays[D]
  /** Length along each axis (frozen); `[]` for a 0-d array. */
  readonly shape: readonly number[]
  /** The numpy dtype name. */
  readonly dtype: D
  /** Number of dimensions (`shape.length`). */
  readonly ndim: number
  /** Number of elements (the product of `shape`). */
  readonly size: number
  /**
   * Element at a full index, e.g. `a.get(1, 2)`; negative indices count from the end.
   *
   * @throws {RangeError} wrong number of indices, or an index out of bounds.
   */
  get(...index: number[]): DTypeElements[D]
  /**
   * The `i`-th sub-array along the first axis, sharing memory (negative `i`
   * counts from the end): an element for a 1-d array, a bare TypedArray for
   * a 2-d array of a dtype that also arrives bare (not `bool`, `uint8` or
   * complex, so that sending the row back keeps its dtype), an `NDArray`
   * otherwise.
   *
   * @throws {RangeError} a 0-d array, or `i` out of bounds.
   */
  row(i: number): DTypeElements[D] | DTypeArrays[D] | NDArray<D>
  /**
   * A copy as nested plain arrays of numbers, BigInts, booleans or `Complex`
   * values; a 0-d array gives its single element.
   */
  toArray(): DTypeElements[D] | NestedArray<DTypeElements[D]>
}

/** Constructor of {@link NDArray}. */
export interface NDArrayConstructor {
  /**
   * An array of `dtype` over `data` (not copied), of the given `shape`
   * (default: 1-d). `data` must be the dtype's TypedArray class (see
   * {@link DTypeArrays}).
   *
   * @throws {TypeError} `data` is not a TypedArray, the dtype is unknown or
   *   does not match `data`'s class, or `shape` is not an array of
   *   non-negative integers.
   * @throws {RangeError} `shape` does not hold as many elements as `data`.
   */
  new <D extends DType>(data: DTypeArrays[D], shape: readonly number[] | null | undefined, dtype: D): NDArray<D>
  /** A `float64` array over `data` (dtype from the TypedArray's class), 1-d unless `shape` is given. */
  new (data: Float64Array, shape?: readonly number[] | null, dtype?: null): NDArray<'float64'>
  /** A `float32` array over `data`, 1-d unless `shape` is given. */
  new (data: Float32Array, shape?: readonly number[] | null, dtype?: null): NDArray<'float32'>
  /** An `int8` array over `data`, 1-d unless `shape` is given. */
  new (data: Int8Array, shape?: readonly number[] | null, dtype?: null): NDArray<'int8'>
  /**
   * A `uint8` array over `data`, 1-d unless `shape` is given. A Node `Buffer`
   * needs the dtype spelled out: `new NDArray(buf, shape, 'uint8')`.
   */
  new (data: Uint8Array, shape?: readonly number[] | null, dtype?: null): NDArray<'uint8'>
  /** An `int16` array over `data`, 1-d unless `shape` is given. */
  new (data: Int16Array, shape?: readonly number[] | null, dtype?: null): NDArray<'int16'>
  /** A `uint16` array over `data`, 1-d unless `shape` is given. */
  new (data: Uint16Array, shape?: readonly number[] | null, dtype?: null): NDArray<'uint16'>
  /** An `int32` array over `data`, 1-d unless `shape` is given. */
  new (data: Int32Array, shape?: readonly number[] | null, dtype?: null): NDArray<'int32'>
  /** A `uint32` array over `data`, 1-d unless `shape` is given. */
  new (data: Uint32Array, shape?: readonly number[] | null, dtype?: null): NDArray<'uint32'>
  /** An `int64` array over `data`, 1-d unless `shape` is given. */
  new (data: BigInt64Array, shape?: readonly number[] | null, dtype?: null): NDArray<'int64'>
  /** A `uint64` array over `data`, 1-d unless `shape` is given. */
  new (data: BigUint64Array, shape?: readonly number[] | null, dtype?: null): NDArray<'uint64'>
  /** An array over `data` whose dtype follows from the TypedArray's class. */
  new (data: DTypeArrays[DefaultDType], shape?: readonly number[] | null, dtype?: null): NDArray<DefaultDType>
  readonly prototype: NDArray
}

/**
 * An n-dimensional array: a flat, C-ordered TypedArray `data` plus `shape`
 * and `dtype`; crosses to Python as a `numpy.ndarray`. See {@link NDArray}
 * (the instance type) and {@link NDArrayConstructor}.
 */
export declare const NDArray: NDArrayConstructor

/** A complex number: Python `complex` and numpy complex scalars cross as this. */
export declare class Complex {
  /** `re + im·j`; `im` defaults to 0. */
  constructor(re: number, im?: number)
  /** Real part. */
  re: number
  /** Imaginary part. */
  im: number
  /** Python's notation, e.g. `'(1+2j)'`. */
  toString(): string
}

// ---------------------------------------------------------------- errors.js

/**
 * Base class of every error pyferry rejects with; `code` tells them apart.
 *
 * ```text
 * PyferryError                  PYFERRY_ERROR
 * ├── PythonError               PYFERRY_PYTHON              the called Python code raised
 * ├── TargetError               PYFERRY_TARGET              the dotted name cannot be called
 * │   ├── TargetNotFoundError   PYFERRY_TARGET_NOT_FOUND
 * │   └── TargetForbiddenError  PYFERRY_TARGET_FORBIDDEN
 * ├── SerializationError        PYFERRY_SERIALIZATION       a value cannot cross (see `path`)
 * ├── ProtocolError             PYFERRY_PROTOCOL            the byte stream broke the protocol
 * │   └── VersionMismatchError  PYFERRY_VERSION_MISMATCH
 * ├── WorkerStartError          PYFERRY_WORKER_START        no worker could be started
 * ├── WorkerCrashedError        PYFERRY_WORKER_CRASHED      the worker died during the call
 * └── PoolClosedError               PYFERRY_POOL_CLOSED              the client was closed
 * ```
 *
 * `name` and `code` live on each class's prototype, as on Node's own errors;
 * an underlying error is in `cause`.
 *
 * @example
 * ```ts
 * try {
 *   await py.call('mymodule.f')
 * } catch (error) {
 *   if (error instanceof PythonError && error.pythonType === 'builtins.ValueError') ...
 *   else if (error instanceof PyferryError) console.error(error.code)
 *   else throw error
 * }
 * ```
 */
export declare class PyferryError extends Error {
  constructor(message?: string, options?: ErrorOptions)
  /** Stable identifier of the error's class, e.g. `'PYFERRY_PYTHON'`. */
  readonly code: string
}

/** What the worker sends about one Python exception. */
export interface PythonExceptionInfo {
  /** Qualified type name, e.g. `'builtins.ValueError'`. */
  type: string
  /** `str()` of the exception. */
  message: string
  /** The formatted traceback text. */
  traceback: string
}

/**
 * The called Python code raised an exception.
 *
 * The message is `'<Type>: <message>'` (`builtins.` dropped from the type);
 * the stack shows the JS caller, then the Python traceback. The exception's
 * `__cause__` / `__context__` chain arrives as a chain of `PythonError`s in
 * `cause`, each with its `relation`.
 */
export declare class PythonError extends PyferryError {
  constructor(info: PythonExceptionInfo, options?: ErrorOptions)
  readonly code: 'PYFERRY_PYTHON'
  /** Qualified Python type name, e.g. `'builtins.ValueError'`, `'numpy.linalg.LinAlgError'`. */
  readonly pythonType: string
  /** The Python exception's own message (`str(exc)`). */
  readonly pythonMessage: string
  /** The formatted Python traceback text. */
  readonly pythonTraceback: string
  /**
   * Only on the errors of a `cause` chain: how this exception relates to the
   * one whose `cause` it is (`raise ... from` gives `'cause'`, an exception
   * raised while handling another gives `'context'`).
   */
  readonly relation?: 'cause' | 'context'
}

/**
 * The call's dotted name cannot be resolved to something callable.
 *
 * When the worker reported it, `pythonType` and `pythonTraceback` say what it raised.
 */
export declare class TargetError extends PyferryError {
  readonly code: 'PYFERRY_TARGET' | 'PYFERRY_TARGET_NOT_FOUND' | 'PYFERRY_TARGET_FORBIDDEN'
  /** Qualified Python type of the worker's error, when the worker reported it. */
  readonly pythonType?: string
  /** The worker's traceback text, when the worker reported it. */
  readonly pythonTraceback?: string
}

/** Nothing importable by that name, or no such attribute. */
export declare class TargetNotFoundError extends TargetError {
  readonly code: 'PYFERRY_TARGET_NOT_FOUND'
}

/** The name is private (a `_`-prefixed part) or outside the allowed targets. */
export declare class TargetForbiddenError extends TargetError {
  readonly code: 'PYFERRY_TARGET_FORBIDDEN'
}

/**
 * A value cannot cross: an argument on the way in, or the result on the way out.
 *
 * The message is `'<reason> at <path>'`.
 */
export declare class SerializationError extends PyferryError {
  /** @param path where the value sits, e.g. `'args[1].foo[2]'`; default `''`. */
  constructor(reason: string, path?: string, options?: ErrorOptions)
  readonly code: 'PYFERRY_SERIALIZATION'
  /** What is wrong with the value, without the path. */
  readonly reason: string
  /** Where the value sits, e.g. `'args[1].foo[2]'` or `'result[0]'`; `''` if unknown. */
  readonly path: string
  /** Qualified Python type of the worker's error, when the worker reported it. */
  readonly pythonType?: string
  /** The worker's traceback text, when the worker reported it. */
  readonly pythonTraceback?: string
}

/** The byte stream broke the protocol (bad frame, over `maxMessageBytes`, wrong message). */
export declare class ProtocolError extends PyferryError {
  readonly code: 'PYFERRY_PROTOCOL' | 'PYFERRY_VERSION_MISMATCH'
  /** Qualified Python type of the worker's error, when the worker reported it. */
  readonly pythonType?: string
  /** The worker's traceback text, when the worker reported it. */
  readonly pythonTraceback?: string
}

/** The worker speaks another protocol version than this client (`PROTOCOL_VERSION`). */
export declare class VersionMismatchError extends ProtocolError {
  readonly code: 'PYFERRY_VERSION_MISMATCH'
}

/**
 * No worker could be started: the interpreter could not be run, or exited
 * during start-up (often: the `pyferry` package is not installed in it). The
 * message says which interpreter was used and how to fix it.
 */
export declare class WorkerStartError extends PyferryError {
  readonly code: 'PYFERRY_WORKER_START'
}

/** How a worker died, for `WorkerCrashedError`. */
export interface WorkerCrashInfo {
  /** Process id of the worker. */
  pid: number
  /** Exit code, or `null` when a signal killed it. */
  exitCode: number | null
  /** The signal that killed it, or `null` when it exited. */
  signal: NodeJS.Signals | null
  /** The last lines (up to 20) of its stderr. */
  stderr: string[]
}

/**
 * The worker process died while the call was running.
 *
 * The message gives the exit code or signal, a likely cause (`SIGKILL`: out of
 * memory or killed from outside; `SIGSEGV`/`SIGBUS`/`SIGABRT`: native code)
 * and the last stderr lines. The next call starts a new worker.
 */
export declare class WorkerCrashedError extends PyferryError {
  constructor(info: WorkerCrashInfo, options?: ErrorOptions)
  readonly code: 'PYFERRY_WORKER_CRASHED'
  /** Process id of the dead worker. */
  readonly pid: number
  /** Exit code, or `null` when a signal killed it. */
  readonly exitCode: number | null
  /** The signal that killed it, or `null` when it exited. */
  readonly signal: NodeJS.Signals | null
  /** The last lines (up to 20) of its stderr. */
  readonly stderr: string[]
}

/** The client (or its worker) was closed; calls after `close()` reject with this. */
export declare class PoolClosedError extends PyferryError {
  readonly code: 'PYFERRY_POOL_CLOSED'
}

// -------------------------------------------------------------- protocol.js

/** Version of the wire protocol this client speaks; the worker must speak the same. */
export declare const PROTOCOL_VERSION: 1
