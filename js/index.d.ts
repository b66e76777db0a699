// Hand-written public types for pyferry: exactly what src/index.js exports.
//
// Keep in step with src/: every declaration below names the module it mirrors.
// Call results are `unknown` unless the caller names a type: nothing on the JS
// side knows what a Python function returns.

/// <reference types="node" />

import { EventEmitter } from 'node:events'

// ---------------------------------------------------------------- python.js

/**
 * Options for `new Python(options)`. All are optional and checked on entry;
 * the error names the option. A string, array or object option of the wrong
 * type throws a `TypeError`; a number option that is not a whole number in
 * its range (or not a number at all) throws a `RangeError`. Options not
 * listed here are ignored at run time.
 */
/** The PEM files of a Dask gateway's TLS connection (`options.security`). */
export interface DaskSecurity {
  /** CA certificate(s) the scheduler's certificate must be signed by. */
  ca: string
  /** The gateway's client certificate (Dask schedulers require one); may hold the key too. */
  cert: string
  /** The certificate's private key, unless `cert` holds it. */
  key?: string | undefined
  /** Refuse any connection that is not TLS (default true): a `tcp://` scheduler is then a `TypeError`. */
  requireEncryption?: boolean | undefined
}

export interface PythonOptions {
  /**
   * Path or command of the interpreter that runs the workers (non-empty), or
   * an argv array: the program, then arguments put before `-m pyferry`, e.g.
   * `['py', '-3.12']` (non-empty strings; an empty array is a `TypeError`).
   *
   * Without it pyferry tries, in order: `$PYFERRY_PYTHON`, the active venv or
   * conda env, the application's `.venv`, then `python3` and `python` on PATH
   * (on Windows `python.exe`, then `py -3`); see the README's *How Python is found*.
   */
  python?: string | readonly string[] | undefined
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
  /**
   * Most worker processes at once: an integer of at least 1 (not `Infinity`).
   * Workers start on demand, as calls wait for one, up to this many
   * (`start()` starts them all); default `os.availableParallelism()`.
   */
  workers?: number | undefined
  /**
   * Most calls that may wait in the queue for a worker: an integer of at
   * least 0, or `Infinity` (the default). A call that would have to wait
   * while `maxQueue` calls already do rejects with `QueueFullError` (nothing
   * is sent); a call an idle worker takes at once does not wait, so with `0`
   * calls run only on idle workers. `'drain'` is emitted once the queue has
   * emptied again.
   */
  maxQueue?: number | undefined
  /**
   * Calls each busy worker may be sent ahead of time: `'auto'` (the default)
   * sends up to 32 ahead, only to a worker whose calls are short (on average
   * at most 1 ms, the current one included) and only calls of at most 64 KiB;
   * an integer of at least 0 (not `Infinity`) sends up to that many to any
   * busy worker; 0 keeps calls in the client until a worker is free.
   *
   * With many small calls in flight, a worker then finds its next call already
   * in its pipe when the running one ends, rather than waiting a round trip
   * for it. A call sent ahead runs after the ones sent before it, never inside
   * a call that waits for a JS callback. A worker that falls free with nothing
   * queued takes back the newest call sent ahead to another worker, so a
   * short call does not wait behind a long one; if a worker dies, the calls
   * sent ahead behind its running call run elsewhere (they never started).
   * Calls sent ahead count as in flight, not as queued or against `maxQueue`.
   */
  pipeline?: 'auto' | number | undefined
  /**
   * Microseconds a worker keeps polling for its next call before it sleeps,
   * while calls come quickly (its last wait was shorter than this, or than
   * twice this if it slept, the wake-up being part of such a wait): a whole
   * number from 0 to 10000; default 100, 0 to sleep at once.
   *
   * Sleeping and being woken again costs more than a small call itself (tens
   * of microseconds on a virtual machine), so back-to-back calls answer sooner
   * with it. The worker yields the CPU to anything else runnable
   * between polls, and once a wait outlasts the window it sleeps at once: an
   * idle worker spins at most once, for at most this long. Node does the same
   * for the answer of a call alone in flight, under the same rule (its event
   * loop keeps turning; timers and I/O run as usual); 0 turns both off.
   */
  spin?: number | undefined
  /**
   * The protocol channel: `'pipe'` (the worker's descriptor 3, a socket pair) or `'tcp'`
   * (loopback TCP, proved with a one-time token). Default: `PYFERRY_TRANSPORT`, else `'tcp'`
   * on Windows and `'pipe'` elsewhere.
   */
  transport?: 'pipe' | 'tcp' | undefined
  /**
   * Milliseconds a worker's connection may take to be made: a `'tcp'` worker's to Node
   * (then a WorkerStartError), a Dask gateway's to its scheduler (then a
   * BackendUnavailableError). Default: `PYFERRY_CONNECT_TIMEOUT_MS`, else 30 s for a
   * `'tcp'` worker and 10 s for a gateway. A whole number from 1 to 2 ** 31 - 1.
   */
  connectTimeout?: number | undefined
  /**
   * Where calls run: `'local'` (the default) in the worker processes, or
   * `'dask'`: each worker is a gateway that submits its calls to the Dask
   * scheduler named by `scheduler` (or `schedulerFile`). With `'dask'`,
   * `path`, `preload`, `maxMemoryBytes`, `maxCallsPerWorker` and `spin` are a
   * `TypeError` (they mean nothing for a cluster), and so is a JS function
   * argument a `SerializationError`. Handles and streams keep their objects
   * on the Dask worker that made them; progress does not work on Dask yet
   * (see the README's Dask section).
   */
  backend?: 'local' | 'dask' | undefined
  /**
   * The Dask scheduler's address, with `backend: 'dask'`: `tls://HOST:PORT`
   * (needs `security`), or `tcp://HOST:PORT`, loopback only unless
   * `insecureScheduler` is true.
   */
  scheduler?: string | undefined
  /** A Dask scheduler file (`dask scheduler --scheduler-file`), instead of `scheduler`. */
  schedulerFile?: string | undefined
  /**
   * Allow a `tcp://` scheduler that is not on loopback: plain, unauthenticated
   * TCP to a process that runs whatever its clients send. Default false.
   */
  insecureScheduler?: boolean | undefined
  /**
   * The default of every call's `opts({ once })`: `true` starts each call at
   * most once. Default false: on Dask, a call whose Dask worker died is run
   * again (at-least-once). The local backend never starts a call twice.
   */
  once?: boolean | undefined
  /**
   * TLS to the Dask scheduler (`distributed.Security`), with `backend: 'dask'`
   * and a `tls://` scheduler: PEM file paths, relative ones resolved against
   * the application's root (as `path`).
   */
  security?: DaskSecurity | undefined
  /**
   * Milliseconds a Dask gateway's client batches its messages to the scheduler
   * for, from 0 to 1000; default 1 (Dask's own default is 10, about 9 ms of
   * every sequential call). Only the gateway's own client changes.
   */
  batchInterval?: number | undefined
  /**
   * Milliseconds each call may take, for the calls that do not give their own
   * (`opts({ timeout })`): an integer from 0 to 2**31 - 1; default none.
   *
   * The clock starts when `call()` is made, so time spent waiting in the queue
   * counts. When it runs out the call rejects with `TimeoutError`: a queued
   * call is dropped without being sent, a running one is interrupted in
   * Python (see `killGrace`).
   */
  timeout?: number | undefined
  /**
   * After a timeout, an abort or `close({ timeout })`, the milliseconds a
   * running call has to end once it has been interrupted in Python; if it has
   * not ended by then (a long C routine does not see the interrupt), its
   * worker is killed and replaced. An integer from 0 to 2**31 - 1; default 1000.
   */
  killGrace?: number | undefined
  /**
   * Replace a worker once it has served this many calls (for code that
   * leaks): it finishes its calls, is closed and a new one takes its place.
   * Not while this client holds handles of objects in it: then once the
   * last of them is released. An integer of at least 1, or `Infinity` (the
   * default: never).
   */
  maxCallsPerWorker?: number | undefined
  /**
   * Memory limit of each worker process in bytes: an integer of at least
   * 2**26 (64 MiB); default none. `RLIMIT_AS` (address space) on Linux, a
   * job-object limit on committed memory on Windows; on macOS, which does not
   * enforce `RLIMIT_AS`, the option is a `TypeError` (see the README's platform table).
   *
   * Running out raises `MemoryError` in Python, so the call rejects with a
   * `PythonError` and the worker keeps serving, instead of the system killing
   * the worker. The limit covers the interpreter and the libraries it loads too.
   */
  maxMemoryBytes?: number | undefined
  /**
   * Glob patterns of the targets that may be called, e.g. `'numpy.*'` or
   * `['numpy.*', 'mypkg.stats.*']` (non-empty strings; Python `fnmatch`,
   * case-sensitive, and `*` also matches dots).
   *
   * A call must match a pattern twice: by the name requested, checked before
   * anything is imported (a builtin such as `'sum'` as `'builtins.sum'`), and
   * by what the name resolves to, as `module.qualname` of the object (so under
   * `'mypkg.*'`, `'mypkg.os.system'` is refused: it is `posix.system`).
   * Otherwise the call rejects with `NotAllowedError`.
   *
   * Default (and `[]`): every public name may be called.
   */
  allow?: string | readonly string[] | undefined
  /**
   * Modules each worker imports when it starts, before its handshake, so that
   * the first calls find them loaded, e.g. `['numpy', 'scipy.signal']`
   * (non-empty strings). If an import fails, the worker exits and its start
   * fails with `WorkerStartError`, whose message holds the worker's stderr
   * (the import's traceback).
   */
  preload?: string | readonly string[] | undefined
}

