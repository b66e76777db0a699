// Every call settles (docs/reliability.md): crashes, start failures, timeouts and
// cancellation, protocol violations, odd Python values and the allow-list, with real workers.
//
// No fixed sleeps: a test knows a call is running from a line it printed (the 'stdout'
// event) or from stats(), and polls with a deadline for anything that happens later.

import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { inspect } from 'node:util'
import { after, describe, test as nodeTest } from 'node:test'
import {
  AbortError, NotAllowedError, ProtocolError, Python, PythonError, SerializationError, TargetForbiddenError,
  TimeoutError, WorkerCrashedError, WorkerStartError, kw, opts,
} from '../src/index.js'
import { cannotInterruptSleep, childProcesses, fixturesDir, needsProcessList, needsSignals, pool, processGone, rejection, waitFor, waitGone } from './helpers.js'

const workerChildren = () => childProcesses().filter((c) => c.cmdline.includes('pyferry worker'))
const tmp = mkdtempSync(path.join(tmpdir(), 'pyferry-settle-'))
let fileCount = 0
const tmpFile = (name) => path.join(tmp, `${name}-${++fileCount}`)
const since = (start) => performance.now() - start

// A hang is a failure too: every test has a deadline.
const test = (name, options, fn) => (fn === undefined
  ? nodeTest(name, { timeout: 30_000 }, options)
  : nodeTest(name, { timeout: 30_000, ...options }, fn))

// Record a client's output lines and process events (listening also keeps them off the test's stderr).
function record(py) {
  const seen = { stdout: [], stderr: [], spawns: [], exits: [] }
  py.on('stdout', (line) => seen.stdout.push(line))
  py.on('stderr', (line) => seen.stderr.push(line))
  py.on('spawn', ({ pid }) => seen.spawns.push(pid))
  py.on('exit', (event) => seen.exits.push(event))
  return seen
}

// The outcome of `promise` if it settles within a few microtask hops, i.e. without the event
// loop turning (no timer, no I/O, no process); undefined otherwise.
async function settledWithoutTurn(promise, hops = 10) {
  let state
  promise.then((value) => { state = { value } }, (error) => { state = { error } })
  for (let i = 0; i < hops && state === undefined; i++) await null
  return state
}

// All `n` workers of the pool started and handshaken, none on its way out.
const allReady = (py, n) => () => {
  const s = py.stats()
  return s.live === n && s.workers.length === n && s.workers.every((w) => w.state === 'ready')
}

const isError = (Class, code) => (error) => {
  assert.ok(error instanceof Class, `expected ${Class.name}, got:\n${error?.stack ?? inspect(error)}`)
  if (code) assert.equal(error.code, code)
  return true
}

after(async () => {
  rmSync(tmp, { recursive: true, force: true })
  // Every client of this file is closed by now: none of its workers may be left.
  if (!needsProcessList) await waitFor(() => workerChildren().length === 0, { what: 'no worker children left' })
})

