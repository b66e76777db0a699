// Type tests for index.d.ts: type-checked by `tsc --noEmit --strict -p test/types`, never run.
// Each `@ts-expect-error` line is misuse that must not compile; tsc fails if it does.

import diagnosticsChannel from 'node:diagnostics_channel'
import { EventEmitter } from 'node:events'
import {
  AbortError,
  BackendUnavailableError,
  type CallEndMessage,
  CallOptions,
  type CallStartMessage,
  type CallOptionsInit,
  type CloseOptions,
  Complex,
  type DType,
  type DTypeArrays,
  Kwargs,
  NDArray,
  NotAllowedError,
  PROTOCOL_VERSION,
  PoolClosedError,
  ProtocolError,
  PyferryError,
  Python,
  type PythonEvents,
  type PythonOptions,
  type PythonStats,
  PythonError,
  QueueFullError,
  SerializationError,
  TargetError,
  TargetForbiddenError,
  TargetNotFoundError,
  TimeoutError,
  VersionMismatchError,
  WorkerCrashedError,
  type WorkerExitMessage,
  type WorkerInfo,
  type WorkerSpawnMessage,
  WorkerStartError,
  type WorkerStats,
  kw,
  opts,
} from 'pyferry'

// Exact type equality: `assertType<Equal<A, B>>(true)` fails unless A and B are the same type.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
declare function assertType<T extends true>(value: T): void
declare function expectType<T>(value: T): void

// ------------------------------------------------------------------ Python

const py = new Python()
new Python({})
new Python({ python: '/usr/bin/python3', path: './py', cwd: '/srv', maxMessageBytes: 2 ** 20 })
new Python({ path: ['./py', './lib'], env: { PYTHONHASHSEED: '0', PYTHONPATH: undefined } })
new Python({ env: process.env })
const dirs: readonly string[] = ['a', 'b']
new Python({ path: dirs })
const options: PythonOptions = { python: undefined, cwd: undefined }
new Python(options)

// Pool, limits, allow-list and preload.
new Python({
  workers: 4,
  maxQueue: 100,
  pipeline: 8,
  timeout: 30_000,
  killGrace: 500,
  maxCallsPerWorker: 1000,
  maxMemoryBytes: 2 ** 30,
  spin: 0,
  allow: ['numpy.*', 'mypkg.stats.*'],
  preload: ['numpy', 'scipy.signal'],
})
new Python({ maxQueue: 0, maxCallsPerWorker: Infinity, allow: 'numpy.*', preload: 'numpy' })
new Python({ maxQueue: Infinity, timeout: 0, killGrace: 0 })
const patterns: readonly string[] = ['numpy.*']
new Python({ allow: patterns, preload: patterns })
const poolOptions: PythonOptions = { workers: undefined, maxQueue: undefined, timeout: undefined, allow: undefined }
new Python(poolOptions)

assertType<Equal<typeof py, Python>>(true)
expectType<EventEmitter>(py)

new Python({ python: ['py', '-3.12'] }) // an argv array: the program, then its arguments
const argv: readonly string[] = ['python3', '-X', 'dev']
new Python({ python: argv })
// @ts-expect-error python's argv array holds strings only
new Python({ python: ['py', 3] })
// @ts-expect-error path is a string or an array of strings
new Python({ path: 42 })
// @ts-expect-error env values are strings (or undefined to remove a variable)
new Python({ env: { PORT: 8080 } })
// @ts-expect-error maxMessageBytes is a number of bytes
new Python({ maxMessageBytes: '1GB' })
// @ts-expect-error unknown option (a typo of maxMessageBytes)
new Python({ maxMessageSize: 1024 })
// @ts-expect-error options is an object
new Python('python3')
// @ts-expect-error workers is a number, not a string
new Python({ workers: '4' })
// @ts-expect-error workers is a count, not a list of workers
new Python({ workers: [1, 2] })
// @ts-expect-error maxQueue is a number
new Python({ maxQueue: null })
new Python({ pipeline: 'auto' }) // the default, spelled out
new Python({ backend: 'dask', scheduler: 'tcp://127.0.0.1:8786', connectTimeout: 2000 })
// @ts-expect-error pipeline is a count of calls, not a switch
new Python({ pipeline: true })
// @ts-expect-error timeout is a number of milliseconds, not a string
new Python({ timeout: '30s' })
// @ts-expect-error killGrace is a number of milliseconds
new Python({ killGrace: true })
// @ts-expect-error maxCallsPerWorker is a number
new Python({ maxCallsPerWorker: '1000' })
// @ts-expect-error spin is a number of microseconds, not a string
new Python({ spin: '100' })
// @ts-expect-error maxMemoryBytes is a number, not a BigInt
new Python({ maxMemoryBytes: 2n ** 30n })
// @ts-expect-error allow holds glob strings, not regular expressions
new Python({ allow: /^numpy\./ })
// @ts-expect-error allow holds strings
new Python({ allow: ['numpy.*', 42] })
// @ts-expect-error preload names modules (strings)
new Python({ preload: [Symbol('numpy')] })
// @ts-expect-error unknown option (the option is workers)
new Python({ poolSize: 4 })
// @ts-expect-error unknown option (a typo of maxQueue)
new Python({ maxQueued: 10 })

