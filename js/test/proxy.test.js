// Module proxies (py.import) and py.get with a real worker: dotted paths, kwargs and
// options, what the proxy says about itself, and the errors of names that do not resolve.

import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { after, describe, test } from 'node:test'
import {
  Complex, NDArray, PyHandle, Python, TargetForbiddenError, TargetNotFoundError, kw, opts,
} from '../src/index.js'
import { fixturesDir } from './helpers.js'

const py = new Python({ path: [fixturesDir], workers: 1 })
after(() => py.close())

describe('module proxies', () => {
  test('calls through nested module paths, with kwargs and options in either order', async () => {
    const np = py.import('numpy')
    const spectrum = await np.fft.rfft(new Float64Array([1, 0, 0, 0]))
    assert.ok(spectrum instanceof NDArray)
    assert.equal(spectrum.dtype, 'complex128')
    assert.deepEqual(spectrum.toArray(), [new Complex(1, 0), new Complex(1, 0), new Complex(1, 0)])
    assert.deepEqual([...await np.linspace(0, 1, kw({ num: 5 }))], [0, 0.25, 0.5, 0.75, 1])
    assert.deepEqual([...await np.sum([[1, 2], [3, 4]], opts({ timeout: 10_000 }), kw({ axis: 0 }))], [4n, 6n], 'int64 sums')
    assert.deepEqual([...await np.sum([[1, 2], [3, 4]], kw({ axis: 1 }), opts({ timeout: 10_000 }))], [3n, 7n])
    const fft = np.fft
    assert.equal(await fft.rfftfreq(4, kw({ d: 0.5 })).then((f) => f.length), 3)
    // Any dotted module works the same: a builtin module, the application's own package.
    assert.equal(await py.import('math').hypot(3, 4), 5)
    assert.equal(await py.import('mypkg.stats').square(7), 49)
    const mypkg = py.import('mypkg')
    assert.equal(await mypkg.stats.square(8), 64)
  })

  test('a proxy is a function that names itself, is not thenable, and sends nothing until called', async () => {
    const before = py.stats().workers[0]?.frames ?? 0
    const rfft = py.import('numpy').fft.rfft
    assert.equal(typeof rfft, 'function')
    assert.equal(String(rfft), '<PyModule numpy.fft.rfft>')
    assert.equal(`${py.import('numpy')}`, '<PyModule numpy>')
    assert.equal(rfft.toString(), '<PyModule numpy.fft.rfft>')
    assert.equal(inspect(rfft), '<PyModule numpy.fft.rfft>')
    assert.equal(inspect({ m: py.import('scipy.optimize') }), '{ m: <PyModule scipy.optimize> }')
    assert.equal(rfft.then, undefined)
    assert.equal(rfft.toJSON, undefined)
    const np = py.import('numpy')
    assert.equal(await np, np, 'awaiting a proxy gives it back')
    assert.equal(np[Symbol.iterator], undefined)
    assert.equal(np[Symbol.asyncIterator], undefined)
    assert.throws(() => { np.pi = 3 }, /cannot set pi on <PyModule numpy>/)
    assert.throws(() => { delete np.pi }, TypeError)
    assert.throws(() => new np.ndarray(3), /<PyModule numpy.ndarray> is called without new/)
    assert.equal(py.stats().workers[0]?.frames ?? 0, before, 'no round trip')
  })

  test('names that do not resolve, and names refused, fail when called', async () => {
    const np = py.import('numpy')
    await assert.rejects(np.no_such_function(1), TargetNotFoundError)
    await assert.rejects(py.import('no_such_module_xyz').f(), TargetNotFoundError)
    await assert.rejects(np._private(), TargetForbiddenError)
    for (const bad of ['', 'numpy.', '.numpy', 'a..b', 42, null]) {
      assert.throws(() => py.import(bad), TypeError)
    }
  })
})

describe('py.get', () => {
  test('reads module attributes by value; what cannot cross comes as a handle', async () => {
    assert.equal(await py.get('numpy.pi'), Math.PI)
    assert.equal(await py.get('math.e'), Math.E)
    assert.deepEqual(await py.get('sys.version_info').then((v) => v.slice(0, 1)), [3])
    const collections = await py.get('collections')
    assert.ok(collections instanceof PyHandle)
    assert.equal(collections.type, 'builtins.module')
    assert.equal(collections.repr.startsWith("<module 'collections'"), true)
    const ordered = await collections.OrderedDict([['b', 1], ['a', 2]])
    assert.deepEqual(ordered, { b: 1, a: 2 })
    collections.release()
    // A callable by handle: opts({ handle: true }) keeps even a value-crossable answer remote.
    const pi = await py.get('numpy.pi', opts({ handle: true }))
    assert.ok(pi instanceof PyHandle)
    assert.equal(pi.type, 'builtins.float')
    assert.equal(await pi.value(), Math.PI)
    assert.equal(await pi.is_integer(), false)
    pi.release()
  })

  test('errors: no such name, arguments, options', async () => {
    await assert.rejects(py.get('numpy.no_such_attribute'), TargetNotFoundError)
    await assert.rejects(py.get('os._exit'), TargetForbiddenError)
    await assert.rejects(py.get('numpy.pi', 1), /takes no arguments, only opts\(\)/)
    await assert.rejects(py.get(''), TypeError)
  })
})
