// pandas DataFrames <-> apache-arrow Tables through real workers (ARROW, ext 5).
// The Python half (pandas' own assertions) is in tests/fixtures/frames.py.

import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { after, describe, test } from 'node:test'
import { RecordBatch, Table, tableFromArrays } from 'apache-arrow'
import { Python, SerializationError, kw } from '../src/index.js'
import { pool, runNode } from './helpers.js'

const FIXTURES = fileURLToPath(new URL('../../tests/fixtures/', import.meta.url))
const SRC = fileURLToPath(new URL('../src/', import.meta.url))
const PYTHON_ENV = { PYFERRY_PYTHON: process.env.PYFERRY_PYTHON ?? '' }

const py = new Python({ path: [FIXTURES] })
after(() => py.close())

// Column name -> Arrow type, as apache-arrow prints it.
function schemaOf(table) {
  return Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]))
}

function serializationError(pattern) {
  return (error) => {
    assert.ok(error instanceof SerializationError, `expected a SerializationError, got ${error?.stack ?? error}`)
    assert.match(error.message, pattern)
    return true
  }
}

describe('DataFrames from Python', () => {
  test('every column kind, missing values included, goes Python -> JS -> Python unchanged', async () => {
    const table = await py.call('frames.sample')
    assert.ok(table instanceof Table)
    assert.deepEqual(schemaOf(table), {
      int: 'Int64',
      float: 'Float64',
      text: 'LargeUtf8',
      flag: 'Bool',
      when: 'Timestamp<MICROSECOND>',
      when_tz: 'Timestamp<MICROSECOND, Europe/Paris>',
      span: 'Duration<NANOSECOND>',
      count: 'Int64',
      nothing: 'Null',
      kind: 'Dictionary<Int8, LargeUtf8>',
    })
    assert.ok(table.schema.metadata.has('pandas'), 'the pandas metadata came along')
    const rows = table.toArray().map((row) => row.toJSON())
    assert.deepEqual(rows.map((r) => r.int), [1n, -2n, 3n])
    assert.deepEqual(rows.map((r) => r.float), [1.5, null, -0.25]) // NaN travels as null
    assert.deepEqual(rows.map((r) => r.text), ['a', null, 'ünï'])
    assert.deepEqual(rows.map((r) => r.flag), [true, false, true])
    assert.deepEqual(rows.map((r) => r.count), [1n, null, 3n])
    assert.deepEqual(rows.map((r) => r.nothing), [null, null, null])
    assert.deepEqual(rows.map((r) => r.kind), ['x', 'y', 'x'])
    assert.equal(rows[0].when, Date.UTC(2024, 0, 1))
    assert.equal(rows[2].when_tz, null)
    // Back in Python, pandas.testing.assert_frame_equal against the original; dtypes as they came back:
    assert.deepEqual(await py.call('frames.check_sample', table), {
      int: 'int64',
      float: 'float64',
      text: 'str',
      flag: 'bool',
      when: 'datetime64[us]',
      when_tz: 'datetime64[us, Europe/Paris]',
      span: 'timedelta64[ns]',
      count: 'Int64',
      nothing: 'object',
      kind: 'category',
    })
  })

  test('a named index arrives as a column and goes back as the index', async () => {
    const table = await py.call('frames.sample_indexed')
    assert.deepEqual(schemaOf(table), { value: 'Float64', key: 'LargeUtf8' })
    assert.deepEqual(table.getChild('key').toArray(), ['a', 'b', 'c'])
    assert.equal(await py.call('frames.check_indexed', table), 'key')
  })

  test('a Series is a one-column table named after it, "0" when unnamed', async () => {
    const named = await py.call('frames.series', 'price')
    assert.deepEqual(table2d(named), { price: [1.5, 2.5, null] })
    const unnamed = await py.call('frames.series', null)
    assert.deepEqual(table2d(unnamed), { 0: [1.5, 2.5, null] })
  })

  test('pyarrow Tables and RecordBatches arrive as Tables', async () => {
    const [table, batch] = await Promise.all([py.call('frames.as_table'), py.call('frames.as_batch')])
    assert.ok(table instanceof Table && batch instanceof Table)
    assert.deepEqual(table2d(batch), { n: [1n, 2n, 3n], s: ['a', 'b', null] })
  })

  test('tables sit anywhere in a value and share the buffer numbering with arrays', async () => {
    const table = tableFromArrays({ x: Float64Array.from([1, 2]) })
    const value = [new Float64Array([0.5]), table, { inner: [table], bytes: new Int8Array([7]) }]
    const [array, first, { inner: [second], bytes }] = await py.call('frames.frame_back', value)
    assert.deepEqual([...array], [0.5])
    assert.deepEqual([...bytes], [7])
    for (const t of [first, second]) assert.deepEqual(table2d(t), { x: [1, 2] })
  })
})

