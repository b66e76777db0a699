// numpy datetime64/timedelta64 arrays (dtype codes 14 and 15) and time scalars, through
// real workers; Date <-> aware datetime. Python-side checks: tests/fixtures/frames.py.

import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, describe, test } from 'node:test'
import { decodeMessage, encodeMessage } from '../src/codec.js'
import { NDArray, Python, SerializationError } from '../src/index.js'
import { TIME_UNITS } from '../src/ndarray.js'
import { FrameReader } from '../src/protocol.js'

const FIXTURES = fileURLToPath(new URL('../../tests/fixtures/', import.meta.url))
const NAT = -(2n ** 63n)
const COUNTS = [0n, 1n, -1n, 10n ** 12n, NAT] // frames.times() holds these

const py = new Python({ path: [FIXTURES] })
after(() => py.close())

function decodeFrame(chunks) {
  let message
  new FrameReader((header, buffers) => { message = decodeMessage(header, buffers) }).push(Buffer.concat(chunks))
  return message
}

describe('datetime64 and timedelta64 arrays', () => {
  test('TIME_UNITS lists the 13 units in wire order', () => {
    assert.deepEqual(TIME_UNITS, ['Y', 'M', 'W', 'D', 'h', 'm', 's', 'ms', 'us', 'ns', 'ps', 'fs', 'as'])
  })

  for (const kind of ['datetime64', 'timedelta64']) {
    test(`${kind} in every unit, NaT included, comes to JS and goes back`, async () => {
      for (const unit of TIME_UNITS) {
        const dtype = `${kind}[${unit}]`
        const arr = await py.call('frames.times', kind, unit)
        assert.ok(arr instanceof NDArray, `${dtype} arrives as an NDArray, even 1-d`)
        assert.equal(arr.dtype, dtype)
        assert.deepEqual(arr.shape, [5])
        assert.ok(arr.data instanceof BigInt64Array)
        assert.deepEqual([...arr.data], COUNTS)
        assert.equal(arr.get(4), NAT)
        assert.equal(await py.call('frames.check_times', arr, kind, unit), dtype)
      }
    })
  }

  test('an NDArray built in JS with a time dtype reaches numpy with its unit', async () => {
    const arr = new NDArray(BigInt64Array.from(COUNTS), [5], 'datetime64[ms]')
    assert.equal(await py.call('frames.check_times', arr, 'datetime64', 'ms'), 'datetime64[ms]')
    const grid = new NDArray(BigInt64Array.from([1n, 2n, 3n, NAT]), [2, 2], 'timedelta64[us]')
    assert.deepEqual(await py.call('numpy.isnat', grid).then((m) => m.toArray()), [[false, false], [false, true]])
    const back = await py.call('frames.frame_back', grid)
    assert.equal(back.dtype, 'timedelta64[us]')
    assert.deepEqual(back.shape, [2, 2])
    assert.deepEqual(back.row(1), new NDArray(BigInt64Array.from([3n, NAT]), [2], 'timedelta64[us]'))
  })

  test('numpy arithmetic on times sent from JS', async () => {
    const day = 86_400_000n
    const dates = new NDArray(BigInt64Array.from([0n, day, 10n * day]), [3], 'datetime64[ms]')
    const gaps = await py.call('numpy.diff', dates)
    assert.equal(gaps.dtype, 'timedelta64[ms]')
    assert.deepEqual([...gaps.data], [day, 9n * day])
  })

  test('the header carries the dtype code and the unit byte', () => {
    const arr = new NDArray(BigInt64Array.from([1n]), [1], 'timedelta64[ns]')
    const [prefix, header] = encodeMessage([2, 7, arr])
    assert.equal(prefix.readUInt16LE(2), 1, 'one buffer')
    const ext = header.subarray(header.length - 18) // fixext 16: d8 01 + 16 payload bytes
    assert.deepEqual([...ext.subarray(0, 10)], [0xd8, 0x01, 0, 0, 0, 0, 15, 1, 10, 0])
  })

  test('a bad unit byte is a decode error', () => {
    for (const [code, unit] of [[14, 0], [15, 14], [14, 255]]) {
      const payload = Buffer.from([0, 0, 0, 0, code, 1, unit, 0, 1, 0, 0, 0, 0, 0, 0, 0])
      const header = Buffer.concat([Buffer.from([0x93, 0x02, 0x07, 0xd8, 0x01]), payload])
      const prefix = Buffer.alloc(16)
      prefix.write('PF', 0, 'latin1')
      prefix.writeUInt16LE(1, 2)
      prefix.writeUInt32LE(header.length, 4)
      prefix.writeBigUInt64LE(8n, 8)
      assert.throws(() => decodeFrame([prefix, header, Buffer.alloc(8)]),
        (error) => error instanceof SerializationError && error.message === `dtype code ${code} with time unit ${unit}, not one of 1..13`)
    }
  })

  test('NDArray checks a time dtype like any other', () => {
    assert.throws(() => new NDArray(new Float64Array(2), [2], 'datetime64[ms]'), /datetime64\[ms\] needs a BigInt64Array, got Float64Array/)
    assert.throws(() => new NDArray(new BigInt64Array(2), [2], 'datetime64[10ms]'),
      /unknown dtype "datetime64\[10ms\]"; one of: bool, .*complex128, datetime64\[unit\], timedelta64\[unit\] \(unit: Y, M, W, D, h, m, s, ms, us, ns, ps, fs, as\)/)
    assert.throws(() => new NDArray(new BigInt64Array(2), [2], 'datetime64'), /unknown dtype "datetime64"/)
  })

  test('Python refuses generic and multiple-unit arrays with a message that says what to do', async () => {
    await assert.rejects(py.call('numpy.zeros', 2, 'datetime64'),
      { name: 'SerializationError', message: /numpy dtype 'datetime64' has no time unit: give it one, e\.g\. datetime64\[ms\] at result/ })
    await assert.rejects(py.call('numpy.zeros', 2, 'timedelta64[15s]'),
      { name: 'SerializationError', message: /counts in steps of 15 s: convert it to a plain unit, e\.g\. \.astype\('timedelta64\[s\]'\) at result/ })
  })
})

