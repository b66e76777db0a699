// Frame layout and message kinds: the mirror of src/pyferry/protocol.py.
//
//   offset   size  meaning
//   0        2     magic "PF"
//   2        2     u16 B, number of out-of-band buffers
//   4        4     u32 H, length of the MessagePack header
//   8        8*B   u64 length of each buffer
//   8+8B     H     header: one MessagePack array [kind, id, ...]
//   8+8B+H   ...   the B buffers, back to back
//
// All integers little-endian. docs/protocol.md is the normative description.

import { ProtocolError } from './errors.js'

export const PROTOCOL_VERSION = 1
export const PREFIX_SIZE = 8
export const MAX_BUFFERS = 0xffff
export const DEFAULT_MAX_MESSAGE_BYTES = 2 ** 30

export const HELLO = 0
export const CALL = 1
export const RESULT = 2
export const ERROR = 3
export const CANCEL = 4
export const RELEASE = 5 // client -> worker: [5, 0, [handle id, ...]]
export const CALLBACK = 6 // worker -> client: [6, cid, callback id, args]
export const CALLBACK_RESULT = 7 // client -> worker: [7, cid, value]
export const CALLBACK_ERROR = 8 // client -> worker: [8, cid, error-info]
export const STREAM_ITEMS = 9 // worker -> client: [9, id, [item, ...]]
export const STREAM_END = 10 // worker -> client: [10, id, nil]
export const STREAM_CREDIT = 11 // client -> worker: [11, id, n]
export const STREAM_CLOSE = 12 // client -> worker: [12, id]
export const PROGRESS = 13 // worker -> client: [13, id, [done, total, message]]
export const DETACHED = 14 // worker -> client: [14, id, nil]
export const WITHDRAW = 15 // client -> worker: [15, id]
export const WITHDRAWN = 16 // worker -> client: [16, id, nil]

// MessagePack extension types of protocol version 1 (codec.js holds what each decodes to).
export const EXT_TIMESTAMP = -1 // MessagePack's own timestamp
export const EXT_NDARRAY = 1 // u32 buffer index, dtype, ndim, unit, u64 shape
export const EXT_COMPLEX = 2 // two float64, little-endian
export const EXT_HANDLE = 3 // u64 handle id (from a worker: then `<type>\n<repr>`)
export const EXT_CALLBACK = 4 // u64 callback id; client -> worker only
export const EXT_ARROW = 5 // u32 buffer index of an Arrow IPC stream

const MAGIC0 = 0x50 // 'P'
const MAGIC1 = 0x46 // 'F'

// The chunks to write for a frame whose header sits in `header` after `reserve` free bytes.
export function frameChunks(header, reserve, buffers) {
  const headerLen = header.length - reserve
  if (buffers.length > MAX_BUFFERS) {
    throw new RangeError(`a frame holds at most ${MAX_BUFFERS} buffers, not ${buffers.length}`)
  }
  if (buffers.length === 0 && reserve === PREFIX_SIZE) {
    writePrefix(header, 0, 0, headerLen)
    return [header]
  }
  const prefix = Buffer.allocUnsafe(PREFIX_SIZE + 8 * buffers.length)
  writePrefix(prefix, 0, buffers.length, headerLen)
  const chunks = [prefix, header.subarray(reserve)]
  for (let i = 0; i < buffers.length; i++) {
    const b = buffers[i]
    prefix.writeBigUInt64LE(BigInt(b.byteLength), PREFIX_SIZE + 8 * i)
    if (b.byteLength) chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  }
  return chunks
}

// The size a receiver checks against its limit (header plus buffers) of a frame from frameChunks().
export function messageBytes(chunks) {
  const total = chunks.reduce((n, c) => n + c.length, 0)
  // One chunk: prefix and header share it. Otherwise the first chunk is prefix plus length table.
  return chunks.length === 1 ? total - PREFIX_SIZE : total - chunks[0].length
}

function writePrefix(buf, at, count, headerLen) {
  buf[at] = MAGIC0
  buf[at + 1] = MAGIC1
  buf.writeUInt16LE(count, at + 2)
  buf.writeUInt32LE(headerLen, at + 4)
}

const PREFIX = 0
const LENGTHS = 1
const HEADER = 2
const BODY = 3

// Incremental frame parser. Feed it chunks in any split; it calls
// onFrame(header, buffers) per frame. Buffers land in one ArrayBuffer per
// frame, each at an 8-byte aligned offset, so typed arrays can view them.
export class FrameReader {
  #maxBytes
  #onFrame
  #state = PREFIX
  #need = PREFIX_SIZE
  #partial = null // Buffer collecting a part that spans chunks
  #filled = 0
  #count = 0
  #headerLen = 0
  #lengths = []
  #header = null
  #buffers = []
  #index = 0 // buffer being filled in BODY
  #offset = 0 // bytes of it filled

  constructor(onFrame, { maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES } = {}) {
    this.#onFrame = onFrame
    this.#maxBytes = maxMessageBytes
  }