async function calls(): Promise<void> {
  // Results are unknown unless the caller names a type.
  const anything = await py.call('numpy.sum', [1, 2])
  assertType<Equal<typeof anything, unknown>>(true)
  const sum = await py.call<number>('numpy.sum', [1, 2])
  assertType<Equal<typeof sum, number>>(true)
  expectType<Promise<unknown>>(py.call('os.getcwd'))

  // Keyword arguments go last; any value may be passed.
  await py.call('numpy.mean', [[1, 2], [3, 4]], kw({ axis: 0 }))
  await py.call('f', 1n, 'x', null, undefined, true, new Date(), new Map([[1, 2]]), new Uint8Array(4))
  await py.call('numpy.abs', new Complex(3, 4))
  await py.call('numpy.sum', new NDArray(new Float64Array(6), [2, 3]))

  // @ts-expect-error the target is a dotted name (string), not a function
  await py.call(Math.max, 1, 2)
  // @ts-expect-error a target is required
  await py.call()

  // Per-call options go last, with or without kw(), in either order.
  const ac = new AbortController()
  await py.call('time.sleep', 1, opts({ timeout: 500 }))
  await py.call('time.sleep', 1, opts({ signal: ac.signal }))
  await py.call('time.sleep', 1, opts({ signal: AbortSignal.timeout(100) }))
  await py.call('numpy.mean', [1, 2], kw({ axis: 0 }), opts({ timeout: 500, signal: ac.signal }))
  await py.call('numpy.mean', [1, 2], opts({ timeout: 500 }), kw({ axis: 0 }))
  await py.call('os.getpid', opts({}))
  await py.call('os.getpid', opts({ once: true }))
  // @ts-expect-error once is a boolean
  opts({ once: 'yes' })
  const timed = await py.call<number>('numpy.sum', [1, 2], opts({ timeout: 100 }))
  assertType<Equal<typeof timed, number>>(true)
  ac.abort(new Error('user cancelled'))

  const info = await py.start()
  assertType<Equal<typeof info, WorkerInfo>>(true)
  expectType<number>(info.pid)
  expectType<string>(info.pyferry)
  assertType<Equal<typeof info.numpy, string | null>>(true)
  if (info.protocol !== PROTOCOL_VERSION) throw new Error('unreachable once started')

  assertType<Equal<typeof py.info, WorkerInfo | null>>(true)
  if (py.info !== null) expectType<string>(py.info.python)
  // @ts-expect-error info is read-only
  py.info = null
  // @ts-expect-error info may be null before the start
  py.info.pid

  expectType<Promise<void>>(py.close())
  expectType<Promise<void>>(py.close({}))
  expectType<Promise<void>>(py.close({ timeout: 5000 }))
  expectType<Promise<void>>(py.close({ timeout: undefined }))
  const closeOptions: CloseOptions = { timeout: 0 }
  await py.close(closeOptions)
  expectType<Promise<void>>(py.destroy())
  expectType<Promise<void>>(py[Symbol.asyncDispose]())
  expectType<AsyncDisposable>(py)

  // @ts-expect-error the close timeout is a number of milliseconds
  py.close({ timeout: '5s' })
  // @ts-expect-error close takes an options object, not a bare timeout
  py.close(5000)
  // @ts-expect-error unknown close option
  py.close({ force: true })
  // @ts-expect-error destroy takes no options
  py.destroy({ timeout: 0 })
}

