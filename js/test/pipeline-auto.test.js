// pipeline: 'auto', the default: the pool sends calls ahead only to a worker whose calls are
// short, and only calls that are small (pool.js). Fake workers (fake-pool.js) and a clock the
// test moves by hand; pipeline.test.js has the same client against real workers.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { WorkerCrashedError } from '../src/errors.js'
import { DEFAULT_PIPELINE, checkOptions } from '../src/options.js'
import { AHEAD_MAX_BYTES, AUTO_DEPTH, SHORT_MS } from '../src/ahead.js'
import { call, names, readyPool, submit } from './fake-pool.js'

// A pool of `size` ready fake workers under pipeline: 'auto', with its own clock (ms).
async function autoPool(t, size = 1) {
  const clock = { ms: 0 }
  const made = await readyPool(t, { size, pipeline: 'auto', now: () => clock.ms })
  return { ...made, clock }
}

// Run `n` calls one at a time on `worker`, each taking `ms`: the worker's measured pace.
async function pace(pool, worker, clock, n, ms) {
  for (let i = 0; i < n; i++) {
    const [c] = submit(pool, `warm${i}`)
    clock.ms += ms
    worker.reply(c)
    await c.promise
  }
}

describe("pipeline: 'auto'", () => {
  test("is the default, and 'auto', 0 and counts are the values it takes", () => {
    assert.equal(DEFAULT_PIPELINE, 'auto')
    assert.equal(checkOptions({}).pipeline, 'auto')
    assert.equal(checkOptions({ pipeline: 'auto' }).pipeline, 'auto')
    assert.equal(checkOptions({ pipeline: 0 }).pipeline, 0)
    assert.equal(checkOptions({ pipeline: 16 }).pipeline, 16)
    for (const bad of ['fast', -1, 1.5, null, true]) {
      assert.throws(() => checkOptions({ pipeline: bad }),
        (e) => e instanceof RangeError && /options\.pipeline must be 'auto' or an integer of at least 0/.test(e.message))
    }
  })

  test('a worker with no answer yet is sent nothing ahead: calls wait in the client', async (t) => {
    const { pool, workers: [a] } = await autoPool(t)
    const [c1, c2] = submit(pool, 'c1', 'c2')
    assert.deepEqual(names(a), ['c1'])
    assert.equal(c2.state, 'queued')
    a.reply(c1)
    assert.deepEqual(names(a), ['c1', 'c2'])
  })

  test(`once its calls are short, a busy worker is sent up to ${AUTO_DEPTH} ahead, in order`, async (t) => {
    const { pool, workers: [a], clock } = await autoPool(t)
    await pace(pool, a, clock, 3, SHORT_MS / 4)
    const calls = submit(pool, ...Array.from({ length: AUTO_DEPTH + 3 }, (_, i) => `c${i}`))
    const sent = names(a).slice(3)
    assert.deepEqual(sent, ['c0', ...calls.slice(1, AUTO_DEPTH + 1).map((c) => `${c.target}(ahead)`)])
    assert.deepEqual(calls.slice(AUTO_DEPTH + 1).map((c) => c.state), ['queued', 'queued'])
    assert.equal(pool.stats().queued, 2, 'calls sent ahead count as in flight, not queued')
    for (const c of calls.slice(0, AUTO_DEPTH + 1)) {
      clock.ms += SHORT_MS / 4
      a.reply(c)
    }
    assert.ok(calls.every((c) => c.state !== 'queued'), 'the rest went on as answers came')
  })

  test('a worker whose calls are long is sent nothing ahead', async (t) => {
    const { pool, workers: [a], clock } = await autoPool(t)
    await pace(pool, a, clock, 8, SHORT_MS * 5)
    const [, c2] = submit(pool, 'c1', 'c2')
    assert.equal(c2.state, 'queued')
  })

  test('nothing more goes ahead to a worker whose current call has run longer than a short one', async (t) => {
    const { pool, workers: [a], clock } = await autoPool(t)
    await pace(pool, a, clock, 3, SHORT_MS / 4)
    const [c1, c2] = submit(pool, 'c1', 'c2')
    assert.deepEqual(names(a).slice(3), ['c1', 'c2(ahead)'])
    clock.ms += SHORT_MS * 3 // c1 runs long
    const [c3] = submit(pool, 'c3')
    assert.equal(c3.state, 'queued', 'it waits in the client, not behind c1')
    a.reply(c1)
    a.reply(c2)
    assert.equal(c3.worker, a)
  })

  test(`a call over ${AHEAD_MAX_BYTES} bytes is never sent ahead, nor the calls queued behind it`, async (t) => {
    const { pool, workers: [a], clock } = await autoPool(t)
    await pace(pool, a, clock, 3, SHORT_MS / 4)
    const [c1, big, c3] = submit(pool, 'c1', call('big', { bytes: AHEAD_MAX_BYTES + 64 }), 'c3')
    assert.deepEqual([big.state, c3.state], ['queued', 'queued'])
    a.reply(c1)
    assert.deepEqual(names(a).slice(-2), ['big', 'c3(ahead)'], 'big once the worker is free, then c3 ahead of it')
  })

  test('a crash fails only the oldest call; those sent ahead behind it run on the replacement', async (t) => {
    const { pool, workers, clock } = await autoPool(t)
    const [a] = workers
    await pace(pool, a, clock, 3, SHORT_MS / 4)
    const [c1, c2, c3] = submit(pool, 'c1', 'c2', 'c3')
    assert.deepEqual(names(a).slice(3), ['c1', 'c2(ahead)', 'c3(ahead)'])
    a.exit({ signal: 'SIGKILL' })
    await assert.rejects(c1.promise, WorkerCrashedError)
    const b = workers[1]
    assert.deepEqual(names(b), ['c2'], 'the replacement has no pace yet: one at a time')
    assert.equal(c3.state, 'queued')
    b.ready()
    b.reply(c2)
    assert.deepEqual(names(b), ['c2', 'c3'])
  })

  test('a free worker takes back the newest call sent ahead to a busy one', async (t) => {
    const { pool, workers: [a, b], clock } = await autoPool(t, 2)
    await pace(pool, a, clock, 3, SHORT_MS / 4)
    const [c1, c2, c3, c4] = submit(pool, 'c1', 'c2', 'c3', 'c4')
    assert.deepEqual(names(b), ['c2'])
    assert.deepEqual(names(a).slice(3), ['c1', 'c3(ahead)', 'c4(ahead)'])
    clock.ms += SHORT_MS / 4
    b.reply(c2)
    assert.deepEqual(a.withdrawals, [c4])
    a.withdrawn(c4)
    assert.equal(c4.worker, b)
    for (const c of [c1, c3]) a.reply(c)
  })
})
