// Coroutines (protocol section 3.6) with real workers: an `async def` target runs as a
// task on the worker's event loop and sends DETACHED, so the pool counts its worker free
// and sends it more calls; many such calls interleave on one worker.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { PythonError, TimeoutError, opts } from '../src/index.js'
import { pool, waitFor } from './helpers.js'

describe('async def targets', () => {
  test('50 concurrent asyncio.sleep(0.2) calls on ONE worker take about the time of one', async (t) => {
    const py = pool(t, { workers: 1 })
    const pid = (await py.start()).pid
    const started = performance.now()
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => py.call('features.nap', 0.2, i)))
    const elapsed = performance.now() - started
    assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i))
    assert.ok(elapsed >= 200, `${elapsed} ms`)
    assert.ok(elapsed < 2000, `50 naps of 0.2 s took ${Math.round(elapsed)} ms on one worker`)
    assert.equal(py.stats().workers.length, 1)
    assert.equal(py.stats().workers[0].pid, pid)
    assert.equal(py.stats().workers[0].calls, 50, 'each answer counts once')
  })

  test('a detached call leaves its worker free: a plain call runs meanwhile; stats tell them apart', async (t) => {
    const py = pool(t, { workers: 1 })
    await py.start()
    let napped = false
    const nap = py.call('features.nap', 0.3, 'late').then((value) => { napped = true; return value })
    await waitFor(() => py.stats().busy === 0, { what: 'the nap to be DETACHED' })
    assert.equal(py.stats().inFlight, 1)
    assert.equal(py.stats().workers[0].inFlight, 1)
    assert.equal(py.stats().workers[0].busy, false)
    const { tasks } = await py.call('pyferry.worker_stats')
    assert.equal(tasks, 1)
    assert.equal(napped, false, 'the plain call did not wait for the nap')
    assert.equal(await nap, 'late')
    assert.equal(py.stats().inFlight, 0)
  })

  test('timeouts cancel tasks; exceptions and callbacks work from coroutines', async (t) => {
    const py = pool(t, { workers: 1 })
    await assert.rejects(py.call('features.nap', 30, 'never', opts({ timeout: 100 })), TimeoutError)
    await waitFor(async () => (await py.call('pyferry.worker_stats')).tasks === 0, { what: 'the task to end' })
    await assert.rejects(py.call('asyncio.sleep', 'not a number'), PythonError)
    assert.equal(await py.call('features.nap_and_call', (x) => x * 3, 14), 42)
    assert.equal(await py.call('features.nap_and_call', async (x) => x + (await py.call('operator.add', 1, 1)), 40), 42)
    assert.equal(await py.call('asyncio.sleep', 0, 'plain coroutine function'), 'plain coroutine function')
  })
})
