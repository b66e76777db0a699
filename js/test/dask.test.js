// The Dask backend from Node: a LocalCluster (pyferry.backends.dask_cluster) and a CLI-started
// scheduler on 127.0.0.1. What Dask cannot do yet (JS callbacks) is refused up front, naming what and why.

import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  AbortError, BackendUnavailableError, NDArray, NotAllowedError, PyHandle, Python, PythonError, SerializationError,
  TargetForbiddenError, TimeoutError, WorkerCrashedError, opts,
} from '../src/index.js'
import { diagnose } from '../src/doctor.js'
import { fromErrorInfo } from '../src/errors.js'
import { freePort, startCluster, startSchedulerAndWorker } from './dask-cluster.js'
import { fixturesDir, rejection, waitFor } from './helpers.js'

describe('backend: dask, on a LocalCluster', () => {
  let cluster
  let py
  const local = new Python({ path: [fixturesDir], workers: 1 })
  before(async () => {
    cluster = await startCluster()
    py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1 })
  })
  after(async () => {
    await py?.close()
    await local.close()
    await cluster?.stop()
  })

  test('the doctor reports the scheduler and what each of its workers imports', async () => {
    const found = await diagnose({ backend: 'dask', scheduler: cluster.address })
    assert.deepEqual(found.problems, [])
    assert.equal(found.ok, true)
    const { dask } = found.python
    assert.equal(dask.scheduler, cluster.address)
    assert.equal(Object.keys(dask.workers).length, 2)
    for (const seen of Object.values(dask.workers)) {
      assert.equal(seen.pyferry, found.node.pyferry)
      assert.equal(seen.numpy, found.python.modules.numpy)
    }
  })

  test('the doctor, for a scheduler nobody listens at, names it within connectTimeout', async () => {
    const port = await freePort()
    const scheduler = `tcp://127.0.0.1:${port}`
    const found = await diagnose({ backend: 'dask', scheduler, connectTimeout: 500 })
    assert.equal(found.ok, false)
    const [problem] = found.python.dask.problems
    assert.match(problem.problem, new RegExp(`the scheduler ${scheduler} cannot be reached: .* after 0\\.5 s`))
    assert.match(problem.fix, /dask_cluster/)
    assert.equal(found.seed.error.name, 'BackendUnavailableError', found.seed.error.message)
  })

  test('the seed call and a 1e6-element rfft give what the local backend gives', async () => {
    const seed = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert.equal(await py.call('numpy.sum', seed), 45)
    assert.equal(await local.call('numpy.sum', seed), 45)
    const x = new Float64Array(1_000_000).map((_, i) => Math.sin(i * 0.001) + (i % 7) / 7)
    const remote = await py.call('numpy.fft.rfft', x)
    const here = await local.call('numpy.fft.rfft', x)
    assert.ok(remote instanceof NDArray)
    assert.deepEqual([remote.dtype, remote.shape], [here.dtype, here.shape])
    assert.deepEqual(Buffer.from(remote.data.buffer, remote.data.byteOffset, remote.data.byteLength),
      Buffer.from(here.data.buffer, here.data.byteOffset, here.data.byteLength))
  })

  test('two equal random calls are two tasks', async () => {
    const [a, b] = [await py.call('numpy.random.random', 3), await py.call('numpy.random.random', 3)]
    assert.ok(a instanceof Float64Array && b instanceof Float64Array)
    assert.notDeepEqual([...a], [...b])
  })

  test('a task that raises is a PythonError with the remote traceback', async () => {
    const error = await rejection(py.call('workmod.raise_chain'))
    assert.ok(error instanceof PythonError)
    assert.equal(error.pythonType, 'builtins.RuntimeError')
    assert.match(error.pythonTraceback, /workmod\.py/)
    const exit = await rejection(py.call('workmod.exit_now', 3))
    assert.ok(exit instanceof PythonError)
    assert.equal(exit.pythonType, 'builtins.SystemExit')
    assert.equal(await py.call('numpy.sum', [1, 2]), 3)
  })

  test('a private name is the same error class as locally', async () => {
    const remote = await rejection(py.call('os._exit', 1))
    const here = await rejection(local.call('os._exit', 1))
    assert.equal(remote.constructor, TargetForbiddenError)
    assert.equal(here.constructor, TargetForbiddenError)
  })

  test('an allow-list miss is a NotAllowedError, as locally', async (t) => {
    const narrow = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1, allow: 'numpy.*' })
    t.after(() => narrow.close())
    assert.ok((await rejection(narrow.call('os.getcwd'))) instanceof NotAllowedError)
    assert.equal(await narrow.call('numpy.sum', [2, 3]), 5)
  })

  test('a timeout on a pure-Python loop settles at its deadline', async () => {
    const started = Date.now()
    const error = await rejection(py.call('workmod.spin', 5, opts({ timeout: 300 })))
    const took = Date.now() - started
    assert.ok(error instanceof TimeoutError, String(error))
    assert.ok(took >= 290 && took < 1500, `settled after ${took} ms`)
    assert.equal(await py.call('numpy.sum', [4]), 4) // the gateway was not killed
  })

  test('an aborted queued call is never submitted', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pyferry-dask-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const fresh = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1 })
    t.after(() => fresh.close())
    const counter = path.join(dir, 'runs')
    const controller = new AbortController()
    const aborted = fresh.call('workmod.bump_then_sleep', counter, 0, opts({ signal: controller.signal }))
    controller.abort() // queued: its worker is still starting
    assert.ok((await rejection(aborted)) instanceof AbortError)
    assert.equal(await fresh.call('workmod.bump_then_sleep', path.join(dir, 'other'), 0), 1)
    assert.equal(existsSync(counter), false)
  })

  test('a JS callback argument is a SerializationError', async () => {
    const error = await rejection(py.call('builtins.map', (x) => x, [1]))
    assert.ok(error instanceof SerializationError)
    assert.match(error.message, /callback\) does not cross to a Dask cluster/)
    assert.equal(error.path, 'args[0]')
  })

  test('what cannot cross by value stays on the Dask worker, as a handle (see dask-handles.test.js)', async () => {
    const counter = await py.call('collections.Counter', 'abc', opts({ handle: true }))
    assert.ok(counter instanceof PyHandle)
    assert.equal(counter.type, 'collections.Counter')
    const lock = await py.call('threading.Lock')
    assert.ok(lock instanceof PyHandle)
    assert.equal(await lock.locked(), false)
  })
})