/**
 * What a worker says about itself in its handshake (`HELLO`): `start()`
 * resolves with, and `py.info` is, that of the oldest ready worker.
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
  /** Process id of the worker: Python's own (on Windows a venv's `python.exe` is a launcher with a pid of its own). */
  pid: number
}

/** One worker process, as listed by `py.stats()`. */
export interface WorkerStats {
  /**
   * Process id: Python's own, from its HELLO, once the handshake is done (the
   * spawned process's before); `undefined` when the process could not be spawned.
   */
  pid: number | undefined
  /**
   * `'starting'` until its handshake is done, then `'ready'`; `'closing'` once
   * its channel was ended (`close()`, or recycled after `maxCallsPerWorker`);
   * `'exited'` once gone, which is rarely seen: a worker leaves the list as
   * it exits. A worker being killed keeps its state until it has exited, but
   * no longer counts as `live`.
   */
  state: 'starting' | 'ready' | 'closing' | 'exited'
  /**
   * Whether a call holds its main thread: sent, and neither answered nor
   * DETACHED (an `async def` call or a stream no longer holds it), one being
   * cancelled included. A worker that is not busy takes the next call.
   */
  busy: boolean
  /** Answers it has sent (results, errors, ends of streams): what `maxCallsPerWorker` counts. */
  calls: number
  /** Calls sent to it and not answered yet, DETACHED ones included. */
  inFlight: number
  /** Calls waiting for this worker in particular: they name its handles. */
  queued: number
  /**
   * Calls sent to it ahead of time, while it was busy (the `pipeline`
   * option), and not answered yet; they are part of `inFlight`.
   */
  ahead: number
  /**
   * With `pipeline: 'auto'`, the average time (ms) its recent calls held its
   * main thread; calls go ahead to it only while this is at most 1. `null`
   * before its first answer, and under any other `pipeline`.
   */
  paceMs: number | null
  /** Live handles this client holds of objects in this worker (see {@link PyHandle}). */
  handles: number
  /** Frames received from it (handshake, answers, stream batches, callbacks, progress). */
  frames: number
}

