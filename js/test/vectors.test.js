// The golden vectors of spec/vectors, read by the JS side (tests/test_vectors.py reads them too).
//
// values.json: each frame, fed to FrameReader whole, split in two at every byte
// boundary and one byte at a time, decodes to the expected value; the expected
// value encodes back to the same bytes; and it survives JS -> Python -> JS
// through a real worker. errors.json: each malformed frame fails where its tag says
// (spec/vectors/README.md).

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { after, describe, test } from 'node:test'
import { decodeMessage, encodeMessage } from '../src/codec.js'
import { ProtocolError, SerializationError } from '../src/errors.js'
import { Python } from '../src/index.js'
import { loadArrow } from '../src/arrow.js'
import { Complex, DTYPES, NDArray, STANDALONE } from '../src/ndarray.js'
import { FrameReader } from '../src/protocol.js'

const vectors = new URL('../../spec/vectors/', import.meta.url)
const VALUES = JSON.parse(readFileSync(new URL('values.json', vectors), 'utf8'))
const ERRORS = JSON.parse(readFileSync(new URL('errors.json', vectors), 'utf8'))
const FIXTURES = fileURLToPath(new URL('../../tests/fixtures/', import.meta.url))

// The ARROW error vectors (a buffer that is no IPC stream) fail inside decodeMessage once
// apache-arrow has loaded; before that a table is a Promise that rejects later (see arrow.js).
await loadArrow()

// Vectors whose Python bytes the JS encoder cannot reproduce, because JS has no
// separate value for what Python sent. Each must still decode to the expected
// value, and the JS bytes must decode back to that value too.
const ENCODE_EXCEPTIONS = {
  'float 2.0': 'an integral float is a JS number like any integer: JS writes int 2, not float64 2.0',
  'float 0.0': 'an integral float is a JS number like any integer: JS writes int 0, not float64 0.0',
  'dict integer-like str keys':
    'JS objects put integer-like keys ("2", "10") first in numeric order, so the map order changes',
}

// Values Python writes but cannot read back, by design (docs/protocol.md,
// "Behaviour at the edges"): sending them to the worker is a SerializationError.
const ONE_WAY = {
  'dict tuple key': 'a tuple key travels as an array, and a list cannot be a Python dict key',
}

// The 512-level limit counts the whole message. In a RESULT the value sits one
// level deep ([2, id, value]); as a CALL argument two ([1, id, target, [value]]),
// so this vector is one level too deep to send back.
const TOO_DEEP_AS_ARGUMENT = new Set(['nesting 512 levels with the message array'])

// -- the tagged JSON form (spec/vectors/README.md) ---------------------------------

const FLOATS = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 }

// The JS value a tagged JSON value stands for, by the JS decoding rules.
function fromTagged(value) {
  if (Array.isArray(value)) return value.map(fromTagged)
  if (value === null || typeof value !== 'object') return value
  const keys = Object.keys(value)
  if (keys.length === 1 && keys[0].startsWith('$')) return fromTag(keys[0], value[keys[0]])
  return Object.fromEntries(keys.map((k) => [k, fromTagged(value[k])]))
}

function fromTag(key, body) {
  switch (key) {
    case '$int': return BigInt(body)
    case '$float': return FLOATS[body]
    case '$bytes': return Buffer.from(body, 'hex')
    case '$complex': return new Complex(fromTagged(body[0]), fromTagged(body[1]))
    case '$date': return new Date(body)
    case '$map': {
      const entries = body.map(([k, v]) => [fromTagged(k), fromTagged(v)])
      // A map whose keys are all strings arrives as a plain object.
      if (entries.every(([k]) => typeof k === 'string')) return Object.fromEntries(entries)
      return new Map(entries)
    }
    case '$ndarray': return ndarrayFromTagged(body)
    default: throw new Error(`unknown tag ${key}`)
  }
}

function ndarrayFromTagged({ dtype, shape, data }) {
  const [Type, per] = DTYPES[dtype]
  const flat = []
  for (const x of data.map(fromTagged)) {
    if (per === 2) flat.push(x.re, x.im)
    else if (dtype === 'bool') flat.push(x ? 1 : 0)
    else if (Type === BigInt64Array || Type === BigUint64Array) flat.push(BigInt(x))
    else flat.push(x)
  }
  const typed = Type.from(flat)
  // The JS decoding rule: 1-d arrays of a dtype with its own TypedArray arrive as that
  // TypedArray; time arrays (tagged as their int64 counts) come as NDArray like bool and uint8.
  if (shape.length === 1 && STANDALONE.has(dtype)) return typed
  return new NDArray(typed, shape, dtype)
}

