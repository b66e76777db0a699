// JS values <-> wire values: the mirror of src/pyferry/codec.py.
//
// JS                          wire                         Python
// null, undefined             nil                          None
// boolean, string             bool, str                    bool, str
// number (safe integer)       int                          int
// number (other, -0, NaN)     float 64                     float
// BigInt (64-bit range)       int                          int
// Buffer, Uint8Array          bin                          bytes
// Array                       array                        list
// plain object, Map           map                          dict
// Date                        ext -1 (timestamp)           datetime (UTC)
// Complex                     ext 2                        complex
// other TypedArray, NDArray   ext 1 + out-of-band buffer   numpy.ndarray
// apache-arrow Table          ext 5 + Arrow IPC buffer     pandas.DataFrame (see arrow.js)
// PyHandle (of that worker)   ext 3 (u64 handle id)        the object in its handle table
// function (CALL args only)   ext 4 (u64 callback id)      pyferry.JSFunction
//
// Arriving HANDLEs become PyHandles bound to the worker that sent them (see handle.js);
// a CALLBACK in a message to the client is a protocol error. PyHandles and module proxies
// are known here through references.js, which the modules that make them fill.
// EXTENSIONS below maps each extension type to its decoder.
// Arriving maps whose keys are all strings become plain objects, others Map.
// Arriving 1-d arrays of a dtype with its own TypedArray become that TypedArray;
// other arrays (n-d, bool, uint8, complex, datetime64, timedelta64) become NDArray.

import { arrowLoaded, finishFrame, isArrowTable, messageReady, readTable, settlePending, tableBuffer } from './arrow.js'
import { HandleError, SerializationError, ProtocolError } from './errors.js'
import { Reader, Writer, readTimestamp, timestamp } from './msgpack.js'
import { Complex, DTYPES, NDArray, STANDALONE, TIME_UNITS, dtypeOf } from './ndarray.js'
import {
  CALL, EXT_ARROW, EXT_CALLBACK, EXT_COMPLEX, EXT_HANDLE, EXT_NDARRAY, EXT_TIMESTAMP, PREFIX_SIZE,
} from './protocol.js'
import { checkUsable, describe as describeHandle, detachedHandle, handleState, isModuleProxy } from './references.js'

// messageReady(message): the message, or a Promise of it while a table in it waits for apache-arrow.
export { messageReady }

export const DTYPE_CODES = {
  bool: 1, int8: 2, uint8: 3, int16: 4, uint16: 5, int32: 6, uint32: 7,
  int64: 8, uint64: 9, float32: 10, float64: 11, complex64: 12, complex128: 13,
}
const DTYPE_NAMES = Object.fromEntries(Object.entries(DTYPE_CODES).map(([k, v]) => [v, k]))
// datetime64 and timedelta64: dtype code 14 or 15 plus a time unit byte (1 for 'Y' ... 13 for 'as').
const TIME_CODES = { datetime64: 14, timedelta64: 15 }
const TIME_KINDS = { 14: 'datetime64', 15: 'timedelta64' }
// dtype name -> time unit byte, for the time dtypes only
const UNIT_CODES = Object.fromEntries(Object.keys(TIME_CODES).flatMap(
  (kind) => TIME_UNITS.map((unit, i) => [`${kind}[${unit}]`, i + 1])))
const MAX_DEPTH = 512
const MAP_KEY = Symbol('map key') // a Map key adds no path segment of its own
const INT64_MIN = -(2n ** 63n)
const UINT64_MAX = 2n ** 64n - 1n

// Keyword arguments for a call: `py.call('f', x, kw({ axis: 0 }))`.
export class Kwargs {
  constructor(values) {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      throw new TypeError('kw() takes a plain object of keyword arguments')
    }
    this.values = values
  }
}

// Mark an object as keyword arguments (valid only at the end of a call's arguments).
export function kw(values) {
  return new Kwargs(values)
}

// What a message names besides values, collected while it is encoded: the handles (all
// of one worker: `table`) and, where functions may cross (a CALL's arguments), the
// functions sent as CALLBACK ids.
export class Refs {
  // Made by the first handle or function met: most messages name none.
  handles = null // Set of handle states
  callbacks = null // Map callback id -> function
  #ids = null // Map function -> callback id
  #nextCallbackId
  #noCallbacks

