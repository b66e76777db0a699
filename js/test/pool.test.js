// The pool: lifecycle of its workers (Node dying, close, destroy, SIGINT, recycling, stats),
// the queue (maxQueue and 'drain', many calls at once, no head-of-line blocking, no 'error'
// events) and the worker's stdio (heavy output, a stderr flood, stdin).
//
// Every test runs real Python workers. Nothing waits a fixed time for a condition: tests
// poll with deadlines (waitFor), or hold a call open with poolwork.gate and release it by
// creating a file.

import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { after, describe, test } from 'node:test'
import {
  PoolClosedError, ProtocolError, PythonError, QueueFullError, TimeoutError, WorkerCrashedError, WorkerStartError,
  opts,
} from '../src/index.js'
import {
  childProcesses, fixturesDir, gates, indexUrl, needsProc, needsProcessList, needsSignals, pool, processGone, rejection, runNode, started, stdoutOf, waitFor, waitGone,
} from './helpers.js'

const MiB = 1024 * 1024

// The process group of `pid`, from /proc/<pid>/stat (ps(1) where there is no /proc).
function processGroup(pid) {
  if (needsProc) return Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(pid)], { encoding: 'utf8' }).trim())
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
}

// Spawn a Node script with piped output; `output()` is what it printed on stdout so far.
// It is SIGKILLed when the test ends if still running, and so is any pid passed to `also`.
function spawnNode(t, source, options = {}) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text) => { stdout += text })
  child.stderr.setEncoding('utf8').on('data', (text) => { stderr += text })
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  const strays = new Set()
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    for (const pid of strays) if (!processGone(pid)) process.kill(pid, 'SIGKILL')
  })
  return { child, exited, output: () => stdout, errors: () => stderr, also: (pid) => strays.add(pid) }
}

const workerChildren = () => childProcesses().filter((c) => c.cmdline.includes('-m pyferry worker'))

