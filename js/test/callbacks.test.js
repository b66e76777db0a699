// JS callbacks (protocol section 3.3) with real workers: a JS function in a call's
// arguments becomes a Python callable; SciPy can minimise a JS function; errors cross
// both ways; a callback can call Python again, on the same (busy) worker.

import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import { inspect } from 'node:util'
import { describe, test } from 'node:test'
import { PyHandle, PythonError, kw } from '../src/index.js'
import { pool, rejection } from './helpers.js'

const isPythonError = (pattern) => (error) => {
  assert.ok(error instanceof PythonError, `expected a PythonError, got:\n${error?.stack ?? inspect(error)}`)
  assert.match(error.message, pattern)
  return true
}

describe('JS callbacks', () => {
  test('scipy.optimize.minimize finds the minimum of a JS Rosenbrock function at (1, 1)', async (t) => {
    const py = pool(t, { workers: 1 })
    let evaluations = 0
    let allFloat64 = true
    const rosenbrock = (x) => {
      evaluations++
      allFloat64 &&= x instanceof Float64Array && x.length === 2
      return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    }
    const optimize = py.import('scipy.optimize')
    const result = await optimize.minimize(rosenbrock, new Float64Array([-1.2, 1]), kw({
      method: 'Nelder-Mead', options: { xatol: 1e-8, fatol: 1e-12 },
    }))
    assert.ok(allFloat64, 'x arrives as a Float64Array of 2')
    assert.equal(result.success, true)
    assert.ok(Math.abs(result.x[0] - 1) < 1e-4 && Math.abs(result.x[1] - 1) < 1e-4, `minimum at ${result.x}`)
    assert.equal(result.nfev, evaluations)
  })

  test('sync and async functions, many calls, values both ways', async (t) => {
    const py = pool(t, { workers: 1 })
    assert.equal(await py.call('features.call_js', (a, b) => a * b, 6, 7), 42)
    assert.deepEqual(await py.call('features.call_js_each', (x) => [x, x * x], [1, 2, 3]), [[1, 1], [2, 4], [3, 9]])
    const slow = async (x) => {
      await delay(5)
      return { doubled: x * 2, typed: new Float64Array([x]) }
    }
    const answer = await py.call('features.call_js', slow, 21)
    assert.equal(answer.doubled, 42)
    assert.deepEqual([...answer.typed], [21])
    assert.equal(await py.call('features.call_js', () => undefined), null)
    // A function in keyword arguments, nested in a structure, and the same one twice.
    const twice = (x) => x * 2
    assert.deepEqual(await py.call('features.call_js_each', kw({ fn: twice, items: [1, 2] })), [2, 4])
    assert.equal((await py.call('probe.describe', twice))[0], 'JSFunction')
    const [type, repr] = await py.call('probe.describe', { deep: [twice, twice] })
    assert.equal(type, 'dict')
    assert.equal(repr.match(/JSFunction/g)?.length, 2, repr)
  })

  test('a JS exception: Python sees a JSError with the JS message; uncaught it is a PythonError naming it', async (t) => {
    const py = pool(t, { workers: 1 })
    const seen = await py.call('features.catch_js', (what) => { throw new TypeError(`boom ${what}`) }, 'here')
    assert.deepEqual(seen, { type: 'JSError', str: 'TypeError: boom here', js_type: 'TypeError', js_message: 'boom here' })
    const error = await rejection(py.call('features.call_js', () => { throw new RangeError('too far') }))
    isPythonError(/JSError: RangeError: too far/)(error)
    assert.match(error.pythonType, /JSError$/)
    // A rejected promise and a thrown non-Error value too.
    const rejected = await py.call('features.catch_js', async () => { throw new Error('later') })
    assert.equal(rejected.str, 'Error: later')
    const plain = await py.call('features.catch_js', () => { throw 'just a string' }) // eslint-disable-line no-throw-literal
    assert.deepEqual([plain.js_type, plain.js_message], ['Error', 'just a string'])
    // An answer that cannot cross fails in Python too.
    const unencodable = await py.call('features.catch_js', () => Symbol('s'))
    assert.match(unencodable.str, /SerializationError: a symbol cannot cross by value at result/)
    const fn = await py.call('features.catch_js', () => () => 1)
    assert.match(fn.str, /a function can only cross in the arguments of a call/)
    // Keyword arguments are refused in Python, before anything is sent.
    assert.match(await py.call('features.call_js_kwargs', () => 1), /keyword/)
    // The worker is fine.
    assert.equal(await py.call('features.call_js', (x) => x + 1, 1), 2)
  })

  test('a callback that calls Python again runs on the same, busy worker (workers: 1)', async (t) => {
    const py = pool(t, { workers: 1 })
    const pid = await py.call('os.getpid')
    const [outer, inner] = await py.call('features.pid_and_call', async (x) => {
      const sum = await py.call('operator.add', x, 1)
      return [await py.call('os.getpid'), sum]
    }, 41)
    assert.deepEqual([outer, inner], [pid, [pid, 42]])
    // Two levels deep: Python -> JS -> Python -> JS -> Python.
    const deep = await py.call('features.call_js', async () => py.call('features.call_js', async () => py.call('operator.mul', 6, 7)))
    assert.equal(deep, 42)
    // A module proxy and a handle used inside a callback go there too.
    const account = await py.call('features.open_account', 'gil', 1)
    const balance = await py.call('features.call_js', async () => {
      await account.deposit(1)
      return py.import('operator').add(await account.get('balance'), 100)
    })
    assert.equal(balance, 102)
    account.release()
  })

  test('with several workers, a callback\'s calls go to the worker that called back', async (t) => {
    const py = pool(t, { workers: 3 })
    await py.start()
    const results = await Promise.all(Array.from({ length: 6 }, () => py.call('features.pid_and_call', () => py.call('os.getpid'))))
    for (const [outer, inner] of results) assert.equal(inner, outer)
    // A call made after the callback answered is routed as any other.
    let later
    await py.call('features.call_js', () => { later = () => py.call('os.getpid') })
    assert.ok(Number.isInteger(await later()))
  })

  test('close() lets a running call finish, the calls its callbacks make included', async (t) => {
    const py = pool(t, { workers: 1 })
    let closing
    const result = py.call('features.call_js', async () => {
      closing = py.close()
      return py.call('operator.add', 1, 2)
    })
    assert.equal(await result, 3)
    await closing
    await assert.rejects(py.call('operator.add', 1, 2), { name: 'PoolClosedError' })
  })

  test('a callback answers handles of its worker; it expires when its call ends', async (t) => {
    const py = pool(t, { workers: 1 })
    const account = await py.call('features.open_account', 'hal', 3)
    assert.deepEqual(await py.call('features.owner_of', await py.call('features.call_js', () => account)), ['Account', 'hal', 3])
    const same = await py.call('features.call_js', () => account)
    assert.ok(same instanceof PyHandle)
    assert.notEqual(same.id, account.id, 'each HANDLE the worker sends has a new id')
    assert.equal(await py.call('features.same_object', same, account), true)
    same.release()
    account.release()
    await py.call('features.keep_js', () => 'too late')
    const [type, message] = await py.call('features.call_kept')
    assert.equal(type, 'CallbackExpiredError')
    assert.match(message, /./)
  })
})
