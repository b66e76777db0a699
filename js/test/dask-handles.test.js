// Handles and streams through a Dask gateway, with real LocalClusters on 127.0.0.1: the same
// answers as the local backend's; the objects stay on their Dask worker, so a killed worker's
// handles are HandleInvalidatedError at once and two workers' handles in one call a HandleError.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { HandleError, HandleInvalidatedError, HandleReleasedError, PyHandle, Python, opts } from '../src/index.js'
import { daskFixtures, startCluster } from './dask-cluster.js'
import { rejection, waitFor } from './helpers.js'

// What the handle tests see of a handle, on either backend.
async function handleTour(py) {
  const counter = await py.call('collections.Counter', 'abracadabra', opts({ handle: true }))
  assert.ok(counter instanceof PyHandle)
  const own = await py.call('handlemod.make_counter', 3)
  assert.ok(own instanceof PyHandle)
  const mixed = await py.call('handlemod.make_mixed')
  return {
    type: counter.type,
    repr: counter.repr,
    mostCommon: await counter.most_common(2),
    missing: await counter.callMethod('get', 'z', 0),
    update: await counter.update('zz'),
    value: await counter.value(),
    bump: await own.bump(2),
    attribute: await own.get('n'),
    asArgument: await py.call('handlemod.read', own),
    same: await py.call('handlemod.same', own, own),
    nested: [mixed.plain, mixed.counter.repr, mixed.items[0].repr, await mixed.items[0].bump()],
  }
}

describe('backend: dask, handles and streams on a one-worker LocalCluster', () => {
  let cluster
  let py
  const local = new Python({ path: [daskFixtures], workers: 1 })
  before(async () => {
    cluster = await startCluster({ workers: 1 })
    py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1 })
  })
  after(async () => {
    await py?.close()
    await local.close()
    await cluster?.stop()
  })

  test('methods, attributes, value(), handles as arguments and in results: as locally', async () => {
    const here = await handleTour(local)
    assert.deepEqual(await handleTour(py), here)
    assert.equal(here.value.z, 2)
  })

  test('release frees the object on its Dask worker; using it later is a HandleReleasedError', async () => {
    const handle = await py.call('handlemod.make_tracked')
    assert.equal(await py.call('handlemod.tracked_alive'), 1)
    handle.release()
    await waitFor(async () => (await py.call('handlemod.tracked_alive')) === 0, { what: 'the release' })
    await assert.rejects(handle.callMethod('x'), HandleReleasedError)
  })

  test('a generator stream keeps within the window (backpressure), as locally', async () => {
    const window = 16
    for (const client of [local, py]) {
      await client.call('streammod.reset')
      let consumed = 0
      let worst = 0
      for await (const item of client.stream('streammod.counted', 200, opts({ window }))) {
        assert.equal(item, consumed)
        consumed++
        worst = Math.max(worst, (await client.call('streammod.produced')) - consumed)
      }
      assert.equal(consumed, 200)
      assert.ok(worst <= window + 1, `the generator ran ${worst} items ahead with a window of ${window}`)
      assert.ok(worst >= window / 2, `it did run ahead (${worst}), so the bound was tested`)
    }
  })

  test('a stream left after 3 items closes its generator: its finally runs', async () => {
    for (const client of [local, py]) {
      await client.call('streammod.reset')
      const seen = []
      for await (const item of client.stream('streammod.guarded')) {
        seen.push(item)
        if (seen.length === 3) break
      }
      assert.deepEqual(seen, [0, 1, 2])
      assert.equal(await client.call('streammod.closed'), true)
    }
  })

  test('items that are handles, and an error after 5 items, as locally', async () => {
    for (const client of [local, py]) {
      const items = []
      for await (const item of client.stream('streammod.objects', 4)) items.push(item)
      assert.equal(items[0], 0)
      assert.ok(items[1] instanceof PyHandle)
      assert.equal(items[1].type, 'builtins.object')
      const seen = []
      const error = await rejection((async () => {
        for await (const item of client.stream('streammod.fail_after', 5)) seen.push(item)
      })())
      assert.deepEqual(seen, [0, 1, 2, 3, 4])
      assert.match(error.message, /ValueError: failed after 5 items/)
    }
  })
})

describe('backend: dask, two Dask workers', () => {
  let cluster
  let py
  before(async () => {
    cluster = await startCluster({ workers: 2 })
    py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1 })
  })
  after(async () => {
    await py?.close()
    await cluster?.stop()
  })

  test('handles of two Dask workers in one call are a HandleError', async () => {
    const byPid = new Map()
    for (let i = 0; i < 40 && byPid.size < 2; i++) {
      const handles = await Promise.all([1, 2, 3, 4].map(() => py.call('handlemod.make_counter')))
      for (const handle of handles) {
        const pid = await py.call('handlemod.pid_of', handle)
        if (!byPid.has(pid)) byPid.set(pid, handle)
      }
    }
    assert.equal(byPid.size, 2, 'every object landed on one Dask worker')
    const [a, b] = byPid.values()
    const error = await rejection(py.call('handlemod.same', a, b))
    assert.equal(error.constructor, HandleError, String(error)) // as for handles of two workers
    assert.match(error.message, /two Dask workers/)
    assert.equal(await a.bump(), 1)
    assert.equal(await b.bump(), 1)
  })

  test('a handle whose Dask worker is killed is a HandleInvalidatedError within 2 s', async () => {
    const handle = await py.call('handlemod.make_counter', 1)
    const pid = await py.call('handlemod.pid_of', handle)
    assert.ok(cluster.workers.includes(pid))
    process.kill(pid, 'SIGKILL')
    const started = Date.now()
    const error = await rejection(handle.bump())
    const took = Date.now() - started
    assert.ok(error instanceof HandleInvalidatedError, String(error))
    assert.match(error.message, /was lost/)
    assert.ok(took < 2000, `settled after ${took} ms`)
    await assert.rejects(py.call('handlemod.read', handle), HandleInvalidatedError)
    const fresh = await py.call('handlemod.make_counter', 7)
    assert.equal(await fresh.bump(), 8)
  })
})