describe('Tables built in JS', () => {
  const groups = ['north', 'south', 'north', 'east', 'south', 'north']
  const sales = Float64Array.from([10, 20, 30, 5, 40, 50])

  test('become DataFrames in Python', async () => {
    const table = tableFromArrays({ region: groups, sales, units: Int32Array.from([1, 2, 3, 4, 5, 6]) })
    assert.deepEqual(await py.call('frames.describe_table', table), {
      type: 'pandas.DataFrame',
      columns: ['region', 'sales', 'units'],
      dtypes: ['category', 'float64', 'int32'], // tableFromArrays makes strings a dictionary
      rows: 6,
    })
  })

  test('group-by and describe in Python, the result back as a Table', async () => {
    const table = tableFromArrays({ region: groups, sales })
    const summary = await py.call('frames.summary', table, 'region', 'sales')
    assert.ok(summary instanceof Table)
    assert.deepEqual(summary.schema.fields.map((f) => f.name),
      ['count', 'mean', 'std', 'min', '25%', '50%', '75%', 'max', 'region'])
    const byRegion = Object.fromEntries(summary.toArray().map((row) => [row.region, row.toJSON()]))
    assert.deepEqual(Object.keys(byRegion).sort(), ['east', 'north', 'south'])
    assert.equal(byRegion.north.count, 3)
    assert.equal(byRegion.north.mean, 30)
    assert.equal(byRegion.south.max, 40)
    assert.equal(byRegion.east.std, null) // one value: NaN, which Arrow writes as null
  })

  test('a RecordBatch crosses as a one-batch table', async () => {
    const table = tableFromArrays({ a: Int32Array.from([1, 2, 3]) })
    assert.ok(table.batches[0] instanceof RecordBatch)
    const back = await py.call('frames.frame_back', table.batches[0])
    assert.deepEqual(table2d(back), { a: [1, 2, 3] })
  })

  test('pandas calls straight from JS: DataFrame.describe on a Table', async () => {
    const table = tableFromArrays({ v: Float64Array.from([1, 2, 3, 4]) })
    const described = await py.call('pandas.DataFrame.describe', table)
    const stats = Object.fromEntries(described.getChild('__index_level_0__').toArray()
      .map((name, i) => [name, described.getChild('v').get(i)]))
    assert.equal(stats.count, 4)
    assert.equal(stats.mean, 2.5)
    assert.equal(stats.max, 4)
  })
})