// ------------------------------------------------------------------ stats

const stats = py.stats()
assertType<Equal<typeof stats, PythonStats>>(true)
assertType<Equal<typeof stats.size, number>>(true)
expectType<number>(stats.live + stats.busy + stats.queued + stats.inFlight + stats.restarts + stats.recycled)
assertType<Equal<typeof stats.workers, WorkerStats[]>>(true)
const firstWorker = stats.workers[0]
assertType<Equal<typeof firstWorker, WorkerStats | undefined>>(true)
for (const worker of stats.workers) {
  assertType<Equal<typeof worker.pid, number | undefined>>(true)
  assertType<Equal<typeof worker.state, 'starting' | 'ready' | 'closing' | 'exited'>>(true)
  expectType<boolean>(worker.busy)
  expectType<number>(worker.calls + worker.ahead)
  if (worker.state === 'ready' && !worker.busy) expectType<number | undefined>(worker.pid)
}
const { live, queued } = py.stats()
expectType<number>(live - queued)

// @ts-expect-error no such field
stats.nonexistent
// @ts-expect-error no such field (the queue length is `queued`)
py.stats().queueLength
// @ts-expect-error a worker's pid may be undefined (the spawn failed)
expectType<number>(stats.workers[0]?.pid)
// @ts-expect-error a worker's state is one of four names
if (firstWorker?.state === 'dead') throw new Error()
// @ts-expect-error stats() takes no arguments
py.stats(true)
// @ts-expect-error stats is a method, not a property
expectType<number>(py.stats.size)

async function disposal(): Promise<void> {
  // Node 24+ at run time; type-checks anywhere.
  await using scoped = new Python()
  await scoped.call('math.sqrt', 2)
}

expectType<1>(PROTOCOL_VERSION)

// ------------------------------------------------------------------ events

py.on('spawn', ({ pid }) => expectType<number>(pid))
py.on('exit', ({ pid, code, signal }) => {
  assertType<Equal<typeof pid, number | undefined>>(true)
  assertType<Equal<typeof code, number | null>>(true)
  assertType<Equal<typeof signal, NodeJS.Signals | null>>(true)
})
py.on('stdout', (line, worker) => {
  expectType<string>(line)
  expectType<number>(worker.pid)
})
const onStderr = (line: string, { pid }: { pid: number }): void => console.log(`[${pid}] ${line}`)
py.on('stderr', onStderr).once('spawn', () => {}).off('stderr', onStderr)
py.once('exit', (event) => expectType<number | null>(event.code))
expectType<Python>(py.on('stdout', () => {}))
py.on('drain', () => {})
py.once('drain', (...args) => assertType<Equal<typeof args, []>>(true))
const onDrain = (): void => {}
py.on('drain', onDrain).off('drain', onDrain)
assertType<Equal<PythonEvents['drain'], []>>(true)
assertType<Equal<keyof PythonEvents, 'spawn' | 'exit' | 'drain' | 'stdout' | 'stderr'>>(true)

// @ts-expect-error 'spawn' gives { pid }, not a line
py.on('spawn', (line: string) => line)
// @ts-expect-error 'stdout' gives a line string first
py.on('stdout', (line: number) => line)
// @ts-expect-error 'exit' gives one object, not (code, signal) as ChildProcess does
py.on('exit', (code: number, signal: string) => code)
// @ts-expect-error a Python client never emits 'error'; failures reject the call
py.on('error', (error: Error) => error)
// @ts-expect-error no such event (typo)
py.once('stdErr', () => {})
// @ts-expect-error 'drain' gives no arguments
py.on('drain', (queued: number) => queued)
// @ts-expect-error no 'full' event: a refused call rejects with QueueFullError
py.on('full', () => {})

// ------------------------------------------------------------------ opts / CallOptions

const ac2 = new AbortController()
const callOptions = opts({ timeout: 1000, signal: ac2.signal })
assertType<Equal<typeof callOptions, CallOptions>>(true)
assertType<Equal<typeof callOptions.timeout, number | undefined>>(true)
assertType<Equal<typeof callOptions.signal, AbortSignal | undefined>>(true)
expectType<CallOptions>(opts({}))
expectType<CallOptions>(opts({ timeout: undefined, signal: undefined }))
expectType<CallOptions>(new CallOptions({ timeout: 0 }))
const init: CallOptionsInit = { signal: AbortSignal.abort() }
expectType<CallOptions>(opts(init))

