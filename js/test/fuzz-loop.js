// The fuzz loops of fuzz.test.js, and what they share with it: a seeded PRNG,
// seed frames from spec/vectors, mutations and MessagePack bombs.
//
// fuzz.test.js runs each loop in a worker thread so that a watchdog can stop
// one that hangs: the loop stores its iteration number and current input in
// shared memory before it works on the input, so a hang or a wrong error
// names both (and the seed that reproduces it: PYFERRY_FUZZ_SEED).

import { readFileSync } from 'node:fs'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { decodeMessage } from '../src/codec.js'
import { PyferryError } from '../src/errors.js'
import { FrameReader } from '../src/protocol.js'

// mulberry32: a 32-bit seed, floats in [0, 1). Small, fast and good enough to fuzz with.
export function prng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  next.int = (n) => Math.floor(next() * n) // 0 <= int < n
  next.pick = (items) => items[next.int(items.length)]
  next.bytes = (n) => Buffer.from(Array.from({ length: n }, () => next.int(256)))
  return next
}

const vectors = new URL('../../spec/vectors/', import.meta.url)
const load = (name) => JSON.parse(readFileSync(new URL(name, vectors), 'utf8'))
export const VALUE_FRAMES = load('values.json').map((c) => Buffer.from(c.hex, 'hex'))
export const ERROR_FRAMES = load('errors.json').map((c) => Buffer.from(c.hex, 'hex'))
export const SEED_FRAMES = [...VALUE_FRAMES, ...ERROR_FRAMES]

// A well-formed frame taken apart: { header, buffers }.
export function splitFrame(data) {
  const count = data.readUInt16LE(2)
  const headerLen = data.readUInt32LE(4)
  let at = 8 + 8 * count
  const header = data.subarray(at, at + headerLen)
  at += headerLen
  const buffers = []
  for (let i = 0; i < count; i++) {
    const n = Number(data.readBigUInt64LE(8 + 8 * i))
    buffers.push(new Uint8Array(data.subarray(at, at + n)))
    at += n
  }
  return { header, buffers }
}
export const SEED_MESSAGES = VALUE_FRAMES.map(splitFrame)

// A frame around a header and buffers, built by hand from docs/protocol.md.
export function frame(header, buffers = []) {
  const prefix = Buffer.alloc(8 + 8 * buffers.length)
  prefix.write('PF', 0, 'latin1')
  prefix.writeUInt16LE(buffers.length, 2)
  prefix.writeUInt32LE(header.length, 4)
  buffers.forEach((b, i) => prefix.writeBigUInt64LE(BigInt(b.length), 8 + 8 * i))
  return Buffer.concat([prefix, header, ...buffers])
}

export const envelope = (value) => Buffer.concat([Buffer.from([0x93, 0x02, 0x07]), value])
const repeat = (bytes, n) => Buffer.alloc(bytes.length * n, Buffer.from(bytes))

function ndarray(code, shape) {
  const payload = Buffer.alloc(8 + 8 * shape.length)
  payload[4] = code
  payload[5] = shape.length
  shape.forEach((n, i) => payload.writeBigUInt64LE(BigInt(n), 8 + 8 * i))
  const head = Buffer.from([0xc9, 0, 0, 0, 0, 0x01])
  head.writeUInt32BE(payload.length, 1)
  return Buffer.concat([head, payload])
}

