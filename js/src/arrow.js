// apache-arrow Tables <-> the ARROW extension (protocol section 5.8): a u32 buffer
// index in the header, the buffer holding one Arrow IPC stream.
//
// apache-arrow is an optional peer dependency. It is loaded with a dynamic
// import() the first time a table crosses, so an application without Arrow
// pays nothing, and pyferry uses the application's own copy (the same ESM
// instance its tables are made of). The codec is synchronous and the import is
// not, so until apache-arrow has loaded the codec hands over Promises instead:
//
// - encoding: a table met while apache-arrow is not loaded yet is kept aside
//   (its IPC bytes are not needed to write the header, only its buffer index),
//   and encodeMessage/encodeCall return a Promise of the frame's chunks;
// - decoding: an ARROW value is decoded into a placeholder, and each element of
//   the message that holds one becomes a Promise of that element, tables in
//   place (resolving a call's promise with it adopts it).
//
// Once loaded, both are synchronous again: only the first table pays the wait.

import { SerializationError } from './errors.js'
import { PREFIX_SIZE, frameChunks } from './protocol.js'

let arrow = null // the apache-arrow module namespace, once loaded
let loading = null

// Whether apache-arrow has loaded, so that tables cross synchronously.
export function arrowLoaded() {
  return arrow !== null
}

// Load apache-arrow (once); rejects with a SerializationError naming the package if it is missing.
export function loadArrow() {
  loading ??= import('apache-arrow').then(
    (module) => {
      arrow = module
      return module
    },
    (error) => {
      loading = null // installed later in the same process: try again then
      throw notInstalled(error)
    },
  )
  return loading
}

function notInstalled(error) {
  const missing = error?.code === 'ERR_MODULE_NOT_FOUND' && /apache-arrow/.test(error.message)
  const reason = missing
    ? 'apache-arrow is not installed: npm install apache-arrow'
    : `apache-arrow failed to load: ${error?.message ?? error}`
  return new SerializationError(`an Arrow table crosses only with apache-arrow, and ${reason}`, '', { cause: error })
}

// Whether `value` is an apache-arrow Table or RecordBatch, of any copy of the library:
// apache-arrow brands both with a registered symbol (its own isTable/isRecordBatch test).
const TABLE = Symbol.for('apache-arrow/Table')
const RECORD_BATCH = Symbol.for('apache-arrow/RecordBatch')

export function isArrowTable(value) {
  return value[TABLE] === true || value[RECORD_BATCH] === true
}

// -- encoding ------------------------------------------------------------------------

// A table met before apache-arrow was loaded; its bytes are written once it is.
class DeferredTable {
  constructor(table) {
    this.table = table
  }
}

// Push the buffer of a table onto `buffers` (or a stand-in, see above); returns the ARROW payload.
export function tableBuffer(value, buffers) {
  const payload = Buffer.alloc(4)
  payload.writeUInt32LE(buffers.length, 0)
  if (arrow === null) {
    buffers.push(new DeferredTable(value))
    buffers.deferred = true
  } else {
    buffers.push(ipcBytes(value))
  }
  return payload
}

function ipcBytes(value) {
  const table = value[RECORD_BATCH] === true ? new arrow.Table(value) : value
  return arrow.tableToIPC(table, 'stream')
}

// The chunks of a frame, or a Promise of them when a table waits for apache-arrow.
export function finishFrame(header, buffers) {
  if (buffers.deferred !== true) return frameChunks(header, PREFIX_SIZE, buffers)
  return loadArrow().then(() => {
    const ready = buffers.map((b) => (b instanceof DeferredTable ? ipcBytes(b.table) : b))
    return frameChunks(header, PREFIX_SIZE, ready)
  })
}

// -- decoding ------------------------------------------------------------------------

// An ARROW value decoded before apache-arrow was loaded.
class PendingTable {
  constructor(bytes, index) {
    this.bytes = bytes
    this.index = index
  }
}

// The value of an ARROW extension: a Table, or a PendingTable while apache-arrow is not loaded.
export function readTable(view, buffers) {
  if (view.byteLength !== 4) throw new SerializationError(`Arrow extension of ${view.byteLength} bytes, expected 4`)
  const index = view.getUint32(0, true)
  if (index >= buffers.length) throw new SerializationError(`Arrow table refers to buffer ${index}, frame has ${buffers.length}`)
  if (arrow === null) return new PendingTable(buffers[index], index)
  return tableFromBytes(buffers[index], index)
}

function tableFromBytes(bytes, index) {
  let reader
  try {
    reader = arrow.RecordBatchReader.from(bytes)
    reader.open()
    // An empty buffer reads as a table without even a schema: not a stream.
    if (reader.schema === undefined || reader.schema === null) throw new Error('no schema message')
    return new arrow.Table(reader.readAll())
  } catch (error) {
    throw new SerializationError(`buffer ${index} is not an Arrow IPC stream: ${error.message}`, '', { cause: error })
  }
}

const waiting = new WeakMap() // message -> Promise of it with every table in place

// Replace each element of `message` that holds a PendingTable with a Promise of it, tables in place.
export function settlePending(message) {
  if (!Array.isArray(message)) return message
  const load = loadArrow()
  const elements = []
  for (let i = 0; i < message.length; i++) {
    const element = message[i]
    if (!holdsPending(element)) continue
    const settled = load.then(() => replacePending(element))
    settled.catch(() => {}) // a reply nobody waits for any more must not crash the process
    message[i] = settled
    elements.push([i, settled])
  }
  const whole = Promise.all(elements.map(([, p]) => p)).then((values) => {
    elements.forEach(([i], k) => { message[i] = values[k] })
    return message
  })
  whole.catch(() => {})
  waiting.set(message, whole)
  return message
}

// `message` itself when it holds no table waiting for apache-arrow (the usual case: one
// WeakMap lookup), else a Promise of it with the tables in place, for consumers that
// need the whole message (stream items, callback arguments) and must keep its order.
export function messageReady(message) {
  return waiting.get(message) ?? message
}

function holdsPending(value) {
  if (value instanceof PendingTable) return true
  if (value === null || typeof value !== 'object') return false
  if (Array.isArray(value)) return value.some(holdsPending)
  if (value instanceof Map) {
    for (const [k, v] of value) if (holdsPending(k) || holdsPending(v)) return true
    return false
  }
  return isPlain(value) && Object.values(value).some(holdsPending)
}

// `value` with its PendingTables turned into Tables (containers changed in place, order kept).
function replacePending(value) {
  if (value instanceof PendingTable) return tableFromBytes(value.bytes, value.index)
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = replacePending(value[i])
  } else if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => [replacePending(k), replacePending(v)])
    value.clear()
    for (const [k, v] of entries) value.set(k, v)
  } else if (isPlain(value)) {
    for (const k of Object.keys(value)) {
      const before = value[k]
      const after = replacePending(before)
      // defineProperty: a "__proto__" key is an own data property, never the prototype.
      if (after !== before) Object.defineProperty(value, k, { value: after, writable: true, enumerable: true, configurable: true })
    }
  }
  return value
}

function isPlain(value) {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
