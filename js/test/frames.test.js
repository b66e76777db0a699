// Frames: the incremental FrameReader under every split, size limits, bad input; output line splitting.

import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { after, describe, test } from 'node:test'
import { decodeMessage, encodeMessage } from '../src/codec.js'
import { ProtocolError, Python, SerializationError } from '../src/index.js'
import { forEachLine } from '../src/lines.js'
import { FrameReader } from '../src/protocol.js'
import { fixturesDir } from './helpers.js'

// A frame built by hand from the layout in docs/protocol.md (not by the encoder under test).
function rawFrame(header, buffers, { magic = 'PF' } = {}) {
  const prefix = Buffer.alloc(8 + 8 * buffers.length)
  prefix.write(magic, 0, 'latin1')
  prefix.writeUInt16LE(buffers.length, 2)
  prefix.writeUInt32LE(header.length, 4)
  buffers.forEach((b, i) => prefix.writeBigUInt64LE(BigInt(b.length), 8 + 8 * i))
  return Buffer.concat([prefix, header, ...buffers])
}

// Feed `chunks` to a fresh reader; return the frames it produced as { header, buffers }.
function read(chunks, options) {
  const frames = []
  const reader = new FrameReader((header, buffers) => frames.push({ header: Buffer.from(header), buffers }), options)
  for (const chunk of chunks) reader.push(chunk)
  return { frames, reader }
}

// MessagePack [2, 1, nil] and a longer header with a string in it.
const HEADER_SMALL = Buffer.from([0x93, 0x02, 0x01, 0xc0])
const HEADER_TEXT = Buffer.concat([Buffer.from([0x93, 0x02, 0x02, 0xad]), Buffer.from('héllo, frames')])
const BUFFERS = [
  Buffer.from([1, 2, 3]),
  Buffer.alloc(0),
  Buffer.from(Array.from({ length: 17 }, (_, i) => 100 + i)),
  Buffer.from([9, 8, 7, 6, 5, 4, 3, 2]),
  Buffer.from([42]),
]
const FRAME = rawFrame(HEADER_TEXT, BUFFERS)

function checkFrame(frame, header, buffers) {
  assert.deepEqual(frame.header, header)
  assert.equal(frame.buffers.length, buffers.length)
  frame.buffers.forEach((b, i) => {
    assert.ok(b instanceof Uint8Array)
    assert.deepEqual(Buffer.from(b.buffer, b.byteOffset, b.byteLength), buffers[i], `buffer ${i}`)
    assert.equal(b.byteOffset % 8, 0, `buffer ${i} is 8-byte aligned`)
  })
}

