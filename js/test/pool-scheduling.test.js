// The pool's scheduling on its own: Pool (pool.js) made directly, its workers fakes
// that implement the interface of src/worker-api.js in-process, no Python. Each test
// drives the fakes' side (handshake, replies, DETACHED, WITHDRAWN, exits) by hand and
// checks what the pool sent where. Timers are Node's mock timers where time matters.
// The same behaviours run against real workers in pool.test.js and pipeline.test.js.

import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { describe, test } from 'node:test'
import {
  AbortError, HandleInvalidatedError, PoolClosedError, QueueFullError, TimeoutError, WorkerCrashedError, WorkerStartError,
} from '../src/errors.js'
import { call, makePool, names, readyPool, submit } from './fake-pool.js'

describe('Pool scheduling (fake workers)', () => {
  test('queued calls go FIFO to the oldest free worker', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t)
    const [c1, c2, c3, c4, c5] = submit(pool, 'c1', 'c2', 'c3', 'c4', 'c5')
    assert.deepEqual([names(a), names(b)], [['c1'], ['c2']])
    assert.deepEqual([c3.state, c4.state, c5.state], ['queued', 'queued', 'queued'])
    b.reply(c2)
    assert.deepEqual(names(b), ['c2', 'c3'])
    a.reply(c1)
    b.reply(c3)
    assert.deepEqual([names(a), names(b)], [['c1', 'c4'], ['c2', 'c3', 'c5']])
    assert.equal(await c1.promise, 'value of c1')
    assert.equal(pool.stats().queued, 0)
  })

  test('both free: the oldest worker takes the call', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t)
    const [c1, c2] = submit(pool, 'c1', 'c2')
    b.reply(c2)
    a.reply(c1)
    submit(pool, 'c3')
    assert.deepEqual([names(a), names(b)], [['c1', 'c3'], ['c2']])
  })

  test('a call naming a worker\'s handles waits for that worker, even with another free', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t)
    const [c1] = submit(pool, 'c1')
    const [p1, p2] = submit(pool, call('p1', { owner: a }), call('p2', { owner: a }))
    const [c2] = submit(pool, 'c2')
    assert.deepEqual([names(a), names(b)], [['c1'], ['c2']], 'b took the shared call, not the pinned ones')
    assert.deepEqual([p1.state, p2.state, pool.stats().workers[0].queued], ['queued', 'queued', 2])
    b.reply(c2)
    assert.deepEqual(names(b), ['c2'])
    a.reply(c1)
    assert.deepEqual(names(a), ['c1', 'p1'], 'its own calls first, in order')
    a.reply(p1)
    assert.deepEqual(names(a), ['c1', 'p1', 'p2'])
  })

  test('a pinned call fails with HandleInvalidatedError when its worker exits first, or has exited', async (t) => {
    const { pool, workers: [a] } = await readyPool(t)
    const [c1] = submit(pool, 'c1')
    const [p1] = submit(pool, call('p1', { owner: a }))
    a.exit({ code: 1 })
    await assert.rejects(c1.promise, WorkerCrashedError)
    await assert.rejects(p1.promise, (error) => error instanceof HandleInvalidatedError &&
      /names a handle of worker \d+, which exited before the call could be sent/.test(error.message))
    await assert.rejects(pool.submit(call('p2', { owner: a })), (error) => error instanceof HandleInvalidatedError &&
      /which has exited/.test(error.message))
    assert.deepEqual(names(a), ['c1'])
  })

  test('pipeline: n: calls go ahead to busy workers, the fewest ahead first, at most n each', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t, { pipeline: 2 })
    const [c1, , c3, , , , c7] = submit(pool, 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7')
    assert.deepEqual(names(a), ['c1', 'c3(ahead)', 'c5(ahead)'])
    assert.deepEqual(names(b), ['c2', 'c4(ahead)', 'c6(ahead)'])
    assert.equal(c7.state, 'queued')
    assert.deepEqual([a.ahead, b.ahead], [2, 2])
    a.reply(c1) // c3 now runs, but it still counts as sent ahead until answered
    assert.equal(c7.state, 'queued')
    a.reply(c3)
    assert.deepEqual(names(a).at(-1), 'c7(ahead)')
  })

  test('without pipeline, a busy worker is sent nothing', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t)
    const [, , c3] = submit(pool, 'c1', 'c2', 'c3')
    assert.deepEqual([names(a), names(b), c3.state], [['c1'], ['c2'], 'queued'])
  })

  test('a worker free with nothing queued withdraws the newest call sent ahead; WITHDRAWN requeues it at the front', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t, { pipeline: 2 })
    const [c1, c2, c3, c4, c5] = submit(pool, 'c1', 'c2', 'c3', 'c4', 'c5')
    assert.deepEqual([names(a), names(b)], [['c1', 'c3(ahead)', 'c5(ahead)'], ['c2', 'c4(ahead)']])
    b.reply(c2)
    assert.deepEqual(a.withdrawals, [], 'b still runs c4')
    b.reply(c4) // b is free, nothing is queued: it asks for the newest of a's back
    assert.deepEqual(a.withdrawals, [c5])
    assert.ok(c5.withdrawing && !c3.withdrawing)
    // Meanwhile b takes c6, and c7 and c8 go ahead to it (a still counts c5 until WITHDRAWN).
    const [c6, c7, c8, c9] = submit(pool, 'c6', 'c7', 'c8', 'c9')
    assert.deepEqual(names(b), ['c2', 'c4(ahead)', 'c6', 'c7(ahead)', 'c8(ahead)'])
    assert.equal(c9.state, 'queued')
    a.withdrawn(c5)
    assert.equal(names(a).at(-1), 'c5(ahead)', 'c5 went back before c9')
    assert.equal(c5.withdrawing, false)
    assert.equal(c9.state, 'queued')
    for (const c of [c6, c7, c8]) b.reply(c)
    for (const c of [c1, c3, c5]) a.reply(c)
    assert.equal(await c5.promise, 'value of c5')
    assert.equal(c9.state, 'running')
  })

  test('a crashed worker: the oldest attached call fails, those sent ahead behind it are requeued in order, detached ones fail', async (t) => {
    const { pool, workers } = await readyPool(t, { size: 1, pipeline: 2 })
    const [a] = workers
    const [d] = submit(pool, 'd')
    a.detach(d) // a coroutine: it no longer holds the main thread
    const [c1, c2, c3, c4] = submit(pool, 'c1', 'c2', 'c3', 'c4')
    assert.deepEqual(names(a), ['d', 'c1', 'c2(ahead)', 'c3(ahead)'])
    assert.equal(c4.state, 'queued')
    a.exit({ signal: 'SIGKILL' })
    await assert.rejects(d.promise, WorkerCrashedError)
    await assert.rejects(c1.promise, WorkerCrashedError)
    assert.equal(workers.length, 2, 'replaced at once')
    const b = workers[1]
    // Back at the front of the queue in their order, before c4: the new worker (free while it
    // starts) takes them in that order.
    assert.deepEqual(names(b), ['c2', 'c3(ahead)', 'c4(ahead)'])
    assert.ok(a.jobs().length === 0 && [c2, c3, c4].every((c) => c.worker === b))
    assert.equal(pool.stats().restarts, 1)
    assert.deepEqual(pool.stats().workers.map((w) => w.pid), [b.pid])
  })

  test('a crashed worker\'s pinned calls sent ahead are not requeued: they fail', async (t) => {
    const { pool, workers: [a] } = await readyPool(t, { size: 1, pipeline: 1 })
    const [c1] = submit(pool, 'c1')
    const [p1] = submit(pool, call('p1', { owner: a }))
    assert.deepEqual(names(a), ['c1', 'p1(ahead)'])
    a.exit({ code: 9 })
    await assert.rejects(c1.promise, WorkerCrashedError)
    await assert.rejects(p1.promise, WorkerCrashedError)
  })

  test('a worker that exits before its handshake: its calls are requeued, restarts back off 100 ms, doubling', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    const { pool, workers } = makePool(t, { size: 2 })
    const started = pool.start(1)
    workers[0].ready()
    await started
    const [a] = workers
    const [c1, c2] = submit(pool, 'c1', 'c2') // c2 makes the pool grow: b starts, takes it
    assert.equal(workers.length, 2)
    const b = workers[1]
    assert.deepEqual([names(a), names(b)], [['c1'], ['c2']])
    b.exit({ code: 1, started: false })
    assert.equal(c2.state, 'queued', 'back in the queue: it never ran')
    t.mock.timers.tick(99)
    assert.equal(workers.length, 2, 'no start within the backoff')
    t.mock.timers.tick(1)
    assert.equal(workers.length, 3, 'the next start after 100 ms')
    const c = workers[2]
    assert.deepEqual(names(c), ['c2'])
    c.exit({ code: 1, started: false })
    t.mock.timers.tick(199)
    assert.equal(workers.length, 3)
    t.mock.timers.tick(1)
    assert.equal(workers.length, 4, 'then after 200 ms')
    const d = workers[3]
    d.ready()
    d.reply(c2)
    assert.equal(await c2.promise, 'value of c2')
    a.reply(c1)
    assert.equal(await c1.promise, 'value of c1')
  })

  test('with no live worker, a start failure fails the queued calls at once, and new ones during the backoff', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    const { pool, workers } = makePool(t, { size: 1 })
    const [c1, c2] = submit(pool, 'c1', 'c2')
    const [a] = workers
    assert.deepEqual(names(a), ['c1'])
    a.exit({ code: 1, started: false })
    await assert.rejects(c1.promise, WorkerStartError)
    await assert.rejects(c2.promise, WorkerStartError)
    await assert.rejects(pool.submit(call('c3')), WorkerStartError)
    await assert.rejects(pool.start(), WorkerStartError)
    assert.equal(workers.length, 1, 'nothing started during the backoff')
    t.mock.timers.tick(100)
    const [c4] = submit(pool, 'c4')
    assert.equal(workers.length, 2, 'after it, a call starts a worker again')
    workers[1].ready()
    workers[1].reply(c4)
    assert.equal(await c4.promise, 'value of c4')
  })

  test('maxQueue: a call beyond it fails with QueueFullError; \'drain\' once the queue empties', async (t) => {
    const { pool, workers: [a], events } = await readyPool(t, { size: 1, maxQueue: 2 })
    const [c1, c2, c3] = submit(pool, 'c1', 'c2', 'c3')
    await assert.rejects(pool.submit(call('c4')), (error) => error instanceof QueueFullError &&
      /2 calls are already waiting \(maxQueue is 2\)/.test(error.message))
    assert.deepEqual(names(a), ['c1'])
    a.reply(c1)
    assert.deepEqual(events.filter(([e]) => e === 'drain'), [])
    a.reply(c2)
    assert.deepEqual(events.filter(([e]) => e === 'drain'), [['drain']])
    a.reply(c3)
    assert.equal(events.filter(([e]) => e === 'drain').length, 1)
  })

  test('maxQueue: 0 takes only calls a worker can run now', async (t) => {
    const { pool, workers: [a] } = await readyPool(t, { size: 1, maxQueue: 0 })
    const [c1] = submit(pool, 'c1')
    await assert.rejects(pool.submit(call('c2')), QueueFullError)
    a.reply(c1)
    submit(pool, 'c3')
    assert.deepEqual(names(a), ['c1', 'c3'])
  })

  test('close(): queued calls fail, running ones finish, then every worker exits', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t)
    const [c1, , c3] = submit(pool, 'c1', call('p', { owner: b }), 'c3')
    const [p] = b.jobs()
    b.reply(p)
    a.reply(c1)
    const [c4, c5] = submit(pool, 'c4', 'c5')
    const closed = pool.close()
    await assert.rejects(c5.promise, (error) => error instanceof PoolClosedError && /closed before the call started/.test(error.message))
    await assert.rejects(pool.submit(call('c6')), PoolClosedError)
    assert.deepEqual([a.state, b.state], ['ready', 'ready'], 'each closes once its calls are answered')
    a.reply(c4)
    assert.equal(a.state, 'closing')
    b.reply(c3)
    await closed
    assert.deepEqual([a.state, b.state], ['exited', 'exited'])
    assert.equal(await c4.promise, 'value of c4')
    assert.equal(await c3.promise, 'value of c3')
  })

  test('close({ timeout }): calls still running then are cancelled, and fail with PoolClosedError', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const { pool, workers: [a] } = await readyPool(t, { size: 1 })
    const [c1] = submit(pool, 'c1')
    const closed = pool.close({ timeout: 500 })
    t.mock.timers.tick(499)
    assert.deepEqual(a.cancels, [])
    t.mock.timers.tick(1)
    assert.deepEqual(a.cancels, [c1])
    a.reply(c1, null, 'too late')
    await assert.rejects(c1.promise, (error) => error instanceof PoolClosedError && /ran past 500 ms/.test(error.message))
    t.mock.timers.reset() // the fake's close exits on setImmediate, not mocked; close()'s own timer is cleared
    await closed
  })

  test('destroy(): every call not settled fails with PoolClosedError and every worker is killed', async (t) => {
    const { pool, workers: [a, b] } = await readyPool(t)
    const [c1, c2, c3] = submit(pool, 'c1', 'c2', 'c3')
    await pool.destroy()
    for (const c of [c1, c2, c3]) {
      await assert.rejects(c.promise, (error) => error instanceof PoolClosedError && /destroyed/.test(error.message))
    }
    assert.deepEqual([a.state, b.state], ['exited', 'exited'])
    await assert.rejects(pool.submit(call('c4')), PoolClosedError)
    await assert.rejects(pool.start(), PoolClosedError)
  })

  test('a queued call\'s timeout drops it from the queue with TimeoutError', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const { pool, workers: [a] } = await readyPool(t, { size: 1 })
    const [c1, c2, c3] = submit(pool, 'c1', call('c2', { timeout: 50 }), 'c3')
    t.mock.timers.tick(50)
    await assert.rejects(c2.promise, (error) => error instanceof TimeoutError &&
      error.message === 'the call to c2 did not finish within its timeout of 50 ms')
    a.reply(c1)
    assert.deepEqual(names(a), ['c1', 'c3'], 'c2 was never sent')
    assert.equal(c3.state, 'running')
  })

  test('a running call\'s timeout cancels it; past killGrace its worker is killed', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const { pool, workers } = await readyPool(t, { size: 1, killGrace: 200 })
    const [a] = workers
    const [c1, c2] = submit(pool, call('c1', { timeout: 100 }), call('c2', { timeout: 1000 }))
    t.mock.timers.tick(100)
    assert.deepEqual(a.cancels, [c1])
    assert.equal(c1.state, 'cancelling')
    a.reply(c1, null, 'ignored') // its reply (the Cancelled error, say) comes in time
    await assert.rejects(c1.promise, TimeoutError)
    assert.deepEqual(names(a), ['c1', 'c2'])
    t.mock.timers.tick(900)
    assert.deepEqual(a.cancels, [c1, c2])
    t.mock.timers.tick(199)
    assert.equal(c2.state, 'cancelling')
    t.mock.timers.tick(1)
    await assert.rejects(c2.promise, TimeoutError)
    t.mock.timers.reset()
    await a.exited
    assert.equal(workers.length, 2, 'the killed worker is replaced')
  })

  test('an abort drops a queued call with AbortError; an already aborted signal fails before anything is sent', async (t) => {
    const { pool, workers: [a] } = await readyPool(t, { size: 1 })
    const controller = new AbortController()
    const [c1, c2, c3] = submit(pool, 'c1', call('c2', { signal: controller.signal }), 'c3')
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1)
    const reason = new Error('stop')
    controller.abort(reason)
    await assert.rejects(c2.promise, (error) => error instanceof AbortError && error.code === 'ABORT_ERR' &&
      error.cause === reason && error.message === 'the call to c2 was aborted')
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
    a.reply(c1)
    assert.deepEqual(names(a), ['c1', 'c3'])
    await assert.rejects(pool.submit(call('c4', { signal: controller.signal })), AbortError)
    assert.deepEqual(names(a), ['c1', 'c3'])
    a.reply(c3)
    assert.equal(pool.stats().queued, 0)
  })

  test('an abort in the turn a call was sent takes it back unsent: no CANCEL, the worker free again', async (t) => {
    const { pool, workers: [a] } = await readyPool(t, { size: 1 })
    a.holding = true
    const controller = new AbortController()
    const [c1, c2] = submit(pool, call('c1', { signal: controller.signal }), 'c2')
    assert.equal(c1.state, 'running')
    controller.abort()
    await assert.rejects(c1.promise, AbortError)
    assert.deepEqual([a.unsent, a.cancels], [[c1], []])
    assert.deepEqual(names(a), ['c1', 'c2'], 'the next call went to the worker it freed')
    a.reply(c2)
    assert.equal(await c2.promise, 'value of c2')
  })

  test('a settled call leaves no abort listener behind', async (t) => {
    const { pool, workers: [a] } = await readyPool(t, { size: 1 })
    const controller = new AbortController()
    const [c1] = submit(pool, call('c1', { signal: controller.signal }))
    a.reply(c1)
    assert.equal(await c1.promise, 'value of c1')
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
  })

  test('a stream closed before it was sent is withdrawn from the queue', async (t) => {
    const { pool, workers: [a] } = await readyPool(t, { size: 1 })
    const [c1, s] = submit(pool, 'c1', call('s', { stream: { push() {} } }))
    assert.equal(pool.withdraw(s), true)
    assert.equal(await s.promise, undefined)
    assert.equal(pool.withdraw(c1), false, 'a call already sent is not withdrawn')
    a.reply(c1)
    assert.deepEqual(names(a), ['c1'])
  })
})