  // True between frames: an EOF here is clean.
  get idle() {
    return this.#state === PREFIX && this.#filled === 0
  }

  push(chunk) {
    let at = 0
    while (at < chunk.length) {
      if (this.#state === PREFIX && this.#filled === 0) {
        const end = this.#wholeSmallFrame(chunk, at)
        if (end > 0) {
          // Most frames: no buffers, prefix and header in this chunk. Handed on as they are.
          const header = chunk.subarray(at + PREFIX_SIZE, end)
          at = end
          this.#onFrame(header, [])
          continue
        }
      }
      if (this.#state === BODY) {
        at = this.#body(chunk, at)
        continue
      }
      let part
      const want = this.#need - this.#filled
      if (this.#filled === 0 && chunk.length - at >= this.#need) {
        part = chunk.subarray(at, at + this.#need)
        at += this.#need
      } else {
        this.#partial ??= Buffer.allocUnsafe(this.#need)
        const n = Math.min(want, chunk.length - at)
        chunk.copy(this.#partial, this.#filled, at, at + n)
        this.#filled += n
        at += n
        if (this.#filled < this.#need) return
        part = this.#partial
        this.#partial = null
        this.#filled = 0
      }
      this.#advance(part)
    }
  }

  // Where the frame starting at `at` ends, if it has no buffers, a valid prefix and all its
  // bytes in `chunk`; else 0 (the general path reads it, and says what is wrong with it).
  #wholeSmallFrame(chunk, at) {
    if (chunk.length - at < PREFIX_SIZE || chunk[at] !== MAGIC0 || chunk[at + 1] !== MAGIC1) return 0
    if (chunk[at + 2] !== 0 || chunk[at + 3] !== 0) return 0 // buffers follow
    const headerLen = chunk.readUInt32LE(at + 4)
    if (headerLen === 0 || headerLen > this.#maxBytes) return 0
    const end = at + PREFIX_SIZE + headerLen
    return end <= chunk.length ? end : 0
  }

  #advance(part) {
    if (this.#state === PREFIX) {
      if (part[0] !== MAGIC0 || part[1] !== MAGIC1) {
        throw new ProtocolError(`bad frame magic 0x${part.subarray(0, 2).toString('hex')}, expected 0x5046`)
      }
      this.#count = part.readUInt16LE(2)
      this.#headerLen = part.readUInt32LE(4)
      if (this.#headerLen === 0) throw new ProtocolError('frame has an empty header')
      this.#checkSize(this.#headerLen)
      this.#state = LENGTHS
      this.#need = 8 * this.#count
      if (this.#need === 0) this.#startHeader([])
    } else if (this.#state === LENGTHS) {
      const lengths = new Array(this.#count)
      let total = this.#headerLen
      for (let i = 0; i < this.#count; i++) {
        const n = part.readBigUInt64LE(8 * i)
        lengths[i] = n > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(n)
        total += lengths[i]
      }
      if (total > this.#maxBytes) {
        // Name the declared size exactly, even past 2**53 where numbers lose it.
        let exact = BigInt(this.#headerLen)
        for (let i = 0; i < this.#count; i++) exact += part.readBigUInt64LE(8 * i)
        this.#checkSize(exact)
      }
      this.#startHeader(lengths)
    } else {
      this.#header = part
      this.#startBody()
    }
  }

  #checkSize(total) {
    if (total > this.#maxBytes) {
      throw new ProtocolError(`frame of ${total} bytes exceeds the limit of ${this.#maxBytes} bytes`)
    }
  }

  #startHeader(lengths) {
    this.#lengths = lengths
    this.#state = HEADER
    this.#need = this.#headerLen
  }

  #startBody() {
    let total = 0
    const offsets = this.#lengths.map((n) => {
      const at = total
      total += Math.ceil(n / 8) * 8
      return at
    })
    const memory = new ArrayBuffer(total)
    this.#buffers = this.#lengths.map((n, i) => new Uint8Array(memory, offsets[i], n))
    this.#index = 0
    this.#offset = 0
    this.#state = BODY
    this.#finishBody()
  }

  #body(chunk, at) {
    const dest = this.#buffers[this.#index]
    const n = Math.min(dest.length - this.#offset, chunk.length - at)
    dest.set(chunk.subarray(at, at + n), this.#offset)
    this.#offset += n
    this.#finishBody()
    return at + n
  }

  // Skip buffers already complete (including empty ones); emit the frame when all are.
  #finishBody() {
    while (this.#index < this.#buffers.length && this.#offset === this.#buffers[this.#index].length) {
      this.#index++
      this.#offset = 0
    }
    if (this.#index < this.#buffers.length) return
    const header = this.#header
    const buffers = this.#buffers
    this.#header = null
    this.#buffers = []
    this.#state = PREFIX
    this.#need = PREFIX_SIZE
    this.#onFrame(header, buffers)
  }
}