// -- exact comparison ---------------------------------------------------------

function bytesOf(view) {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
}

// Exact equality: number vs BigInt, -0 and NaN, TypedArray class and bytes, Map and key order.
function assertSame(actual, expected, path = 'value') {
  const fail = (why) => assert.fail(`${path}: ${why}`)
  if (expected === null || typeof expected !== 'object') {
    if (typeof actual !== typeof expected) fail(`${typeof actual} ${String(actual)}, expected ${typeof expected}`)
    if (!Object.is(actual, expected)) fail(`${String(actual)} !== ${String(expected)}`)
    return
  }
  if (actual === null || typeof actual !== 'object') fail(`got ${String(actual)}, expected an object`)
  if (Object.getPrototypeOf(actual) !== Object.getPrototypeOf(expected)) {
    fail(`a ${actual.constructor?.name}, expected a ${expected.constructor?.name}`)
  }
  if (ArrayBuffer.isView(expected)) {
    assert.equal(actual.length, expected.length, `${path}: length`)
    if (!bytesOf(actual).equals(bytesOf(expected))) fail(`bytes ${bytesOf(actual).toString('hex')} != ${bytesOf(expected).toString('hex')}`)
  } else if (expected instanceof NDArray) {
    assert.equal(actual.dtype, expected.dtype, `${path}: dtype`)
    assert.deepEqual(actual.shape, expected.shape, `${path}: shape`)
    assertSame(actual.data, expected.data, `${path}.data`)
  } else if (expected instanceof Complex) {
    assertSame(actual.re, expected.re, `${path}.re`)
    assertSame(actual.im, expected.im, `${path}.im`)
  } else if (expected instanceof Date) {
    assertSame(actual.getTime(), expected.getTime(), `${path}.getTime()`)
  } else if (expected instanceof Map) {
    const a = [...actual]
    const e = [...expected]
    assert.equal(a.length, e.length, `${path}: size`)
    e.forEach(([k, v], i) => {
      assertSame(a[i][0], k, `${path} key ${i}`)
      assertSame(a[i][1], v, `${path}.get(${String(k)})`)
    })
  } else if (Array.isArray(expected)) {
    assert.equal(actual.length, expected.length, `${path}: length`)
    expected.forEach((v, i) => assertSame(actual[i], v, `${path}[${i}]`))
  } else {
    assert.deepEqual(Object.keys(actual), Object.keys(expected), `${path}: keys`)
    for (const k of Object.keys(expected)) {
      assert.ok(Object.hasOwn(actual, k), `${path}: own key ${k}`)
      assertSame(actual[k], expected[k], `${path}[${JSON.stringify(k)}]`)
    }
  }
}

// -- frames ---------------------------------------------------------------------

// Feed `chunks` to a FrameReader; return the frames it emitted and the reader.
function readFrames(chunks, options) {
  const frames = []
  const reader = new FrameReader((header, buffers) => frames.push({ header, buffers }), options)
  for (const chunk of chunks) reader.push(chunk)
  return { frames, reader }
}

function decodeOne(chunks) {
  const { frames, reader } = readFrames(chunks)
  assert.equal(frames.length, 1, 'exactly one frame')
  assert.ok(reader.idle, 'the reader is between frames afterwards')
  return decodeMessage(frames[0].header, frames[0].buffers)
}

function checkDecoded(message, expected) {
  assert.ok(Array.isArray(message) && message.length === 3, 'a RESULT message [2, 7, value]')
  assert.equal(message[0], 2)
  assert.equal(message[1], 7)
  assertSame(message[2], expected)
}

// -- values.json --------------------------------------------------------------------

test('the vector files are well formed', () => {
  const names = new Set(VALUES.map((c) => c.name))
  assert.equal(names.size, VALUES.length, 'unique names')
  assert.ok(VALUES.length >= 100, `${VALUES.length} value vectors`)
  for (const name of [...Object.keys(ENCODE_EXCEPTIONS), ...Object.keys(ONE_WAY), ...TOO_DEEP_AS_ARGUMENT]) {
    assert.ok(names.has(name), `exception list names a vector that exists: ${name}`)
  }
  assert.deepEqual(new Set(ERRORS.map((c) => c.error)), new Set(['protocol', 'truncated', 'decode', 'decode-protocol']))
})

describe('values.json: decode', () => {
  for (const c of VALUES) {
    test(c.name, () => {
      checkDecoded(decodeOne([Buffer.from(c.hex, 'hex')]), fromTagged(c.value))
    })
  }
})

