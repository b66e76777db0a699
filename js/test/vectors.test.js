// The golden vectors of spec/vectors, read by the JS side (tests/test_vectors.py reads them too).
//
// values.json: each frame, fed to FrameReader whole, split in two at every byte
// boundary and one byte at a time, decodes to the expected value; the expected
// value encodes back to the same bytes; and it survives JS -> Python -> JS
// through a real worker. messages.json: each frame the worker sends decodes, with the
// decode context a Worker uses, to its message (a HANDLE becomes a PyHandle of that
// worker); each frame the client sends is what the client's own encoder for that kind
// writes, byte for byte. errors.json: each malformed frame fails where its tag says
// (spec/vectors/README.md).

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { after, describe, test } from 'node:test'
import { Refs, decodeMessage, encodeAnswer, encodeCall, encodeMessage, markAhead } from '../src/codec.js'
import { ProtocolError, SerializationError } from '../src/errors.js'
import { HandleTable, handleState } from '../src/handle.js'
import { Python } from '../src/index.js'
import { loadArrow } from '../src/arrow.js'
import { Complex, DTYPES, NDArray, STANDALONE } from '../src/ndarray.js'
import * as protocol from '../src/protocol.js'
import {
  CALL, CALLBACK_ERROR, CALLBACK_RESULT, CANCEL, FrameReader, HELLO, RELEASE, STREAM_CLOSE, STREAM_CREDIT, WITHDRAW,
} from '../src/protocol.js'

const vectors = new URL('../../spec/vectors/', import.meta.url)
const VALUES = JSON.parse(readFileSync(new URL('values.json', vectors), 'utf8'))
const MESSAGES = JSON.parse(readFileSync(new URL('messages.json', vectors), 'utf8'))
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

// A $handle as a reader must decode it (assertSame compares a PyHandle with it).
class ExpectedHandle {
  constructor(body, table) {
    // A client sends the id only; the worker adds the type and repr.
    Object.assign(this, typeof body === 'number' ? { id: body } : body)
    this.table = table
  }
}

// What $handle and $callback stand for: values.json has neither; messages.json
// passes its own (expected PyHandles when decoding, real ones and functions when encoding).
const NO_REFS = {
  handle: () => assert.fail('a $handle outside messages.json'),
  callback: () => assert.fail('a $callback outside messages.json'),
}

// The JS value a tagged JSON value stands for, by the JS decoding rules.
function fromTagged(value, refs = NO_REFS) {
  if (Array.isArray(value)) return value.map((v) => fromTagged(v, refs))
  if (value === null || typeof value !== 'object') return value
  const keys = Object.keys(value)
  if (keys.length === 1 && keys[0].startsWith('$')) return fromTag(keys[0], value[keys[0]], refs)
  return Object.fromEntries(keys.map((k) => [k, fromTagged(value[k], refs)]))
}

