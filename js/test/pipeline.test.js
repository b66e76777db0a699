// The `pipeline` option: calls sent ahead to busy workers (protocol section 3.7), taken back
// when another worker has nothing to do, and sent elsewhere when their worker dies.

import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { AbortError, WorkerCrashedError, opts } from '../src/index.js'
import { SHORT_MS } from '../src/ahead.js'
import { gates, needsProc, pool, rejection, started, stdoutOf, waitFor } from './helpers.js'

// A started client with gate files for its calls and its workers' stdout lines.
async function gated(t, options) {
  const py = pool(t, options)
  const gate = gates(t)
  const lines = stdoutOf(py)
  await py.start()
  return { py, gate, lines }
}

describe('pipeline', () => {
  test('by default, calls wait in the client while the worker runs a call and none has answered yet', async (t) => {
    const py = pool(t, { workers: 1 })
    const gate = gates(t)
    const busy = py.call('poolwork.gate', gate.gate('a'), 'a')
    const queued = [1, 2, 3].map((i) => py.call('rogue.whoami', i))
    assert.equal(py.stats().queued, 3)
    gate.open('a')
    assert.equal(await busy, 'a')
    assert.deepEqual((await Promise.all(queued)).map(([v]) => v), [1, 2, 3])
  })

  test("by default ('auto') calls go ahead to a worker whose calls are short, never behind one that has run long", async (t) => {
    const { py, gate, lines } = await gated(t, { workers: 1 })
    // Short calls until their measured pace is short, with room to spare (on a loaded machine
    // the first few may not be): it is what decides, and it is measured on this machine's clock.
    const warm = async () => {
      let calls = 0
      for (; calls < 20 || (py.stats().workers[0].paceMs > SHORT_MS / 2 && calls < 2000); calls++) await py.call('rogue.whoami', calls)
      assert.ok(py.stats().workers[0].paceMs <= SHORT_MS / 2, `short calls measured at ${py.stats().workers[0].paceMs} ms after ${calls}`)
    }
    // Three calls made while `busy` is still young (under SHORT_MS on the clock) go ahead. A try
    // in which making the four took longer (this process held up on a loaded machine) proves
    // nothing: it is let through, the pace (which its long call raised) measured again, and
    // the try made again, up to 10 times.
    let busy, ahead, name
    for (let attempt = 1; ; attempt++) {
      await warm()
      name = `a${attempt}`
      const before = performance.now()
      busy = py.call('poolwork.gate', gate.gate(name), name)
      ahead = [1, 2, 3].map((i) => py.call('rogue.whoami', i))
      const young = performance.now() - before < SHORT_MS
      const held = [py.stats().workers[0].ahead, py.stats().queued]
      if (young) {
        assert.deepEqual(held, [3, 0], `try ${attempt}`)
        break
      }
      assert.ok(attempt < 10, `the four calls took over ${SHORT_MS} ms to make in 10 tries`)
      gate.open(name)
      await Promise.all([busy, ...ahead])
    }
    // `busy` has started (its "gate" line is the last of them), so it has run longer than a short call.
    const gateLines = () => lines.filter(({ line }) => line.startsWith('gate ')).length
    await waitFor(() => gateLines() === Number(name.slice(1)), { what: `the gate line of ${name}` })
    await new Promise((resolve) => setTimeout(resolve, 5))
    const later = py.call('rogue.whoami', 4)
    assert.deepEqual([py.stats().workers[0].ahead, py.stats().queued], [3, 1], 'not sent behind a long call')
    gate.open(name)
    assert.equal(await busy, name)
    assert.deepEqual((await Promise.all([...ahead, later])).map(([v]) => v), [1, 2, 3, 4])
  })

  test('a busy worker holds up to `pipeline` calls sent ahead; all answer, in order', async (t) => {
    const { py, gate, lines } = await gated(t, { workers: 1, pipeline: 4 })
    const busy = py.call('poolwork.gate', gate.gate('a'), 'a')
    const calls = Array.from({ length: 20 }, (_, i) => py.call('rogue.whoami', i))
    const stats = py.stats()
    assert.equal(stats.workers[0].ahead, 4)
    assert.equal(stats.inFlight, 5)
    assert.equal(stats.queued, 16)
    await started(lines, 'gate')
    gate.open('a')
    assert.equal(await busy, 'a')
    assert.deepEqual((await Promise.all(calls)).map(([v]) => v), Array.from({ length: 20 }, (_, i) => i))
    assert.equal(py.stats().workers[0].ahead, 0)
  })

  test('calls sent ahead to a worker held by a long call are taken back by a free worker', async (t) => {
    const { py, gate, lines } = await gated(t, { workers: 2, pipeline: 4 })
    const long = py.call('poolwork.gate', gate.gate('long'), 'long')
    const [longPid] = await started(lines, 'gate')
    const short = py.call('poolwork.gate', gate.gate('short'), 'short')
    await started(lines, 'gate', 2)
    const [a, b] = py.stats().workers
    assert.ok(a.busy && b.busy)
    const quick = Array.from({ length: 6 }, (_, i) => py.call('rogue.whoami', i))
    const held = py.stats().workers.map((w) => w.ahead)
    assert.deepEqual(held, [3, 3], 'sent ahead, spread over both')
    gate.open('short')
    assert.equal(await short, 'short')
    // The worker that ran `short` also runs the calls sent ahead to the one still held.
    const answers = await Promise.all(quick)
    assert.deepEqual(answers.map(([v]) => v), [0, 1, 2, 3, 4, 5])
    assert.ok(answers.every(([, pid]) => pid !== longPid), `ran on ${answers.map(([, pid]) => pid)}, long on ${longPid}`)
    gate.open('long')
    assert.equal(await long, 'long')
  })

  test('when a worker dies, the calls sent ahead behind the running one run on its replacement', async (t) => {
    const py = pool(t, { workers: 1, pipeline: 4 })
    const { pid } = await py.start()
    const crash = py.call('failing.hard_exit', 3)
    const after = [1, 2, 3, 4].map((i) => py.call('rogue.whoami', i))
    assert.equal(py.stats().workers[0].ahead, 4)
    assert.ok((await rejection(crash)) instanceof WorkerCrashedError)
    const answers = await Promise.all(after)
    assert.deepEqual(answers.map(([v]) => v), [1, 2, 3, 4])
    assert.ok(answers.every(([, p]) => p !== pid), 'on the new worker')
  })

  test('aborting a call sent ahead rejects it at once, and it never runs', async (t) => {
    const { py, gate, lines } = await gated(t, { workers: 1, pipeline: 2 })
    const busy = py.call('poolwork.gate', gate.gate('a'), 'a')
    const marker = gate.gate('ran')
    const controller = new AbortController()
    const aborted = py.call('rogue.mark', marker, 'x', opts({ signal: controller.signal }))
    assert.equal(py.stats().workers[0].ahead, 1)
    await started(lines, 'gate')
    controller.abort()
    assert.ok((await rejection(aborted)) instanceof AbortError)
    assert.equal(py.stats().workers[0].busy, true, 'rejected while the first call still runs')
    gate.open('a')
    assert.equal(await busy, 'a')
    assert.equal(existsSync(marker), false)
  })

  test('a call sent ahead never runs inside a call that waits for a JS callback', async (t) => {
    const py = pool(t, { workers: 1, pipeline: 2 })
    await py.start()
    const order = []
    let entered
    const inside = new Promise((resolve) => { entered = resolve })
    let release
    const released = new Promise((resolve) => { release = resolve })
    const outer = py.call('features.call_js', async () => {
      entered()
      await released
      // Made here, so it runs nested while the worker waits for this function; the
      // call sent ahead before it is already in the worker's queue, and must wait.
      const [value] = await py.call('rogue.whoami', 'nested')
      order.push(value)
      return 'outer'
    }).then((v) => { order.push(v) })
    await inside
    const ahead = py.call('rogue.whoami', 'ahead').then(([v]) => { order.push(v) })
    assert.equal(py.stats().workers[0].ahead, 1)
    release()
    await Promise.all([outer, ahead])
    assert.deepEqual(order, ['nested', 'outer', 'ahead'])
  })

  test('64 calls in flight over two workers with a deep pipeline: each answers once, with its own result', async (t) => {
    // All in flight fit in the workers, so the queue empties and a worker that falls free
    // keeps taking back calls sent ahead to the other; they are sent again under their id,
    // sometimes to the worker that had them.
    const py = pool(t, { workers: 2, pipeline: 32 })
    await py.start()
    let next = 0
    const wrong = []
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let v = next++; v < 20_000; v = next++) {
        const [answer] = await py.call('rogue.whoami', v)
        if (answer !== v) wrong.push([v, answer])
      }
    }))
    assert.deepEqual(wrong, [])
    const stats = py.stats()
    assert.equal(stats.restarts, 0)
    assert.deepEqual(stats.workers.map((w) => [w.ahead, w.inFlight]), [[0, 0], [0, 0]])
  })

  test('calls made in one turn of the event loop leave in a few writes, not one each', { skip: needsProc }, async (t) => {
    // /proc/self/io counts this process's write system calls (writev included).
    const writes = () => Number(/syscw: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1])
    const py = pool(t, { workers: 1, pipeline: 200 })
    await py.start()
    const before = writes()
    const calls = Array.from({ length: 200 }, (_, i) => py.call('rogue.whoami', i))
    const answers = await Promise.all(calls)
    const spent = writes() - before
    assert.deepEqual(answers.map(([v]) => v), Array.from({ length: 200 }, (_, i) => i))
    assert.ok(spent < 20, `200 calls made together took ${spent} write system calls`)
  })

  test('bad pipeline values throw a RangeError naming the option', () => {
    for (const bad of [-1, 1.5, '4', Infinity, 'fast']) {
      assert.throws(() => pool({ after() {} }, { pipeline: bad }), /options\.pipeline must be 'auto' or an integer of at least 0/)
    }
  })
})