describe('FrameReader', () => {
  test('a whole frame in one chunk', () => {
    const { frames, reader } = read([FRAME])
    assert.equal(frames.length, 1)
    checkFrame(frames[0], HEADER_TEXT, BUFFERS)
    assert.equal(reader.idle, true)
  })

  test('a frame split in two at every byte boundary', () => {
    for (let k = 0; k <= FRAME.length; k++) {
      const { frames, reader } = read([FRAME.subarray(0, k), FRAME.subarray(k)])
      assert.equal(frames.length, 1, `split at ${k}`)
      checkFrame(frames[0], HEADER_TEXT, BUFFERS)
      assert.equal(reader.idle, true)
    }
  })

  test('a frame split in three at every pair of boundaries', () => {
    for (let i = 1; i < FRAME.length; i++) {
      for (let j = i; j < FRAME.length; j++) {
        const { frames } = read([FRAME.subarray(0, i), FRAME.subarray(i, j), FRAME.subarray(j)])
        assert.equal(frames.length, 1, `split at ${i}, ${j}`)
        checkFrame(frames[0], HEADER_TEXT, BUFFERS)
      }
    }
  })

  test('a frame fed one byte at a time', () => {
    const frames = []
    const reader = new FrameReader((header, buffers) => frames.push({ header: Buffer.from(header), buffers }))
    for (let i = 0; i < FRAME.length; i++) {
      assert.equal(frames.length, 0, `no frame before its last byte (at ${i})`)
      reader.push(FRAME.subarray(i, i + 1))
      if (i < FRAME.length - 1) assert.equal(reader.idle, false)
    }
    assert.equal(frames.length, 1)
    checkFrame(frames[0], HEADER_TEXT, BUFFERS)
  })

  test('several frames in one chunk, and split anywhere across them', () => {
    const second = rawFrame(HEADER_SMALL, [])
    const third = rawFrame(HEADER_SMALL, [Buffer.alloc(0), Buffer.from('abc')])
    const stream = Buffer.concat([FRAME, second, third, FRAME])
    for (let k = 0; k <= stream.length; k += 3) {
      const { frames } = read([stream.subarray(0, k), stream.subarray(k)])
      assert.equal(frames.length, 4, `split at ${k}`)
      checkFrame(frames[0], HEADER_TEXT, BUFFERS)
      checkFrame(frames[1], HEADER_SMALL, [])
      checkFrame(frames[2], HEADER_SMALL, [Buffer.alloc(0), Buffer.from('abc')])
      checkFrame(frames[3], HEADER_TEXT, BUFFERS)
    }
  })

  test('chunks that are views into a larger buffer are read at their own offset', () => {
    const big = Buffer.concat([Buffer.from('garbage-before'), FRAME, Buffer.from('garbage-after')])
    const view = big.subarray(14, 14 + FRAME.length)
    const { frames } = read([view.subarray(0, 30), view.subarray(30)])
    checkFrame(frames[0], HEADER_TEXT, BUFFERS)
  })

  test('a frame from the encoder decodes back to the same values', () => {
    const value = [Float64Array.of(1.5, -2), Int8Array.of(-1, 2, 3), new Float32Array(0), 'text', Uint16Array.of(65535)]
    const chunks = encodeMessage([2, 9, value])
    const bytes = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)))
    for (let k = 0; k <= bytes.length; k++) {
      const { frames } = read([bytes.subarray(0, k), bytes.subarray(k)])
      const [kind, id, back] = decodeMessage(frames[0].header, frames[0].buffers)
      assert.deepEqual([kind, id], [2, 9])
      assert.deepEqual(back, value, `split at ${k}`)
    }
  })

  test('a declared header length over the limit is refused from the prefix alone', () => {
    const prefix = Buffer.alloc(8)
    prefix.write('PF', 0, 'latin1')
    prefix.writeUInt32LE(0xffffffff, 4)
    let called = false
    const reader = new FrameReader(() => { called = true }, { maxMessageBytes: 1 << 20 })
    assert.throws(() => reader.push(prefix), (error) => error instanceof ProtocolError && /exceeds the limit/.test(error.message))
    assert.equal(called, false)
  })

  test('declared buffer lengths over the limit are refused before any body byte arrives', () => {
    for (const lengths of [[2n ** 64n - 1n], [2n ** 53n], [600n, 600n], [1n, 2n ** 40n]]) {
      const head = Buffer.alloc(8 + 8 * lengths.length)
      head.write('PF', 0, 'latin1')
      head.writeUInt16LE(lengths.length, 2)
      head.writeUInt32LE(4, 4)
      lengths.forEach((n, i) => head.writeBigUInt64LE(n, 8 + 8 * i))
      const reader = new FrameReader(() => assert.fail('no frame'), { maxMessageBytes: 1024 })
      assert.throws(() => reader.push(head), ProtocolError, `lengths ${lengths}`)
    }
  })

  test('a frame exactly at the limit is accepted', () => {
    const header = HEADER_SMALL
    const body = Buffer.alloc(100 - header.length, 7)
    const { frames } = read([rawFrame(header, [body])], { maxMessageBytes: 100 })
    checkFrame(frames[0], header, [body])
    assert.throws(() => read([rawFrame(header, [Buffer.alloc(body.length + 1)])], { maxMessageBytes: 100 }), ProtocolError)
  })

  test('bad magic is a ProtocolError', () => {
    for (const magic of ['XX', 'pf', 'FP']) {
      assert.throws(() => read([rawFrame(HEADER_SMALL, [], { magic })]), (error) => {
        assert.ok(error instanceof ProtocolError)
        assert.equal(error.code, 'PYFERRY_PROTOCOL')
        assert.match(error.message, /magic/)
        return true
      })
    }
    // Also when the bad prefix arrives one byte at a time.
    const reader = new FrameReader(() => assert.fail('no frame'))
    const bad = rawFrame(HEADER_SMALL, [], { magic: 'GE' })
    assert.throws(() => { for (let i = 0; i < bad.length; i++) reader.push(bad.subarray(i, i + 1)) }, ProtocolError)
  })

  test('an empty header is a ProtocolError', () => {
    assert.throws(() => read([rawFrame(Buffer.alloc(0), [])]), ProtocolError)
  })
})