describe('lifecycle', () => {
  test('SIGKILL of Node with a 2-worker pool busy in 60 s calls: both workers are gone within 1 s', { skip: needsProcessList }, async (t) => {
    const helper = spawnNode(t, `
      const { Python } = await import(${JSON.stringify(indexUrl)})
      const py = new Python({ workers: 2, path: [${JSON.stringify(fixturesDir)}] })
      const blocking = new Set()
      py.on('stdout', (line) => {
        const match = /^blocking (\\d+)$/.exec(line)
        if (!match) return
        blocking.add(Number(match[1]))
        if (blocking.size === 2) {
          console.log(JSON.stringify({ pids: py.stats().workers.map((w) => w.pid), blocking: [...blocking] }))
        }
      })
      await Promise.all([py.call('failing.block', 60), py.call('failing.block', 60)])
      console.log('the calls ended')
    `)
    const report = await waitFor(() => helper.output().split('\n').find((line) => line.startsWith('{')),
      { what: 'the helper to report both calls running' })
    const { pids, blocking } = JSON.parse(report)
    for (const pid of pids) helper.also(pid)
    assert.equal(pids.length, 2)
    assert.deepEqual([...pids].sort(), [...blocking].sort(), 'each worker runs one of the calls')
    assert.ok(pids.every((pid) => !processGone(pid)), 'both workers run before Node is killed')
    helper.child.kill('SIGKILL')
    const killedAt = performance.now()
    await waitFor(() => pids.every(processGone), { timeout: 1000, what: 'both workers to be gone' })
    assert.ok(performance.now() - killedAt < 1000)
    assert.deepEqual(await helper.exited, { code: null, signal: 'SIGKILL' })
    assert.doesNotMatch(helper.output(), /the calls ended/)
  })

  test('a script that never calls close() exits by itself after its calls and leaves no worker', async () => {
    const begin = performance.now()
    const result = await runNode(`
      const { Python } = await import(${JSON.stringify(indexUrl)})
      const py = new Python({ workers: 2, path: [${JSON.stringify(fixturesDir)}] })
      const values = await Promise.all([
        py.call('mypkg.stats.square', 3), py.call('mypkg.stats.square', 4), py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]),
      ])
      const stats = py.stats()
      console.log(JSON.stringify({ values, pids: stats.workers.map((w) => w.pid), live: stats.live, busy: stats.busy }))
      // no close(), no destroy()
    `, { timeout: 10_000 })
    assert.equal(result.timedOut, false, `Node must exit by itself; stderr:\n${result.stderr}`)
    assert.equal(result.code, 0, result.stderr)
    const { values, pids, live, busy } = JSON.parse(result.stdout)
    assert.deepEqual(values, [9, 16, 45])
    assert.equal(pids.length, 2, 'two calls at once started two workers')
    assert.deepEqual([live, busy], [2, 0])
    for (const pid of pids) await waitGone(pid, 5000)
    assert.ok(performance.now() - begin < 10_000)
  })

  test('close() with 2 running and 3 queued calls: running finish, queued reject, resolves after every exit', async (t) => {
    const py = pool(t, { workers: 2 })
    const { gate, open } = gates(t)
    const lines = stdoutOf(py)
    const events = []
    py.on('exit', (event) => events.push({ exit: event }))
    await py.start()
    const running = [py.call('poolwork.gate', gate('g'), 'first'), py.call('poolwork.gate', gate('g'), 'second')]
    const pids = await started(lines, 'gate', 2)
    const queued = [1, 2, 3].map((n) => py.call('mypkg.stats.square', n))
    assert.equal(py.stats().queued, 3)
    const closing = py.close().then(() => events.push('closed'))
    for (const call of queued) {
      const error = await rejection(call)
      assert.ok(error instanceof PoolClosedError, error.stack)
      assert.equal(error.code, 'PYFERRY_POOL_CLOSED')
    }
    const later = await rejection(py.call('mypkg.stats.square', 9))
    assert.ok(later instanceof PoolClosedError, later.stack)
    assert.deepEqual(events, [], 'close() waits for the running calls')
    assert.ok(pids.every((pid) => !processGone(pid)), 'workers with a running call are not stopped')
    assert.equal(py.stats().inFlight, 2)
    open('g')
    assert.deepEqual(await Promise.all(running), ['first', 'second'])
    await closing
    assert.equal(events.at(-1), 'closed')
    const exits = events.slice(0, -1).map((e) => e.exit)
    assert.deepEqual(exits.map((e) => e.pid).sort(), [...pids].sort(), "both workers' 'exit' came before close() resolved")
    for (const exit of exits) assert.deepEqual([exit.code, exit.signal], [0, null], 'a closed worker exits cleanly')
    assert.ok(pids.every(processGone))
    assert.equal(py.stats().workers.length, 0)
    await assert.rejects(py.call('mypkg.stats.square', 2), PoolClosedError)
    await assert.rejects(py.start(), PoolClosedError)
  })

  // close({ timeout: 200 }) with a call that would run for a minute. A sleep and a Python loop
  // are interrupted (so the worker exits by itself, long before a 5 s killGrace); a C call
  // that ignores interrupts is killed after killGrace (300 ms).
  const closeCases = [
    { fn: 'block', args: [60], word: 'blocking', killGrace: 5000, bound: 200 + 1000, exit: { code: 0, signal: null } },
    { fn: 'spin_forever', args: [], word: 'spinning', killGrace: 5000, bound: 200 + 1000, exit: { code: 0, signal: null } },
    { fn: 'c_busy', args: [200_000_000], word: 'busy in C', killGrace: 300, bound: 200 + 300 + 700, exit: { code: null, signal: 'SIGKILL' } },
  ]
  for (const { fn, args, word, killGrace, bound, exit } of closeCases) {
    test(`close({ timeout: 200 }) with failing.${fn} running: PoolClosedError, closed within ${bound} ms`, async (t) => {
      const py = pool(t, { workers: 1, killGrace })
      const lines = stdoutOf(py)
      const exits = []
      py.on('exit', (event) => exits.push(event))
      const call = py.call(`failing.${fn}`, ...args)
      const [pid] = await started(lines, word)
      const closeAt = performance.now()
      let rejectedAfter
      const outcome = rejection(call).then((error) => {
        rejectedAfter = performance.now() - closeAt
        return error
      })
      await py.close({ timeout: 200 })
      const closedAfter = performance.now() - closeAt
      t.diagnostic(`rejected after ${rejectedAfter.toFixed(0)} ms, closed after ${closedAfter.toFixed(0)} ms`)
      const error = await outcome
      assert.ok(error instanceof PoolClosedError, error.stack)
      assert.equal(error.code, 'PYFERRY_POOL_CLOSED')
      assert.ok(rejectedAfter >= 195, `the call ran for its 200 ms first (rejected after ${rejectedAfter} ms)`)
      assert.ok(closedAfter < bound, `close() took ${closedAfter} ms`)
      assert.ok(rejectedAfter <= closedAfter)
      assert.deepEqual(exits, [{ pid, ...exit }])
      assert.ok(processGone(pid))
    })
  }

  test('destroy() with running and queued calls: every call rejects with PoolClosedError, workers are gone', async (t) => {
    const py = pool(t, { workers: 2 })
    const lines = stdoutOf(py)
    const exits = []
    py.on('exit', (event) => exits.push(event))
    const running = [py.call('failing.block', 60), py.call('failing.block', 60)]
    const pids = await started(lines, 'blocking', 2)
    const queued = [1, 2, 3].map((n) => py.call('mypkg.stats.square', n))
    assert.deepEqual([py.stats().busy, py.stats().queued], [2, 3])
    const destroyAt = performance.now()
    await py.destroy()
    assert.ok(performance.now() - destroyAt < 2000, 'destroy() does not wait for the calls')
    for (const call of [...running, ...queued]) {
      const error = await rejection(call)
      assert.ok(error instanceof PoolClosedError, error.stack)
      assert.equal(error.code, 'PYFERRY_POOL_CLOSED')
    }
    assert.ok(pids.every(processGone), 'destroy() resolves once the workers are gone')
    assert.deepEqual(exits.map((e) => [e.pid, e.signal]).sort(), pids.map((pid) => [pid, 'SIGKILL']).sort())
    assert.equal(py.stats().workers.length, 0)
    await assert.rejects(py.call('mypkg.stats.square', 2), PoolClosedError)
  })

  test('SIGINT to the process group while a call runs: the call still resolves on the same worker', { skip: needsSignals }, async (t) => {
    const { gate, open } = gates(t)
    // A detached helper leads its own process group, which its workers join. It ignores
    // SIGINT itself (a handler that only reports it), as an application handling Ctrl-C would.
    const helper = spawnNode(t, `
      process.on('SIGINT', () => console.log('helper got SIGINT'))
      const { Python } = await import(${JSON.stringify(indexUrl)})
      const py = new Python({ workers: 1, path: [${JSON.stringify(fixturesDir)}] })
      py.on('stdout', (line) => console.log(line))
      const result = {}
      try {
        result.value = await py.call('poolwork.gate', ${JSON.stringify(gate('g'))}, 'survived')
      } catch (error) {
        result.error = error.name + ': ' + error.message
      }
      result.pid = await py.call('os.getpid')
      result.restarts = py.stats().restarts
      console.log(JSON.stringify(result))
      await py.close()
    `, { detached: true })
    const pgid = helper.child.pid
    const pid = Number(await waitFor(() => /^gate (\d+)$/m.exec(helper.output())?.[1], { what: 'the call to start' }))
    helper.also(pid)
    assert.equal(processGroup(pid), pgid, 'the worker is in the helper\'s process group')
    process.kill(-pgid, 'SIGINT')
    await waitFor(() => helper.output().includes('helper got SIGINT'), { what: 'the helper to get SIGINT' })
    open('g')
    const { code, signal } = await helper.exited
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, helper.errors())
    const result = JSON.parse(helper.output().split('\n').find((line) => line.startsWith('{')))
    assert.deepEqual(result, { value: 'survived', pid, restarts: 0 })
    await waitGone(pid)
  })

  test('maxCallsPerWorker: 3 replaces the worker after every 3rd call', async (t) => {
    const py = pool(t, { workers: 1, maxCallsPerWorker: 3 })
    const exits = []
    py.on('exit', (event) => exits.push(event))
    const pids = []
    for (let i = 0; i < 10; i++) pids.push(await py.call('os.getpid'))
    const distinct = [...new Set(pids)]
    assert.ok(distinct.length >= 3, `pids: ${pids}`)
    // Sequential calls on a 1-worker pool: runs of at most 3 calls per process.
    assert.deepEqual(distinct.map((pid) => pids.filter((p) => p === pid).length), [3, 3, 3, 1], `pids: ${pids}`)
    const stats = py.stats()
    assert.ok(stats.recycled >= 3, JSON.stringify(stats))
    assert.equal(stats.recycled, 3)
    assert.equal(stats.restarts, 0, 'a recycled worker is not a restart')
    assert.ok(stats.workers.length <= 1, 'never more than `workers` processes')
    await waitFor(() => exits.length === 3, { what: 'the recycled workers to exit' })
    assert.deepEqual(exits.map((e) => [e.pid, e.code, e.signal]), distinct.slice(0, 3).map((pid) => [pid, 0, null]))
  })

  test('stats() before any call, during a busy call with one queued, and after', async (t) => {
    const py = pool(t, { workers: 1 })
    const { gate, open } = gates(t)
    const lines = stdoutOf(py)
    py.on('stderr', () => {})
    // Frames received so far (HELLO and answers) and the measured pace are checked apart.
    const snapshot = () => {
      const stats = py.stats()
      return { ...stats, workers: stats.workers.map(({ frames, paceMs, ...w }) => (assert.ok(frames >= 1), assert.equal(paceMs, null, 'no answer yet'), w)) }
    }
    const idle = { size: 1, live: 0, busy: 0, queued: 0, inFlight: 0, handles: 0, restarts: 0, recycled: 0, workers: [] }
    assert.deepEqual(py.stats(), idle)
    const running = py.call('poolwork.gate', gate('g'), 'done')
    const queued = py.call('mypkg.stats.square', 6)
    const [pid] = await started(lines, 'gate')
    assert.deepEqual(snapshot(), {
      size: 1, live: 1, busy: 1, queued: 1, inFlight: 1, handles: 0, restarts: 0, recycled: 0,
      workers: [{ pid, state: 'ready', busy: true, ahead: 0, calls: 0, inFlight: 1, queued: 0, handles: 0 }],
    })
    open('g')
    assert.deepEqual(await Promise.all([running, queued]), ['done', 36])
    const { paceMs, ...answered } = py.stats().workers[0]
    assert.ok(paceMs > 0 && paceMs <= 8, `the gated call held it at least a moment, counted at most 8 ms: ${paceMs}`)
    assert.deepEqual({ ...py.stats(), workers: [answered] }, {
      size: 1, live: 1, busy: 0, queued: 0, inFlight: 0, handles: 0, restarts: 0, recycled: 0,
      workers: [{ pid, state: 'ready', busy: false, ahead: 0, calls: 2, inFlight: 0, queued: 0, handles: 0, frames: 3 }],
    })
    await assert.rejects(py.call('failing.hard_exit', 3), WorkerCrashedError)
    const afterCrash = await waitFor(() => {
      const stats = py.stats()
      return stats.workers.length === 1 && stats.workers[0].pid !== pid && stats.workers[0].state === 'ready' && stats
    }, { what: 'the crashed worker to be replaced' })
    assert.deepEqual({ ...afterCrash, workers: afterCrash.workers.map((w) => ({ ...w, pid: 0 })) }, {
      size: 1, live: 1, busy: 0, queued: 0, inFlight: 0, handles: 0, restarts: 1, recycled: 0,
      workers: [{ pid: 0, state: 'ready', busy: false, ahead: 0, paceMs: null, calls: 0, inFlight: 0, queued: 0, handles: 0, frames: 1 }],
    })
  })
})