// @ts-expect-error the timeout is a number of milliseconds
opts({ timeout: 'x' })
// @ts-expect-error the signal is an AbortSignal, not its controller
opts({ signal: ac2 })
// @ts-expect-error the signal is an AbortSignal, not a boolean
opts({ signal: true })
// @ts-expect-error opts() takes an options object
opts()
// @ts-expect-error opts() takes an options object, not a bare timeout
opts(1000)
// @ts-expect-error opts() takes an object, not null
opts(null)
// @ts-expect-error unknown call option (keyword arguments go in kw())
opts({ axis: 0 })
// @ts-expect-error unknown call option (a typo of timeout)
opts({ timout: 1000 })
// @ts-expect-error timeout is read-only
callOptions.timeout = 5
// @ts-expect-error signal is read-only
callOptions.signal = undefined
// @ts-expect-error a CallOptions is not a Kwargs
expectType<Kwargs>(callOptions)

// ------------------------------------------------------------------ kw / Kwargs

const kwargs = kw({ axis: 0, keepdims: true })
expectType<Kwargs>(kwargs)
assertType<Equal<typeof kwargs.values, { axis: number; keepdims: boolean }>>(true)
const direct = new Kwargs({ n: 3 })
assertType<Equal<typeof direct, Kwargs<{ n: number }>>>(true)
interface FftOptions { n: number; norm?: 'ortho' }
declare const fftOptions: FftOptions
expectType<Kwargs<FftOptions>>(kw(fftOptions))
expectType<Kwargs>(kw(new Map([['axis', 0]])))
// @ts-expect-error keyword arguments are an object, not an array
kw([0, 1])
// @ts-expect-error keyword arguments are an object, not a string
kw('axis=0')
// @ts-expect-error keyword arguments are an object, not a function
kw(() => ({ axis: 0 }))
// @ts-expect-error keyword arguments are an object, not null
kw(null)
// @ts-expect-error values is read-only
kwargs.values = { axis: 1, keepdims: false }

// ------------------------------------------------------------------ NDArray

const m = new NDArray(new Float64Array(6), [2, 3])
assertType<Equal<typeof m, NDArray<'float64'>>>(true)
assertType<Equal<typeof m.data, Float64Array>>(true)
assertType<Equal<typeof m.dtype, 'float64'>>(true)
assertType<Equal<typeof m.shape, readonly number[]>>(true)
expectType<number>(m.ndim)
expectType<number>(m.size)
expectType<number>(m.get(1, 2))
expectType<number>(m.get(-1, -1))

const v = new NDArray(new Int32Array(3))
assertType<Equal<typeof v, NDArray<'int32'>>>(true)
const bytes = new NDArray(new Uint8Array(2))
assertType<Equal<typeof bytes, NDArray<'uint8'>>>(true)
const ints = new NDArray(new BigInt64Array(2))
assertType<Equal<typeof ints, NDArray<'int64'>>>(true)
const floats = new NDArray(new Float32Array(2), null, undefined)
assertType<Equal<typeof floats, NDArray<'float32'>>>(true)

const mask = new NDArray(new Uint8Array([1, 0, 1]), [3], 'bool')
assertType<Equal<typeof mask, NDArray<'bool'>>>(true)
expectType<boolean>(mask.get(0))
const z = new NDArray(new Float64Array(4), [2], 'complex128')
expectType<Complex>(z.get(1))
expectType<Float64Array>(z.data)
const big = new NDArray(new BigUint64Array(4), [2, 2], 'uint64')
expectType<bigint>(big.get(0, 0))
const scalar = new NDArray(new Float32Array(1), [], 'float32')
assertType<Equal<typeof scalar, NDArray<'float32'>>>(true)
new NDArray(Buffer.alloc(4), [4], 'uint8')
const dates = new NDArray(new BigInt64Array(2), [2], 'datetime64[ms]')
assertType<Equal<typeof dates, NDArray<'datetime64[ms]'>>>(true)
expectType<bigint>(dates.get(0))
expectType<BigInt64Array>(new NDArray(new BigInt64Array(1), null, 'timedelta64[ns]').data)
// @ts-expect-error a time dtype needs its unit
new NDArray(new BigInt64Array(2), [2], 'datetime64')
// @ts-expect-error time counts are int64
new NDArray(new Float64Array(2), [2], 'datetime64[s]')