/** A snapshot of a client's pool, from `py.stats()`. */
export interface PythonStats {
  /** Most worker processes at once: the `workers` option. */
  size: number
  /** Workers that take calls: starting or ready, not closing, failed or being killed. */
  live: number
  /** Workers a call holds (see {@link WorkerStats.busy}), live or not (a closing worker may still finish one). */
  busy: number
  /** Calls waiting for a worker: in the shared queue, or for the one worker that holds their handles. */
  queued: number
  /**
   * Calls sent to a worker and not answered yet. A worker runs one call at a
   * time on its main thread, but `async def` calls and streams let it go
   * (DETACHED) while they run, so this may exceed `busy`.
   */
  inFlight: number
  /** Live handles this client holds, all workers together (see {@link PyHandle}). */
  handles: number
  /**
   * Workers that ended, after their handshake, other than by being closed:
   * they crashed, or were killed (after `killGrace`, on a protocol failure,
   * or by `destroy()`). Workers that failed to start are not counted.
   */
  restarts: number
  /** Workers closed and replaced after serving `maxCallsPerWorker` calls. */
  recycled: number
  /** Every worker process that has not exited yet, oldest first. */
  workers: WorkerStats[]
}

/** Options for `py.close(options)`. */
export interface CloseOptions {
  /**
   * Milliseconds to let running calls finish: an integer from 0 to 2**31 - 1;
   * default: however long they take. Calls still running then are
   * interrupted in Python and reject with `PoolClosedError`; a worker whose
   * call has not ended `killGrace` ms later is killed.
   */
  timeout?: number | undefined
}

/** The events a `Python` client emits, as listener parameter lists. */
export interface PythonEvents {
  /**
   * A worker process was started (only emitted when the OS gave it a pid). `pid`
   * is the spawned process's: on Windows a venv's `python.exe` is a launcher, and
   * Python's own pid is the one in `info`, `stats()` and errors once it is ready.
   */
  spawn: [worker: { pid: number }]
  /**
   * A worker process ended: closed (`close()`, recycled after
   * `maxCallsPerWorker`), crashed or killed. Unless the client is closed, one
   * that ended unexpectedly is replaced at once. `pid` is `undefined` when
   * the process never started (the interpreter could not be run); `code` and
   * `signal` are then both `null`.
   */
  exit: [worker: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null }]
  /**
   * The queue has emptied after it had reached `maxQueue` (or after a call
   * was refused with `QueueFullError`): calls are taken again. No arguments.
   */
  drain: []
  /** A line the worker printed to its stdout (without the line ending). */
  stdout: [line: string, worker: { pid: number }]
  /** A line the worker printed to its stderr (without the line ending). */
  stderr: [line: string, worker: { pid: number }]
}

// ------------------------------------------------------------------- debug.js

/**
 * The message of the `pyferry:call:start` diagnostics channel: a call goes
 * to the pool, encoded. Published only while the channel has subscribers;
 * calls made while neither call channel had one are not reported.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel'
 * import type { CallEndMessage } from 'pyferry'
 *
 * diagnosticsChannel.subscribe('pyferry:call:end', (message) => {
 *   const { target, duration, outcome } = message as CallEndMessage
 *   console.log(`${target}: ${outcome} in ${duration.toFixed(1)} ms`)
 * })
 * ```
 */
export interface CallStartMessage {
  /** The client that made the call. */
  readonly client: Python
  /** Its call id, unique within its client. */
  readonly id: number
  /** The dotted name, or `<type>.<method> (handle <id>)` for a handle's method. */
  readonly target: string
  /** Whether it is a `stream()`. */
  readonly stream: boolean
}

/** The message of the `pyferry:call:end` diagnostics channel: the call settled. */
export interface CallEndMessage extends CallStartMessage {
  /** The worker it was sent to last, or `null` if it never was. */
  readonly pid: number | null
  /** Milliseconds since its `pyferry:call:start` (a fraction). */
  readonly duration: number
  readonly outcome: 'result' | 'error'
  /** The error the call rejected with, when `outcome` is `'error'`. */
  readonly error: Error | undefined
}

/** The message of the `pyferry:worker:spawn` diagnostics channel: a worker process was spawned. */
export interface WorkerSpawnMessage {
  /** `null` when the spawn itself failed (no such interpreter). */
  readonly pid: number | null
  /** The interpreter. */
  readonly python: string
  /** Its arguments: `['-m', 'pyferry', 'worker', ...]`. */
  readonly args: readonly string[]
  /** How the interpreter was found, e.g. `'$PYFERRY_PYTHON'`. */
  readonly source: string
  readonly cwd: string
  /** The whole environment it was given. */
  readonly env: Readonly<Record<string, string | undefined>>
}

/** The message of the `pyferry:worker:exit` diagnostics channel: a worker process is gone. */
export interface WorkerExitMessage {
  /** `null` when it never started (no such interpreter). */
  readonly pid: number | null
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /**
   * `'closed'`: `close()` or recycling ended it; `'killed'`: `destroy()`, or
   * a cancelled call still running after `killGrace`; `'crashed'`: it died
   * (or broke the protocol) after its handshake; `'start-failed'`: before it.
   */
  readonly reason: 'closed' | 'killed' | 'crashed' | 'start-failed'
  /** For `'crashed'` and `'start-failed'`: the error its calls failed with. */
  readonly error: PyferryError | undefined
}

