// Delivery on Dask when a Dask worker dies mid-call (workmod.bump_then_exit ends its process on
// its first run): at-least-once by default, never a second start with `once`. Its own
// LocalCluster, whose nannies restart the workers these tests kill.

import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Python, WorkerCrashedError, opts } from '../src/index.js'
import { startCluster } from './dask-cluster.js'
import { rejection } from './helpers.js'

describe('backend: dask, a Dask worker that dies mid-call', () => {
  let cluster
  let dir
  const clients = []
  const client = (options = {}) => {
    const py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1, ...options })
    clients.push(py)
    return py
  }
  const counter = (name) => path.join(dir, name)
  const runs = (file) => readFileSync(file, 'utf8').length
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pyferry-delivery-'))
    cluster = await startCluster()
  })
  after(async () => {
    await Promise.all(clients.map((py) => py.close()))
    await cluster?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('by default the call runs again on another worker (at-least-once)', async () => {
    const file = counter('default')
    assert.equal(await client().call('workmod.bump_then_exit', file), 2)
    assert.equal(runs(file), 2)
  })

  test("with once: true it is a WorkerCrashedError (backend: 'dask') and never runs again", async () => {
    const py = client({ once: true })
    const file = counter('once')
    const error = await rejection(py.call('workmod.bump_then_exit', file))
    assert.ok(error instanceof WorkerCrashedError, String(error))
    assert.equal(error.code, 'PYFERRY_WORKER_CRASHED')
    assert.equal(error.backend, 'dask')
    assert.equal(error.pid, null)
    assert.match(error.message, /once: true/)
    assert.equal(runs(file), 1)
    // opts({ once: false }) overrides the client's once for that call.
    const again = counter('override')
    assert.equal(await py.call('workmod.bump_then_exit', again, opts({ once: false })), 2)
    assert.equal(await py.call('numpy.sum', [1, 2]), 3)
  })

  test('opts({ once: true }) on a client without once', async () => {
    const file = counter('per-call')
    const error = await rejection(client().call('workmod.bump_then_exit', file, opts({ once: true })))
    assert.ok(error instanceof WorkerCrashedError, String(error))
    assert.equal(error.backend, 'dask')
    assert.equal(runs(file), 1)
  })
})

describe('once options', () => {
  test('once must be a boolean, on the client and per call', () => {
    assert.throws(() => new Python({ once: 'yes' }), { name: 'TypeError', message: /options\.once/ })
    assert.throws(() => opts({ once: 1 }), { name: 'TypeError', message: /opts\(\)\.once/ })
  })

  test('the local backend never starts a call twice: once changes nothing there', async (t) => {
    const py = new Python({ workers: 1, once: true })
    t.after(() => py.close())
    assert.equal(await py.call('numpy.sum', [1, 2], opts({ once: true })), 3)
  })
})
