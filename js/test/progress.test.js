// Progress (protocol section 3.5) with a real worker: pyferry.progress() in the called
// code reaches opts({ onProgress }) in order, before the answer; without a handler the
// worker sends nothing.

import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { Python, opts } from '../src/index.js'
import { fixturesDir } from './helpers.js'

const py = new Python({ path: [fixturesDir], workers: 1 })
after(() => py.close())

describe('progress', () => {
  test('onProgress receives each reported step, in order, before the call resolves', async () => {
    const steps = []
    const result = await py.call('features.report', 5, opts({ onProgress: (step) => steps.push(step) }))
    assert.equal(result, 'done')
    assert.deepEqual(steps, [1, 2, 3, 4, 5].map((i) => ({ done: i, total: 5, message: `step ${i}` })))
  })

  test('done alone: total and message are null', async () => {
    const steps = []
    await py.call('features.report_quietly', 3, opts({ onProgress: (step) => steps.push(step) }))
    assert.deepEqual(steps, [0, 1, 2].map((done) => ({ done, total: null, message: null })))
  })

  test('from a coroutine', async () => {
    const steps = []
    assert.equal(await py.call('features.report_async', 3, opts({ onProgress: ({ done }) => steps.push(done) })), 'async done')
    assert.deepEqual(steps, [1, 2, 3])
  })

  test('without onProgress the worker sends no PROGRESS frame', async () => {
    await py.start()
    const frames = () => py.stats().workers[0].frames
    const before = frames()
    assert.equal(await py.call('features.report', 200), 'done')
    assert.equal(frames() - before, 1, 'only the answer')
    const counted = []
    await py.call('features.report', 200, opts({ onProgress: (step) => counted.push(step) }))
    assert.equal(counted.length, 200)
  })

  test('opts() checks onProgress, handle and window', () => {
    assert.throws(() => opts({ onProgress: 'log' }), TypeError)
    assert.throws(() => opts({ handle: 1 }), TypeError)
    for (const window of [0, -1, 1.5, 2 ** 32, '8']) assert.throws(() => opts({ window }), RangeError)
    assert.equal(opts({ window: 1 }).window, 1)
  })
})