describe('values.json: decode split at every byte boundary, and byte by byte', () => {
  for (const c of VALUES) {
    test(c.name, () => {
      const bytes = Buffer.from(c.hex, 'hex')
      const expected = fromTagged(c.value)
      for (let i = 1; i < bytes.length; i++) {
        // Copies, so no chunk shares memory with another or with the frame.
        const head = Buffer.from(bytes.subarray(0, i))
        const tail = Buffer.from(bytes.subarray(i))
        const { frames } = readFrames([head])
        assert.equal(frames.length, 0, `no frame before byte ${i} of ${bytes.length}`)
        checkDecoded(decodeOne([head, tail]), expected)
      }
      const single = [...bytes].map((b) => Buffer.from([b]))
      checkDecoded(decodeOne(single), expected)
    })
  }
})

describe('values.json: encode to the same bytes', () => {
  for (const c of VALUES) {
    const reason = ENCODE_EXCEPTIONS[c.name]
    test(reason ? `${c.name} (exception: ${reason})` : c.name, () => {
      const expected = fromTagged(c.value)
      const actual = Buffer.concat(encodeMessage([2, 7, expected]))
      if (reason === undefined) {
        assert.equal(actual.toString('hex'), c.hex)
      } else {
        // The exception still holds (else drop it) and the JS bytes mean the same value.
        assert.notEqual(actual.toString('hex'), c.hex, 'JS now matches Python: remove the exception')
        checkDecoded(decodeOne([actual]), expected)
      }
    })
  }
})

describe('values.json: JS -> Python -> JS through a real worker', () => {
  let py = null
  let firstPid
  after(() => py?.close()) // safety net; the last test closes it with t.after()

  for (const c of VALUES) {
    test(c.name, async () => {
      const expected = fromTagged(c.value)
      py ??= new Python({ path: [FIXTURES] })
      if (ONE_WAY[c.name]) {
        await assert.rejects(py.call('echo.echo', expected), { name: 'SerializationError', message: /map key cannot be a dict key/ })
        return
      }
      if (TOO_DEEP_AS_ARGUMENT.has(c.name)) {
        await assert.rejects(py.call('echo.echo', expected), { name: 'SerializationError', message: /nesting deeper than 512/ })
        return
      }
      assertSame(await py.call('echo.echo', expected), expected)
      firstPid ??= py.info.pid
    })
  }

  test('one worker served every vector', async (t) => {
    t.after(() => py?.close())
    assert.ok(py !== null && firstPid !== undefined)
    assert.equal(await py.call('echo.echo', 'still here'), 'still here')
    assert.equal(py.info.pid, firstPid, 'the worker was not replaced during the round trips')
  })
})

// -- errors.json -----------------------------------------------------------------------

describe('errors.json', () => {
  for (const c of ERRORS) {
    test(`${c.name} (${c.error})`, () => {
      const bytes = Buffer.from(c.hex, 'hex')
      const options = { maxMessageBytes: c.maxMessageBytes }
      if (c.error === 'protocol') {
        assert.throws(() => readFrames([bytes], options), ProtocolError)
        // Refused as soon as the offending length arrives, also byte by byte.
        assert.throws(() => readFrames([...bytes].map((b) => Buffer.from([b])), options), ProtocolError)
      } else if (c.error === 'truncated') {
        // FrameReader never sees EOF: it keeps waiting, and says it is inside a frame.
        for (const chunks of [[bytes], [...bytes].map((b) => Buffer.from([b]))]) {
          const { frames, reader } = readFrames(chunks, options)
          assert.equal(frames.length, 0)
          assert.equal(reader.idle, false, 'an EOF now would be inside a frame')
        }
      } else {
        assert.ok(c.error === 'decode' || c.error === 'decode-protocol', c.error)
        const { frames, reader } = readFrames([bytes], options)
        assert.equal(frames.length, 1, 'the framing of a decode vector is valid')
        assert.ok(reader.idle)
        assert.throws(() => decodeMessage(frames[0].header, frames[0].buffers), (error) => {
          if (c.error === 'decode') {
            // One message that does not decode: not a protocol violation, the stream is in step.
            assert.ok(error instanceof SerializationError, error.stack)
            assert.ok(!(error instanceof ProtocolError))
          } else {
            assert.ok(error instanceof ProtocolError, error.stack)
            assert.match(error.message, /extension type -?\d+/)
          }
          return true
        })
      }
    })
  }
})