describe('crashes', () => {
  test('os._exit(3) on one of two workers fails only its call; two workers are back within 1 s', async (t) => {
    const py = pool(t, { workers: 2 })
    const seen = record(py)
    await py.start()
    const pids = py.stats().workers.map((w) => w.pid)
    assert.equal(pids.length, 2)
    const crashing = py.call('failing.hard_exit', 3)
    const other = py.call('rogue.whoami', 'other', 0.3) // runs on the other worker across the crash
    assert.equal(py.stats().inFlight, 2)
    const error = await rejection(crashing)
    const crashedAt = performance.now()
    isError(WorkerCrashedError, 'PYFERRY_WORKER_CRASHED')(error)
    assert.ok(pids.includes(error.pid), `pid ${error.pid} is one of ${pids}`)
    assert.equal(error.exitCode, 3)
    assert.equal(error.signal, null)
    assert.match(error.message, new RegExp(`worker ${error.pid} exited with code 3 during the call`))
    assert.ok(error.stderr.includes('about to hard-exit'), error.stderr.join('\n'))
    const [value, otherPid] = await other
    assert.equal(value, 'other')
    assert.notEqual(otherPid, error.pid)
    assert.ok(pids.includes(otherPid))
    await waitFor(allReady(py, 2), { timeout: 1000, what: 'two ready workers again' })
    assert.ok(since(crashedAt) < 1000, `healed after ${since(crashedAt)} ms`)
    assert.ok(processGone(error.pid))
    assert.equal(py.stats().restarts, 1)
    assert.deepEqual(seen.exits, [{ pid: error.pid, code: 3, signal: null }])
    assert.equal(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]), 45)
    assert.equal(seen.spawns.length, 3)
  })

  test('a segfault is a WorkerCrashedError with SIGSEGV and faulthandler\'s stack naming the function', { skip: needsSignals }, async (t) => {
    const py = pool(t, { workers: 1 })
    record(py)
    const { pid } = await py.start()
    const error = await rejection(py.call('failing.segfault'))
    isError(WorkerCrashedError)(error)
    assert.equal(error.pid, pid)
    assert.equal(error.signal, 'SIGSEGV')
    assert.equal(error.exitCode, null)
    assert.match(error.message, /killed by SIGSEGV during the call \(a crash in native code\)/)
    const stderr = error.stderr.join('\n')
    assert.match(stderr, /Fatal Python error: Segmentation fault/)
    assert.match(stderr, /File ".*failing\.py", line \d+ in segfault/, stderr)
    assert.ok(error.message.includes('in segfault'), 'the stderr tail is in the message too')
    const next = await py.call('os.getpid')
    assert.notEqual(next, pid)
  })

  test('SIGKILL from outside during a call: signal SIGKILL, with the out-of-memory/killed hint', { skip: needsSignals }, async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const call = py.call('failing.block', 60)
    await waitFor(() => seen.stdout.includes(`blocking ${pid}`), { what: 'the call to start' })
    process.kill(pid, 'SIGKILL')
    const error = await rejection(call)
    isError(WorkerCrashedError, 'PYFERRY_WORKER_CRASHED')(error)
    assert.deepEqual([error.pid, error.exitCode, error.signal], [pid, null, 'SIGKILL'])
    assert.match(error.message, /killed by SIGKILL during the call \(likely out of memory, or killed from outside\)/)
    assert.notEqual(await py.call('os.getpid'), pid)
  })

  test('one worker: call 1 crashes, calls 2-6 queued behind it resolve on the replacement', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const first = py.call('failing.hard_exit', 4)
    const rest = [2, 3, 4, 5, 6].map((n) => py.call('rogue.whoami', n))
    assert.equal(py.stats().queued, 5, 'one worker runs one call; the others wait in Node')
    const error = await rejection(first)
    isError(WorkerCrashedError)(error)
    assert.equal(error.exitCode, 4)
    const results = await Promise.all(rest)
    assert.deepEqual(results.map(([n]) => n), [2, 3, 4, 5, 6])
    const pids = new Set(results.map(([, pid]) => pid))
    assert.equal(pids.size, 1, 'all on one worker')
    assert.ok(!pids.has(error.pid), 'not on the crashed one')
    assert.equal(seen.spawns.length, 2)
  })

  test('a crashing call runs exactly once: nothing that started is re-run', async (t) => {
    const py = pool(t, { workers: 2 })
    record(py)
    const file = tmpFile('count')
    // Sent to a worker still starting up, with calls queued behind it: the riskiest moment.
    const crash = py.call('failing.count_then_exit', file, 7)
    const others = [1, 2, 3, 4].map((n) => py.call('rogue.whoami', n, 0.05))
    const error = await rejection(crash)
    isError(WorkerCrashedError)(error)
    assert.equal(error.exitCode, 7)
    assert.deepEqual((await Promise.all(others)).map(([n]) => n), [1, 2, 3, 4])
    await waitFor(allReady(py, 2), { what: 'the pool to heal' })
    await Promise.all([5, 6, 7, 8].map((n) => py.call('rogue.whoami', n, 0.02)))
    assert.equal(readFileSync(file, 'utf8'), 'x', 'the crashing call ran once')
  })

  test('30 crashing calls in a row (workers: 2): all reject, never more than 2 worker processes', { skip: needsProcessList }, async (t) => {
    const py = pool(t, { workers: 2 })
    const seen = record(py)
    const samples = []
    py.on('spawn', () => samples.push(workerChildren().length))
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => py.call('failing.hard_exit', 9)))
    for (const result of results) {
      assert.equal(result.status, 'rejected')
      isError(WorkerCrashedError)(result.reason)
      assert.equal(result.reason.exitCode, 9)
    }
    assert.equal(new Set(results.map((r) => r.reason.pid)).size, 30, 'each crash on its own process')
    assert.ok(samples.length >= 30, `sampled on ${samples.length} spawns`)
    assert.ok(Math.max(...samples) <= 2, `worker processes seen at spawns: ${samples}`)
    assert.equal(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]), 45)
    assert.ok(workerChildren().length <= 2)
    assert.equal(seen.exits.length, 30)
  })

  test('a recycled worker slow to exit is replaced only once it has exited: never more than 2 processes', { skip: needsProcessList }, async (t) => {
    const py = pool(t, { workers: 2, maxCallsPerWorker: 1 })
    const seen = record(py)
    const samples = []
    py.on('spawn', () => samples.push(workerChildren().length))
    // Each worker serves one call, is closed, and then takes 300 ms to exit.
    const pids = await Promise.all(Array.from({ length: 6 }, () => py.call('rogue.linger_at_exit', 0.3)))
    assert.equal(new Set(pids).size, 6, 'one call per worker')
    assert.ok(Math.max(...samples) <= 2, `worker processes seen at spawns: ${samples}`)
    assert.ok(seen.spawns.length >= 6, `${seen.spawns.length} spawns`)
    assert.ok(py.stats().recycled >= 6, `${py.stats().recycled} recycled`)
  })

  test('crashes of every kind mixed with good calls (workers: 2): each settles as its kind, never more than 2 processes', { skip: needsSignals || needsProcessList }, async (t) => {
    const py = pool(t, { workers: 2, killGrace: 100 })
    record(py)
    const samples = []
    const sample = () => samples.push(workerChildren().length)
    py.on('spawn', sample)
    py.on('exit', sample)
    const kinds = [
      ['failing.hard_exit', [5], WorkerCrashedError],
      ['rogue.write_random', [64], ProtocolError], // the client kills the worker
      ['rogue.whoami', ['good'], null],
      ['failing.c_busy', [20_000_000, opts({ timeout: 300 })], TimeoutError], // killed after killGrace if it ran
      ['failing.segfault', [], WorkerCrashedError],
    ]
    const calls = Array.from({ length: 25 }, (_, i) => {
      const [target, args, Class] = kinds[i % kinds.length]
      return [target, py.call(target, ...args), Class]
    })
    for (const [target, promise, Class] of calls) {
      if (Class) isError(Class)(await rejection(promise))
      else assert.equal((await promise)[0], 'good', target)
    }
    assert.ok(Math.max(...samples) <= 2, `worker processes seen at spawns and exits: ${samples}`)
    assert.equal((await py.call('rogue.whoami', 'after'))[0], 'after')
  })
})