  // table: the worker the message goes to, if already known (a callback's answer);
  // nextCallbackId: () => a new id, or null where no function may cross;
  // noCallbacks: why no function may cross in this message at all (a Dask client's), or null.
  constructor({ table = null, nextCallbackId = null, noCallbacks = null } = {}) {
    this.table = table
    this.#nextCallbackId = nextCallbackId
    this.#noCallbacks = noCallbacks
  }

  handle(state) {
    checkUsable(state)
    if (this.table === null) this.table = state.table
    else if (state.table !== this.table) {
      throw new HandleError(`${describeHandle(state)} cannot go to worker ${this.table.pid}: ` +
        'a call can only name handles of the worker that runs it')
    }
    this.handles ??= new Set()
    this.handles.add(state)
    return state.id
  }

  callback(fn) {
    if (this.#noCallbacks !== null) throw new PathError(this.#noCallbacks)
    if (this.#nextCallbackId === null) throw new PathError('a function can only cross in the arguments of a call')
    this.#ids ??= new Map()
    this.callbacks ??= new Map()
    let id = this.#ids.get(fn)
    if (id === undefined) {
      id = this.#nextCallbackId()
      this.#ids.set(fn, id)
      this.callbacks.set(id, fn)
    }
    return id
  }
}

let outgoing = null // the Refs of the message being encoded

function u64(n) {
  const payload = Buffer.alloc(8)
  payload.writeBigUInt64LE(BigInt(n), 0)
  return payload
}

// Thrown while walking a value; turned into a SerializationError with the full path.
class PathError extends Error {
  constructor(reason) {
    super(reason)
    this.segments = []
  }
}

function segment(key) {
  if (typeof key === 'number') return `[${key}]`
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

function describe(value) {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  return value.constructor?.name ?? 'object with a null prototype'
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function writeValue(w, value, buffers, depth) {
  switch (typeof value) {
    case 'number':
      if (Number.isSafeInteger(value) && !(value === 0 && 1 / value < 0)) w.int(value)
      else w.float(value)
      return
    case 'string':
      if (!value.isWellFormed()) throw new PathError('string has a lone surrogate (not valid Unicode)')
      w.str(value)
      return
    case 'boolean':
      w.bool(value)
      return
    case 'undefined':
      w.nil()
      return
    case 'bigint':
      if (value < INT64_MIN || value > UINT64_MAX) throw new PathError(`BigInt ${value} does not fit in 64 bits`)
      w.bigint(value)
      return
    case 'object':
      if (value === null) return w.nil()
      // depth counts enclosing containers, as the decoder does: at most MAX_DEPTH levels.
      if (depth >= MAX_DEPTH) throw new PathError(`nesting deeper than ${MAX_DEPTH} (a cycle?)`)
      return writeObject(w, value, buffers, depth + 1)
    case 'function':
      if (isModuleProxy(value)) {
        throw new PathError(`${String(value)} names a Python object and cannot cross; pass the value of py.get() instead`)
      }
      if (outgoing === null) throw new PathError('a function can only cross in the arguments of a call')
      w.ext(EXT_CALLBACK, u64(outgoing.callback(value)))
      return
    default:
      throw new PathError(`a ${typeof value} cannot cross by value`)
  }
}

function writeObject(w, value, buffers, depth) {
  if (Array.isArray(value)) {
    w.arrayHeader(value.length)
    for (let i = 0; i < value.length; i++) writeChild(w, value[i], buffers, depth, i)
  } else if (ArrayBuffer.isView(value)) {
    if (value instanceof Uint8Array) w.bin(value) // Buffer too; Uint8ClampedArray is not one
    else if (value instanceof DataView) w.bin(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    else {
      const dtype = dtypeOf(value)
      if (dtype === undefined) throw new PathError(`a ${describe(value)} has no numpy dtype that can cross`)
      writeArray(w, value, [value.length], dtype, buffers)
    }
  } else if (value instanceof NDArray) {
    writeArray(w, value.data, value.shape, value.dtype, buffers)
  } else if (value instanceof Complex) {
    const payload = Buffer.allocUnsafe(16)
    payload.writeDoubleLE(value.re, 0)
    payload.writeDoubleLE(value.im, 8)
    w.ext(EXT_COMPLEX, payload)
  } else if (value instanceof Date) {
    const payload = timestamp(value)
    if (payload === null) throw new PathError('an invalid Date cannot cross')
    w.ext(EXT_TIMESTAMP, payload)
  } else if (value instanceof Map) {
    w.mapHeader(value.size)
    for (const [k, v] of value) {
      writeChild(w, k, buffers, depth, MAP_KEY)
      writeChild(w, v, buffers, depth, k)
    }
  } else if (value instanceof ArrayBuffer) {
    w.bin(new Uint8Array(value))
  } else if (value instanceof Kwargs) {
    throw new PathError('kw() is only valid at the end of the arguments (before or after opts())')
  } else if (isPlainObject(value)) {
    const keys = Object.keys(value)
    w.mapHeader(keys.length)
    for (const k of keys) {
      if (!k.isWellFormed()) throw new PathError(`key ${JSON.stringify(k)} has a lone surrogate (not valid Unicode)`)
      w.str(k)
      writeChild(w, value[k], buffers, depth, k)
    }
  } else if (isArrowTable(value)) {
    w.ext(EXT_ARROW, tableBuffer(value, buffers))
  } else if (handleState(value) !== undefined) {
    if (outgoing === null) throw new PathError('a PyHandle can only cross in a call or a callback\'s answer')
    w.ext(EXT_HANDLE, u64(outgoing.handle(handleState(value))))
  } else {
    throw new PathError(`a ${describe(value)} cannot cross by value`)
  }
}

function writeChild(w, value, buffers, depth, key) {
  try {
    writeValue(w, value, buffers, depth)
  } catch (error) {
    if (error instanceof PathError && key !== MAP_KEY) error.segments.push(segment(key))
    throw error
  }
}

function writeArray(w, data, shape, dtype, buffers) {
  if (shape.length > 64) throw new PathError(`an array of ${shape.length} dimensions (numpy allows 64)`)
  const payload = Buffer.alloc(8 + 8 * shape.length)
  payload.writeUInt32LE(buffers.length, 0)
  const unit = UNIT_CODES[dtype]
  payload[4] = unit === undefined ? DTYPE_CODES[dtype] : TIME_CODES[dtype.slice(0, dtype.indexOf('['))]
  payload[5] = shape.length
  payload[6] = unit ?? 0
  for (let i = 0; i < shape.length; i++) payload.writeBigUInt64LE(BigInt(shape[i]), 8 + 8 * i)
  buffers.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  w.ext(EXT_NDARRAY, payload)
}

function fail(error, root) {
  if (!(error instanceof PathError)) throw error
  const segments = error.segments.reverse()
  // A path hundreds of levels deep says no more than its ends and its length.
  const path = segments.length <= 12
    ? segments.join('')
    : `${segments.slice(0, 6).join('')}…(${segments.length - 10} levels)…${segments.slice(-4).join('')}`
  throw new SerializationError(error.message, root + path)
}

// Encode a message array into the chunks of one frame (a Promise of them while
// an Arrow table waits for apache-arrow to load: see arrow.js).
// `refs` (a Refs) collects the handles the message names; without it none may cross.
export function encodeMessage(message, root = 'message', refs = null) {
  const w = new Writer(PREFIX_SIZE)
  const buffers = []
  const outer = outgoing // a getter run while encoding may itself encode a call
  outgoing = refs
  try {
    writeValue(w, message, buffers, 0)
  } catch (error) {
    fail(error, root)
  } finally {
    outgoing = outer
  }
  return finishFrame(w.buf.subarray(0, w.pos), buffers)
}

// Encode [kind, id, value], a callback's answer; errors name `result...`.
export function encodeAnswer(kind, id, value, refs) {
  const w = new Writer(PREFIX_SIZE)
  const buffers = []
  const outer = outgoing
  outgoing = refs
  w.arrayHeader(3)
  w.int(kind)
  w.int(id)
  try {
    writeValue(w, value, buffers, 1)
  } catch (error) {
    fail(error, 'result')
  } finally {
    outgoing = outer
  }
  return finishFrame(w.buf.subarray(0, w.pos), buffers)
}

// Encode a CALL message; errors name `target`, `args[i]...` or `kwargs.name...`. `target`
// is a dotted name or an array [PyHandle, name, ...]; `options` a map or undefined (a
// 5-element CALL); `refs` collects the handles and functions it names. Returns chunks, or
// a Promise of them as encodeMessage does.
export function encodeCall(id, target, args, kwargs, options, refs = new Refs()) {
  const w = new Writer(PREFIX_SIZE)
  const buffers = []
  const outer = outgoing
  let optionsAt // where the options map starts in the header
  outgoing = refs
  w.arrayHeader(options === undefined ? 5 : 6)
  w.int(CALL)
  w.int(id)
  let root = 'target'
  try {
    if (typeof target === 'string') w.str(target)
    else writeValue(w, target, buffers, 1)
    root = 'args'
    w.arrayHeader(args.length)
    for (let i = 0; i < args.length; i++) writeChild(w, args[i], buffers, 2, i)
    root = 'kwargs'
    if (kwargs === undefined) w.nil()
    else writeValue(w, kwargs, buffers, 1)
    root = 'options'
    if (options !== undefined) {
      optionsAt = w.pos - PREFIX_SIZE
      writeValue(w, options, buffers, 1)
    }
  } catch (error) {
    fail(error, root)
  } finally {
    outgoing = outer
  }
  const chunks = finishFrame(w.buf.subarray(0, w.pos), buffers)
  if (chunks instanceof Promise) return chunks.then((done) => Object.assign(done, { optionsAt }))
  return Object.assign(chunks, { optionsAt })
}

const AHEAD_KEY = Buffer.from([0xa5, ...Buffer.from('ahead'), 0xc3]) // "ahead": true

// The chunks of an encoded CALL (encodeCall) with the option `ahead: true` added (protocol
// section 3.7): its header gains one options entry, or an options map; buffers are shared.
export function markAhead(chunks) {
  const single = chunks.length === 1
  const header = single ? chunks[0].subarray(PREFIX_SIZE) : chunks[1]
  const at = chunks.optionsAt
  const added = at === undefined ? 1 + AHEAD_KEY.length : AHEAD_KEY.length
  const start = single ? PREFIX_SIZE : 0
  const out = Buffer.allocUnsafe(start + header.length + added)
  header.copy(out, start)
  if (at === undefined) {
    out[start] = 0x96 // [kind, id, target, args, kwargs] gains its options
    out[start + header.length] = 0x81
  } else {
    const map = out[start + at]
    if (map < 0x80 || map >= 0x8f) throw new RangeError('CALL options must be a fixmap of under 15 entries')
    out[start + at] = map + 1
  }
  AHEAD_KEY.copy(out, out.length - AHEAD_KEY.length)
  const prefix = single ? out : Buffer.from(chunks[0])
  if (single) chunks[0].copy(out, 0, 0, PREFIX_SIZE)
  prefix.writeUInt32LE(header.length + added, 4)
  return single ? [out] : [prefix, out, ...chunks.slice(2)]
}

// The [kind, id] of a message whose body could not be decoded, if its envelope is intact.
export function peekEnvelope(header) {
  try {
    const [kind, id] = new Reader(() => undefined).head(header, 2)
    return Number.isSafeInteger(kind) && Number.isSafeInteger(id) ? [kind, id] : undefined
  } catch {
    return undefined
  }
}

// Decode a frame's header into a message, resolving arrays against its buffers.
//
// Throws ProtocolError for an extension type version 1 does not define (a
// version 1 peer never sends one, so the stream cannot be trusted), wherever it
// sits in the header; SerializationError for anything else that does not decode
// (bad MessagePack, a malformed NDARRAY, COMPLEX, ARROW or timestamp payload):
// that concerns this one message only. An Arrow table decoded before
// apache-arrow has loaded makes the element of the message holding it a
// Promise (see arrow.js).
//
// A HANDLE becomes `context.handle(id, type, repr)`: the worker that read the frame
// binds it to itself. Without a context it is a PyHandle of no worker (unusable).
// A CALLBACK is a ProtocolError: only the client sends them.
export function decodeMessage(header, buffers, context = undefined) {
  let bad = null // the first malformed value of a known extension type
  let pending = false // an Arrow table waits for apache-arrow
  const reader = new Reader((type, data) => {
    const extension = EXTENSIONS.get(type)
    if (extension === undefined) throw new ProtocolError(`unknown extension type ${type}: not in protocol version 1`)
    if (extension.refused !== undefined) throw new ProtocolError(extension.refused)
    if (bad !== null) return null
    if (extension.waits?.()) pending = true
    try {
      return extension.decode(data, buffers, context)
    } catch (error) {
      // Keep reading: an unknown extension type later in the header still has to be found.
      bad = error instanceof SerializationError
        ? error
        : new SerializationError(`malformed extension type ${type}: ${error.message}`, '', { cause: error })
      return null
    }
  })
  let message
  try {
    message = reader.decode(header)
  } catch (error) {
    if (error instanceof ProtocolError) throw error
    throw bad ?? new SerializationError(`undecodable message: ${error.message}`, '', { cause: error })
  }
  if (bad !== null) throw bad
  return pending ? settlePending(message) : message
}

const view = (data) => new DataView(data.buffer, data.byteOffset, data.byteLength)

// Extension type -> how a message to the client decodes it: decode(data, buffers, context)
// (a SerializationError for a malformed payload fails that message only); `waits()`: the
// value will be a placeholder until apache-arrow loads; `refused`: the ProtocolError of a
// type only the client sends.
const EXTENSIONS = new Map([
  [EXT_TIMESTAMP, { decode: (data) => readTimestamp(view(data)) }],
  [EXT_NDARRAY, { decode: (data, buffers) => readArray(view(data), buffers) }],
  [EXT_COMPLEX, { decode: readComplex }],
  [EXT_HANDLE, { decode: (data, buffers, context) => readHandle(data, context) }],
  [EXT_CALLBACK, { refused: 'a CALLBACK (extension type 4) in a message to the client: only calls carry JS functions' }],
  [EXT_ARROW, { decode: (data, buffers) => readTable(view(data), buffers), waits: () => !arrowLoaded() }],
])

const utf8 = new TextDecoder('utf-8', { fatal: true })

// HANDLE: u64 id (at least 1), then from the worker `<type>\n<repr>` in UTF-8.
function readHandle(data, context) {
  if (data.length < 8) throw new SerializationError(`handle extension of ${data.length} bytes, expected at least 8`)
  const big = new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true)
  if (big === 0n) throw new SerializationError('handle id 0 (ids start at 1)')
  // Ids count up from 1 per worker: one past 2**53 would take that many handles.
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new SerializationError(`handle id ${big} is beyond 2**53 - 1`)
  const id = Number(big)
  const text = utf8.decode(data.subarray(8))
  const newline = text.indexOf('\n')
  const type = newline < 0 ? text : text.slice(0, newline)
  const repr = newline < 0 ? '' : text.slice(newline + 1)
  if (context?.handle) return context.handle(id, type, repr)
  return detachedHandle(id, type, repr)
}

function readComplex(data) {
  if (data.length !== 16) throw new SerializationError(`complex extension of ${data.length} bytes, expected 16`)
  const v = view(data)
  return new Complex(v.getFloat64(0, true), v.getFloat64(8, true))
}

function readArray(view, buffers) {
  if (view.byteLength < 8) throw new SerializationError('ndarray extension too short')
  const index = view.getUint32(0, true)
  const code = view.getUint8(4)
  const ndim = view.getUint8(5)
  if (view.byteLength !== 8 + 8 * ndim) throw new SerializationError(`ndarray extension does not match ndim ${ndim}`)
  const dtype = TIME_KINDS[code] === undefined ? DTYPE_NAMES[code] : timeDtype(code, view.getUint8(6))
  if (dtype === undefined) throw new SerializationError(`unknown dtype code ${code}`)
  if (index >= buffers.length) throw new SerializationError(`ndarray refers to buffer ${index}, frame has ${buffers.length}`)
  const shape = []
  let size = 1
  for (let i = 0; i < ndim; i++) {
    shape.push(Number(view.getBigUint64(8 + 8 * i, true)))
    size *= shape[i]
  }
  const [Type, per] = DTYPES[dtype]
  let bytes = buffers[index]
  if (size * per * Type.BYTES_PER_ELEMENT !== bytes.byteLength) {
    throw new SerializationError(`ndarray of shape [${shape}] ${dtype} does not match its buffer of ${bytes.byteLength} bytes`)
  }
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT !== 0) bytes = bytes.slice() // unaligned: copy
  const data = new Type(bytes.buffer, bytes.byteOffset, size * per)
  if (ndim === 1 && STANDALONE.has(dtype)) return data
  return new NDArray(data, shape, dtype)
}

// 'datetime64[ms]' for code 14 and unit byte 8; the unit byte must be 1..13.
function timeDtype(code, unit) {
  if (unit < 1 || unit > TIME_UNITS.length) {
    throw new SerializationError(`dtype code ${code} with time unit ${unit}, not one of 1..${TIME_UNITS.length}`)
  }
  return `${TIME_KINDS[code]}[${TIME_UNITS[unit - 1]}]`
}