/** What `opts()` takes: the options of one call. */
export interface CallOptionsInit {
  /**
   * Milliseconds from `call()` until the call rejects with `TimeoutError`,
   * time in the queue included: an integer from 0 to 2**31 - 1. Overrides the
   * client's `timeout`; left out (or `undefined`), the client's applies.
   */
  timeout?: number | undefined
  /**
   * Aborting it rejects the call with `AbortError`, whose `cause` is the
   * signal's `reason`. A signal already aborted rejects the call at once,
   * and nothing is sent. It stops streams too (`py.stream()`).
   */
  signal?: AbortSignal | undefined
  /**
   * `true`: the answer comes as a {@link PyHandle} whatever it is, even a
   * value that could cross (for `py.stream()`: each item). Default: by value
   * when it can cross, as a handle otherwise.
   */
  handle?: boolean | undefined
  /**
   * Called, in order, for each `pyferry.progress(done, total, message)` the
   * Python code reports during the call, before the call resolves. Without
   * it the worker reports nothing. An exception it throws is not the call's:
   * it is rethrown on its own (an uncaught exception, as an event listener's).
   */
  onProgress?: ((progress: Progress) => void) | undefined
  /**
   * `py.stream()` only: how many items the worker may send ahead of the
   * consumer, an integer from 1 to 2**32 - 1; default 1024. Ignored by calls.
   */
  window?: number | undefined
  /**
   * `true`: the call is started at most once. With `backend: 'dask'`, a call
   * whose Dask worker died after starting it then rejects with
   * `WorkerCrashedError` (`backend: 'dask'`) instead of being run again
   * (Dask's default, at-least-once). The local backend never starts a call
   * twice, so there it changes nothing. Default: the client's `once`.
   */
  once?: boolean | undefined
}

/** What `pyferry.progress(done, total=None, message=None)` reported, as `onProgress` gets it. */
export interface Progress {
  /** How far the work is (any number the code chooses), or `null`. */
  done: number | null
  /** Where `done` ends, or `null` when the code did not say. */
  total: number | null
  /** A line about the step, or `null`. */
  message: string | null
}

/**
 * Options for one call; build them with `opts()`.
 *
 * Only valid as a trailing argument of `call()`, before or after a `kw()`;
 * anywhere else the call rejects with `SerializationError`.
 *
 * When the timeout runs out or the signal aborts, a queued call is dropped
 * without being sent. A running one is interrupted inside Python
 * (`pyferry.Cancelled` is raised in it) and, if it has not ended `killGrace`
 * ms later, its worker is killed and replaced. The call rejects once Python
 * has stopped working on it.
 */
export declare class CallOptions {
  /**
   * Check and keep `options`.
   *
   * @throws {TypeError} `options` is not an object, `signal` is not an
   *   `AbortSignal`, `handle` or `once` not a boolean or `onProgress` not a function.
   * @throws {RangeError} `timeout` is not a whole number from 0 to 2**31 - 1,
   *   or `window` not one from 1 to 2**32 - 1.
   */
  constructor(options: CallOptionsInit)
  /** Milliseconds the call may take, or `undefined` for the client's `timeout`. */
  readonly timeout: number | undefined
  /** The signal that aborts the call, if any. */
  readonly signal: AbortSignal | undefined
  /** Whether the answer is to come as a handle. */
  readonly handle: boolean | undefined
  /** The progress handler, if any. */
  readonly onProgress: ((progress: Progress) => void) | undefined
  /** The stream window, if given. */
  readonly window: number | undefined
  /** Whether the call is to start at most once, or `undefined` for the client's `once`. */
  readonly once: boolean | undefined
}

/**
 * Mark options for one call (only valid as a trailing argument of `call()`).
 *
 * @example
 * ```ts
 * const ac = new AbortController()
 * const fit = await py.call('mypkg.model.fit', data, kw({ epochs: 50 }), opts({ timeout: 60_000, signal: ac.signal }))
 * await py.call('time.sleep', 5, opts({ signal: AbortSignal.timeout(100) }))   // rejects: AbortError
 * ```
 * @throws {TypeError} `options` is not an object, or `signal` is not an `AbortSignal`.
 * @throws {RangeError} `timeout` is not a whole number from 0 to 2**31 - 1.
 */
export declare function opts(options: CallOptionsInit): CallOptions

/**
 * A client that calls Python functions in a pool of persistent worker processes.
 *
 * Constructing one starts nothing. Workers start on demand as calls arrive,
 * up to `workers` of them (or all at once with `start()`), and stay alive
 * between calls. A worker runs one call at a time: calls wait in a queue in
 * Node and each goes, in the order made, to the oldest idle worker, so a slow
 * call never holds up a call that another worker could take. (An `async def`
 * call or a stream frees its worker while it waits; a call naming handles
 * waits for their worker; calls made inside a JS callback go to the worker
 * that called it.)
 *
 * A worker that dies fails only the call it was running (a call that was sent
 * is never sent again) and is replaced at once; queued calls run on the other
 * workers or on the replacement. A worker that fails to start is retried
 * after 100 ms, doubling up to 10 s; meanwhile, while no worker is alive,
 * calls reject at once with the last start error. Idle workers do not keep
 * Node running; `close()` or `destroy()` stops them.
 *
 * Events (see {@link PythonEvents}): `'spawn'`, `'exit'`, `'drain'`,
 * `'stdout'`, `'stderr'`. While nobody listens for `'stdout'` or `'stderr'`,
 * the workers' output lines go to `process.stderr`, prefixed with
 * `[python <pid>]`. It never emits `'error'`: failures reject the call they
 * belong to.
 *
 * @example
 * ```ts
 * import { Python, kw, opts } from 'pyferry'
 *
 * const py = new Python({ workers: 4, timeout: 30_000, allow: ['numpy.*'] })
 * try {
 *   const sum = await py.call<number>('numpy.sum', [1, 2, 3])    // 6
 *   const samples = new Float64Array(4096)
 *   const spectrum = await py.call('numpy.fft.rfft', samples, kw({ n: 1024 }), opts({ timeout: 500 }))
 * } finally {
 *   await py.close()
 * }
 * ```
 */
export declare class Python extends EventEmitter {
  /**
   * Check the options; nothing starts until the first call or `start()`.
   *
   * @throws {TypeError} `options` is not an object, or `python`, `cwd`, `env`,
   *   `path`, `allow` or `preload` is of the wrong type (the message names it),
   *   or `maxMemoryBytes` is given on macOS, where it cannot be enforced.
   * @throws {RangeError} `workers`, `maxQueue`, `pipeline`, `spin`, `timeout`, `killGrace`,
   *   `maxCallsPerWorker`, `maxMemoryBytes` or `maxMessageBytes` is not a
   *   whole number in its range (see {@link PythonOptions}).
   */
  constructor(options?: PythonOptions)