describe('start failures', () => {
  const cases = [
    ['a missing interpreter', { python: '/nonexistent/python' }, (error) => {
      assert.match(error.message, /\/nonexistent\/python/)
      assert.match(error.message, /ENOENT/)
    }],
    ['an interpreter path that is not Python', { python: '/bin/false' }, (error) => {
      assert.match(error.message, /exited during start-up \(code 1\)/)
      assert.match(error.message, /Interpreter: \/bin\/false/)
    }],
    ['a preload that fails to import', { preload: ['mypkg.needs_missing'] }, (error) => {
      assert.match(error.message, /exited during start-up \(code 3\)/)
      assert.match(error.message, /preloading 'mypkg\.needs_missing' failed/)
      assert.match(error.message, /No module named 'pyferry_test_definitely_not_installed'/)
      assert.match(error.message, /leave it out of preload/)
      assert.doesNotMatch(error.message, /pip install pyferry/, 'pyferry is installed there: the preload failed')
    }],
  ]
  for (const [name, options, check] of cases) {
    test(`${name}: WorkerStartError, a bounded number of attempts, no process left`, async (t) => {
      const py = pool(t, { workers: 2, ...options })
      const seen = record(py)
      // Calls in quick succession: ten at once, then ten one after the other.
      const errors = (await Promise.allSettled(Array.from({ length: 10 }, () => py.call('numpy.sum', [1, 2]))))
        .map((r) => r.reason)
      for (let i = 0; i < 10; i++) errors.push(await rejection(py.call('numpy.sum', [1])))
      errors.push(await rejection(py.start()))
      for (const error of errors) {
        isError(WorkerStartError, 'PYFERRY_WORKER_START')(error)
        check(error)
      }
      // A spawn that fails before exec has a pid of undefined and no 'spawn' event; 'exit' counts both.
      assert.ok(seen.exits.length >= 1 && seen.exits.length <= 4, `${seen.exits.length} start attempts for 21 calls`)
      assert.ok(seen.spawns.length <= 4, `${seen.spawns.length} spawns for 21 calls`)
      assert.equal(py.stats().live, 0)
      for (const pid of seen.spawns) await waitGone(pid, 2000)
      if (!needsProcessList) assert.deepEqual(workerChildren(), [])
      if (options.preload) {
        assert.ok(seen.stderr.some((line) => /pyferry_test_definitely_not_installed/.test(line)), 'stderr lines reach the client')
      }
    })
  }

  test('a start failure while the other worker is still starting starts no third process: the calls wait for it', async (t) => {
    // The second worker fails 0.4 s after the first, well past the first backoff step (100 ms).
    const dir = mkdtempSync(path.join(tmp, 'stagger-'))
    const env = { PYFERRY_TEST_STAGGER_DIR: dir, PYFERRY_TEST_STAGGER_FAIL: '0,1' }
    const py = pool(t, { workers: 2, preload: ['mypkg.fails_staggered'], env })
    const seen = record(py)
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => py.call('numpy.sum', [1, 2])))
    for (const { reason } of results) {
      isError(WorkerStartError, 'PYFERRY_WORKER_START')(reason)
      assert.match(reason.message, /staggered start failure 1/, 'the calls failed with the last failure, after both')
    }
    assert.equal(seen.exits.length, 2, `${seen.exits.length} start attempts`)
    assert.equal(py.stats().live, 0)
  })

  test('a start failure while the other worker is still starting: once that one is ready, the slot is filled again', async (t) => {
    const dir = mkdtempSync(path.join(tmp, 'stagger-'))
    const env = { PYFERRY_TEST_STAGGER_DIR: dir, PYFERRY_TEST_STAGGER_FAIL: '0' }
    const py = pool(t, { workers: 2, preload: ['mypkg.fails_staggered'], env })
    const seen = record(py)
    const sums = await Promise.all(Array.from({ length: 6 }, (_, i) => py.call('numpy.sum', [i, 1])))
    assert.deepEqual(sums, [1, 2, 3, 4, 5, 6])
    // No call is made after the first worker's failure: the pool itself starts the third.
    await waitFor(() => py.stats().workers.filter((w) => w.state === 'ready').length === 2, { what: 'two ready workers' })
    assert.equal(seen.exits.length, 1, 'only the first worker exited')
    assert.equal(seen.spawns.length, 3)
  })
})