const row = m.row(0)
assertType<Equal<typeof row, number | Float64Array | NDArray<'float64'>>>(true)
if (row instanceof Float64Array) expectType<number>(row[0] ?? 0)
const nested = m.toArray()
if (Array.isArray(nested)) expectType<number | number[] | unknown[]>(nested[0] ?? 0)

// A dtype held in a variable gives the union of its element types.
declare const someDtype: DType
declare const someData: DTypeArrays[DType]
const loose = new NDArray(someData, [someData.length], someDtype)
assertType<Equal<typeof loose, NDArray>>(true)
expectType<number | bigint | boolean | Complex>(loose.get(0))

// Narrowing results: call results are unknown until checked.
async function narrow(): Promise<void> {
  const result = await py.call('numpy.ones', [2, 2])
  if (result instanceof NDArray) {
    assertType<Equal<typeof result, NDArray>>(true)
    if (result.dtype === 'float64') expectType<string>(result.dtype)
  } else if (result instanceof Float64Array) {
    expectType<number>(result.length)
  }
}

// @ts-expect-error dtype float64 needs a Float64Array, not a Float32Array
new NDArray(new Float32Array(6), [2, 3], 'float64')
// @ts-expect-error dtype int64 needs a BigInt64Array
new NDArray(new Int32Array(2), [2], 'int64')
// @ts-expect-error complex64 is held in a Float32Array (re, im pairs)
new NDArray(new Float64Array(4), [2], 'complex64')
// @ts-expect-error no such dtype
new NDArray(new Float64Array(2), [2], 'float16')
// @ts-expect-error a Uint8ClampedArray has no dtype of its own (the constructor throws)
new NDArray(new Uint8ClampedArray(4))
// @ts-expect-error data is a TypedArray, not a plain array
new NDArray([1, 2, 3], [3])
// @ts-expect-error shape is an array of lengths
new NDArray(new Float64Array(6), 6)
// @ts-expect-error the shape is frozen
m.shape[0] = 3
// @ts-expect-error ndim is read-only (a getter)
m.ndim = 1
// @ts-expect-error data is read-only; build a new NDArray instead
m.data = new Float64Array(6)
// @ts-expect-error get() of a float64 array gives a number
expectType<bigint>(m.get(0, 0))
// @ts-expect-error indices are numbers
m.get('0', '1')

// ------------------------------------------------------------------ Complex

const c = new Complex(1, -2)
expectType<number>(c.re + c.im)
expectType<string>(c.toString())
new Complex(1)
// @ts-expect-error the real part is required
new Complex()
// @ts-expect-error parts are numbers
new Complex('1', '2')

// ------------------------------------------------------------------ errors

