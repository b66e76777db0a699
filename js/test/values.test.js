// Values crossing both ways between Node and a real Python worker, checked on the Python side too.

import assert from 'node:assert/strict'
import { randomFillSync } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { Complex, NDArray, PyHandle, Python, SerializationError } from '../src/index.js'
import { fixturesDir } from './helpers.js'

const py = new Python({ path: [fixturesDir] })
after(() => py.close())

const describeValue = (value) => py.call('probe.describe', value)
const roundTrip = (value) => py.call('probe.identity', value)

// assert.rejects predicate: a SerializationError at `path` whose message matches `pattern`.
function serializationError(path, pattern = /./) {
  return (error) => {
    assert.ok(error instanceof SerializationError, `expected a SerializationError, got ${error?.stack ?? error}`)
    assert.equal(error.code, 'PYFERRY_SERIALIZATION')
    assert.equal(error.path, path)
    assert.match(error.message, pattern)
    return true
  }
}

describe('scalars', () => {
  test('null and undefined become None; None comes back as null', async () => {
    assert.deepEqual(await describeValue(null), ['NoneType', 'None'])
    assert.deepEqual(await describeValue(undefined), ['NoneType', 'None'])
    assert.equal(await roundTrip(undefined), null)
    assert.deepEqual(await roundTrip([undefined, null]), [null, null])
  })

  test('booleans stay booleans', async () => {
    assert.deepEqual(await describeValue(true), ['bool', 'True'])
    assert.deepEqual(await describeValue(false), ['bool', 'False'])
    assert.equal(await roundTrip(true), true)
    assert.equal(await roundTrip(false), false)
  })

  test('safe integers become Python int', async () => {
    for (const n of [0, 1, -1, 127, 128, -33, 255, 65536, -2147483649, 2 ** 40, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      assert.deepEqual(await describeValue(n), ['int', String(n)], `for ${n}`)
      assert.equal(await roundTrip(n), n)
    }
  })

  test('non-integers, unsafe integers and -0 become float', async () => {
    assert.deepEqual(await describeValue(1.5), ['float', '1.5'])
    assert.deepEqual(await describeValue(0.1), ['float', '0.1'])
    assert.deepEqual(await describeValue(2 ** 53), ['float', '9007199254740992.0'])
    assert.deepEqual(await describeValue(-0), ['float', '-0.0'])
    assert.equal(await py.call('probe.copysign', -0), -1)
    assert.equal(await py.call('probe.copysign', 0), 1)
    assert.ok(Object.is(await roundTrip(-0), -0))
    assert.equal(await roundTrip(1e-300), 1e-300)
  })

  test('NaN and ±Infinity cross both ways', async () => {
    assert.equal(await py.call('probe.is_nan', NaN), true)
    assert.deepEqual(await describeValue(Infinity), ['float', 'inf'])
    assert.deepEqual(await describeValue(-Infinity), ['float', '-inf'])
    const [nan, inf, ninf, nzero] = await py.call('probe.special_floats')
    assert.ok(Number.isNaN(nan))
    assert.equal(inf, Infinity)
    assert.equal(ninf, -Infinity)
    assert.ok(Object.is(nzero, -0))
  })

  test('BigInt up to 2**64-1 and down to -(2**63) reaches Python as int', async () => {
    assert.deepEqual(await describeValue(2n ** 64n - 1n), ['int', '18446744073709551615'])
    assert.deepEqual(await describeValue(-(2n ** 63n)), ['int', '-9223372036854775808'])
    assert.deepEqual(await describeValue(2n ** 63n), ['int', '9223372036854775808'])
    assert.deepEqual(await describeValue(5n), ['int', '5'])
    assert.deepEqual(await describeValue(-(2n ** 40n)), ['int', String(-(2 ** 40))])
  })

  test('Python ints beyond a double arrive as BigInt, up to 2**64-1 and down to -(2**63)', async () => {
    assert.equal(await py.call('probe.int_plus', 2n ** 64n - 2n, 1), 2n ** 64n - 1n)
    assert.equal(await py.call('probe.int_plus', -(2n ** 63n) + 1n, -1), -(2n ** 63n))
    assert.equal(await py.call('probe.int_plus', Number.MAX_SAFE_INTEGER, 1), 2n ** 53n)
    assert.equal(await py.call('probe.int_plus', Number.MAX_SAFE_INTEGER - 1, 1), Number.MAX_SAFE_INTEGER)
    assert.equal(await py.call('probe.int_plus', Number.MIN_SAFE_INTEGER, 0), Number.MIN_SAFE_INTEGER)
    assert.equal(await py.call('probe.big_int', 63, -1), -(2n ** 63n))
  })

  test('a BigInt beyond 64 bits is refused before anything is sent', async (t) => {
    const fresh = new Python({ path: [fixturesDir] })
    t.after(() => fresh.close())
    await assert.rejects(fresh.call('probe.describe', 2n ** 64n), serializationError('args[0]', /64 bits/))
    // The rejection came before the worker's handshake could even complete: no round trip.
    assert.equal(fresh.info, null)
    await assert.rejects(py.call('probe.describe', [0, { x: -(2n ** 63n) - 1n }]), serializationError('args[0][1].x', /64 bits/))
  })

  test('a Python int beyond 64 bits fails with a SerializationError at result', async () => {
    await assert.rejects(py.call('probe.big_int', 70), serializationError('result', /64 bits/))
    await assert.rejects(py.call('probe.big_int', 64), serializationError('result', /64 bits/))
    await assert.rejects(py.call('probe.big_int', 63, -2), serializationError('result', /64 bits/))
    await assert.rejects(py.call('probe.nested_result_with_big_int'), serializationError("result[1]['a']", /64 bits/))
  })

  test('SerializationError keeps reason and path apart on both sides', async () => {
    let jsSide
    let pySide
    try {
      await py.call('probe.describe', 2n ** 64n)
    } catch (error) {
      jsSide = error
    }
    try {
      await py.call('probe.big_int', 70)
    } catch (error) {
      pySide = error
    }
    for (const error of [jsSide, pySide]) {
      assert.ok(error instanceof SerializationError)
      assert.equal(error.message, `${error.reason} at ${error.path}`)
      assert.ok(!error.reason.endsWith(` at ${error.path}`), `reason repeats the path: ${JSON.stringify(error.reason)}`)
    }
  })
})

describe('strings and bytes', () => {
  test('strings with astral characters keep their code points', async () => {
    const s = 'héllo 😀 𝄞 日本'
    assert.deepEqual(await py.call('probe.str_info', s), { len: [...s].length, codepoints: [...s].map((c) => c.codePointAt(0)) })
    assert.equal(await roundTrip(s), s)
    assert.equal(await roundTrip(''), '')
    const long = 'ab€😀'.repeat(20_000)
    assert.equal(await roundTrip(long), long)
  })

  test('a lone surrogate in a string is refused with its path', async () => {
    await assert.rejects(py.call('probe.describe', '\ud800'), serializationError('args[0]', /surrogate/))
    await assert.rejects(py.call('probe.describe', { a: ['x', 'y\udc00'] }), serializationError('args[0].a[1]', /surrogate/))
    await assert.rejects(py.call('probe.describe', new Map([[1, '\ud83d']])), serializationError('args[0][1]', /surrogate/))
  })

  test('a lone surrogate in an object key is refused, not replaced', async () => {
    // Sent as is, Python would receive U+FFFD instead of the key the program used.
    await assert.rejects(py.call('probe.keys_info', { '\ud800': 1 }), (error) => error instanceof SerializationError)
  })

  test('a Python string with a lone surrogate fails with a SerializationError at result', async () => {
    await assert.rejects(py.call('probe.lone_surrogate'), serializationError('result'))
  })

  test('Buffer, Uint8Array, DataView and ArrayBuffer become bytes; bytes come back as Buffer', async () => {
    assert.deepEqual(await describeValue(Buffer.from([0, 1, 255])), ['bytes', "b'\\x00\\x01\\xff'"])
    assert.deepEqual(await describeValue(Uint8Array.of(104, 105)), ['bytes', "b'hi'"])
    const backing = Uint8Array.of(9, 9, 65, 66, 9)
    assert.deepEqual(await describeValue(backing.subarray(2, 4)), ['bytes', "b'AB'"])
    assert.deepEqual(await describeValue(new DataView(backing.buffer, 2, 2)), ['bytes', "b'AB'"])
    assert.deepEqual(await describeValue(Uint8Array.of(67).buffer), ['bytes', "b'C'"])
    assert.deepEqual(await describeValue(new Uint8Array(0)), ['bytes', "b''"])
    const fromPython = await py.call('probe.bytes_value')
    assert.ok(Buffer.isBuffer(fromPython))
    assert.deepEqual([...fromPython], [0, 1, 254, 255])
    const big = randomFillSync(Buffer.alloc(200_000))
    assert.ok(big.equals(await roundTrip(big)))
  })
})

describe('containers', () => {
  test('arrays and nested objects cross and come back equal', async () => {
    const value = { a: [1, 'x', { b: null, c: [true, 2.5] }], d: { e: {} }, f: [], 'key with spaces': -3 }
    assert.deepEqual(await roundTrip(value), value)
    assert.deepEqual(await describeValue([1, [2]]), ['list', '[1, [2]]'])
    assert.deepEqual(await describeValue({ a: 1 }), ['dict', "{'a': 1}"])
  })

  test('a Map with non-string keys becomes a dict with those keys', async () => {
    const keys = await py.call('probe.keys_info', new Map([[1, 'a'], [2.5, 'b'], ['s', 'c'], [null, 'd']]))
    assert.deepEqual(keys, [['int', '1'], ['float', '2.5'], ['str', "'s'"], ['NoneType', 'None']])
    assert.deepEqual(await roundTrip(new Map([['x', 1]])), { x: 1 })
  })

  test('a Python dict with int keys arrives as a Map', async () => {
    const map = await py.call('probe.int_key_dict')
    assert.ok(map instanceof Map)
    assert.deepEqual([...map], [[1, 'one'], [2, 'two'], [-3, 'minus three']])
  })

  test("a '__proto__' key arriving from Python stays data", async () => {
    const value = await py.call('probe.proto_payload')
    for (const object of [value, value.nested]) {
      assert.equal(Object.getPrototypeOf(object), Object.prototype)
      assert.ok(Object.hasOwn(object, '__proto__'))
      assert.equal(object.polluted, undefined)
      assert.deepEqual(Object.getOwnPropertyDescriptor(object, '__proto__').value, { polluted: true })
    }
    assert.equal({}.polluted, undefined)
    assert.equal(Object.prototype.polluted, undefined)
  })

  test('a deeply nested list (300 levels) crosses both ways', async (t) => {
    // Own client: a failure here must not take the shared worker down.
    const own = new Python({ path: [fixturesDir] })
    t.after(() => own.close())
    let nested = 0
    for (let i = 0; i < 300; i++) nested = [nested]
    assert.equal(await own.call('probe.depth_of', nested), 300)
    const back = await own.call('probe.nested_list', 300)
    let depth = 0
    for (let v = back; Array.isArray(v); v = v[0]) depth++
    assert.equal(depth, 300)
  })

  test('a raw msgpack.ExtType from user code is refused by the worker, whatever its code', async (t) => {
    // Before handles these reached the client as they were: codes 1 and 2 malformed (a
    // SerializationError here), 99 unknown (a ProtocolError that cost the worker). The
    // worker now writes extension types itself and refuses raw ones with their path.
    const own = new Python({ path: [fixturesDir], workers: 1 })
    t.after(() => own.close())
    const pid = await own.call('os.getpid')
    for (const [code, data] of [[1, [0, 0, 0]], [2, [1, 2, 3]], [3, [1, 0, 0, 0, 0, 0, 0, 0]], [99, [1, 2]]]) {
      await assert.rejects(own.call('probe.raw_ext', code, data), serializationError("result['odd']", /ExtType/))
    }
    assert.equal(await own.call('os.getpid'), pid)
  })

  test('values that have no wire form are refused with their path', async () => {
    // (A function crosses now, as a JS callback: see callbacks.test.js.)
    await assert.rejects(py.call('probe.describe', 1, { a: [1, { b: Symbol('s') }] }), serializationError('args[1].a[1].b', /symbol/))
    await assert.rejects(py.call('probe.describe', new (class Point {})()), serializationError('args[0]', /Point/))
    await assert.rejects(py.call('probe.describe', new Date(NaN)), serializationError('args[0]', /invalid Date/))
    await assert.rejects(py.call('probe.describe', [py.import('numpy')]), serializationError('args[0][0]', /<PyModule numpy> names a Python object/))
  })

  test('a Python object with no wire form arrives as a PyHandle where it sits', async () => {
    // It used to fail with a SerializationError at result['bad'][1]; now it crosses as a handle.
    const { fine, bad } = await py.call('probe.unprintable_object')
    assert.equal(fine, 1)
    assert.equal(bad[0], 1)
    assert.ok(bad[1] instanceof PyHandle)
    assert.equal(bad[1].type, 'builtins.object')
    assert.match(bad[1].repr, /^<object object at 0x[0-9a-f]+>$/)
    bad[1].release()
  })
})

describe('dates and complex numbers', () => {
  test('a Date becomes an aware UTC datetime', async () => {
    const info = await py.call('probe.date_info', new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)))
    assert.deepEqual(info, { type: 'datetime', iso: '2024-01-02T03:04:05.678000+00:00', aware: true, utcoffset: 0 })
    const before1970 = await py.call('probe.date_info', new Date(-500))
    assert.equal(before1970.iso, '1969-12-31T23:59:59.500000+00:00')
  })

  test('an aware datetime becomes a Date at the same instant', async () => {
    const date = await py.call('probe.make_datetime', [2024, 5, 6, 7, 8, 9, 123456], 120)
    assert.ok(date instanceof Date)
    assert.equal(date.toISOString(), '2024-05-06T05:08:09.123Z')
  })

  test('Dates round-trip to the millisecond, before 1970 and far ahead too', async () => {
    for (const iso of ['1970-01-01T00:00:00.000Z', '2024-02-29T12:00:00.001Z', '1969-07-20T20:17:40.250Z', '1900-01-01T00:00:00.000Z', '2600-06-15T01:02:03.999Z', '9999-12-31T23:59:59.999Z']) {
      const back = await roundTrip(new Date(iso))
      assert.ok(back instanceof Date)
      assert.equal(back.toISOString(), iso)
    }
  })

  test('a Date Python cannot represent is refused; the worker keeps serving', async () => {
    const pid = await py.call('os.getpid')
    for (const ms of [8.64e15, -8.64e15]) {
      await assert.rejects(py.call('probe.date_info', new Date(ms)), (error) => {
        assert.ok(error instanceof SerializationError, error.stack)
        assert.match(error.message, /range/)
        return true
      })
    }
    assert.equal(await py.call('os.getpid'), pid)
  })

  test('a naive datetime is refused with a hint', async () => {
    await assert.rejects(py.call('probe.naive_datetime'), serializationError('result', /naive datetime.*tzinfo/))
  })

  test('Complex crosses both ways', async () => {
    assert.deepEqual(await describeValue(new Complex(1.5, -2)), ['complex', '(1.5-2j)'])
    const back = await py.call('probe.complex_value')
    assert.ok(back instanceof Complex)
    assert.deepEqual([back.re, back.im], [3.5, -4.25])
    const round = await roundTrip(new Complex(-0, Infinity))
    assert.ok(Object.is(round.re, -0))
    assert.equal(round.im, Infinity)
  })
})