describe('timeouts', () => {
  test('a pure-Python infinite loop times out by interrupt: same worker serves the next call', async (t) => {
    const py = pool(t, { workers: 1, killGrace: 1000 })
    const seen = record(py)
    const { pid } = await py.start()
    const start = performance.now()
    const error = await rejection(py.call('failing.spin_forever', opts({ timeout: 200 })))
    const elapsed = since(start)
    isError(TimeoutError, 'PYFERRY_TIMEOUT')(error)
    assert.match(error.message, /failing\.spin_forever did not finish within its timeout of 200 ms/)
    assert.ok(elapsed >= 195 && elapsed < 200 + 1000 + 300, `rejected after ${elapsed} ms`)
    assert.ok(seen.stdout.includes(`spinning ${pid}`))
    assert.equal(await py.call('os.getpid'), pid, 'interrupted, not killed')
    assert.deepEqual(seen.exits, [])
    assert.equal(py.stats().restarts, 0)
  })

  test('an uninterruptible C call is killed after killGrace: rejects at ~timeout + killGrace, worker replaced', async (t) => {
    const py = pool(t, { workers: 1, killGrace: 300 })
    const seen = record(py)
    const { pid } = await py.start()
    const start = performance.now()
    // ~20M iterations is several seconds of C that never checks for signals.
    const error = await rejection(py.call('failing.c_busy', 20_000_000, opts({ timeout: 100 })))
    const elapsed = since(start)
    isError(TimeoutError, 'PYFERRY_TIMEOUT')(error)
    assert.ok(seen.stdout.includes(`busy in C ${pid}`), 'the call was in C')
    assert.ok(elapsed >= 350 && elapsed < 1500, `rejected after ${elapsed} ms (timeout 100 + killGrace 300)`)
    await waitGone(pid)
    const next = await py.call('os.getpid')
    assert.notEqual(next, pid)
    assert.equal(py.stats().restarts, 1)
    assert.deepEqual(seen.exits, [{ pid, code: null, signal: 'SIGKILL' }])
  })

  test('the clock starts at submission: a call queued behind a busy worker times out and never runs', async (t) => {
    const py = pool(t, { workers: 1 })
    await py.start()
    const file = tmpFile('queued-timeout')
    const busy = py.call('failing.slow', 1, 'first')
    const start = performance.now()
    const queued = py.call('rogue.mark', file, 'never', opts({ timeout: 200 }))
    assert.deepEqual([py.stats().queued, py.stats().inFlight], [1, 1])
    const error = await rejection(queued)
    const elapsed = since(start)
    isError(TimeoutError, 'PYFERRY_TIMEOUT')(error)
    assert.ok(elapsed >= 195 && elapsed < 500, `rejected after ${elapsed} ms`)
    assert.deepEqual([py.stats().queued, py.stats().inFlight], [0, 1], 'removed from the queue')
    assert.equal(await busy, 'first')
    await py.call('rogue.whoami', 'after')
    assert.equal(existsSync(file), false, 'the timed-out call never ran')
  })

  test('a pool-wide timeout applies to calls without their own; a call\'s own timeout wins', async (t) => {
    const py = pool(t, { workers: 1, timeout: 200 })
    record(py)
    const { pid } = await py.start()
    const start = performance.now()
    const error = await rejection(py.call('failing.spin_forever'))
    const elapsed = since(start)
    isError(TimeoutError, 'PYFERRY_TIMEOUT')(error)
    assert.match(error.message, /timeout of 200 ms/)
    assert.ok(elapsed >= 195 && elapsed < 1500, `rejected after ${elapsed} ms`)
    assert.equal(await py.call('os.getpid'), pid)
    // opts() with only a signal keeps the pool's timeout.
    const withSignal = await rejection(py.call('failing.slow', 5, 'x', opts({ signal: new AbortController().signal })))
    isError(TimeoutError)(withSignal)
    assert.equal(await py.call('failing.slow', 0.4, 'own', opts({ timeout: 3000 })), 'own')
  })

  test('a timeout while the target\'s module is still importing stops the call once the import ends; the module stays whole', async (t) => {
    // An import stopped half way would leave a package broken for every later call,
    // so the CANCEL waits for it (the module here takes 3 s), within killGrace.
    const py = pool(t, { workers: 1, killGrace: 5000 })
    const seen = record(py)
    const { pid } = await py.start()
    const start = performance.now()
    const error = await rejection(py.call('slow_import.ready', opts({ timeout: 300 })))
    const elapsed = since(start)
    isError(TimeoutError)(error)
    assert.ok(elapsed >= 2500, `rejected after ${elapsed} ms, before the import could have ended`)
    assert.equal(await py.call('slow_import.ready'), 'imported')
    assert.equal(await py.call('os.getpid'), pid)
    assert.equal(seen.stdout.filter((line) => line === `importing ${pid}`).length, 1, 'imported once')
  })
})