describe('queue', () => {
  test('maxQueue: 4 with both workers busy: the 5th call is a rejected QueueFullError, then drain', async (t) => {
    const py = pool(t, { workers: 2, maxQueue: 4 })
    const { gate, open } = gates(t)
    const lines = stdoutOf(py)
    const drains = []
    py.on('drain', (...args) => drains.push({ args, stats: py.stats() }))
    const running = [py.call('poolwork.gate', gate('g'), 'a'), py.call('poolwork.gate', gate('g'), 'b')]
    await started(lines, 'gate', 2)
    const queued = [1, 2, 3, 4].map((n) => py.call('mypkg.stats.square', n))
    assert.equal(py.stats().queued, 4)
    let fifth
    assert.doesNotThrow(() => { fifth = py.call('mypkg.stats.square', 5) })
    assert.ok(fifth instanceof Promise)
    const error = await rejection(fifth)
    assert.ok(error instanceof QueueFullError, error.stack)
    assert.equal(error.code, 'PYFERRY_QUEUE_FULL')
    assert.match(error.message, /maxQueue is 4/)
    assert.equal(py.stats().queued, 4, 'the refused call was not queued')
    assert.deepEqual(drains, [], 'no drain while the queue is still full')
    open('g')
    assert.deepEqual(await Promise.all([...running, ...queued]), ['a', 'b', 1, 4, 9, 16])
    assert.equal(drains.length, 1)
    assert.equal(drains[0].stats.queued, 0, "'drain' comes once the queue is empty")
    assert.equal(await py.call('mypkg.stats.square', 6), 36, 'calls are taken again')
  })

  test("'drain' also follows when the queue reached maxQueue without a refusal", async (t) => {
    // README: "'drain' the queue has emptied after it reached `maxQueue`".
    const py = pool(t, { workers: 1, maxQueue: 2 })
    const { gate, open } = gates(t)
    const lines = stdoutOf(py)
    let drains = 0
    py.on('drain', () => { drains++ })
    const running = py.call('poolwork.gate', gate('g'), 'a')
    await started(lines, 'gate')
    const queued = [1, 2].map((n) => py.call('mypkg.stats.square', n))
    assert.equal(py.stats().queued, 2, 'the queue is at maxQueue')
    open('g')
    assert.deepEqual(await Promise.all([running, ...queued]), ['a', 1, 4])
    assert.equal(drains, 1)
  })

  test('maxQueue: 0 lets a call go straight to an idle worker and refuses one that would wait', async (t) => {
    // maxQueue bounds the calls *waiting* for a worker (0 is accepted by the constructor):
    // a call that an idle worker takes at once does not wait.
    const py = pool(t, { workers: 1, maxQueue: 0 })
    const { gate, open } = gates(t)
    const lines = stdoutOf(py)
    await py.start()
    assert.equal(await py.call('mypkg.stats.square', 3), 9)
    const running = py.call('poolwork.gate', gate('g'), 'a')
    await started(lines, 'gate')
    await assert.rejects(py.call('mypkg.stats.square', 4), QueueFullError)
    open('g')
    assert.equal(await running, 'a')
  })

  test('10,000 concurrent seed calls each get their own value; event loop p99 delay < 50 ms', async (t) => {
    const py = pool(t)
    const seed = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    const delay = monitorEventLoopDelay({ resolution: 1 })
    delay.enable()
    const calls = []
    for (let i = 0; i < 10_000; i++) {
      calls.push(i % 2 === 0 ? py.call('numpy.sum', [...seed, i]) : py.call('mypkg.stats.square', i))
    }
    const values = await Promise.all(calls)
    delay.disable()
    const wrong = values.map((v, i) => [i, v]).filter(([i, v]) => v !== (i % 2 === 0 ? 45 + i : i * i))
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} calls got another value`)
    const p99 = delay.percentile(99) / 1e6
    t.diagnostic(`event loop delay: p99 ${p99.toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms, ${delay.count} samples`)
    assert.ok(delay.count > 20, `too few samples (${delay.count}) to measure`)
    assert.ok(p99 < 50, `event loop p99 delay ${p99.toFixed(1)} ms (max ${(delay.max / 1e6).toFixed(1)} ms)`)
    const stats = py.stats()
    assert.deepEqual([stats.queued, stats.inFlight, stats.busy], [0, 0, 0])
    assert.equal(stats.workers.reduce((n, w) => n + w.calls, 0), 10_000)
  })

  test('a 2 s call on one worker does not hold up 20 short calls: they finish on the other first', async (t) => {
    const py = pool(t, { workers: 2 })
    const lines = stdoutOf(py)
    await py.start()
    const order = []
    const long = py.call('failing.block', 2).then((value) => { order.push('long'); return value })
    const [longPid] = await started(lines, 'blocking')
    const shorts = Array.from({ length: 20 }, (_, i) => py.call('os.getpid').then((pid) => { order.push(`short ${i}`); return pid }))
    const shortPids = await Promise.all(shorts)
    assert.deepEqual(order, shorts.map((_, i) => `short ${i}`), 'every short call resolved while the long one ran')
    assert.equal(await long, 'unblocked')
    assert.equal(order.at(-1), 'long')
    const others = new Set(shortPids)
    assert.equal(others.size, 1, 'the short calls ran on one worker')
    assert.ok(!others.has(longPid), 'the short calls ran on the other worker')
  })

  test("no 'error' event for failures that reject a call: crash, timeout, kill, protocol, start failure", async (t) => {
    const errors = []
    const py = pool(t, { workers: 1, killGrace: 300 })
    py.on('error', (error) => errors.push(error))
    py.on('stderr', () => {})
    py.on('stdout', () => {})
    const spawned = []
    const exited = new Set()
    py.on('spawn', ({ pid }) => spawned.push(pid))
    py.on('exit', ({ pid }) => exited.add(pid))
    await assert.rejects(py.call('failing.hard_exit', 3), WorkerCrashedError)
    await assert.rejects(py.call('failing.block', 60, opts({ timeout: 100 })), TimeoutError)
    await assert.rejects(py.call('failing.c_busy', 200_000_000, opts({ timeout: 100 })), TimeoutError)
    await assert.rejects(py.call('failing.corrupt_channel'), ProtocolError)
    await assert.rejects(py.call('failing.boom', 'x'), PythonError)
    const bad = pool(t, { python: '/nonexistent/python' })
    bad.on('error', (error) => errors.push(error))
    await assert.rejects(bad.call('sum', [1]), WorkerStartError)
    await assert.rejects(bad.start(), WorkerStartError)
    const pid = await py.call('os.getpid')
    // Every worker but the last has exited and been handled.
    await waitFor(() => spawned.filter((p) => p !== pid).every((p) => exited.has(p)), { what: 'the failed workers to exit' })
    assert.equal(spawned.length, 4, `workers: ${spawned}`)
    assert.deepEqual(errors, [])
  })
})

describe('stdio', () => {
  test('10,000 print() lines plus os.write and sys.stdout.buffer.write during a call', async (t) => {
    const py = pool(t, { workers: 1 })
    const lines = stdoutOf(py)
    const n = 10_000
    assert.equal(await py.call('poolwork.chatty', n), 45)
    await waitFor(() => lines.length >= 3 * n, { what: `${3 * n} stdout lines (got ${lines.length})` })
    assert.equal(lines.length, 3 * n)
    const pids = new Set(lines.map((l) => l.pid))
    assert.deepEqual([...pids], [py.info.pid], 'every line is tagged with the worker pid')
    for (const [kind, suffix] of [['print', ' é€😀'], ['buffer', ''], ['oswrite', '']]) {
      const got = lines.filter((l) => l.line.startsWith(`${kind} `)).map((l) => l.line)
      const expected = Array.from({ length: n }, (_, i) => `${kind} ${i}${suffix}`)
      assert.equal(got.length, n, `${kind} lines`)
      assert.ok(got.every((line, i) => line === expected[i]), `${kind} lines in order and intact`)
    }
  })

  test('50 MiB on stderr with a counting listener: Node stays small; a later crash keeps a bounded tail', async (t) => {
    const py = pool(t, { workers: 1 })
    let count = 0
    let bytes = 0
    const pids = new Set()
    py.on('stderr', (line, { pid }) => {
      count++
      bytes += line.length
      pids.add(pid)
    })
    const { pid } = await py.start()
    // The peak RSS while the flood runs and its lines arrive, against the RSS just before.
    const before = process.memoryUsage.rss()
    let peak = before
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 2)
    try {
      assert.equal(await py.call('failing.stderr_flood', 50), 50)
      await waitFor(() => count >= 50 * 1024, { timeout: 20_000, what: `50 MiB of stderr lines (got ${count})` })
    } finally {
      clearInterval(sampler)
    }
    peak = Math.max(peak, process.memoryUsage.rss())
    assert.equal(count, 50 * 1024)
    assert.equal(bytes, 50 * 1024 * 1023)
    assert.deepEqual([...pids], [pid])
    const growth = (peak - before) / MiB
    t.diagnostic(`RSS ${(before / MiB).toFixed(1)} MiB before, peak ${(peak / MiB).toFixed(1)} MiB: +${growth.toFixed(1)} MiB`)
    assert.ok(growth < 30, `Node's RSS grew by ${growth.toFixed(1)} MiB`)
    const error = await rejection(py.call('failing.hard_exit', 7))
    assert.ok(error instanceof WorkerCrashedError, error.stack)
    assert.deepEqual([error.pid, error.exitCode], [pid, 7], 'the same worker crashed')
    assert.ok(error.stderr.length <= 40, `${error.stderr.length} stderr lines kept`)
    assert.equal(error.stderr.at(-1), 'about to hard-exit')
    assert.ok(error.stderr.slice(0, -1).every((line) => line === 'e'.repeat(1023)), 'the tail holds the last lines')
    assert.ok(error.message.length < 41 * 2100, `message of ${error.message.length} characters`)
  })

  test("sys.stdin.read() in user code returns '' at once", async (t) => {
    const py = pool(t, { workers: 1 })
    await py.start()
    const begin = performance.now()
    assert.equal(await py.call('failing.stdin_read', opts({ timeout: 5000 })), '')
    assert.ok(performance.now() - begin < 1000, `stdin.read() took ${performance.now() - begin} ms`)
  })
})

after(() => {
  // Every client of this file is closed by now: none of its workers may be left.
  if (!needsProcessList) return waitFor(() => workerChildren().length === 0, { what: 'no worker children left' })
})