async function errors(): Promise<void> {
  try {
    await py.call('mymodule.f')
  } catch (error) {
    // @ts-expect-error a caught value is unknown until narrowed
    error.code
    if (error instanceof PythonError) {
      assertType<Equal<typeof error.code, 'PYFERRY_PYTHON'>>(true)
      expectType<string>(error.pythonType)
      expectType<string>(error.pythonMessage)
      expectType<string>(error.pythonTraceback)
      expectType<'cause' | 'context' | undefined>(error.relation)
      expectType<unknown>(error.cause)
      if (error.cause instanceof PythonError) expectType<string>(error.cause.pythonType)
    } else if (error instanceof TargetNotFoundError) {
      assertType<Equal<typeof error.code, 'PYFERRY_TARGET_NOT_FOUND'>>(true)
      expectType<string | undefined>(error.pythonType)
    } else if (error instanceof NotAllowedError) {
      assertType<Equal<typeof error.code, 'PYFERRY_NOT_ALLOWED'>>(true)
      expectType<TargetForbiddenError>(error)
      expectType<string | undefined>(error.pythonTraceback)
    } else if (error instanceof TargetForbiddenError) {
      assertType<Equal<typeof error.code, 'PYFERRY_TARGET_FORBIDDEN' | 'PYFERRY_NOT_ALLOWED'>>(true)
    } else if (error instanceof TargetError) {
      assertType<
        Equal<typeof error.code, 'PYFERRY_TARGET' | 'PYFERRY_TARGET_NOT_FOUND' | 'PYFERRY_TARGET_FORBIDDEN' | 'PYFERRY_NOT_ALLOWED'>
      >(true)
    } else if (error instanceof SerializationError) {
      assertType<Equal<typeof error.code, 'PYFERRY_SERIALIZATION'>>(true)
      expectType<string>(error.reason)
      expectType<string>(error.path)
    } else if (error instanceof WorkerCrashedError) {
      assertType<Equal<typeof error.code, 'PYFERRY_WORKER_CRASHED'>>(true)
      assertType<Equal<typeof error.pid, number | null>>(true) // null with backend: 'dask'
      assertType<Equal<typeof error.backend, 'local' | 'dask'>>(true)
      assertType<Equal<typeof error.exitCode, number | null>>(true)
      assertType<Equal<typeof error.signal, NodeJS.Signals | null>>(true)
      expectType<string[]>(error.stderr)
    } else if (error instanceof BackendUnavailableError) {
      assertType<Equal<typeof error.code, 'PYFERRY_BACKEND_UNAVAILABLE'>>(true)
    } else if (error instanceof VersionMismatchError) {
      assertType<Equal<typeof error.code, 'PYFERRY_VERSION_MISMATCH'>>(true)
    } else if (error instanceof ProtocolError) {
      assertType<Equal<typeof error.code, 'PYFERRY_PROTOCOL' | 'PYFERRY_VERSION_MISMATCH'>>(true)
    } else if (error instanceof WorkerStartError) {
      assertType<Equal<typeof error.code, 'PYFERRY_WORKER_START'>>(true)
    } else if (error instanceof PoolClosedError) {
      assertType<Equal<typeof error.code, 'PYFERRY_POOL_CLOSED'>>(true)
    } else if (error instanceof TimeoutError) {
      assertType<Equal<typeof error.code, 'PYFERRY_TIMEOUT'>>(true)
      expectType<PyferryError>(error)
    } else if (error instanceof AbortError) {
      assertType<Equal<typeof error.code, 'ABORT_ERR'>>(true)
      expectType<unknown>(error.cause)
      expectType<string>(error.name)
    } else if (error instanceof QueueFullError) {
      assertType<Equal<typeof error.code, 'PYFERRY_QUEUE_FULL'>>(true)
    } else if (error instanceof PyferryError) {
      expectType<string>(error.code)
      expectType<Error>(error)
      // @ts-expect-error code is read-only
      error.code = 'PYFERRY_OTHER'
      // @ts-expect-error pythonType exists only on the classes the worker can report
      error.pythonType
    }
  }

  const forbidden = new TargetForbiddenError('private name', { cause: new Error('x') })
  expectType<TargetError>(forbidden)
  expectType<PyferryError>(forbidden)
  assertType<Equal<typeof forbidden.code, 'PYFERRY_TARGET_FORBIDDEN' | 'PYFERRY_NOT_ALLOWED'>>(true)
  const notAllowed = new NotAllowedError('not on the allow-list')
  expectType<TargetForbiddenError>(notAllowed)
  expectType<TargetError>(notAllowed)
  expectType<'PYFERRY_NOT_ALLOWED'>(notAllowed.code)
  expectType<PyferryError>(new TimeoutError('too slow'))
  expectType<PyferryError>(new QueueFullError('full', { cause: 1 }))
  expectType<PyferryError>(new AbortError())
  expectType<PyferryError>(new AbortError('aborted', { cause: 'user' }))
  expectType<'PYFERRY_TIMEOUT'>(new TimeoutError().code)
  expectType<'ABORT_ERR'>(new AbortError().code)
  expectType<'PYFERRY_QUEUE_FULL'>(new QueueFullError().code)
  expectType<'PYFERRY_POOL_CLOSED'>(new PoolClosedError().code)
  new PythonError({ type: 'builtins.ValueError', message: 'bad', traceback: '' })
  new SerializationError('a symbol cannot cross by value', 'args[0]')
  new WorkerCrashedError({ pid: 1, exitCode: null, signal: 'SIGKILL', stderr: [] })
  new PoolClosedError()
  // @ts-expect-error PythonError is built from the worker's exception info, not a message
  new PythonError('ValueError: bad')
  // @ts-expect-error not a Node signal name
  new WorkerCrashedError({ pid: 1, exitCode: null, signal: 'SIGNOPE', stderr: [] })
  // @ts-expect-error the path is read-only
  new SerializationError('x').path = 'args[1]'
  // @ts-expect-error a TimeoutError's code is PYFERRY_TIMEOUT
  expectType<'ETIMEDOUT'>(new TimeoutError().code)
  // @ts-expect-error an AbortError's code is Node's ABORT_ERR, not a PYFERRY_ one
  expectType<'PYFERRY_ABORT'>(new AbortError().code)
  // @ts-expect-error a NotAllowedError is a TargetForbiddenError, not a PythonError
  expectType<PythonError>(notAllowed)
  // @ts-expect-error a QueueFullError is not a TimeoutError
  expectType<TimeoutError>(new QueueFullError())
  // @ts-expect-error an AbortError takes a message, not the signal
  new AbortError(new AbortController().signal)
}