describe('cancellation', () => {
  test('aborting a queued call rejects it at once with AbortError; the worker never sees it', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const file = tmpFile('queued-abort')
    const busy = py.call('failing.block', 1)
    await waitFor(() => seen.stdout.includes(`blocking ${pid}`), { what: 'the first call to start' })
    const controller = new AbortController()
    const reason = new Error('the user gave up')
    const queued = py.call('rogue.mark', file, 'never', opts({ signal: controller.signal }))
    assert.equal(py.stats().queued, 1)
    controller.abort(reason)
    const state = await settledWithoutTurn(queued)
    assert.ok(state !== undefined, 'rejected before the event loop turned')
    isError(AbortError, 'ABORT_ERR')(state.error)
    assert.equal(state.error.cause, reason)
    assert.match(state.error.message, /rogue\.mark was aborted/)
    assert.deepEqual([py.stats().queued, py.stats().inFlight], [0, 1])
    assert.equal(await busy, 'unblocked')
    await py.call('rogue.whoami', 'after')
    assert.equal(existsSync(file), false, 'the aborted call never ran')
  })

  test('an already-aborted signal rejects on the same tick and sends nothing', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const file = tmpFile('pre-aborted')
    const reason = new Error('aborted before the call')
    const state = await settledWithoutTurn(py.call('rogue.mark', file, 'never', opts({ signal: AbortSignal.abort(reason) })))
    assert.ok(state !== undefined, 'rejected before the event loop turned')
    isError(AbortError, 'ABORT_ERR')(state.error)
    assert.equal(state.error.cause, reason)
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(seen.spawns, [], 'no worker started for it')
    assert.deepEqual(py.stats().workers, [])
    // With a worker running: it gets nothing (its reply count moves only for the next call).
    const { pid } = await py.start()
    const callsBefore = py.stats().workers[0].calls
    const again = await settledWithoutTurn(py.call('rogue.mark', file, 'never', opts({ signal: AbortSignal.abort() })))
    isError(AbortError)(again?.error)
    assert.deepEqual(await py.call('rogue.whoami', 'next'), ['next', pid])
    assert.equal(py.stats().workers[0].calls, callsBefore + 1)
    assert.equal(existsSync(file), false)
  })

  test('an abort in the same tick as call() takes the call back unsent, on a fresh pool and a started one', async (t) => {
    const py = pool(t, { workers: 1 })
    for (const round of ['fresh', 'started']) {
      const file = tmpFile(`same-tick-${round}`)
      const ac = new AbortController()
      const pending = py.call('rogue.mark', file, 'never', opts({ signal: ac.signal }))
      ac.abort()
      isError(AbortError, 'ABORT_ERR')(await rejection(pending))
      // The worker runs calls in arrival order: had the first been sent, it would have run.
      const [, pid] = await py.call('rogue.whoami', round)
      assert.equal(py.stats().workers[0].pid, pid)
      assert.equal(existsSync(file), false, `${round}: the target never started`)
    }
    assert.equal(py.stats().restarts, 0)
  })

  test('abort 100 ms into a 5 s call: rejects promptly by interrupt; a call on the other worker is unaffected', { skip: cannotInterruptSleep }, async (t) => {
    const py = pool(t, { workers: 2, killGrace: 1000 })
    const seen = record(py)
    await py.start()
    const pids = py.stats().workers.map((w) => w.pid)
    const controller = new AbortController()
    const long = py.call('failing.block', 5, opts({ signal: controller.signal }))
    const other = py.call('rogue.whoami', 'other', 0.6)
    const blockPid = Number(await waitFor(() => seen.stdout.map((l) => /^blocking (\d+)$/.exec(l)?.[1]).find(Boolean),
      { what: 'the long call to start' }))
    let abortedAt
    setTimeout(() => {
      abortedAt = performance.now()
      controller.abort()
    }, 100)
    const error = await rejection(long)
    const latency = since(abortedAt)
    isError(AbortError, 'ABORT_ERR')(error)
    assert.equal(error.cause, controller.signal.reason)
    assert.equal(error.cause.name, 'AbortError')
    assert.ok(latency < 500, `rejected ${latency} ms after the abort`)
    const [value, otherPid] = await other
    assert.equal(value, 'other')
    assert.notEqual(otherPid, blockPid)
    assert.deepEqual(seen.exits, [], 'the aborted call was interrupted, its worker kept')
    const again = await Promise.all([py.call('rogue.whoami', 1, 0.1), py.call('rogue.whoami', 2, 0.1)])
    assert.deepEqual(new Set(again.map(([, pid]) => pid)), new Set(pids))
    assert.equal(py.stats().live, 2)
    assert.equal(py.stats().restarts, 0)
  })

  test('abort racing completion, 200 times: each call settles with its value or AbortError, the next is never hit', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const schedules = [
      ['sync', (f) => f()],
      ['microtask', (f) => queueMicrotask(f)],
      ['setImmediate', (f) => setImmediate(f)],
      ['timer 0', (f) => setTimeout(f, 0)],
      ['timer 1', (f) => setTimeout(f, 1)],
      ['timer 2', (f) => setTimeout(f, 2)],
      ['timer 3', (f) => setTimeout(f, 3)],
    ]
    const durations = [0, 0.001, 0.002]
    const outcomes = { value: 0, aborted: 0 }
    for (let i = 0; i < 200; i++) {
      const [when, schedule] = schedules[i % schedules.length]
      const seconds = durations[Math.floor(i / schedules.length) % durations.length]
      const what = `#${i} (${seconds * 1000} ms call, abort ${when})`
      const controller = new AbortController()
      const reason = new Error(`abort ${i}`)
      const call = py.call('rogue.whoami', i, seconds, opts({ signal: controller.signal }))
      // Half the time the plain call waits right behind the aborted one on the same worker.
      const behind = i % 2 === 0 ? py.call('rogue.whoami', `plain ${i}`, 0.002) : null
      schedule(() => controller.abort(reason))
      try {
        assert.deepEqual(await call, [i, pid], what)
        outcomes.value++
      } catch (error) {
        if (error?.code === 'ERR_ASSERTION') throw error
        assert.ok(error instanceof AbortError, `${what}: ${error?.stack}`)
        assert.equal(error.cause, reason, what)
        outcomes.aborted++
      }
      const plain = behind ?? py.call('rogue.whoami', `plain ${i}`, 0.002)
      assert.deepEqual(await plain.catch((error) => error), [`plain ${i}`, pid], `the plain call after ${what}`)
    }
    assert.ok(outcomes.value > 0 && outcomes.aborted > 0, `both outcomes occur: ${JSON.stringify(outcomes)}`)
    assert.deepEqual(seen.exits, [])
    assert.equal(py.stats().restarts, 0)
  })

  test('aborting after the call settled does nothing: no listener left, same worker, next call intact', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const controller = new AbortController()
    assert.deepEqual(await py.call('rogue.whoami', 'done', opts({ signal: controller.signal })), ['done', pid])
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'the call removed its abort listener')
    const next = py.call('rogue.whoami', 'next', 0.2)
    controller.abort()
    assert.deepEqual(await next, ['next', pid])
    assert.equal(await py.call('os.getpid'), pid)
    assert.deepEqual(seen.exits, [])
  })

  test('one signal aborts every call that uses it, running or queued', { skip: cannotInterruptSleep }, async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const controller = new AbortController()
    const running = py.call('failing.block', 5, opts({ signal: controller.signal }))
    const queued = py.call('failing.slow', 0, 'never', opts({ signal: controller.signal }))
    await waitFor(() => seen.stdout.includes(`blocking ${pid}`), { what: 'the call to start' })
    controller.abort()
    for (const error of await Promise.all([rejection(running), rejection(queued)])) isError(AbortError)(error)
    assert.equal(await py.call('os.getpid'), pid)
  })
})

