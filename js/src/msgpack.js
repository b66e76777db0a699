// MessagePack in the exact form the pyferry protocol needs, and nothing more.
//
// Why not msgpackr or @msgpack/msgpack: both encode -0 and integral doubles
// beyond 32 bits in ways that lose the value rules of docs/protocol.md (-0
// becomes int 0, 2**40 becomes a float), and msgpackr keeps its extension
// registry in module-global state shared with every other user of it in the
// process. The format itself is small; this file is the whole of it.
//
// Encoding is canonical in the same way as msgpack-python's: the smallest
// integer, string, binary, array, map and extension forms, floats always as
// float 64. The golden vectors in spec/vectors pin that byte for byte.

import { SerializationError } from './errors.js'

const textDecoder = new TextDecoder('utf-8', { fatal: true })

// Appends MessagePack items to a growing Buffer. `reserve` bytes at the front are left free.
export class Writer {
  constructor(reserve = 0, size = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(size, reserve + 16))
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)
    this.pos = reserve
  }

  ensure(n) {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength)
  }

  nil() {
    this.ensure(1)
    this.buf[this.pos++] = 0xc0
  }

  bool(value) {
    this.ensure(1)
    this.buf[this.pos++] = value ? 0xc3 : 0xc2
  }

  // A safe integer (the caller checked Number.isSafeInteger and not -0).
  int(n) {
    this.ensure(9)
    const b = this.buf
    const v = this.view
    if (n >= 0) {
      if (n < 0x80) b[this.pos++] = n
      else if (n < 0x100) { b[this.pos++] = 0xcc; b[this.pos++] = n }
      else if (n < 0x10000) { b[this.pos++] = 0xcd; v.setUint16(this.pos, n); this.pos += 2 }
      else if (n < 0x100000000) { b[this.pos++] = 0xce; v.setUint32(this.pos, n); this.pos += 4 }
      else { b[this.pos++] = 0xcf; v.setBigUint64(this.pos, BigInt(n)); this.pos += 8 }
    } else if (n >= -0x20) b[this.pos++] = n & 0xff
    else if (n >= -0x80) { b[this.pos++] = 0xd0; v.setInt8(this.pos++, n) }
    else if (n >= -0x8000) { b[this.pos++] = 0xd1; v.setInt16(this.pos, n); this.pos += 2 }
    else if (n >= -0x80000000) { b[this.pos++] = 0xd2; v.setInt32(this.pos, n); this.pos += 4 }
    else { b[this.pos++] = 0xd3; v.setBigInt64(this.pos, BigInt(n)); this.pos += 8 }
  }

  // A BigInt in [-2**63, 2**64): written in the smallest form, like any integer.
  bigint(n) {
    if (n >= -0x80000000n && n < 0x100000000n) return this.int(Number(n))
    this.ensure(9)
    if (n >= 0n) {
      this.buf[this.pos++] = 0xcf
      this.view.setBigUint64(this.pos, n)
    } else {
      this.buf[this.pos++] = 0xd3
      this.view.setBigInt64(this.pos, n)
    }
    this.pos += 8
  }

  float(x) {
    this.ensure(9)
    this.buf[this.pos++] = 0xcb
    this.view.setFloat64(this.pos, x)
    this.pos += 8
  }

  str(s) {
    const n = Buffer.byteLength(s, 'utf8')
    this.#header(n, 0xa0, 31, 0xd9, 0xda, 0xdb, n)
    this.pos += this.buf.utf8Write(s, this.pos, n)
  }

  bin(bytes) {
    const n = bytes.byteLength
    this.#header(n, -1, -1, 0xc4, 0xc5, 0xc6, n)
    this.buf.set(bytes, this.pos)
    this.pos += n
  }

  arrayHeader(n) {
    this.#header(n, 0x90, 15, -1, 0xdc, 0xdd, 0)
  }

  mapHeader(n) {
    this.#header(n, 0x80, 15, -1, 0xde, 0xdf, 0)
  }

  ext(type, payload) {
    const n = payload.byteLength
    const fixed = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[n]
    this.ensure(6 + n)
    if (fixed !== undefined) this.buf[this.pos++] = fixed
    else this.#header(n, -1, -1, 0xc7, 0xc8, 0xc9, 0)
    this.view.setInt8(this.pos++, type)
    this.buf.set(payload, this.pos)
    this.pos += n
  }

  // Length header: fix form up to `fixMax`, then 8-, 16- and 32-bit forms (-1: form absent).
  #header(n, fix, fixMax, m8, m16, m32, extra) {
    if (n > 0xffffffff) throw new RangeError(`length ${n} does not fit a MessagePack header`)
    this.ensure(5 + extra)
    if (n <= fixMax) this.buf[this.pos++] = fix | n
    else if (m8 >= 0 && n < 0x100) { this.buf[this.pos++] = m8; this.buf[this.pos++] = n }
    else if (n < 0x10000) { this.buf[this.pos++] = m16; this.view.setUint16(this.pos, n); this.pos += 2 }
    else { this.buf[this.pos++] = m32; this.view.setUint32(this.pos, n); this.pos += 4 }
  }
}