describe('decodeMessage', () => {
  const ndarrayExt = (index, code, shape) => {
    const payload = Buffer.alloc(8 + 8 * shape.length)
    payload.writeUInt32LE(index, 0)
    payload[4] = code
    payload[5] = shape.length
    shape.forEach((n, i) => payload.writeBigUInt64LE(BigInt(n), 8 + 8 * i))
    // ext 8 bit: c7 len type payload
    return Buffer.concat([Buffer.from([0xc7, payload.length, 1]), payload])
  }
  // A MessagePack array header for `count` items, then the items' bytes.
  const message = (count, ...items) => Buffer.concat([Buffer.from([0x90 | count]), ...items])

  test('malformed headers and arrays are SerializationErrors, not ProtocolErrors', () => {
    const f64x2 = new Uint8Array(new ArrayBuffer(16))
    assert.deepEqual([...decodeMessage(message(3, Buffer.from([2, 1]), ndarrayExt(0, 11, [2])), [f64x2])[2]], [0, 0])
    const cases = {
      'a buffer index past the frame': [message(3, Buffer.from([2, 1]), ndarrayExt(1, 11, [2])), [f64x2]],
      'a shape that does not match the buffer': [message(3, Buffer.from([2, 1]), ndarrayExt(0, 11, [3])), [f64x2]],
      'a shape dimension past 2**53': [message(3, Buffer.from([2, 1]), ndarrayExt(0, 11, [0, 2 ** 60])), [new Uint8Array(0)]],
      'an unknown dtype code': [message(3, Buffer.from([2, 1]), ndarrayExt(0, 99, [2])), [f64x2]],
      'a complex extension of 1 byte': [message(3, Buffer.from([2, 1]), Buffer.from([0xd4, 0x02, 0x00])), []],
      'a handle extension of 1 byte': [message(3, Buffer.from([2, 1]), Buffer.from([0xd4, 0x03, 0x00])), []],
      'a handle id of 0': [message(3, Buffer.from([2, 1]), Buffer.from([0xd7, 0x03, 0, 0, 0, 0, 0, 0, 0, 0])), []],
      'a handle with invalid UTF-8 text': [message(3, Buffer.from([2, 1]), Buffer.from([0xc7, 10, 0x03, 1, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0x28])), []],
      'an Arrow extension of 1 byte': [message(3, Buffer.from([2, 1]), Buffer.from([0xd4, 0x05, 0x00])), []],
      'an Arrow buffer index past the frame': [message(3, Buffer.from([2, 1]), Buffer.from([0xd6, 0x05, 1, 0, 0, 0])), [f64x2]],
      'a time unit byte of 0': [message(3, Buffer.from([2, 1]), Buffer.from([0xd7, 0x01, 0, 0, 0, 0, 14, 0, 0, 0])), [f64x2]],
      'a timestamp extension of 5 bytes': [message(3, Buffer.from([2, 1, 0xc7, 0x05, 0xff]), Buffer.alloc(5)), []],
      'bytes after the value': [Buffer.concat([message(3, Buffer.from([2, 1, 0xc0])), Buffer.from([0xc0])]), []],
      'a truncated string': [message(3, Buffer.from([2, 1]), Buffer.from([0xa5, 0x61])), []],
      'invalid UTF-8': [message(3, Buffer.from([2, 1]), Buffer.from([0xa2, 0xc3, 0x28])), []],
      'an array count larger than the data': [Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), []],
      'a reserved byte': [Buffer.from([0xc1]), []],
      'an empty header': [Buffer.alloc(0), []],
      'nesting deeper than 512': [Buffer.concat([Buffer.alloc(600, 0x91), Buffer.from([0xc0])]), []],
    }
    for (const [what, [header, buffers]] of Object.entries(cases)) {
      assert.throws(() => decodeMessage(header, buffers), (error) => {
        assert.ok(error instanceof SerializationError, `${what}: ${error.stack}`)
        assert.ok(!(error instanceof ProtocolError), what)
        return true
      }, what)
    }
  })

  test('extension types outside version 1 are ProtocolErrors, wherever they sit', () => {
    const f64x2 = new Uint8Array(new ArrayBuffer(16))
    const cases = [
      ['an unknown type', message(3, Buffer.from([2, 1]), Buffer.from([0xd4, 0x63, 0x00])), /unknown extension type 99/],
      // Only the client sends CALLBACKs: one arriving at the client breaks the protocol.
      ['a JS callback', message(3, Buffer.from([2, 1]), Buffer.from([0xd7, 0x04, 1, 0, 0, 0, 0, 0, 0, 0])), /CALLBACK \(extension type 4\) in a message to the client/],
      ['a malformed JS callback', message(3, Buffer.from([2, 1]), Buffer.from([0xd4, 0x04, 0x00])), /CALLBACK \(extension type 4\)/],
      ['type 0', message(3, Buffer.from([2, 1]), Buffer.from([0xd4, 0x00, 0x00])), /unknown extension type 0/],
      ['type -128', message(3, Buffer.from([2, 1]), Buffer.from([0xd4, 0x80, 0x00])), /unknown extension type -128/],
      ['a map key', message(3, Buffer.from([2, 1, 0x81, 0xd4, 0x2a, 0x00, 0xc0])), /type 42/],
      ['after a malformed ndarray', message(3, Buffer.from([2, 1, 0x92]), ndarrayExt(5, 11, [2]), Buffer.from([0xd4, 0x09, 0x00])), /type 9/],
      ['before bytes that do not decode', message(3, Buffer.from([2, 1, 0x92, 0xd4, 0x09, 0x00, 0xc1])), /type 9/],
    ]
    for (const [what, header, pattern] of cases) {
      assert.throws(() => decodeMessage(header, [f64x2]), (error) => {
        assert.ok(error instanceof ProtocolError, `${what}: ${error.stack}`)
        assert.equal(error.code, 'PYFERRY_PROTOCOL')
        assert.match(error.message, pattern)
        return true
      }, what)
    }
  })

  test('open arrays and maps together cannot claim more items than there are bytes left', () => {
    // Regression: each level used to be checked alone, so 600 nested array16s each claiming
    // 65535 items in a 72 KB header allocated 512 levels of 65535 slots (over 250 MiB).
    const nested = Buffer.concat([Buffer.alloc(600 * 3, Buffer.from([0xdc, 0xff, 0xff])), Buffer.alloc(70_000, 0xc0)])
    assert.throws(() => decodeMessage(nested, []), { name: 'SerializationError', message: /65535 elements declared at offset 6, .* and 65534 more/ })
    const maps = Buffer.concat([Buffer.from([0x82, 0x91, 0xc0, 0x92, 0xc0, 0xc0, 0xa1, 0x6b, 0xdc, 0x00, 0x03]), Buffer.from([1, 2, 3])])
    assert.deepEqual(decodeMessage(maps, []), new Map([[[null], [null, null]], ['k', [1, 2, 3]]]))
    // Exactly as many items as bytes, nested: still fine.
    assert.deepEqual(decodeMessage(Buffer.from([0x92, 0x91, 0xc0, 0x91, 0x90]), []), [[null], [[]]])
    assert.throws(() => decodeMessage(Buffer.from([0x92, 0x92, 0xc0]), []), { name: 'SerializationError', message: /truncated/ })
  })

  test('the first malformed value is the one reported', () => {
    const header = message(3, Buffer.from([0xd4, 0x02, 0x00, 0xd5, 0x02, 0x00, 0x00, 0xc1]))
    assert.throws(() => decodeMessage(header, []), { name: 'SerializationError', message: /complex extension of 1 bytes/ })
  })
})

