// The Dask gateway's operations from Node: TLS to a real scheduler (options.security), the
// batching interval (options.batchInterval), large arguments scattered to a Dask worker.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { BackendUnavailableError, Python } from '../src/index.js'
import { startCluster } from './dask-cluster.js'
import { haveOpenssl, makeCerts, startTlsCluster } from './dask-tls.js'
import { rejection, waitFor } from './helpers.js'

const SCATTER_BYTES = 4 * 2 ** 20 // pyferry.backends.dask_scatter.SCATTER_BYTES

describe('backend: dask over TLS', { skip: !haveOpenssl() && 'needs the openssl command' }, () => {
  let certs
  let cluster
  before(async () => {
    certs = makeCerts()
    cluster = await startTlsCluster(certs)
  })
  after(async () => {
    await cluster?.kill()
    certs?.remove()
  })
  const security = (ca = 'ca.pem') => ({ ca: certs.file(ca), cert: certs.file('node.pem'), key: certs.file('node.key') })

  test('a call over tls:// succeeds', async (t) => {
    const py = new Python({ backend: 'dask', scheduler: cluster.address, security: security(), workers: 1 })
    t.after(() => py.close())
    const value = await waitFor(async () => {
      try {
        return await py.call('numpy.sum', [1, 2, 3])
      } catch (e) {
        if (!(e instanceof BackendUnavailableError)) throw e
        return 0 // the scheduler is not listening yet
      }
    }, { timeout: 60_000, interval: 100, what: 'the TLS scheduler' })
    assert.equal(value, 6)
  })

  test('a certificate of another CA is a BackendUnavailableError naming the address', async (t) => {
    const py = new Python({ backend: 'dask', scheduler: cluster.address, security: security('other.pem'), workers: 1 })
    t.after(() => py.close())
    const error = await rejection(py.call('numpy.sum', [1]))
    assert.ok(error instanceof BackendUnavailableError, String(error))
    assert.ok(error.message.includes(cluster.address), error.message)
  })
})

describe('backend: dask, security and batchInterval options', () => {
  const files = { ca: 'ca.pem', cert: 'node.pem', key: 'node.key' }
  const dask = (more) => new Python({ backend: 'dask', ...more })

  test('tls:// needs security, and a required encryption refuses tcp://', () => {
    assert.throws(() => dask({ scheduler: 'tls://127.0.0.1:8786' }), { name: 'TypeError', message: /options\.security/ })
    assert.throws(() => dask({ scheduler: 'tcp://127.0.0.1:8786', security: files }),
      { name: 'TypeError', message: /requires encryption/ })
    dask({ scheduler: 'tls://10.1.2.3:8786', security: files }) // any host with TLS
    dask({ scheduler: 'tcp://127.0.0.1:8786', security: { ...files, requireEncryption: false } })
    assert.throws(() => dask({ scheduler: 'tcp://10.1.2.3:8786' }), { name: 'TypeError', message: /tls:\/\/ with options\.security/ })
  })

  for (const [security, words] of [[null, /options\.security must be an object/], [{ cert: 'c.pem' }, /security\.ca/],
    [{ ca: 'a.pem' }, /security\.cert/], [{ ...files, key: '' }, /security\.key/],
    [{ ...files, requireEncryption: 'yes' }, /requireEncryption must be a boolean/]]) {
    test(`security ${JSON.stringify(security)} is a TypeError naming the field`, () => {
      assert.throws(() => dask({ scheduler: 'tls://127.0.0.1:8786', security }), { name: 'TypeError', message: words })
    })
  }

  test('batchInterval is milliseconds from 0 to 1000', () => {
    for (const batchInterval of [-1, 1001, Number.NaN, '1']) {
      assert.throws(() => dask({ scheduler: 'tcp://127.0.0.1:8786', batchInterval }), { name: 'RangeError', message: /options\.batchInterval/ })
    }
    dask({ scheduler: 'tcp://127.0.0.1:8786', batchInterval: 0 })
    dask({ scheduler: 'tcp://127.0.0.1:8786', batchInterval: 0.5 })
  })

  test('both need backend: dask', () => {
    assert.throws(() => new Python({ batchInterval: 5 }), { name: 'TypeError', message: /options\.batchInterval needs backend: 'dask'/ })
    assert.throws(() => new Python({ security: files }), { name: 'TypeError', message: /options\.security needs backend: 'dask'/ })
  })
})

describe('backend: dask on a LocalCluster: scatter and batching', () => {
  let cluster
  before(async () => {
    cluster = await startCluster({ workers: 1 })
  })
  after(() => cluster?.stop())

  test('an argument over the threshold is scattered to the worker and arrives intact', async (t) => {
    const py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1 })
    t.after(() => py.close())
    const big = new Float64Array(SCATTER_BYTES / 8 + 1).map((_, i) => (i % 1000) / 1000)
    const small = new Float64Array(10)
    const out = await py.call('daskops.scattered', big, small)
    assert.deepEqual(out.args, [true, false])
    assert.deepEqual(out.sizes, [big.byteLength, small.byteLength])
    const total = await py.call('math.fsum', big)
    assert.ok(Math.abs(total - big.reduce((a, b) => a + b, 0)) < 1e-6)
  })

  test('batchInterval reaches the gateway: every sequential call waits for it', async (t) => {
    const py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1, batchInterval: 250 })
    t.after(() => py.close())
    assert.equal(await py.call('numpy.sum', [1]), 1) // connects
    const started = Date.now()
    for (let i = 0; i < 4; i++) assert.equal(await py.call('numpy.sum', [i]), i)
    assert.ok(Date.now() - started >= 500, `4 calls took ${Date.now() - started} ms`)
  })
})