describe('options', () => {
  test('bad option values throw clear errors naming the option', () => {
    const before = needsProcessList ? 0 : workerChildren().length
    const named = (Class, name) => (error) => {
      assert.ok(error instanceof Class, error.stack)
      assert.ok(error.message.includes(name), `message names ${name}: ${error.message}`)
      return true
    }
    for (const timeout of [-1, 1.5, Number.NaN, Infinity, '100', 2 ** 31]) {
      assert.throws(() => opts({ timeout }), named(RangeError, 'opts().timeout'), `timeout ${timeout}`)
    }
    for (const signal of ['x', {}, new AbortController()]) {
      assert.throws(() => opts({ signal }), named(TypeError, 'opts().signal'))
    }
    assert.throws(() => opts(null), TypeError)
    for (const workers of [0, -1, 1.5, Infinity, '2']) {
      assert.throws(() => new Python({ workers }), named(RangeError, 'options.workers'), `workers ${workers}`)
    }
    assert.throws(() => new Python({ timeout: -1 }), named(RangeError, 'options.timeout'))
    assert.throws(() => new Python({ killGrace: -5 }), named(RangeError, 'options.killGrace'))
    assert.throws(() => new Python({ maxQueue: -1 }), named(RangeError, 'options.maxQueue'))
    assert.throws(() => new Python({ maxCallsPerWorker: 0 }), named(RangeError, 'options.maxCallsPerWorker'))
    assert.throws(() => new Python({ maxMessageBytes: 10 }), named(RangeError, 'options.maxMessageBytes'))
    assert.throws(() => new Python({ maxMemoryBytes: 1000 }), named(RangeError, 'options.maxMemoryBytes'))
    for (const spin of [-1, 1.5, 10_001, Infinity, '100']) {
      assert.throws(() => new Python({ spin }), named(RangeError, 'options.spin'), `spin ${spin}`)
    }
    assert.throws(() => new Python({ allow: [''] }), named(TypeError, 'options.allow'))
    assert.throws(() => new Python({ preload: [42] }), named(TypeError, 'options.preload'))
    assert.throws(() => new Python({ path: fixturesDir }).close({ timeout: -1 }), named(RangeError, 'close() timeout'))
    if (!needsProcessList) assert.equal(workerChildren().length, before, 'nothing started')
  })
})