describe('backend: dask, a scheduler started by its CLI', () => {
  test('a killed scheduler fails the call promptly; a restarted one serves', async (t) => {
    const port = await freePort()
    let cluster = startSchedulerAndWorker(port)
    t.after(() => cluster.kill())
    const py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 1 })
    t.after(() => py.close())
    assert.equal(await py.call('numpy.sum', [1, 2, 3]), 6)
    const sleeping = rejection(py.call('workmod.sleep', 30))
    assert.equal(await py.call('numpy.sum', [1]), 1) // on the worker's second thread
    cluster.scheduler.kill('SIGKILL')
    const started = Date.now()
    const error = await sleeping
    assert.ok(error instanceof BackendUnavailableError, String(error))
    assert.equal(error.code, 'PYFERRY_BACKEND_UNAVAILABLE')
    assert.ok(error.message.includes(cluster.address))
    assert.ok(Date.now() - started < 2000, `settled after ${Date.now() - started} ms`)
    assert.match(error.message, /check that the scheduler is still running/)
    await cluster.kill()
    cluster = startSchedulerAndWorker(port)
    const value = await waitFor(async () => {
      try {
        return await py.call('numpy.sum', [4, 5])
      } catch (e) {
        if (!(e instanceof BackendUnavailableError)) throw e
        return 0
      }
    }, { timeout: 30_000, interval: 100, what: 'the restarted scheduler' })
    assert.equal(value, 9)
  })
})

describe('backend: dask, a scheduler file', () => {
  test('schedulerFile names a scheduler started with --scheduler-file', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pyferry-dask-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const schedulerFile = path.join(dir, 'scheduler.json')
    const cluster = startSchedulerAndWorker(await freePort(), ['--scheduler-file', schedulerFile])
    t.after(() => cluster.kill())
    const py = new Python({ backend: 'dask', schedulerFile, workers: 1 })
    t.after(() => py.close())
    await waitFor(() => existsSync(schedulerFile), { timeout: 30_000, interval: 50, what: 'the scheduler file' })
    assert.equal(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]), 45)
  })
})

describe('backend: dask options', () => {
  test('a non-loopback tcp:// scheduler needs insecureScheduler', () => {
    assert.throws(() => new Python({ backend: 'dask', scheduler: 'tcp://10.1.2.3:8786' }),
      { name: 'TypeError', message: /insecureScheduler/ })
    assert.throws(() => new Python({ backend: 'dask', scheduler: 'tls://127.0.0.1:8786' }),
      { name: 'TypeError', message: /needs options\.security/ })
    new Python({ backend: 'dask', scheduler: 'tcp://10.1.2.3:8786', insecureScheduler: true })
  })

  for (const [name, value] of [['preload', 'json'], ['path', '/tmp'], ['maxMemoryBytes', 2 ** 30],
    ['maxCallsPerWorker', 10], ['spin', 0]]) {
    test(`${name} with backend: 'dask' is a TypeError naming both`, () => {
      assert.throws(() => new Python({ backend: 'dask', scheduler: 'tcp://127.0.0.1:8786', [name]: value }),
        { name: 'TypeError', message: new RegExp(`options\\.${name} .*backend: 'dask'`) })
    })
  }

  test('a scheduler without backend: dask, and an unknown backend, are TypeErrors', () => {
    assert.throws(() => new Python({ scheduler: 'tcp://127.0.0.1:8786' }), { name: 'TypeError', message: /backend: 'dask'/ })
    assert.throws(() => new Python({ backend: 'ray' }), { name: 'TypeError', message: /options\.backend/ })
    assert.throws(() => new Python({ backend: 'dask' }), { name: 'TypeError', message: /options\.scheduler/ })
  })

  test("a Dask gateway's PYFERRY_WORKER_CRASHED is a WorkerCrashedError with backend: 'dask'", () => {
    const error = fromErrorInfo({ type: 'pyferry.errors.WorkerCrashedError', message: 'Dask workers died', traceback: '', chain: [], code: 'PYFERRY_WORKER_CRASHED' })
    assert.ok(error instanceof WorkerCrashedError)
    assert.equal(error.backend, 'dask')
    assert.equal(error.message, 'Dask workers died')
    assert.equal(error.pid, null)
  })
})

describe('backend: dask, connectTimeout', () => {
  test('bounds the gateway\'s connection to a scheduler nobody answers at (the backend\'s own default is 10 s)', async (t) => {
    const port = await freePort() // nothing listens there
    const py = new Python({ backend: 'dask', scheduler: `tcp://127.0.0.1:${port}`, workers: 1, connectTimeout: 400 })
    t.after(() => py.close())
    await py.start() // the gateway's own start (importing distributed) is not the connection
    const started = Date.now()
    const error = await rejection(py.call('numpy.sum', [1, 2]))
    const spent = Date.now() - started
    assert.ok(error instanceof BackendUnavailableError, String(error))
    assert.ok(error.message.includes(`127.0.0.1:${port}`), error.message)
    assert.ok(spent < 5000, `settled after ${spent} ms`)
  })
})