export { calls, disposal, narrow, errors }

// backend: 'dask' and its options.
new Python({ backend: 'dask', scheduler: 'tcp://127.0.0.1:8786' })
new Python({ backend: 'dask', schedulerFile: '/tmp/scheduler.json', insecureScheduler: true })
new Python({ backend: 'dask', scheduler: 'tcp://127.0.0.1:8786', once: true })
// @ts-expect-error: once is a boolean
new Python({ backend: 'dask', scheduler: 'tcp://127.0.0.1:8786', once: 1 })
// @ts-expect-error: no such backend
new Python({ backend: 'ray' })
new Python({ backend: 'dask', scheduler: 'tls://10.0.0.1:8786', security: { ca: 'ca.pem', cert: 'me.pem', key: 'me.key' } })
new Python({ backend: 'dask', scheduler: 'tcp://127.0.0.1:8786', batchInterval: 0.5, security: { ca: 'ca.pem', cert: 'me.pem', requireEncryption: false } })
// @ts-expect-error: security needs a CA file
new Python({ backend: 'dask', scheduler: 'tls://10.0.0.1:8786', security: { cert: 'me.pem' } })
// @ts-expect-error: batchInterval is milliseconds, a number
new Python({ backend: 'dask', scheduler: 'tcp://127.0.0.1:8786', batchInterval: '1ms' })
// @ts-expect-error: insecureScheduler is a boolean
new Python({ backend: 'dask', scheduler: 'tcp://10.0.0.1:8786', insecureScheduler: 'yes' })

// The diagnostics channels' messages (README "Debugging").
diagnosticsChannel.subscribe('pyferry:call:start', (message) => {
  const m = message as CallStartMessage
  expectType<Python>(m.client)
  expectType<number>(m.id)
  expectType<string>(m.target)
  expectType<boolean>(m.stream)
})
diagnosticsChannel.subscribe('pyferry:call:end', (message) => {
  const m = message as CallEndMessage
  expectType<string>(m.target)
  expectType<number | null>(m.pid)
  expectType<number>(m.duration)
  assertType<Equal<typeof m.outcome, 'result' | 'error'>>(true)
  expectType<Error | undefined>(m.error)
  // @ts-expect-error a message is read-only
  m.duration = 0
})
diagnosticsChannel.subscribe('pyferry:worker:spawn', (message) => {
  const m = message as WorkerSpawnMessage
  expectType<number | null>(m.pid)
  expectType<string>(m.python)
  expectType<readonly string[]>(m.args)
  expectType<string>(m.source)
  expectType<string>(m.cwd)
  expectType<string | undefined>(m.env.PATH)
})
diagnosticsChannel.subscribe('pyferry:worker:exit', (message) => {
  const m = message as WorkerExitMessage
  expectType<number | null>(m.code)
  expectType<NodeJS.Signals | null>(m.signal)
  assertType<Equal<typeof m.reason, 'closed' | 'killed' | 'crashed' | 'start-failed'>>(true)
  expectType<PyferryError | undefined>(m.error)
  // @ts-expect-error not a reason
  expectType<typeof m.reason>('exited')
})