// Reads one MessagePack value. `ext(type, bytes)` builds extension values;
// maps whose keys are all strings become plain objects, other maps become Map.
export class Reader {
  constructor(ext, { maxDepth = 512 } = {}) {
    this.ext = ext
    this.maxDepth = maxDepth
  }

  decode(buf) {
    this.#start(buf)
    const value = this.read()
    if (this.pos !== buf.length) {
      throw new RangeError(`${buf.length - this.pos} bytes left after the MessagePack value`)
    }
    return value
  }

  // The first `n` items of the array `buf` holds, without reading the rest of it.
  head(buf, n) {
    this.#start(buf)
    const b = buf[this.#need(1)]
    const length = b >= 0x90 && b < 0xa0 ? b & 0x0f : -1
    if (length < n) throw new RangeError(`expected an array of at least ${n} items`)
    return Array.from({ length: n }, () => this.read())
  }

  #start(buf) {
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.pos = 0
    this.depth = 0
    this.pending = 0 // items the open arrays and maps still promise
  }

  #need(n) {
    if (this.pos + n > this.buf.length) {
      throw new RangeError(`MessagePack data truncated: need ${n} bytes at offset ${this.pos}`)
    }
    const at = this.pos
    this.pos += n
    return at
  }

  read() {
    const b = this.buf[this.#need(1)]
    const v = this.view
    if (b < 0x80) return b
    if (b < 0x90) return this.#map(b & 0x0f)
    if (b < 0xa0) return this.#array(b & 0x0f)
    if (b < 0xc0) return this.#str(b & 0x1f)
    if (b >= 0xe0) return b - 0x100
    switch (b) {
      case 0xc0: return null
      case 0xc2: return false
      case 0xc3: return true
      case 0xc4: return this.#bin(this.buf[this.#need(1)])
      case 0xc5: return this.#bin(v.getUint16(this.#need(2)))
      case 0xc6: return this.#bin(v.getUint32(this.#need(4)))
      case 0xc7: return this.#ext(this.buf[this.#need(1)])
      case 0xc8: return this.#ext(v.getUint16(this.#need(2)))
      case 0xc9: return this.#ext(v.getUint32(this.#need(4)))
      case 0xca: return v.getFloat32(this.#need(4))
      case 0xcb: return v.getFloat64(this.#need(8))
      case 0xcc: return this.buf[this.#need(1)]
      case 0xcd: return v.getUint16(this.#need(2))
      case 0xce: return v.getUint32(this.#need(4))
      case 0xcf: return this.#u64(this.#need(8))
      case 0xd0: return v.getInt8(this.#need(1))
      case 0xd1: return v.getInt16(this.#need(2))
      case 0xd2: return v.getInt32(this.#need(4))
      case 0xd3: return this.#i64(this.#need(8))
      case 0xd4: return this.#ext(1)
      case 0xd5: return this.#ext(2)
      case 0xd6: return this.#ext(4)
      case 0xd7: return this.#ext(8)
      case 0xd8: return this.#ext(16)
      case 0xd9: return this.#str(this.buf[this.#need(1)])
      case 0xda: return this.#str(v.getUint16(this.#need(2)))
      case 0xdb: return this.#str(v.getUint32(this.#need(4)))
      case 0xdc: return this.#array(v.getUint16(this.#need(2)))
      case 0xdd: return this.#array(v.getUint32(this.#need(4)))
      case 0xde: return this.#map(v.getUint16(this.#need(2)))
      case 0xdf: return this.#map(v.getUint32(this.#need(4)))
      default: throw new RangeError(`invalid MessagePack byte 0x${b.toString(16)} at offset ${this.pos - 1}`)
    }
  }

  // 64-bit integers: a number when it is safe, a BigInt otherwise.
  #u64(at) {
    const hi = this.view.getUint32(at)
    if (hi < 0x200000) return hi * 0x100000000 + this.view.getUint32(at + 4)
    return this.view.getBigUint64(at)
  }

  #i64(at) {
    const n = this.view.getBigInt64(at)
    return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n
  }

  #str(n) {
    const at = this.#need(n)
    return textDecoder.decode(this.buf.subarray(at, at + n))
  }

  #bin(n) {
    const at = this.#need(n)
    return Buffer.from(this.buf.subarray(at, at + n))
  }

  #ext(n) {
    const type = this.view.getInt8(this.#need(1))
    const at = this.#need(n)
    return this.ext(type, this.buf.subarray(at, at + n))
  }

  #enter(n) {
    if (++this.depth > this.maxDepth) throw new RangeError(`nesting deeper than ${this.maxDepth}`)
    // Each item takes at least one byte, so every open array and map together can
    // promise no more items than there are bytes left. Checking each container on its
    // own is not enough: 512 nested ones could each claim the whole rest and make the
    // reader allocate 512 times that before it finds out (a 2 MiB header, 4 GiB).
    if (this.pending + n > this.buf.length - this.pos) {
      throw new RangeError(`MessagePack data truncated: ${n} elements declared at offset ${this.pos}, ` +
        `${this.buf.length - this.pos} bytes left for them and ${this.pending} more`)
    }
    this.pending += n
  }

  #array(n) {
    this.#enter(n)
    const out = new Array(n)
    for (let i = 0; i < n; i++) {
      this.pending--
      out[i] = this.read()
    }
    this.depth--
    return out
  }

  #map(n) {
    this.#enter(2 * n)
    const keys = new Array(n)
    const values = new Array(n)
    let allStrings = true
    for (let i = 0; i < n; i++) {
      this.pending--
      keys[i] = this.read()
      this.pending--
      values[i] = this.read()
      if (typeof keys[i] !== 'string') allStrings = false
    }
    this.depth--
    if (!allStrings) return new Map(keys.map((k, i) => [k, values[i]]))
    const out = {}
    for (let i = 0; i < n; i++) {
      // A "__proto__" key is data, never the prototype.
      if (keys[i] === '__proto__') {
        Object.defineProperty(out, keys[i], { value: values[i], enumerable: true, writable: true, configurable: true })
      } else out[keys[i]] = values[i]
    }
    return out
  }
}

// -- the timestamp extension (type -1), MessagePack's own ------------------------------

// The payload of a Date as MessagePack's timestamp extension (type -1), in the smallest of its
// three forms, as msgpack-python writes it; null for an invalid Date.
export function timestamp(date) {
  const ms = date.getTime()
  if (Number.isNaN(ms)) return null
  const sec = Math.floor(ms / 1000)
  const nsec = (ms - sec * 1000) * 1e6
  if (sec >= 0 && sec < 2 ** 34) {
    if (nsec === 0 && sec < 2 ** 32) {
      const out = Buffer.allocUnsafe(4)
      out.writeUInt32BE(sec)
      return out
    }
    const out = Buffer.allocUnsafe(8)
    out.writeBigUInt64BE((BigInt(nsec) << 34n) | BigInt(sec))
    return out
  }
  const out = Buffer.allocUnsafe(12)
  out.writeUInt32BE(nsec, 0)
  out.writeBigInt64BE(BigInt(sec), 4)
  return out
}

// The Date of a timestamp extension's payload (a DataView of 4, 8 or 12 bytes).
export function readTimestamp(view) {
  let sec
  let nsec = 0
  if (view.byteLength === 4) sec = view.getUint32(0)
  else if (view.byteLength === 8) {
    const hi = view.getUint32(0)
    nsec = hi >>> 2
    sec = (hi & 3) * 2 ** 32 + view.getUint32(4)
  } else if (view.byteLength === 12) {
    nsec = view.getUint32(0)
    sec = Number(view.getBigInt64(4))
  } else throw new SerializationError(`timestamp extension of ${view.byteLength} bytes`)
  return new Date(sec * 1000 + Math.floor(nsec / 1e6))
}