describe('protocol violations', () => {
  test('4 KiB of random bytes on the protocol socket: that call rejects with ProtocolError, the pool heals', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const error = await rejection(py.call('rogue.write_random', 4096))
    isError(ProtocolError, 'PYFERRY_PROTOCOL')(error)
    assert.match(error.message, /bad frame magic/)
    await waitGone(pid)
    assert.deepEqual(seen.exits.map((e) => [e.pid, e.signal]), [[pid, 'SIGKILL']])
    const next = await py.call('os.getpid')
    assert.notEqual(next, pid)
    await waitFor(allReady(py, 1), { what: 'a ready worker' })
  })

  test('declared sizes past maxMessageBytes are refused from the prefix: ProtocolError naming both, no allocation', async (t) => {
    const limit = 2 ** 30 // the default
    const py = pool(t, { workers: 1 })
    record(py)
    await py.start()
    await py.call('rogue.whoami', 'warm-up')
    const cases = [
      // [what, count, header length, buffer lengths, declared total]
      ['a 4 GiB header (the u32 maximum)', 0, 0xffffffff, [], 0xffffffff],
      ['a 2^40-byte buffer', 1, 16, [2 ** 40], 2 ** 40 + 16],
      ['three buffers of 400 MiB (each under the limit, their sum past it)', 3, 16, [400 * 2 ** 20, 400 * 2 ** 20, 400 * 2 ** 20], 3 * 400 * 2 ** 20 + 16],
    ]
    for (const [what, count, headerLen, lengths, declared] of cases) {
      const rss = process.memoryUsage.rss()
      const pid = await py.call('os.getpid')
      const error = await rejection(py.call('rogue.write_prefix', count, headerLen, lengths))
      isError(ProtocolError)(error)
      assert.ok(error.message.includes(String(limit)), `${what}: names the limit: ${error.message}`)
      assert.ok(error.message.includes(String(declared)), `${what}: names ${declared}: ${error.message}`)
      const grown = process.memoryUsage.rss() - rss
      assert.ok(grown < 10 * 2 ** 20, `${what}: Node's RSS grew by ${grown} bytes`)
      await waitGone(pid)
      assert.notEqual(await py.call('os.getpid'), pid, `${what}: a new worker`)
    }
  })

  test('a buffer length beyond 2^53 is refused and named exactly', async (t) => {
    const py = pool(t, { workers: 1 })
    record(py)
    await py.start()
    const declared = 2n ** 64n - 1n
    const error = await rejection(py.call('rogue.write_prefix', 1, 16, [declared]))
    isError(ProtocolError)(error)
    assert.match(error.message, /exceeds the limit of 1073741824 bytes/)
    assert.ok(error.message.includes(String(declared + 16n)) || error.message.includes(String(declared)),
      `the message names the declared size: ${error.message}`)
  })

  test('an argument over maxMessageBytes is a SerializationError before anything is written; the worker stays', async (t) => {
    const py = pool(t, { workers: 1, maxMessageBytes: 1 << 20 })
    const seen = record(py)
    const { pid } = await py.start()
    const callsBefore = py.stats().workers[0].calls
    const error = await rejection(py.call('mypkg.stats.echo', new Float64Array(250_000))) // 2,000,000 bytes
    isError(SerializationError, 'PYFERRY_SERIALIZATION')(error)
    assert.equal(error.path, 'args')
    assert.match(error.message, /message of 20000\d\d bytes exceeds maxMessageBytes \(1048576\)/)
    assert.equal(py.stats().inFlight, 0)
    assert.equal(py.stats().workers[0].calls, callsBefore, 'nothing reached the worker')
    assert.equal(await py.call('os.getpid'), pid)
    const small = await py.call('mypkg.stats.echo', new Float64Array(100_000).fill(2)) // 800,000 bytes: fits
    assert.equal(small.length, 100_000)
    assert.deepEqual(seen.exits, [])
    assert.equal(py.stats().restarts, 0)
  })
})