  /**
   * Start every worker of the pool now (up to `workers`) instead of on demand.
   *
   * Resolves once all of them are ready (at once if they already are) with
   * the handshake info of the oldest ready worker, as in `py.info`. Rejects
   * with `WorkerStartError` if a worker cannot start (the interpreter cannot
   * be run, lacks the `pyferry` package, or a `preload` import fails),
   * `VersionMismatchError` if it speaks another protocol version, and
   * `PoolClosedError` after `close()` or `destroy()`. While the pool backs
   * off after start failures and no worker is alive, it rejects at once with
   * the last start error.
   */
  start(): Promise<WorkerInfo>

  /**
   * Call the Python callable named `target` with `args` and resolve with its result.
   *
   * `target` is a dotted name: a module path, then attributes
   * (`'numpy.fft.rfft'`, `'mymodule.MyClass.method'`). A trailing `kw({...})`
   * argument gives keyword arguments, and a trailing `opts({...})` argument
   * options for this call (`timeout`, `signal`, `handle`, `onProgress`: see
   * {@link CallOptionsInit}); with both, either may come last. Arguments and
   * the result are copied across by value (see the codec table in the
   * README): numbers, BigInts, strings, booleans, `null`/`undefined`,
   * arrays, plain objects, Maps, Dates, `Uint8Array` (as `bytes`), other
   * TypedArrays and `NDArray` (as numpy arrays), `Complex`. A Python object
   * that has no such form arrives as a {@link PyHandle} (and a handle can be
   * passed back, to the worker that holds it). A JS function in the
   * arguments becomes a Python callable that calls it back (valid until this
   * call settles); the calls it makes go to the same worker. An apache-arrow
   * `Table` or `RecordBatch` crosses as a pandas DataFrame, and a DataFrame
   * result arrives as a `Table` (apache-arrow is loaded on first use).
   *
   * The call waits in the queue until a worker is free, then runs there (a
   * call naming handles: on their worker). The result type is `unknown`
   * unless you name it: `call<number>(...)` is an unchecked assertion, not a
   * conversion.
   *
   * Rejects with `PythonError` (the Python code raised), `TargetNotFoundError`,
   * `TargetForbiddenError` (a private name) or its subclass `NotAllowedError`
   * (outside `allow`), `TargetError` (not callable), `SerializationError` (a
   * value cannot cross), `TimeoutError` (its timeout ran out), `AbortError`
   * (its signal aborted), `QueueFullError` (`maxQueue` calls were already
   * waiting), `WorkerCrashedError` (its worker died while running it),
   * `WorkerStartError` or `VersionMismatchError` (no worker could be
   * started), `ProtocolError`, `PoolClosedError` (the client was closed or
   * destroyed first), `HandleError` and its subclasses (an argument is a
   * handle that cannot be used: see {@link PyHandle}), or `TypeError` when
   * `target` is not a non-empty string.
   *
   * @example
   * ```ts
   * const total = await py.call<number>('numpy.sum', [[1, 2], [3, 4]], kw({ axis: null }))
   * const roots = await py.call('numpy.roots', [1, 0, -1], opts({ timeout: 1000, signal }))
   * const best = await py.call('scipy.optimize.minimize', (x: Float64Array) => (x[0]! - 1) ** 2, [0])
   * ```
   */
  call<T = unknown>(target: string, ...args: unknown[]): Promise<T>

  /**
   * Read the object named `name` (a dotted name, as for `call()`, that need
   * not be callable): its value, or a {@link PyHandle} when it cannot cross.
   * Takes no arguments but a trailing `opts()`.
   *
   * @example
   * ```ts
   * const pi = await py.get<number>('numpy.pi')
   * ```
   */
  get<T = unknown>(name: string, options?: CallOptions): Promise<T>

  /**
   * A proxy for the Python module (or any dotted name) `name`, at once and
   * without a round trip: property access extends the dotted name, calling
   * it calls that name as `call()` does (`kw()` and `opts()` included).
   * Nothing checks that the name exists until it is called.
   *
   * By default the proxy is a {@link PyModule}: every name is another
   * `PyModule`, every call resolves with `unknown`. Name the shape you use
   * for better types (an unchecked assertion, as `call<T>()`):
   *
   * @example
   * ```ts
   * import type { Kwargs } from 'pyferry'
   *
   * const np = py.import('numpy')
   * const spectrum = await np.fft!.rfft!(samples)      // unknown (`!`: under noUncheckedIndexedAccess)
   * interface Numpy { linspace(start: number, stop: number, kw?: Kwargs): Promise<Float64Array> }
   * const typed = py.import<Numpy>('numpy')
   * const x = await typed.linspace(0, 1, kw({ num: 5 }))   // Float64Array
   * ```
   * @throws {TypeError} `name` is not a dotted name such as `'numpy'` or `'scipy.optimize'`.
   */
  import<M = PyModule>(name: string): M

  /**
   * Iterate what a Python iterable yields: `target` (a dotted name, called
   * with `args` as by `call()`; or a {@link PyHandle}, iterated itself)
   * gives a generator, async generator or any iterable, whose items arrive
   * in batches while the consumer keeps up (`opts({ window })` items ahead
   * at most, default 1024). Nothing is sent before the first `next()`.
   * Leaving a `for await` loop early (`break`, `return`, a throw) closes the
   * iterator in Python: the loop is left once its `finally` has run.
   *
   * A stream has no timeout (the client's `timeout` does not apply);
   * `opts({ signal })` aborts it (`AbortError`). Items and the end reject
   * as `call()` does; an exception raised by the iterator comes after the
   * items before it; `TargetError` if the target gave no iterable. The
   * worker is free for other calls while the consumer holds the stream.
   *
   * @example
   * ```ts
   * for await (const row of py.stream<number[]>('mymodule.read_rows', path, opts({ window: 256 }))) {
   *   if (row[0] === 0) break
   * }
   * ```
   * @throws {TypeError} `target` is neither a non-empty string nor a `PyHandle`.
   */
  stream<T = unknown>(target: string | PyHandle, ...args: unknown[]): PyStream<T>