// [TypedArray class, numpy dtype string, sample values]
const TYPED = [
  [Int8Array, '|i1', [-128, -1, 0, 127]],
  [Uint8ClampedArray, '|u1', [0, 1, 200, 255]],
  [Int16Array, '<i2', [-32768, -2, 7, 32767]],
  [Uint16Array, '<u2', [0, 1, 40000, 65535]],
  [Int32Array, '<i4', [-(2 ** 31), -3, 5, 2 ** 31 - 1]],
  [Uint32Array, '<u4', [0, 1, 3_000_000_000, 2 ** 32 - 1]],
  [BigInt64Array, '<i8', [-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]],
  [BigUint64Array, '<u8', [0n, 1n, 2n ** 53n + 1n, 2n ** 64n - 1n]],
  [Float32Array, "<f4", [-2.25, 0, 1.5, Math.fround(3e38)]],
  [Float64Array, '<f8', [-1e308, -0.5, 0, Math.PI]],
]

// What Python's tolist() gives back for a value, after crossing to JS.
const asPlainNumber = (v) => (typeof v === 'bigint' && v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v)

describe('TypedArrays and NDArrays', () => {
  for (const [Type, dtype, values] of TYPED) {
    test(`${Type.name} becomes a ${dtype} ndarray and comes back`, async () => {
      const sent = Type.from(values)
      const info = await py.call('probe.array_info', sent)
      assert.deepEqual(info, { type: 'ndarray', dtype, shape: [values.length], values: values.map(asPlainNumber) })
      const back = await roundTrip(sent)
      if (Type === Uint8ClampedArray) {
        // uint8 ndarrays come back as NDArray (a Uint8Array alone would mean bytes).
        assert.ok(back instanceof NDArray)
        assert.equal(back.dtype, 'uint8')
        assert.deepEqual([...back.data], values)
      } else {
        assert.equal(back.constructor, Type)
        assert.deepEqual([...back], [...sent])
      }
    })
  }

  test('a TypedArray view sends only its own elements', async () => {
    const all = Float64Array.from([0, 1, 2, 3, 4, 5, 6])
    const info = await py.call('probe.array_info', all.subarray(2, 5))
    assert.deepEqual(info.values, [2, 3, 4])
  })

  test('2-d and 3-d NDArrays keep their shape both ways', async () => {
    const m = new NDArray(Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3])
    assert.deepEqual(await py.call('probe.array_info', m), { type: 'ndarray', dtype: '<f8', shape: [2, 3], values: [[1, 2, 3], [4, 5, 6]] })
    const cube = new NDArray(Int32Array.from({ length: 24 }, (_, i) => i - 12), [2, 3, 4])
    const info = await py.call('probe.array_info', cube)
    assert.deepEqual(info.shape, [2, 3, 4])
    assert.deepEqual(info.values, cube.toArray())
    for (const value of [m, cube]) {
      const back = await roundTrip(value)
      assert.ok(back instanceof NDArray)
      assert.deepEqual(back.shape, value.shape)
      assert.equal(back.dtype, value.dtype)
      assert.deepEqual([...back.data], [...value.data])
    }
    const made = await py.call('probe.arrays', 'int64_3d')
    assert.ok(made instanceof NDArray)
    assert.deepEqual([made.dtype, made.shape], ['int64', [2, 3, 4]])
    assert.deepEqual([...made.data], Array.from({ length: 24 }, (_, i) => BigInt(i)))
    assert.equal(made.get(1, 2, 3), 23n)
  })

  test('bool NDArrays cross both ways', async () => {
    const sent = new NDArray(Uint8Array.of(1, 0, 1, 1), [2, 2], 'bool')
    assert.deepEqual(await py.call('probe.array_info', sent), { type: 'ndarray', dtype: '|b1', shape: [2, 2], values: [[true, false], [true, true]] })
    const made = await py.call('probe.arrays', 'bool')
    assert.ok(made instanceof NDArray)
    assert.equal(made.dtype, 'bool')
    assert.deepEqual(made.toArray(), [[true, false, true], [false, false, true]])
  })

  test('uint8 ndarrays arrive as NDArray, not bytes', async () => {
    const made = await py.call('probe.arrays', 'uint8')
    assert.ok(made instanceof NDArray)
    assert.deepEqual([made.dtype, [...made.data]], ['uint8', [0, 1, 254, 255]])
    const sent = new NDArray(Uint8Array.of(3, 4), [2], 'uint8')
    assert.deepEqual(await py.call('probe.array_info', sent), { type: 'ndarray', dtype: '|u1', shape: [2], values: [3, 4] })
  })

  test('complex64 and complex128 NDArrays cross both ways', async () => {
    const c64 = new NDArray(Float32Array.of(1, 2, -3.5, 0.5), [2], 'complex64')
    const info = await py.call('probe.array_info', c64)
    assert.equal(info.dtype, '<c8')
    assert.deepEqual(info.values.map((c) => [c.re, c.im]), [[1, 2], [-3.5, 0.5]])
    const made64 = await py.call('probe.arrays', 'complex64')
    assert.deepEqual([made64.dtype, made64.shape, [...made64.data]], ['complex64', [2], [1, 2, -3.5, -0.5]])
    const made128 = await py.call('probe.arrays', 'complex128_2d')
    assert.deepEqual([made128.dtype, made128.shape], ['complex128', [2, 2]])
    assert.deepEqual(made128.toArray().flat().map((c) => [c.re, c.im]), [[1, 1], [2, -2], [0, 0], [0, -1]])
    const back = await roundTrip(made128)
    assert.deepEqual([...back.data], [...made128.data])
  })

  test('empty arrays keep their shape', async () => {
    assert.deepEqual(await py.call('probe.array_info', new Float64Array(0)), { type: 'ndarray', dtype: '<f8', shape: [0], values: [] })
    assert.deepEqual((await py.call('probe.array_info', new NDArray(new Float32Array(0), [0, 3]))).shape, [0, 3])
    const empty1 = await py.call('probe.arrays', 'empty_1d')
    assert.ok(empty1 instanceof Float64Array)
    assert.equal(empty1.length, 0)
    const empty2 = await py.call('probe.arrays', 'empty_2d')
    assert.ok(empty2 instanceof NDArray)
    assert.deepEqual([empty2.dtype, empty2.shape, empty2.size], ['float32', [0, 3], 0])
  })

  test('a 0-d NDArray reaches Python as a 0-d array', async () => {
    const info = await py.call('probe.array_info', new NDArray(Float64Array.of(2.5), []))
    assert.deepEqual(info, { type: 'ndarray', dtype: '<f8', shape: [], values: 2.5 })
  })

  test('0-d arrays and numpy scalars arrive as plain numbers, BigInts and booleans', async () => {
    assert.equal(await py.call('probe.zero_d', 'float'), 2.5)
    assert.equal(await py.call('probe.zero_d', 'int'), -4)
    assert.equal(await py.call('probe.zero_d', 'bigint'), 2n ** 62n)
    assert.equal(await py.call('probe.zero_d', 'bool'), false)
    assert.deepEqual(await py.call('probe.numpy_scalars'), {
      f64: 1.25, f32: 1.5, i64: -7, i64_big: 2n ** 60n, u64_max: 2n ** 64n - 1n, u8: 255, bool: true,
    })
    for (const [kind, re, im] of [['complex64', 1, 2], ['complex128', 3, -4]]) {
      const c = await py.call('probe.numpy_complex_scalar', kind)
      assert.ok(c instanceof Complex)
      assert.deepEqual([c.re, c.im], [re, im])
    }
  })

  test('a 0-d complex array arrives as a Complex', async () => {
    const c = await py.call('probe.zero_d', 'complex')
    assert.ok(c instanceof Complex)
    assert.deepEqual([c.re, c.im], [1, -1])
  })

  test('non-contiguous, Fortran-order and big-endian arrays arrive with the right values', async () => {
    const base = Array.from({ length: 20 }, (_, i) => i * 1.5)
    const strided = await py.call('probe.arrays', 'strided')
    assert.ok(strided instanceof Float64Array)
    assert.deepEqual([...strided], base.filter((_, i) => i % 2 === 0))
    assert.deepEqual([...(await py.call('probe.arrays', 'reversed'))], [...base].reverse())
    const fortran = await py.call('probe.arrays', 'fortran')
    assert.deepEqual([fortran.dtype, fortran.shape, [...fortran.data]], ['int32', [3, 4], Array.from({ length: 12 }, (_, i) => i)])
    assert.equal(fortran.get(2, 1), 9)
    const transposed = await py.call('probe.arrays', 'transposed')
    assert.deepEqual([transposed.dtype, transposed.shape, [...transposed.data]], ['int16', [3, 2], [0, 3, 1, 4, 2, 5]])
    const be = await py.call('probe.arrays', 'big_endian')
    assert.ok(be instanceof Float64Array)
    assert.deepEqual([...be], [0, 0.25, 0.5, 0.75, 1, 1.25])
    const be2 = await py.call('probe.arrays', 'big_endian_2d')
    assert.deepEqual([be2.dtype, be2.shape, [...be2.data]], ['int32', [2, 3], [0, 1, 2, 3, 4, 5]])
  })

  for (const [kind, pattern] of [
    ['float16', /float16/],
    ['datetime64', /numpy dtype 'datetime64' has no time unit/],
    ['object', /'object'/],
    ['str', /<U2/],
    ['structured', /structured|void/],
  ]) {
    test(`a ${kind} array is refused with a SerializationError naming its dtype`, async () => {
      await assert.rejects(py.call('probe.unsupported', kind), serializationError('result', pattern))
    })
  }

  test('received TypedArrays are aligned, even after odd-sized buffers', async () => {
    const arrays = await py.call('probe.mixed_arrays')
    const expected = [[1, 2, 3], [0, 1, 2], [1, 2, 3], [0n, 1n, 2n, 3n, 4n], [7], [0, 1, 2], [1, 1]]
    assert.equal(arrays.length, expected.length)
    arrays.forEach((a, i) => {
      const data = a instanceof NDArray ? a.data : a
      assert.equal(data.byteOffset % data.BYTES_PER_ELEMENT, 0, `array ${i} (${data.constructor.name}) at byteOffset ${data.byteOffset}`)
      assert.deepEqual([...data], expected[i])
    })
  })

  test('a 1e6-element Float64Array round-trips exactly', async () => {
    const sent = new Float64Array(1_000_000)
    randomFillSync(new Uint8Array(sent.buffer)) // every bit pattern, NaN payloads included
    for (let i = 0; i < 10; i++) sent[i * 99_991] = [-0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MAX_VALUE][i % 5]
    const back = await roundTrip(sent)
    assert.ok(back instanceof Float64Array)
    assert.equal(back.length, sent.length)
    assert.equal(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(sent.buffer)), 0)
  })
})