describe('values that fail', () => {
  test('an exception whose __str__ raises is a PythonError; the worker is kept', async (t) => {
    const py = pool(t, { workers: 1 })
    const { pid } = await py.start()
    const error = await rejection(py.call('failing.raise_bad_str'))
    isError(PythonError, 'PYFERRY_PYTHON')(error)
    assert.equal(error.pythonType, 'failing.BadStr')
    assert.equal(error.pythonMessage, '<unprintable BadStr object>')
    assert.match(error.pythonTraceback, /in raise_bad_str/)
    assert.equal(await py.call('os.getpid'), pid)
  })

  test('`raise B from A`: err.cause is A, and the text shows both tracebacks', async (t) => {
    const py = pool(t, { workers: 1 })
    const error = await rejection(py.call('failing.raise_with_cause'))
    isError(PythonError)(error)
    assert.equal(error.pythonType, 'builtins.RuntimeError')
    assert.ok(error.cause instanceof PythonError)
    assert.equal(error.cause.pythonType, 'builtins.KeyError')
    assert.equal(error.cause.relation, 'cause')
    assert.match(error.pythonTraceback, /raise RuntimeError\("lookup failed"\) from exc/)
    assert.match(error.pythonTraceback, /RuntimeError: lookup failed/)
    assert.match(error.cause.pythonTraceback, /\{\}\["missing"\]/)
    assert.match(error.cause.pythonTraceback, /KeyError: 'missing'/)
    // What a user sees when the error is logged (console.error uses util.inspect).
    const shown = inspect(error)
    for (const text of ['raise RuntimeError("lookup failed") from exc', 'RuntimeError: lookup failed', '{}["missing"]', "KeyError: 'missing'"]) {
      assert.ok(shown.includes(text), `the logged error shows ${text}:\n${shown}`)
    }
  })

  test('sys.exit(3) in user code is a PythonError of type SystemExit; same worker', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const error = await rejection(py.call('failing.exit_with', 3))
    isError(PythonError)(error)
    assert.equal(error.pythonType, 'builtins.SystemExit')
    assert.equal(error.message, 'SystemExit: 3')
    assert.equal(await py.call('os.getpid'), pid)
    assert.deepEqual(seen.exits, [])
  })

  test('recursion 10^6 deep is a PythonError RecursionError; same worker, still recursing fine', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    const { pid } = await py.start()
    const error = await rejection(py.call('failing.recurse', 1_000_000))
    isError(PythonError)(error)
    assert.equal(error.pythonType, 'builtins.RecursionError')
    assert.match(error.message, /maximum recursion depth/)
    assert.ok(error.pythonTraceback.length < 100_000, `traceback of ${error.pythonTraceback.length} chars`)
    assert.equal(await py.call('os.getpid'), pid)
    assert.equal(await py.call('failing.recurse', 500), 500)
    assert.deepEqual(seen.exits, [])
  })

  test('a JS argument nested 100 000 deep (or cyclic) is a SerializationError; nothing is sent', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = record(py)
    let deep = 0
    for (let i = 0; i < 100_000; i++) deep = [deep]
    let deepObject = {}
    for (let i = 0; i < 100_000; i++) deepObject = { a: deepObject }
    const cyclic = { name: 'loop' }
    cyclic.self = cyclic
    for (const [what, call] of [
      ['nested arrays', () => py.call('mypkg.stats.echo', deep)],
      ['nested objects in kwargs', () => py.call('mypkg.stats.args_kwargs', 1, kw({ value: deepObject }))],
      ['a cycle', () => py.call('mypkg.stats.echo', cyclic)],
    ]) {
      const error = await rejection(call())
      isError(SerializationError, 'PYFERRY_SERIALIZATION')(error)
      assert.match(error.message, /nesting deeper than 512/, what)
      assert.match(error.path, /^(args\[0\]|kwargs\.value)/, `${what}: path ${error.path}`)
    }
    assert.deepEqual(seen.spawns, [], 'no worker started')
    assert.deepEqual(py.stats().workers, [])
  })
})

describe('the allow-list and private names', () => {
  test('allow: [\'numpy.*\'] refuses os.system with NotAllowedError; the command never runs', async (t) => {
    const py = pool(t, { workers: 1, allow: ['numpy.*'] })
    const file = tmpFile('os-system')
    const error = await rejection(py.call('os.system', `touch ${file}`))
    isError(NotAllowedError, 'PYFERRY_NOT_ALLOWED')(error)
    assert.match(error.message, /os\.system/)
    assert.equal(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]), 45, 'numpy.* is allowed')
    await rejection(py.call('sum', [1, 2])).then(isError(NotAllowedError))
    assert.equal(existsSync(file), false, 'os.system never ran')
  })

  test('private names are TargetForbiddenError under an allow-list too', async (t) => {
    const py = pool(t, { workers: 1, allow: ['numpy.*'] })
    for (const target of ['numpy._core.multiarray.array', 'numpy.__builtins__', 'numpy.__builtins__.eval']) {
      const error = await rejection(py.call(target, [1]))
      isError(TargetForbiddenError, 'PYFERRY_TARGET_FORBIDDEN')(error)
      assert.match(error.message, /is private/, target)
    }
  })

  test('allow: [\'mypkg.*\'] does not reach other modules through mypkg\'s attributes', async (t) => {
    const py = pool(t, { workers: 1, allow: ['mypkg.*'] })
    const file = tmpFile('mypkg-os-system')
    assert.equal(await py.call('mypkg.stats.square', 3), 9, 'mypkg.* is allowed')
    const error = await rejection(py.call('mypkg.os.system', `touch ${file}`))
    isError(NotAllowedError, 'PYFERRY_NOT_ALLOWED')(error)
    const viaNumpy = await rejection(py.call('mypkg.stats.np.sum', [1, 2]))
    isError(NotAllowedError, 'PYFERRY_NOT_ALLOWED')(viaNumpy)
    assert.equal(existsSync(file), false, 'os.system never ran')
  })
})