  /**
   * The handshake info of the oldest ready worker (the one a lone caller's
   * calls go to), or `null` while no worker is ready: before the first start,
   * and once all have exited or are closing.
   */
  readonly info: WorkerInfo | null

  /**
   * A snapshot of the pool: how many workers are live and busy, how many
   * calls are queued and in flight, restarts and recycled workers, and each
   * worker's pid, state and calls served.
   *
   * @example
   * ```ts
   * const { live, busy, queued } = py.stats()
   * ```
   */
  stats(): PythonStats

  /**
   * Close the client: queued calls reject with `PoolClosedError`, running
   * calls finish, then every worker is stopped (its channel ended; one that
   * has not exited 5 s later is killed). Resolves once every worker has
   * exited. Later calls and `start()` reject with `PoolClosedError`.
   *
   * With `timeout`, calls still running after that many milliseconds are
   * interrupted in Python and reject with `PoolClosedError`; a worker whose
   * call has not ended `killGrace` ms later is killed.
   *
   * Idempotent: every call returns the first one's promise (a later
   * `timeout` is ignored), or `destroy()`'s once that was called.
   *
   * @throws {RangeError} `timeout` is not a whole number from 0 to 2**31 - 1
   *   (thrown, not a rejection).
   */
  close(options?: CloseOptions): Promise<void>