function fromTag(key, body, refs) {
  switch (key) {
    case '$int': return BigInt(body)
    case '$float': return FLOATS[body]
    case '$bytes': return Buffer.from(body, 'hex')
    case '$complex': return new Complex(fromTagged(body[0]), fromTagged(body[1]))
    case '$date': return new Date(body)
    case '$handle': return refs.handle(body)
    case '$callback': return refs.callback(body)
    case '$map': {
      const entries = body.map(([k, v]) => [fromTagged(k, refs), fromTagged(v, refs)])
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
  for (const x of data.map((v) => fromTagged(v))) {
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
  if (expected instanceof ExpectedHandle) {
    // A PyHandle (behind its Proxy) bound to the table the decode context gave it.
    const state = handleState(actual)
    if (state === undefined) fail(`${String(actual)}, expected a PyHandle`)
    if (state.table !== expected.table) fail('a PyHandle of another table')
    assert.deepEqual(
      { id: actual.id, type: actual.type, repr: actual.repr },
      { id: expected.id, type: expected.type, repr: expected.repr },
      path,
    )
    return
  }
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

// -- messages.json -----------------------------------------------------------------------

// Kinds a Worker writes with encodeMessage as they are (worker.js: the HELLO, cancel(),
// credit(), closeStream(), #release(), #answerError()); CALL goes through encodeCall
// (python.js #prepare) and CALLBACK_RESULT through encodeAnswer (worker.js #answerValue).
const PLAIN_KINDS = new Set([HELLO, CANCEL, RELEASE, CALLBACK_ERROR, STREAM_CREDIT, STREAM_CLOSE, WITHDRAW])

// A handle table like a Worker's (worker.js), for a worker that never runs.
function workerTable() {
  return new HandleTable({
    pid: 4242,
    client: { invoke: () => assert.fail('a vector handle is never called') },
    send: () => {},
  })
}

// The callback ids of a tagged value in the order they occur (the wire order).
function callbackIds(value, ids = []) {
  if (Array.isArray(value)) value.forEach((v) => callbackIds(v, ids))
  else if (value !== null && typeof value === 'object') {
    if (Object.keys(value).length === 1 && '$callback' in value) {
      if (!ids.includes(value.$callback)) ids.push(value.$callback)
    } else Object.values(value).forEach((v) => callbackIds(v, ids))
  }
  return ids
}

// Encode a client message as the client does for its kind. `message` holds real PyHandles
// (of `table`) and functions; `ids` are the callback ids the client hands out, in order.
function encodeAsTheClient(message, table, ids) {
  const [kind, id] = message
  if (PLAIN_KINDS.has(kind)) return { chunks: encodeMessage(message) }
  if (kind === CALLBACK_RESULT) {
    assert.equal(message.length, 3)
    const refs = new Refs({ table })
    return { chunks: encodeAnswer(CALLBACK_RESULT, id, message[2], refs), refs }
  }
  assert.equal(kind, CALL, `the client sends no message of kind ${kind}`)
  const [, , target, args, kwargs, options] = message
  // #prepare passes options only when there are some, and kwargs as an object or undefined.
  assert.ok(message.length === 5 || (message.length === 6 && options !== null), 'the JS client writes options only as a map')
  const next = [...ids]
  const refs = new Refs({ nextCallbackId: () => next.shift() })
  // `ahead` is added as the call is sent (Worker#send), to the frame the call was encoded in.
  const { ahead, ...others } = message.length === 6 ? options : {}
  const encoded = encodeCall(id, target, args, kwargs ?? undefined, message.length === 6 && Object.keys(others).length ? others : undefined, refs)
  assert.equal(next.length, 0, 'every callback id was handed out')
  return { chunks: ahead ? markAhead(encoded) : encoded, refs }
}

test('messages.json covers every kind from its side', () => {
  const names = new Set(MESSAGES.map((c) => c.name))
  assert.equal(names.size, MESSAGES.length, 'unique names')
  const client = new Set(MESSAGES.filter((c) => c.from === 'client').map((c) => c.message[0]))
  const worker = new Set(MESSAGES.filter((c) => c.from === 'worker').map((c) => c.message[0]))
  assert.deepEqual([...client].sort((a, b) => a - b), [0, 1, 4, 5, 7, 8, 11, 12, 15])
  assert.deepEqual([...worker].sort((a, b) => a - b), [0, 2, 3, 6, 9, 10, 13, 14, 16])
})

describe('messages.json: the worker\'s frames decode', () => {
  for (const c of MESSAGES.filter((m) => m.from === 'worker')) {
    test(c.name, () => {
      const table = workerTable()
      // The context Worker#decodeContext passes: a HANDLE becomes a PyHandle of this worker.
      const context = { handle: (id, type, repr) => table.adopt(id, type, repr) }
      const expected = fromTagged(c.message, {
        handle: (body) => new ExpectedHandle(body, table),
        callback: (id) => assert.fail(`a worker never sends a CALLBACK (${id})`),
      })
      const { frames, reader } = readFrames([Buffer.from(c.hex, 'hex')])
      assert.equal(frames.length, 1, 'exactly one frame')
      assert.ok(reader.idle)
      assertSame(decodeMessage(frames[0].header, frames[0].buffers, context), expected, 'message')
      const handles = [...JSON.stringify(c.message).matchAll(/"\$handle"/g)].length
      assert.equal(table.size, handles, 'each HANDLE made one live PyHandle')
    })
  }
})

describe('messages.json: the client\'s frames are what the JS client writes', () => {
  for (const c of MESSAGES.filter((m) => m.from === 'client')) {
    test(c.name, () => {
      const table = workerTable()
      const handles = new Map() // id -> PyHandle: as the client got them from the worker
      const functions = new Map() // callback id -> function
      const message = fromTagged(c.message, {
        handle: (id) => {
          if (!handles.has(id)) handles.set(id, table.adopt(id, 'builtins.object', `<object ${id}>`))
          return handles.get(id)
        },
        callback: (id) => {
          if (!functions.has(id)) functions.set(id, () => id)
          return functions.get(id)
        },
      })
      const { chunks, refs } = encodeAsTheClient(message, table, callbackIds(c.message))
      assert.ok(!(chunks instanceof Promise), 'no Arrow table to wait for')
      assert.equal(Buffer.concat(chunks).toString('hex'), c.hex)
      // What the client keeps of the message: the handles it names, and its functions by id.
      assert.deepEqual(new Set([...refs?.handles ?? []].map((s) => s.id)), new Set(handles.keys()))
      assert.deepEqual(refs?.callbacks ?? new Map(), functions)
    })
  }
})

test('a client frame holding a CALLBACK is a protocol error for a client reader', () => {
  // A worker never sends one: a client reader that meets one cannot trust the stream.
  const withCallbacks = MESSAGES.filter((c) => c.from === 'client' && callbackIds(c.message).length > 0)
  assert.ok(withCallbacks.length > 0)
  for (const c of withCallbacks) {
    const { frames } = readFrames([Buffer.from(c.hex, 'hex')])
    assert.throws(() => decodeMessage(frames[0].header, frames[0].buffers), ProtocolError, c.name)
  }
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

// -- docs/protocol.md's kind table --------------------------------------------------------

describe('docs/protocol.md', () => {
  test('the message kind table is protocol.js\'s kinds, and the rule under it names the highest', () => {
    const text = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
    const rows = [...text.matchAll(/^\| (\d+) \| ([A-Z_]+) \| ([^|]+?) \|/gm)].map((m) => [Number(m[1]), m[2]])
    // protocol.js's message kinds: its small integer constants, less the ones that are not kinds.
    const notKinds = new Set(['PROTOCOL_VERSION', 'PREFIX_SIZE'])
    const kinds = Object.entries(protocol)
      .filter(([name, value]) => Number.isInteger(value) && value >= 0 && value < 256 &&
        !name.startsWith('EXT_') && !notKinds.has(name))
      .map(([name, value]) => [value, name])
      .sort((a, b) => a[0] - b[0])
    assert.deepEqual(rows, kinds)
    assert.ok(text.includes(`any kind above ${rows.at(-1)[0]} MUST`))
  })
})