// MessagePack values that claim far more than they hold, or nest without end (as in tests/fuzzing.py).
export const BOMBS = {
  'array32 claiming 2**32-1 items': Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
  'array32 claiming 2**32-1 items, 1 MiB of them there': Buffer.concat([Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(1 << 20, 0xc0)]),
  'map32 claiming 2**32-1 pairs': Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]),
  'map32 claiming 2**32-1 pairs, 1 MiB there': Buffer.concat([Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(1 << 20, 0xc0)]),
  '100 000 nested arrays': Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])]),
  '100 000 nested array32s': Buffer.concat([repeat([0xdd, 0, 0, 0, 1], 100_000), Buffer.from([0xc0])]),
  '100 000 nested maps': Buffer.concat([repeat([0x81, 0xc0], 100_000), Buffer.from([0xc0])]),
  'str32 claiming 4 GiB': Buffer.concat([Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(64, 0x78)]),
  'bin32 claiming 4 GiB': Buffer.concat([Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(64, 0x78)]),
  'ext32 claiming 4 GiB': Buffer.concat([Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.alloc(64, 0x78)]),
  'ndarray claiming 2**63 float64 elements': ndarray(11, [2n ** 63n]),
  'ndarray of 64 dimensions of 2**16': ndarray(13, Array(64).fill(2 ** 16)),
  'ndarray of 255 dimensions': ndarray(3, Array(255).fill(1)),
  'ndarray with a zero and a 2**64-1 dimension': ndarray(11, [0, 2n ** 64n - 1n]),
  // Every level claims nearly the whole rest: the reader used to allocate each level's
  // array for its claim before reading an item (a 72 KB header cost 260 MiB).
  '600 nested array16s claiming 65535 items each': Buffer.concat([repeat([0xdc, 0xff, 0xff], 600), Buffer.alloc(70_000, 0xc0)]),
  '600 nested array32s claiming 100 000 items each': Buffer.concat([repeat([0xdd, 0, 0x01, 0x86, 0xa0], 600), Buffer.alloc(110_000, 0xc0)]),
  '600 nested map16s claiming 65535 pairs each': Buffer.concat([repeat([0xde, 0xff, 0xff, 0xc0], 600), Buffer.alloc(140_000, 0xc0)]),
}

const INTERESTING_BYTES = [
  0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc6, 0xc7, 0xc9, 0xca,
  0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff, 0x50, 0x46,
]
const INTERESTING_INTS = [
  0n, 1n, 2n, 7n, 8n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n,
  2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 40n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n,
]

// One of `seeds` after 1 to 8 random mutations.
export function mutate(rand, seeds) {
  let data = Buffer.from(rand.pick(seeds))
  for (let k = 1 + rand.int(8); k > 0; k--) {
    const at = rand.int(data.length + 1)
    switch (rand.int(7)) {
      case 0: // flip a bit
        if (at < data.length) data[at] ^= 1 << rand.int(8)
        break
      case 1: // an interesting or random byte
        if (at < data.length) data[at] = rand() < 0.7 ? rand.pick(INTERESTING_BYTES) : rand.int(256)
        break
      case 2: { // an interesting integer, 1, 2, 4 or 8 bytes, either byte order
        const size = rand.pick([1, 2, 4, 8])
        const value = rand.pick(INTERESTING_INTS) % (1n << BigInt(8 * size))
        const word = Buffer.alloc(8)
        if (rand() < 0.5) word.writeBigUInt64LE(value)
        else word.writeBigUInt64BE(value << BigInt(64 - 8 * size))
        data = Buffer.concat([data.subarray(0, at), word.subarray(0, size), data.subarray(at + size)])
        break
      }
      case 3: // insert random bytes
        data = Buffer.concat([data.subarray(0, at), rand.bytes(1 + rand.int(16)), data.subarray(at)])
        break
      case 4: // delete a run
        data = Buffer.concat([data.subarray(0, at), data.subarray(at + 1 + rand.int(16))])
        break
      case 5: // cut the tail
        data = data.subarray(0, at)
        break
      default: { // splice in a piece of another seed
        const other = rand.pick(seeds)
        const start = rand.int(other.length + 1)
        data = Buffer.concat([data.subarray(0, at), other.subarray(start, start + 1 + rand.int(64)), data.subarray(at)])
      }
    }
  }
  return data
}

// Thrown when something other than a PyferryError comes out, or an invariant breaks.
export class FuzzFailure extends Error {}

function allowOnly(fn) {
  try {
    return fn()
  } catch (error) {
    if (error instanceof PyferryError) return undefined
    throw error
  }
}