describe('NDArray class', () => {
  test('shape, ndim, size, get, row and toArray', () => {
    const a = new NDArray(Float64Array.from({ length: 24 }, (_, i) => i), [2, 3, 4])
    assert.deepEqual([a.ndim, a.size, a.dtype], [3, 24, 'float64'])
    assert.ok(Object.isFrozen(a.shape))
    assert.equal(a.get(1, 2, 3), 23)
    assert.equal(a.get(0, 1, 2), 6)
    assert.equal(a.get(-1, -1, -1), 23)
    const row = a.row(1)
    assert.ok(row instanceof NDArray)
    assert.deepEqual([row.shape, [...row.data]], [[3, 4], Array.from({ length: 12 }, (_, i) => 12 + i)])
    row.data[0] = 100 // a row shares memory
    assert.equal(a.get(1, 0, 0), 100)
    const m = new NDArray(Int32Array.of(1, 2, 3, 4, 5, 6), [2, 3])
    assert.deepEqual(m.row(-1), Int32Array.of(4, 5, 6))
    assert.deepEqual(m.toArray(), [[1, 2, 3], [4, 5, 6]])
    assert.equal(new NDArray(Int16Array.of(5, 6)).row(1), 6)
    assert.deepEqual(new NDArray(Uint8Array.of(1, 0, 0, 1), [2, 2], 'bool').row(0).toArray(), [true, false])
    const c = new NDArray(Float64Array.of(1, 2, 3, 4), [2], 'complex128')
    assert.deepEqual([c.size, c.get(1).re, c.get(1).im], [2, 3, 4])
    const zero = new NDArray(Float32Array.of(7), [])
    assert.deepEqual([zero.ndim, zero.size, zero.get(), zero.toArray()], [0, 1, 7, 7])
    const big = new NDArray(BigInt64Array.of(1n, 2n))
    assert.deepEqual([big.dtype, big.shape], ['int64', [2]])
  })

  test('the constructor and accessors validate their input', () => {
    assert.throws(() => new NDArray([1, 2, 3]), TypeError)
    assert.throws(() => new NDArray(new DataView(new ArrayBuffer(8))), TypeError)
    assert.throws(() => new NDArray(new Float64Array(2), [2], 'float128'), { name: 'TypeError', message: /unknown dtype/ })
    assert.throws(() => new NDArray(new Float32Array(2), [2], 'float64'), { name: 'TypeError', message: /Float64Array/ })
    assert.throws(() => new NDArray(new Float64Array(6), [2, -3]), TypeError)
    assert.throws(() => new NDArray(new Float64Array(6), [2, 1.5]), TypeError)
    assert.throws(() => new NDArray(new Float64Array(6), '6'), TypeError)
    assert.throws(() => new NDArray(new Float64Array(6), [4, 2]), { name: 'RangeError', message: /8 elements/ })
    assert.throws(() => new NDArray(new Float64Array(3), [2], 'complex128'), RangeError)
    const a = new NDArray(new Float64Array(6), [2, 3])
    assert.throws(() => a.get(1), { name: 'RangeError', message: /array has 2/ })
    assert.throws(() => a.get(2, 0), { name: 'RangeError', message: /out of bounds for axis 0/ })
    assert.throws(() => a.get(0, -4), { name: 'RangeError', message: /axis 1/ })
    assert.throws(() => a.get(0, 0.5), RangeError)
    assert.throws(() => a.row(5), RangeError)
    assert.throws(() => new NDArray(Float64Array.of(1), []).row(0), RangeError)
  })
})