describe('time scalars from numpy', () => {
  test('datetime64 becomes a Date (UTC), timedelta64 a number of seconds, NaT null', async () => {
    const [date, before1970, nat, gap, negative, natGap] = await py.call('frames.time_scalars')
    assert.ok(date instanceof Date)
    assert.equal(date.toISOString(), '2024-02-29T12:34:56.789Z') // nanoseconds cut to milliseconds
    assert.equal(before1970.toISOString(), '1969-12-31T23:59:59.999Z')
    assert.equal(nat, null)
    assert.equal(gap, 1.5)
    assert.equal(negative, -259200)
    assert.equal(natGap, null)
  })
})

describe('Date and aware datetimes', () => {
  test('a Date reaches Python as an aware datetime in UTC', async () => {
    const [iso, offset] = await py.call('frames.date_info', new Date('2024-02-29T23:30:00.125+02:00'))
    assert.equal(iso, '2024-02-29T21:30:00.125000+00:00')
    assert.equal(offset, 0)
  })

  test('an aware datetime in another zone arrives as the same instant', async () => {
    const date = await py.call('frames.aware', '2024-01-01T05:30:00.250+05:30')
    assert.ok(date instanceof Date)
    assert.equal(date.toISOString(), '2024-01-01T00:00:00.250Z')
    const west = await py.call('frames.aware', '1969-12-31T20:00:00-04:00')
    assert.equal(west.getTime(), 0)
  })

  test('a zone-aware pandas Timestamp arrives as a Date', async () => {
    const date = await py.call('frames.paris_timestamp')
    assert.equal(date.toISOString(), '2024-07-01T10:00:00.123Z')
  })

  test('a naive datetime is refused, naming how to fix it', async () => {
    await assert.rejects(py.call('datetime.datetime', 2024, 1, 1),
      { name: 'SerializationError', message: 'naive datetime cannot cross: give it a tzinfo (e.g. UTC) at result' })
  })
})
