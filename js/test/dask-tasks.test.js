// Dask tasks from Node on a one-worker, one-thread LocalCluster: async def targets and
// onProgress give what the local backend gives; a timeout or an abort settles the call at
// once, interrupts the task's Python code, and the Dask worker is free again within 1 s.
// cancelmod (tests/fixtures) writes to a file that it runs and how it ended.

import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { AbortError, Python, PythonError, TimeoutError, opts } from '../src/index.js'
import { daskFixtures, startCluster } from './dask-cluster.js'
import { rejection, waitFor } from './helpers.js'

// The file's text once it exists and is not `unlike`.
function textOf(file, unlike = '') {
  return waitFor(() => {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
    return text !== '' && text !== unlike ? text : null
  }, { timeout: 30_000, what: `${file} to change from '${unlike}'` })
}

describe('backend: dask, tasks on a one-worker cluster', () => {
  let cluster
  let py
  let dir
  const local = new Python({ path: [daskFixtures], workers: 1 })
  before(async () => {
    cluster = await startCluster({ workers: 1 })
    py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1 })
    dir = mkdtempSync(path.join(tmpdir(), 'pyferry-dask-tasks-'))
    assert.equal(await py.call('numpy.sum', [1]), 1) // connected, the Dask worker joined
  })
  after(async () => {
    await py?.close()
    await local.close()
    await cluster?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('an async def target gives what the local backend gives', async () => {
    for (const backend of [py, local]) {
      assert.equal(await backend.call('asyncmod.sleep', 0.01, 'woke'), 'woke')
      assert.equal(await backend.call('asyncmod.returns_awaitable', 7), 7)
      const error = await rejection(backend.call('asyncmod.fail'))
      assert.ok(error instanceof PythonError)
      assert.deepEqual([error.pythonType, error.message], ['builtins.ValueError', 'ValueError: async boom'])
      assert.match(error.pythonTraceback, /asyncmod\.py/)
    }
  })

  test('onProgress gets every report in order before the call resolves, as locally', async () => {
    const runs = []
    for (const backend of [py, local]) {
      const seen = []
      const value = await backend.call('progmod.work', 200, opts({ onProgress: (step) => seen.push(step) }))
      seen.push(value)
      runs.push(seen)
    }
    assert.deepEqual(runs[0], runs[1])
    assert.equal(runs[0].length, 201)
    assert.deepEqual(runs[0][199], { done: 200, total: 200, message: 'step 200' })
    const fromTask = []
    assert.equal(await py.call('asyncmod.report', 3, opts({ onProgress: ({ done }) => fromTask.push(done) })), 'done')
    assert.deepEqual(fromTask, [1, 2, 3])
  })

  test('a timeout on a Python loop settles at its deadline; the Dask worker is free within 1 s', async () => {
    let started = Date.now()
    await py.call('numpy.sum', [1, 2])
    const cost = Date.now() - started // of one small call, on this machine now
    const file = path.join(dir, 'spin')
    started = Date.now()
    const error = await rejection(py.call('cancelmod.spin', file, 30, opts({ timeout: 1500 })))
    const deadline = Date.now()
    assert.ok(error instanceof TimeoutError, String(error))
    assert.ok(deadline - started >= 1490 && deadline - started < 2500, `settled after ${deadline - started} ms`)
    assert.equal(await py.call('numpy.sum', [4]), 4) // on the one Dask thread
    const took = Date.now() - deadline
    assert.ok(took < 1000 + 2 * cost, `the next call came ${took} ms after the deadline`)
    assert.equal(readFileSync(file, 'utf8'), 'pyferry.errors.Cancelled') // raised in its own code
  })

  test('after an abort, pyferry.cancelled() is true in the task', async () => {
    const file = path.join(dir, 'coop')
    const controller = new AbortController()
    const call = py.call('cancelmod.cooperative', file, 30, opts({ signal: controller.signal }))
    assert.equal(await textOf(file), 'started')
    controller.abort()
    assert.ok((await rejection(call)) instanceof AbortError)
    assert.equal(await textOf(file, 'started'), 'noticed')
  })
})