describe('limits with a real worker', () => {
  const py = new Python({ path: [fixturesDir], maxMessageBytes: 4096 })
  after(() => py.close())

  test('a call over maxMessageBytes is refused before it is sent; the worker keeps serving', async () => {
    const { pid } = await py.start()
    await assert.rejects(py.call('probe.identity', new Float64Array(1000)), (error) => {
      assert.ok(error instanceof SerializationError, error.stack)
      assert.match(error.message, /4096/)
      assert.equal(error.path, 'args')
      return true
    })
    assert.equal(await py.call('os.getpid'), pid)
    assert.deepEqual([...(await py.call('probe.identity', new Float64Array(100)))], new Array(100).fill(0))
  })

  test('a result over maxMessageBytes fails that call with a SerializationError at result; the worker keeps serving', async () => {
    const { pid } = await py.start()
    await assert.rejects(py.call('numpy.ones', 1000), (error) => {
      assert.ok(error instanceof SerializationError, error.stack)
      assert.match(error.message, /4096/)
      assert.equal(error.path, 'result')
      return true
    })
    assert.equal(await py.call('os.getpid'), pid)
    assert.deepEqual([...(await py.call('numpy.ones', 100))], new Array(100).fill(1))
  })
})

describe('output lines', () => {
  // Push `chunks` through forEachLine; resolve with the lines once the stream ends.
  function lines(chunks) {
    return new Promise((resolve) => {
      const stream = new PassThrough()
      const out = []
      forEachLine(stream, (line) => out.push(line))
      stream.on('end', () => resolve(out))
      for (const chunk of chunks) stream.write(chunk)
      stream.end()
    })
  }

  test('lines split anywhere, even inside a multi-byte character, come out whole', async () => {
    const text = Buffer.from('one\r\ntwo €\nthree 😀\nlast without newline')
    for (let k = 0; k <= text.length; k++) {
      assert.deepEqual(await lines([text.subarray(0, k), text.subarray(k)]), ['one', 'two €', 'three 😀', 'last without newline'], `split at ${k}`)
    }
  })

  test('a line over 64 KiB is emitted in pieces of at most 64 KiB, however it arrives', async () => {
    const long = 'x'.repeat(70_000)
    for (const chunks of [[`${long}\n`], [long.slice(0, 40_000), `${long.slice(40_000)}\nnext\n`]]) {
      const out = await lines(chunks.map((c) => Buffer.from(c)))
      const pieces = out.filter((l) => l !== 'next')
      assert.equal(pieces.join(''), long)
      assert.ok(pieces.every((p) => p.length <= 64 * 1024), `piece lengths ${pieces.map((p) => p.length)}`)
    }
  })
})
