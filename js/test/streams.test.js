// Streams (protocol section 3.4) with real workers: py.stream() iterates a Python
// iterable in batches under credit; break closes the generator (its finally runs); an
// exception ends the loop after the items before it; a slow consumer holds the generator
// back; a signal aborts; a crash ends the loop with WorkerCrashedError.

import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { describe, test } from 'node:test'
import { AbortError, PoolClosedError, PyHandle, PythonError, TargetError, WorkerCrashedError, opts } from '../src/index.js'
import { pool, rejection, waitFor } from './helpers.js'

const isError = (Class, pattern) => (error) => {
  assert.ok(error instanceof Class, `expected ${Class.name}, got:\n${error?.stack ?? inspect(error)}`)
  if (pattern) assert.match(error.message, pattern)
  return true
}

const framesOf = (py) => py.stats().workers[0].frames
const openStreams = async (py) => (await py.call('pyferry.worker_stats')).streams

describe('streams', () => {
  test('100 000 small items arrive complete and in order, in far fewer frames', async (t) => {
    const py = pool(t, { workers: 1 })
    await py.start()
    const before = framesOf(py)
    let expected = 0
    for await (const item of py.stream('features.numbers', 100_000)) {
      if (item !== expected) assert.fail(`item ${expected} is ${item}`)
      expected++
    }
    assert.equal(expected, 100_000)
    const frames = framesOf(py) - before
    assert.ok(frames < 100_000 / 50, `${frames} frames for 100 000 items`)
    assert.equal(py.stats().inFlight, 0)
    assert.equal(await openStreams(py), 0)
  })

  test('break after 3 items closes the generator: its finally has run when the loop is left', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = []
    for await (const item of py.stream('features.guarded', 1_000_000)) {
      seen.push(item)
      if (seen.length === 3) break
    }
    assert.deepEqual(seen, [0, 1, 2])
    const state = await py.call('features.stream_state')
    assert.equal(state.closed, true)
    assert.equal(state.finally, 1)
    assert.equal(await openStreams(py), 0)
    assert.equal(py.stats().inFlight, 0)
  })

  test('an exception after 5 items rejects the 6th iteration with a PythonError', async (t) => {
    const py = pool(t, { workers: 1 })
    const stream = py.stream('features.failing_after', 5)
    const seen = []
    const error = await rejection((async () => {
      for await (const item of stream) seen.push(item)
    })())
    assert.deepEqual(seen, [0, 1, 2, 3, 4])
    isError(PythonError, /ValueError: boom after 5/)(error)
    assert.deepEqual(await stream.next(), { value: undefined, done: true })
    assert.equal(await py.call('os.getpid'), py.info.pid, 'the worker serves on')
  })

  test('a slow consumer keeps the worker\'s unconsumed items within the window', async (t) => {
    const py = pool(t, { workers: 1 })
    const window = 16
    let consumed = 0
    let worst = 0
    for await (const item of py.stream('features.tracked', 300, opts({ window }))) {
      assert.equal(item, consumed)
      consumed++
      // Each round trip to the same worker gives the generator time to run ahead, if it could.
      const { produced } = await py.call('features.stream_state')
      worst = Math.max(worst, produced - consumed)
    }
    assert.equal(consumed, 300)
    assert.ok(worst <= window + 1, `the generator ran ${worst} items ahead with a window of ${window}`)
    assert.ok(worst >= window / 2, `it did run ahead (${worst}), so the bound was tested`)
  })

  test('async generators, a handle as the iterable, items that cross as handles', async (t) => {
    const py = pool(t, { workers: 1 })
    const countdown = []
    for await (const n of py.stream('features.countdown', 5)) countdown.push(n)
    assert.deepEqual(countdown, [5, 4, 3, 2, 1])
    const account = await py.call('features.open_account', 'ivy')
    await account.deposit(1, 'first')
    await account.deposit(2, 'second')
    const history = []
    for await (const note of py.stream(account)) history.push(note)
    assert.deepEqual(history, ['first', 'second'])
    const owners = []
    for await (const item of py.stream('features.accounts', 3)) {
      assert.ok(item instanceof PyHandle)
      owners.push(await item.get('owner'))
      item.release()
    }
    assert.deepEqual(owners, ['owner 0', 'owner 1', 'owner 2'])
    account.release()
    await waitFor(async () => (await py.call('pyferry.worker_stats')).handles === 0, { what: 'the table to empty' })
  })

  test('the worker is free while it streams: other calls run between batches', async (t) => {
    const py = pool(t, { workers: 1 })
    const stream = py.stream('features.numbers', 10, opts({ window: 2 }))
    assert.deepEqual(await stream.next(), { value: 0, done: false })
    assert.equal(py.stats().busy, 0, 'a stream DETACHED: its worker is free')
    assert.equal(py.stats().inFlight, 1)
    assert.equal(await py.call('operator.add', 1, 2), 3)
    const rest = []
    for await (const item of stream) rest.push(item)
    assert.deepEqual(rest, [1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  test('timeouts do not apply to streams; a signal aborts one', async (t) => {
    const py = pool(t, { workers: 1, timeout: 20 })
    const items = []
    for await (const item of py.stream('features.slow_numbers', 4, 0.015)) items.push(item)
    assert.deepEqual(items, [0, 1, 2, 3], 'took longer than the client\'s timeout of 20 ms')
    const controller = new AbortController()
    const stream = py.stream('features.numbers', 1_000_000, opts({ signal: controller.signal, window: 4 }))
    const first = await stream.next()
    assert.equal(first.value, 0)
    controller.abort('enough')
    const error = await rejection(stream.next())
    isError(AbortError, /features\.numbers was aborted/)(error)
    assert.equal(error.cause, 'enough')
    assert.deepEqual(await stream.next(), { value: undefined, done: true })
    await waitFor(async () => (await openStreams(py)) === 0, { what: 'the worker to close the stream' })
    const aborted = py.stream('features.numbers', 3, opts({ signal: AbortSignal.abort() }))
    await assert.rejects(aborted.next(), AbortError)
  })

  test('return() before the first next() sends nothing; a non-iterable target is a TargetError', async (t) => {
    const py = pool(t, { workers: 1 })
    await py.start()
    const before = framesOf(py)
    const stream = py.stream('features.numbers', 3)
    assert.equal(typeof stream[Symbol.asyncIterator], 'function')
    assert.equal(stream[Symbol.asyncIterator](), stream)
    assert.deepEqual(await stream.return(), { value: undefined, done: true })
    assert.deepEqual(await stream.next(), { value: undefined, done: true })
    assert.equal(framesOf(py), before)
    await assert.rejects(py.stream('operator.add', 1, 2).next(), TargetError)
    assert.throws(() => py.stream(''), TypeError)
    await assert.rejects(py.stream('features.numbers', Symbol('x')).next(), /symbol cannot cross/)
  })

  test('close() with a stream open closes it; the consumer gets PoolClosedError after what had arrived', async (t) => {
    const py = pool(t, { workers: 1 })
    const stream = py.stream('features.guarded', 1_000_000, opts({ window: 4 }))
    assert.equal((await stream.next()).value, 0)
    await py.close()
    let error
    const rest = []
    try {
      for await (const item of stream) rest.push(item)
    } catch (caught) {
      error = caught
    }
    isError(PoolClosedError, /closed while the stream was open/)(error)
    assert.ok(rest.length <= 3, `${rest.length} more items`)
  })

  test('a crash during a stream ends the loop with WorkerCrashedError', async (t) => {
    const py = pool(t, { workers: 1 })
    py.on('stderr', () => {})
    const seen = []
    let haveThree
    const three = new Promise((resolve) => { haveThree = resolve })
    // The generator yields 3 items, then waits (a callback) until they are here, then exits.
    const error = await rejection((async () => {
      for await (const item of py.stream('features.crash_after', 3, () => three)) {
        seen.push(item)
        if (seen.length === 3) haveThree()
      }
    })())
    isError(WorkerCrashedError, /exited with code 3/)(error)
    assert.deepEqual(seen, [0, 1, 2])
    assert.equal(typeof await py.call('os.getpid'), 'number')
  })
})