describe('missing libraries', () => {
  test('without pyarrow in the worker: a DataFrame result says pip install pyarrow, the worker lives on', async (t) => {
    const blocked = pool(t, { path: [FIXTURES], preload: ['no_pyarrow'] })
    await assert.rejects(blocked.call('no_pyarrow.frame'),
      serializationError(/a pandas DataFrame crosses as an Arrow table, and pyarrow is not installed: pip install pyarrow at result$/))
    await assert.rejects(blocked.call('no_pyarrow.frame_in_list'), serializationError(/pip install pyarrow at result\[1\]\['frame'\]/))
    // A table sent to it cannot be read there either.
    const table = tableFromArrays({ a: Int32Array.from([1]) })
    await assert.rejects(blocked.call('no_pyarrow.echo', table), serializationError(/pyarrow is not installed: pip install pyarrow/))
    assert.equal(await blocked.call('no_pyarrow.echo', 5), 5)
  })

  test('without pandas in the worker: a table arrives as a pyarrow.Table', async (t) => {
    const blocked = pool(t, { path: [FIXTURES], preload: ['no_pandas'] })
    const table = tableFromArrays({ n: Int32Array.from([4, 5]) })
    assert.equal(await blocked.call('no_pandas.type_of', table), 'pyarrow.lib.Table')
    assert.deepEqual(await blocked.call('no_pandas.column', table, 'n'), [4, 5])
    assert.deepEqual(table2d(await blocked.call('no_pandas.echo', table)), { n: [4, 5] })
  })

  test('without apache-arrow in Node: receiving or sending a table says npm install apache-arrow', async (t) => {
    // A copy of pyferry's sources where no node_modules can be found: apache-arrow is really missing.
    const dir = mkdtempSync(join(tmpdir(), 'pyferry-no-arrow-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    cpSync(SRC, join(dir, 'src'), { recursive: true })
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n')
    const index = pathToFileURL(join(dir, 'src', 'index.js')).href
    // The test's own apache-arrow, by file URL, to build a table to send.
    const arrowUrl = import.meta.resolve('apache-arrow')
    const script = `
      import { Python } from ${JSON.stringify(index)}
      import { tableFromArrays } from ${JSON.stringify(arrowUrl)}
      const py = new Python({ path: [${JSON.stringify(FIXTURES)}] })
      const out = {}
      try {
        await py.call('frames.sample').then(() => { out.received = 'no error' }, (e) => { out.received = [e.name, e.message] })
        const table = tableFromArrays({ a: Int32Array.from([1]) })
        await py.call('frames.frame_back', table).then(() => { out.sent = 'no error' }, (e) => { out.sent = [e.name, e.message] })
        out.after = await py.call('frames.type_of', 1)
      } finally {
        await py.close()
      }
      console.log(JSON.stringify(out))
    `
    const { code, stdout, stderr } = await runNode(script, { env: PYTHON_ENV, timeout: 30_000 })
    assert.equal(code, 0, stderr)
    const out = JSON.parse(stdout)
    const message = 'an Arrow table crosses only with apache-arrow, and apache-arrow is not installed: npm install apache-arrow'
    assert.deepEqual(out.received, ['SerializationError', message])
    assert.deepEqual(out.sent, ['SerializationError', message])
    assert.equal(out.after, 'builtins.int', 'the worker still serves calls')
  })
})

describe('loading apache-arrow', () => {
  test('the first table waits for the import; after it, tables cross synchronously', async () => {
    // A fresh process, where pyferry has not loaded apache-arrow yet.
    const codec = new URL('../src/codec.js', import.meta.url).href
    const arrowJs = new URL('../src/arrow.js', import.meta.url).href
    const protocol = new URL('../src/protocol.js', import.meta.url).href
    const script = `
      import assert from 'node:assert/strict'
      import { decodeMessage, encodeMessage } from ${JSON.stringify(codec)}
      import { arrowLoaded } from ${JSON.stringify(arrowJs)}
      import { FrameReader } from ${JSON.stringify(protocol)}
      import { Table, tableFromArrays } from 'apache-arrow'
      const decode = (chunks) => {
        let out
        new FrameReader((h, b) => { out = decodeMessage(h, b) }).push(Buffer.concat(chunks))
        return out
      }
      const table = tableFromArrays({ x: Float64Array.from([1, 2]) })
      assert.equal(arrowLoaded(), false)
      const pending = encodeMessage([2, 7, [table, 1]])
      assert.ok(pending instanceof Promise, 'encoding defers the IPC bytes')
      const chunks = await pending
      assert.equal(arrowLoaded(), true)
      const now = encodeMessage([2, 7, [table, 1]])
      assert.ok(Array.isArray(now), 'once loaded, encoding is synchronous')
      assert.deepEqual(Buffer.concat(now), Buffer.concat(chunks))
      const message = decode(chunks)
      assert.ok(message[2][0] instanceof Table, 'once loaded, decoding is synchronous')
      assert.equal(message[2][1], 1)
      console.log('ok')
    `
    const { code, stdout, stderr } = await runNode(script)
    assert.equal(code, 0, stderr)
    assert.equal(stdout.trim(), 'ok')
  })

  test('a stream whose first item is the first table: the items wait for the import, in order', async () => {
    const index = new URL('../src/index.js', import.meta.url).href
    const script = `
      import { Python } from ${JSON.stringify(index)}
      const py = new Python({ workers: 1, path: [${JSON.stringify(FIXTURES)}] })
      const got = []
      for await (const item of py.stream('frames.frames_then', 300)) got.push(typeof item === 'number' ? item : item.numRows)
      await py.close()
      console.log(JSON.stringify(got))
    `
    const { code, stdout, stderr } = await runNode(script)
    assert.equal(code, 0, stderr)
    assert.deepEqual(JSON.parse(stdout), [1, ...Array.from({ length: 300 }, (_, i) => i)])
  })

  test('a table decoded before the import comes as a Promise of its element', async () => {
    const codec = new URL('../src/codec.js', import.meta.url).href
    const protocol = new URL('../src/protocol.js', import.meta.url).href
    const script = `
      import assert from 'node:assert/strict'
      import { decodeMessage, messageReady } from ${JSON.stringify(codec)}
      import { FrameReader } from ${JSON.stringify(protocol)}
      import { Table, tableFromArrays, tableToIPC } from 'apache-arrow'
      const decode = (header, buffers) => {
        let out
        const reader = new FrameReader((h, b) => { out = decodeMessage(h, b) })
        const prefix = Buffer.alloc(8 + 8 * buffers.length)
        prefix.write('PF', 0, 'latin1')
        prefix.writeUInt16LE(buffers.length, 2)
        prefix.writeUInt32LE(header.length, 4)
        buffers.forEach((b, i) => prefix.writeBigUInt64LE(BigInt(b.length), 8 + 8 * i))
        reader.push(Buffer.concat([prefix, header, ...buffers]))
        return out
      }
      const ipc = Buffer.from(tableToIPC(tableFromArrays({ x: Int32Array.from([1, 2]) }), 'stream'))
      const arrow = (index) => Buffer.from([0xd6, 0x05, index, 0, 0, 0])
      // [2, 7, {"t": table, "n": 1}], then [2, 8, [bad table]]: before apache-arrow has loaded.
      const good = decode(Buffer.concat([Buffer.from([0x93, 0x02, 0x07, 0x82, 0xa1, 0x74]), arrow(0),
        Buffer.from([0xa1, 0x6e, 0x01])]), [ipc])
      const bad = decode(Buffer.concat([Buffer.from([0x93, 0x02, 0x08, 0x91]), arrow(0)]), [Buffer.from('garbage!')])
      // A Promise nobody awaits (a reply to a call that already timed out) must not crash the process.
      const ignored = decode(Buffer.concat([Buffer.from([0x93, 0x02, 0x09]), arrow(0)]), [Buffer.from('garbage!')])
      assert.ok(ignored[2] instanceof Promise)
      const plain = decode(Buffer.from([0x93, 0x02, 0x0b, 0x01]), [])
      assert.equal(messageReady(plain), plain, 'a message without tables is ready as it is')
      assert.deepEqual(good.slice(0, 2), [2, 7])
      assert.ok(good[2] instanceof Promise)
      // For consumers that need the whole message in order (stream items): a Promise of it.
      const whole = await messageReady(good)
      assert.equal(whole, good)
      assert.ok(whole[2].t instanceof Table)
      const value = await good[2]
      assert.ok(value.t instanceof Table)
      assert.deepEqual([...value.t.getChild('x').toArray()], [1, 2])
      assert.equal(value.n, 1)
      await assert.rejects(bad[2], { name: 'SerializationError', message: /buffer 0 is not an Arrow IPC stream/ })
      // Once loaded, a bad table fails decodeMessage itself, as any malformed value does.
      assert.throws(() => decode(Buffer.concat([Buffer.from([0x93, 0x02, 0x0a]), arrow(0)]), [Buffer.from('garbage!')]),
        { name: 'SerializationError', message: /buffer 0 is not an Arrow IPC stream/ })
      console.log('ok')
    `
    const { code, stdout, stderr } = await runNode(script)
    assert.equal(code, 0, stderr)
    assert.equal(stdout.trim(), 'ok')
  })
})

describe('limits and keyword arguments', () => {
  test('a Table argument whose IPC bytes exceed maxMessageBytes is refused before sending', async (t) => {
    const small = pool(t, { path: [FIXTURES], maxMessageBytes: 4096 })
    const table = tableFromArrays({ x: new Float64Array(10_000) })
    await assert.rejects(small.call('frames.frame_back', table), serializationError(/exceeds maxMessageBytes/))
  })

  test('Tables in keyword arguments', async () => {
    const table = tableFromArrays({ g: Int32Array.from([1, 1, 2]), x: Float64Array.from([1, 3, 5]) })
    const got = await py.call('frames.summary', kw({ frame: table, by: 'g', column: 'x' }))
    assert.deepEqual(table2d(got).mean, [2, 5])
    assert.deepEqual(table2d(got).g, [1, 2])
  })
})

// A small table as { column: [values] }, nulls as null.
function table2d(table) {
  return Object.fromEntries(table.schema.fields.map((f) => [f.name, [...table.getChild(f.name)]]))
}
