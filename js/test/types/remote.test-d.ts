// Type tests for handles, module proxies, streams, callbacks and progress (issue 4):
// type-checked by `tsc --noEmit --strict -p test/types`, never run. Each
// `@ts-expect-error` line is misuse that must not compile.

import {
  HandleError,
  HandleInvalidatedError,
  HandleReleasedError,
  type Kwargs,
  NDArray,
  type Progress,
  PyferryError,
  PyHandle,
  type PyMethod,
  type PyModule,
  type PyStream,
  Python,
  type PythonStats,
  type Remote,
  type WorkerStats,
  kw,
  opts,
} from 'pyferry'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
declare function assertType<T extends true>(value: T): void
declare function expectType<T>(value: T): void

const py = new Python()

async function modules(): Promise<void> {
  // By default a module proxy knows no names: every property is a PyModule and
  // every call resolves with unknown. This project's tsconfig has
  // noUncheckedIndexedAccess, so open-ended names need `!` here.
  const np = py.import('numpy')
  assertType<Equal<typeof np, PyModule>>(true)
  const spectrum = await np.fft!.rfft!(new Float64Array(8))
  assertType<Equal<typeof spectrum, unknown>>(true)
  const x = await np.linspace!<Float64Array>(0, 1, kw({ num: 5 }), opts({ timeout: 1000 }))
  expectType<Float64Array>(x)
  expectType<string>(np.toString())
  // Not thenable: awaiting a proxy gives the proxy.
  const same = await np
  assertType<Equal<typeof same, PyModule>>(true)
  expectType<undefined>(np.then)

  // Naming the shape you use (an unchecked assertion, as call<T>()).
  interface Numpy {
    linspace(start: number, stop: number, options?: Kwargs<{ num: number }>): Promise<Float64Array>
    fft: { rfft(x: Float64Array): Promise<NDArray<'complex128'>> }
  }
  const typed = py.import<Numpy>('numpy')
  expectType<Float64Array>(await typed.linspace(0, 1, kw({ num: 5 })))
  expectType<NDArray<'complex128'>>(await typed.fft.rfft(new Float64Array(8)))
  // @ts-expect-error the declared shape has no such function
  typed.nope()
  // @ts-expect-error a module name is a string
  py.import(42)

  const pi = await py.get<number>('numpy.pi')
  expectType<number>(pi)
  assertType<Equal<Awaited<ReturnType<typeof py.get>>, unknown>>(true)
  await py.get('numpy.pi', opts({ handle: true }))
  // @ts-expect-error get() takes no call arguments, only opts()
  await py.get('numpy.pi', 1)
}

async function handles(): Promise<void> {
  const result = await py.call('collections.Counter', 'abc', opts({ handle: true }))
  if (result instanceof PyHandle) {
    expectType<string>(result.type)
    expectType<string>(result.repr)
    expectType<number>(result.id)
    expectType<number>(result.pid)
    expectType<boolean>(result.released)
    const common = await result.callMethod<[string, number][]>('most_common', 2)
    expectType<[string, number][]>(common)
    assertType<Equal<Awaited<ReturnType<typeof result.get>>, unknown>>(true)
    expectType<Promise<unknown>>(result.value())
    expectType<Promise<unknown>>(result.call(1, kw({ a: 1 })))
    expectType<void>(result.release())
    expectType<void>(result[Symbol.dispose]())
    expectType<Promise<void>>(result[Symbol.asyncDispose]())
    expectType<{ pyHandle: number; type: string; repr: string }>(result.toJSON())
    // @ts-expect-error a bare PyHandle declares no method names: use callMethod or Remote
    result.most_common(2)
    // @ts-expect-error the type is read-only
    result.type = 'x'
  }
  // Remote: any name is a method (possibly undefined under noUncheckedIndexedAccess).
  const counter = await py.call<Remote>('collections.Counter', 'abc', opts({ handle: true }))
  expectType<PyHandle>(counter)
  expectType<PyMethod | undefined>(counter.most_common)
  expectType<Promise<unknown>>(counter.most_common!(2))
  expectType<string>(counter.type)
  // Named methods: checked as declared.
  const typed = await py.call<Remote<{ most_common(n: number): Promise<[string, number][]> }>>('collections.Counter', 'abc')
  expectType<[string, number][]>(await typed.most_common(2))
  expectType<string>(typed.repr)
  // @ts-expect-error most_common takes a number
  await typed.most_common('2')
  // Not thenable: awaiting a handle gives the handle.
  const again = await counter
  expectType<Remote>(again)
  // Handles are made by the client only.
  // @ts-expect-error the constructor is private
  new PyHandle()
  // A handle goes back as an argument anywhere.
  await py.call('features.owner_of', counter, kw({ other: counter }))
}