// Feed `data` to a fresh FrameReader in random chunks, decoding each frame it emits.
// Returns { frames, reader }; throws FuzzFailure on anything but PyferryErrors.
export function feed(rand, data, maxMessageBytes) {
  let frames = 0
  const reader = new FrameReader((header, buffers) => {
    frames++
    let total = header.length
    for (const b of buffers) {
      total += b.length
      if (b.byteOffset % 8 !== 0) throw new FuzzFailure(`buffer at unaligned offset ${b.byteOffset}`)
    }
    if (header.length < 1 || total > maxMessageBytes) throw new FuzzFailure(`frame of ${total} bytes passed the limit`)
    allowOnly(() => decodeMessage(header, buffers))
  }, { maxMessageBytes })
  allowOnly(() => {
    for (let at = 0; at < data.length;) {
      const n = rand() < 0.2 ? 1 : 1 + rand.int(data.length - at)
      reader.push(data.subarray(at, at + n))
      at += n
    }
  })
  return { frames, reader }
}

const LIMITS = [16, 64, 4096, 1 << 20]

// One iteration of each loop, on `rand`. Each returns the input it worked on.
export const LOOPS = {
  'random bytes into FrameReader': (rand, share) => {
    let data = rand.bytes(rand.int(1024))
    if (rand() < 0.5) data = Buffer.concat([Buffer.from('PF'), data]) // past the magic check
    share(data)
    feed(rand, data, rand.pick(LIMITS))
  },
  'mutated frames into FrameReader': (rand, share) => {
    const seeds = rand() < 0.3 ? [Buffer.concat([rand.pick(SEED_FRAMES), rand.pick(SEED_FRAMES), rand.pick(SEED_FRAMES)])] : SEED_FRAMES
    const data = mutate(rand, seeds)
    share(data)
    feed(rand, data, rand.pick(LIMITS))
  },
  'truncated frames into FrameReader': (rand, share) => {
    const whole = rand.pick(VALUE_FRAMES)
    const data = whole.subarray(0, rand.int(whole.length))
    share(data)
    const { frames, reader } = feed(rand, data, 1 << 20)
    // A proper prefix of one valid frame: nothing comes out, and the reader waits inside it.
    if (frames !== 0 || (data.length > 0 && reader.idle)) throw new FuzzFailure('a truncated frame was emitted or left the reader idle')
  },
  'random headers into decodeMessage': (rand, share) => {
    const header = rand.bytes(rand.int(512))
    share(header)
    const buffers = Array.from({ length: rand.int(4) }, () => new Uint8Array(rand.bytes(rand.int(64))))
    allowOnly(() => decodeMessage(header, buffers))
  },
  'mutated headers into decodeMessage': (rand, share) => {
    const { header, buffers } = rand.pick(SEED_MESSAGES)
    const bad = mutate(rand, [header])
    share(bad)
    let bufs = buffers
    if (buffers.length && rand() < 0.5) { // another length, or an unaligned view
      const delta = rand.int(17) - 8
      bufs = buffers.map((b) => {
        const grown = new Uint8Array(Math.max(0, b.length + delta) + 1)
        grown.set(b.subarray(0, grown.length - 1), 1)
        return grown.subarray(1)
      })
    }
    allowOnly(() => decodeMessage(bad, bufs))
  },
  'mutated bombs into decodeMessage': (rand, share) => {
    const bomb = rand.pick(Object.values(BOMBS)).subarray(0, 4096)
    const bad = mutate(rand, [rand() < 0.5 ? envelope(bomb) : bomb])
    share(bad)
    allowOnly(() => decodeMessage(bad, [new Uint8Array(0)]))
  },
  // For fuzz.test.js to check its watchdog: an iteration that never finishes.
  'spin (watchdog self-test)': (rand, share) => {
    share(Buffer.from('spin'))
    for (;;);
  },
}

// In a worker thread: run one loop, reporting progress through shared memory.
if (!isMainThread && workerData?.loop) {
  const { loop, seed, iterations, progress, input } = workerData
  const rand = prng(seed)
  const share = (data) => {
    const n = Math.min(data.length, input.length)
    input.set(data.subarray(0, n))
    Atomics.store(progress, 1, data.length)
  }
  let i = 0
  try {
    for (; i < iterations; i++) {
      Atomics.store(progress, 0, i)
      if (i % 32 === 0) Atomics.notify(progress, 0)
      LOOPS[loop](rand, share)
    }
    parentPort.postMessage({ done: iterations })
  } catch (error) {
    parentPort.postMessage({ failed: { iteration: i, name: error?.name, message: error?.message, stack: error?.stack } })
  }
}