  /**
   * Kill every worker now (`SIGKILL`): every call not yet settled, queued or
   * running, rejects with `PoolClosedError`, as do later calls and `start()`.
   * Resolves once every worker has exited.
   */
  destroy(): Promise<void>

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

// ----------------------------------------------- handle.js, proxy.js, stream.js

/**
 * One Python object held by one worker, for a Python object that cannot
 * cross by value (or any answer with `opts({ handle: true })`). Calls on it
 * run in the worker that holds it; passed as an argument (to that worker
 * only) it stands for the object itself.
 *
 * Handles arrive wrapped in a Proxy: besides the members below, any other
 * name calls the object's method of that name (`await counter.most_common(2)`;
 * see {@link Remote} for types that allow it). `then` is `undefined`, so a
 * handle is not thenable.
 *
 * Release it when done (`release()`, or `using`); one garbage-collected
 * unreleased is released then. Using a released handle rejects with
 * `HandleReleasedError`; one whose worker exited, with
 * `HandleInvalidatedError`; handles of two workers in one call, with
 * `HandleError`.
 *
 * @example
 * ```ts
 * import type { Remote } from 'pyferry'
 *
 * const counter = await py.call<Remote>('collections.Counter', 'abracadabra', opts({ handle: true }))
 * await counter.most_common!(2)     // [['a', 5], ['b', 2]]  (`!`: see Remote)
 * await counter.callMethod('get', 'a')
 * counter.release()
 * ```
 */
export declare class PyHandle {
  /** Handles are made by the client when a worker sends one. */
  private constructor()
  /** Qualified Python type name, e.g. `'collections.Counter'`. */
  readonly type: string
  /** `repr()` of the object when it crossed (at most 1000 characters). */
  readonly repr: string
  /** Its id in its worker's handle table (each crossing has its own). */
  readonly id: number
  /** The pid of the worker that holds the object. */
  readonly pid: number
  /** Whether `release()` was called. */
  readonly released: boolean
  /** Not thenable. */
  readonly then?: undefined
  /** Read the attribute `name` (dotted names walk on: `'shape.ndim'`): its value, or a handle. */
  get<T = unknown>(name: string, options?: CallOptions): Promise<T>
  /** Call the object itself with `args` (with `kw()` / `opts()` as `call()`). */
  call<T = unknown>(...args: unknown[]): Promise<T>
  /** Call its method `name` (what `handle.name(...args)` does, for names the handle uses itself, such as `get`). */
  callMethod<T = unknown>(name: string, ...args: unknown[]): Promise<T>
  /** The object by value; rejects with `SerializationError` if it cannot cross. */
  value<T = unknown>(options?: CallOptions): Promise<T>
  /** Let the worker drop the object (batched, after the calls that name it). Idempotent. */
  release(): void
  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void
  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
  /** `<PyHandle <type>: <repr>>`. */
  toString(): string
  /** What `JSON.stringify` writes: the id, type and repr, never a remote call. */
  toJSON(): { pyHandle: number; type: string; repr: string }
}

/** A method of a remote object or module: `unknown` results unless named. */
export interface PyMethod {
  <T = unknown>(...args: unknown[]): Promise<T>
}

/** Any other name of a handle: a method of the Python object. */
export interface PyMethods {
  readonly [method: string]: PyMethod
}

/**
 * A handle with its method names typed: `Remote` (every name a
 * {@link PyMethod}) or `Remote<{ most_common(n: number): Promise<[string, number][]> }>`,
 * an unchecked assertion as `call<T>()` is. With `noUncheckedIndexedAccess`,
 * names from `PyMethods` are possibly undefined to TypeScript: write
 * `counter.most_common!(2)`, or name the methods.
 */
export type Remote<M extends object = PyMethods> = PyHandle & M

/** The callable side of a {@link PyModule}. */
export interface PyModuleFunction {
  /** Call the dotted name (`kw()` / `opts()` as in `call()`). */
  <T = unknown>(...args: unknown[]): Promise<T>
  /** Not thenable: `await np` is `np`. */
  readonly then: undefined
  /** `'<PyModule numpy.fft>'`. */
  toString(): string
}

/**
 * What `py.import()` returns by default: a dotted name you can call, whose
 * every property is the longer name (`np.fft.rfft`). With
 * `noUncheckedIndexedAccess`, properties are possibly undefined to
 * TypeScript (`np.fft!.rfft!(x)`): name the shape in `py.import<M>()` instead.
 */
export type PyModule = PyModuleFunction & { readonly [name: string]: PyModule }

/**
 * The items of a Python iterable (`py.stream()`), as an async iterator;
 * `T` is what you assert they are.
 */
export interface PyStream<T = unknown> extends AsyncIterator<T, undefined, undefined> {
  /** The next item; the first call sends the call. */
  next(): Promise<IteratorResult<T, undefined>>
  /** Stop: closes the iterator in Python and resolves once it is closed (its `finally` has run). */
  return(): Promise<IteratorReturnResult<undefined>>
  [Symbol.asyncIterator](): PyStream<T>
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
 * Only valid as a trailing argument of `call()`: the last one, or the one
 * before an `opts()`. Anywhere else the call rejects with `SerializationError`.
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
 * Mark an object as keyword arguments (only valid as a trailing argument of `call()`).
 *
 * @example
 * ```ts
 * await py.call('numpy.mean', rows, kw({ axis: 0 }))   // numpy.mean(rows, axis=0)
 * ```
 * @throws {TypeError} `values` is not an object, or is an array.
 */
export declare function kw<T extends object>(values: KeywordArguments<T>): Kwargs<T>

// --------------------------------------------------------------- ndarray.js

/** numpy's time units, from years (`'Y'`) to attoseconds (`'as'`). */
export type TimeUnit = 'Y' | 'M' | 'W' | 'D' | 'h' | 'm' | 's' | 'ms' | 'us' | 'ns' | 'ps' | 'fs' | 'as'

/**
 * numpy's time dtypes, e.g. `'datetime64[ms]'`: int64 counts of the unit
 * (since 1970-01-01 for datetime64), NaT being `-(2n ** 63n)`.
 */
export type TimeDType = `datetime64[${TimeUnit}]` | `timedelta64[${TimeUnit}]`

/**
 * The TypedArray that holds the data of an array of each numpy dtype.
 *
 * `bool` uses one byte per element (0 or 1); complex dtypes use two floats per
 * element (real, imaginary), so their `data` is twice as long as `size`; time
 * dtypes hold int64 counts in a `BigInt64Array`.
 */
export interface DTypeArrays extends Record<TimeDType, BigInt64Array> {
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

/**
 * The numpy dtypes that can cross: `'bool'`, `'int8'` ... `'uint64'`, `'float32'`, `'float64'`,
 * `'complex64'`, `'complex128'`, and the time dtypes (`'datetime64[ms]'`, `'timedelta64[ns]'`, ...).
 */
export type DType = keyof DTypeArrays

/** The JS value of one element of an array of each dtype (what `get()` returns). */
export interface DTypeElements extends Record<TimeDType, bigint> {
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
export type DefaultDType = Exclude<DType, 'bool' | 'complex64' | 'complex128' | TimeDType>

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
 * import { NDArray } from 'pyferry'
 *
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
 * │   └── TargetForbiddenError  PYFERRY_TARGET_FORBIDDEN    a segment starts with `_`
 * │       └── NotAllowedError   PYFERRY_NOT_ALLOWED         outside the worker's allow-list
 * ├── SerializationError        PYFERRY_SERIALIZATION       a value cannot cross (see `path`)
 * ├── ProtocolError             PYFERRY_PROTOCOL            the byte stream broke the protocol
 * │   └── VersionMismatchError  PYFERRY_VERSION_MISMATCH
 * ├── WorkerStartError          PYFERRY_WORKER_START        no worker could be started
 * ├── WorkerCrashedError        PYFERRY_WORKER_CRASHED      the worker died during the call
 * ├── BackendUnavailableError   PYFERRY_BACKEND_UNAVAILABLE the Dask scheduler cannot be reached, or was lost
 * ├── TimeoutError              PYFERRY_TIMEOUT             the call's `timeout` ran out
 * ├── AbortError                ABORT_ERR                   the call's `signal` aborted (`cause`: its reason)
 * ├── QueueFullError            PYFERRY_QUEUE_FULL          `maxQueue` calls were already waiting
 * ├── PoolClosedError           PYFERRY_POOL_CLOSED         the client was closed or destroyed
 * └── HandleError               PYFERRY_HANDLE              a PyHandle cannot be used in this call
 *     ├── HandleReleasedError   PYFERRY_HANDLE_RELEASED     it was released
 *     └── HandleInvalidatedError PYFERRY_HANDLE_INVALIDATED its worker exited
 * ```
 *
 * `name` and `code` live on each class's prototype, as on Node's own errors;
 * an underlying error is in `cause`.
 *
 * @example
 * ```ts
 * import { PyferryError, PythonError, TimeoutError } from 'pyferry'
 *
 * try {
 *   await py.call('mymodule.f', opts({ timeout: 1000 }))
 * } catch (error) {
 *   if (error instanceof PythonError && error.pythonType === 'builtins.ValueError') console.warn(error.message)
 *   else if (error instanceof TimeoutError) console.warn('mymodule.f took over a second')
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
 * `cause`, each with its `relation`. A `MemoryError` under `maxMemoryBytes`
 * is one of these too.
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
 * The call's dotted name cannot be resolved to something callable, or may
 * not be called.
 *
 * When the worker reported it, `pythonType` and `pythonTraceback` say what it raised.
 */
export declare class TargetError extends PyferryError {
  readonly code: 'PYFERRY_TARGET' | 'PYFERRY_TARGET_NOT_FOUND' | 'PYFERRY_TARGET_FORBIDDEN' | 'PYFERRY_NOT_ALLOWED'
  /** Qualified Python type of the worker's error, when the worker reported it. */
  readonly pythonType?: string
  /** The worker's traceback text, when the worker reported it. */
  readonly pythonTraceback?: string
}

/** Nothing importable by that name, or no such attribute. */
export declare class TargetNotFoundError extends TargetError {
  readonly code: 'PYFERRY_TARGET_NOT_FOUND'
}

/**
 * A segment of the name is private (starts with `_`); refused before
 * anything is imported. Its subclass `NotAllowedError` is a name outside the
 * `allow` option.
 */
export declare class TargetForbiddenError extends TargetError {
  readonly code: 'PYFERRY_TARGET_FORBIDDEN' | 'PYFERRY_NOT_ALLOWED'
}

/**
 * The name, or what it resolves to (`module.qualname` of the object), matches
 * none of the `allow` patterns. A name refused as requested is never imported;
 * the message names the patterns.
 */
export declare class NotAllowedError extends TargetForbiddenError {
  readonly code: 'PYFERRY_NOT_ALLOWED'
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

/**
 * The byte stream broke the protocol (bad frame, over `maxMessageBytes`,
 * wrong message). The worker is killed and replaced.
 */
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
 * No worker could be started: the interpreter could not be run, or the
 * worker exited during start-up (often: the `pyferry` package is not
 * installed in it; or a `preload` import failed). The message says which
 * interpreter was used and how to fix it and, when the worker exited during
 * start-up, holds its last stderr lines (a failed `preload`'s traceback).
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
  /** The last lines of its stderr, oldest first (see `WorkerCrashedError#stderr`). */
  stderr: string[]
}

/**
 * The worker process died while the call was running.
 *
 * The message gives the exit code or signal, a likely cause (`SIGKILL`: out of
 * memory or killed from outside; `SIGSEGV`/`SIGBUS`/`SIGABRT`: native code)
 * and the last stderr lines. Only that call fails: the worker is replaced at
 * once, and the call is not sent again.
 */
export declare class WorkerCrashedError extends PyferryError {
  constructor(info: WorkerCrashInfo, options?: ErrorOptions)
  readonly code: 'PYFERRY_WORKER_CRASHED'
  /**
   * `'local'`: a pyferry worker process died. `'dask'`: the Dask cluster's
   * workers died running the call (Dask's `KilledWorker`, after Dask ran it
   * again on others); then `pid`, `exitCode` and `signal` are `null`,
   * `stderr` is empty and the message is the gateway's.
   */
  readonly backend: 'local' | 'dask'
  /** Process id of the dead worker (`null` with `backend: 'dask'`). */
  readonly pid: number | null
  /** Exit code, or `null` when a signal killed it. */
  readonly exitCode: number | null
  /** The signal that killed it, or `null` when it exited. */
  readonly signal: NodeJS.Signals | null
  /**
   * The last lines of its stderr, oldest first: up to 40, each cut to its
   * first 2000 characters (then `'…'`). After a native crash they hold
   * faulthandler's Python stack.
   */
  readonly stderr: string[]
}

/**
 * With `backend: 'dask'`: the Dask scheduler could not be reached when the
 * gateway connected (at its first call), or the connection broke while the
 * call ran. The message names the address; the next call connects afresh.
 */
export declare class BackendUnavailableError extends PyferryError {
  readonly code: 'PYFERRY_BACKEND_UNAVAILABLE'
}

/**
 * The call's timeout (`opts({ timeout })`, else the client's `timeout`) ran
 * out, counted from `call()`: the call was dropped from the queue unsent, or
 * interrupted while it ran (its worker killed after `killGrace` if it did not stop).
 */
export declare class TimeoutError extends PyferryError {
  readonly code: 'PYFERRY_TIMEOUT'
}

/**
 * The call's `signal` (`opts({ signal })`) aborted: before the call (nothing
 * was sent), while it was queued (dropped unsent) or while it ran
 * (interrupted, as for a timeout). Named and coded like the `AbortError`
 * Node's own APIs reject with; `cause` is the signal's `reason`.
 */
export declare class AbortError extends PyferryError {
  /** @param message default `'The operation was aborted'`. */
  constructor(message?: string, options?: ErrorOptions)
  readonly code: 'ABORT_ERR'
}

/**
 * `maxQueue` calls were already waiting for a worker: this call was refused
 * and nothing was sent. `'drain'` is emitted once the queue has emptied.
 */
export declare class QueueFullError extends PyferryError {
  readonly code: 'PYFERRY_QUEUE_FULL'
}

/**
 * The client was closed or destroyed: calls queued at `close()`, calls still
 * running when `close({ timeout })` ran out, every unsettled call at
 * `destroy()`, and every later call and `start()` reject with this.
 */
export declare class PoolClosedError extends PyferryError {
  readonly code: 'PYFERRY_POOL_CLOSED'
}

/**
 * A {@link PyHandle} cannot be used in this call: as such, handles of two
 * workers named in one call (refused before anything is sent). Its
 * subclasses say why a single handle cannot be used.
 */
export declare class HandleError extends PyferryError {
  readonly code: 'PYFERRY_HANDLE' | 'PYFERRY_HANDLE_RELEASED' | 'PYFERRY_HANDLE_INVALIDATED'
  /** Qualified Python type of the worker's error, when the worker reported it. */
  readonly pythonType?: string
  /** The worker's traceback text, when the worker reported it. */
  readonly pythonTraceback?: string
}

/**
 * The handle was released (`release()`), so it cannot be used any more; or
 * the worker no longer has the object (its ERROR `PYFERRY_HANDLE`).
 */
export declare class HandleReleasedError extends HandleError {
  readonly code: 'PYFERRY_HANDLE_RELEASED'
}

/**
 * The worker that held the object exited (crashed, killed, closed): its
 * handles are gone, and calls still waiting for it that name them reject
 * with this.
 */
export declare class HandleInvalidatedError extends HandleError {
  readonly code: 'PYFERRY_HANDLE_INVALIDATED'
}

// -------------------------------------------------------------- protocol.js

/** Version of the wire protocol this client speaks; the worker must speak the same. */
export declare const PROTOCOL_VERSION: 1