declare const account: PyHandle

async function streams(): Promise<void> {
  const rows = py.stream<number[]>('mymodule.rows', 'data.csv', kw({ skip: 1 }), opts({ window: 256, signal: AbortSignal.timeout(1000) }))
  assertType<Equal<typeof rows, PyStream<number[]>>>(true)
  for await (const row of rows) expectType<number[]>(row)
  const first = await rows.next()
  if (!first.done) expectType<number[]>(first.value)
  else expectType<undefined>(first.value)
  const end = await rows.return()
  expectType<true>(end.done)
  const anything = py.stream('mymodule.rows')
  for await (const item of anything) assertType<Equal<typeof item, unknown>>(true)
  py.stream(account)
  // @ts-expect-error a stream target is a dotted name or a PyHandle
  py.stream(42)
  // @ts-expect-error the window is a number of items
  opts({ window: '1k' })
}

async function callbacks(): Promise<void> {
  // Functions cross in a call's arguments: sync or async, any arguments.
  await py.call('scipy.optimize.minimize', (x: Float64Array) => (x[0]! - 1) ** 2, new Float64Array([0]))
  await py.call('features.call_js', async (a: number) => a * 2, 21)
}

function progress(): void {
  opts({ onProgress: ({ done, total, message }) => {
    assertType<Equal<typeof done, number | null>>(true)
    assertType<Equal<typeof total, number | null>>(true)
    assertType<Equal<typeof message, string | null>>(true)
  } })
  const log = (p: Progress): void => console.log(p.done)
  expectType<((progress: Progress) => void) | undefined>(opts({ onProgress: log }).onProgress)
  expectType<boolean | undefined>(opts({ handle: true }).handle)
  expectType<number | undefined>(opts({ window: 8 }).window)
  // @ts-expect-error onProgress is a function
  opts({ onProgress: true })
  // @ts-expect-error handle is a boolean
  opts({ handle: 'yes' })
}

function stats(): void {
  const s: PythonStats = py.stats()
  expectType<number>(s.handles)
  const w: WorkerStats | undefined = s.workers[0]
  if (w) {
    expectType<number>(w.handles)
    expectType<number>(w.inFlight)
    expectType<number>(w.queued)
    expectType<number>(w.frames)
  }
}

function errors(error: unknown): void {
  if (error instanceof HandleReleasedError) {
    assertType<Equal<typeof error.code, 'PYFERRY_HANDLE_RELEASED'>>(true)
    expectType<HandleError>(error)
  } else if (error instanceof HandleInvalidatedError) {
    assertType<Equal<typeof error.code, 'PYFERRY_HANDLE_INVALIDATED'>>(true)
  } else if (error instanceof HandleError) {
    assertType<Equal<typeof error.code, 'PYFERRY_HANDLE' | 'PYFERRY_HANDLE_RELEASED' | 'PYFERRY_HANDLE_INVALIDATED'>>(true)
    expectType<PyferryError>(error)
  }
  expectType<HandleError>(new HandleInvalidatedError('gone'))
  // @ts-expect-error a released handle is not an invalidated one
  expectType<HandleInvalidatedError>(new HandleReleasedError('released'))
}

export { modules, handles, streams, callbacks, progress, stats, errors }
