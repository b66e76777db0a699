// The Node end of the raw floor: spawns floor_worker.py with a 'pipe' on fd 3 (a Unix
// socket pair, as pyferry does) and sends it length-prefixed requests; see floor_worker.py.
//
// Requests may be pipelined; replies come back in order. Each reply lands in a fresh
// ArrayBuffer (what a bridge handing out owned arrays must allocate), like pyferry's reader.

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const python = process.env.PYFERRY_PYTHON ?? fileURLToPath(new URL('../.venv/bin/python', import.meta.url))
export const benchDir = fileURLToPath(new URL('.', import.meta.url))

const ECHO = 0
const SEED = 1
const FFT = 2
const BURN = 3
const COPY = 4
const INFO = 5
const FILES = 6
const FILE_ECHO = 7
const MAP_ECHO = 8
const SMALL = 1024

export class RawWorker {
  #child
  #socket
  #waiting = [] // resolvers, oldest first
  #head = Buffer.alloc(4)
  #headFilled = 0
  #body = null
  #bodyFilled = 0

  constructor() {
    this.#child = spawn(python, [fileURLToPath(new URL('floor_worker.py', import.meta.url))], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    })
    this.#socket = this.#child.stdio[3]
    this.#socket.on('data', (chunk) => this.#onData(chunk))
  }

  get pid() {
    return this.#child.pid
  }

  request(op, payload = new Uint8Array(0)) {
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    if (bytes.length <= SMALL) {
      const frame = Buffer.allocUnsafe(8 + bytes.length)
      frame.writeUInt32LE(op, 0)
      frame.writeUInt32LE(bytes.length, 4)
      bytes.copy(frame, 8)
      this.#socket.write(frame)
    } else {
      const head = Buffer.allocUnsafe(8)
      head.writeUInt32LE(op, 0)
      head.writeUInt32LE(bytes.length, 4)
      this.#socket.cork()
      this.#socket.write(head)
      this.#socket.write(bytes)
      this.#socket.uncork()
    }
    return new Promise((resolve) => this.#waiting.push(resolve))
  }

  echo(bytes) {
    return this.request(ECHO, bytes)
  }

  // The minimal binary seed bridge: 9 float64 out, their numpy.sum back.
  async seed(values) {
    const reply = await this.request(SEED, Float64Array.from(values))
    return new Float64Array(reply.buffer)[0]
  }

  async fft(x) {
    const reply = await this.request(FFT, x)
    return new Float64Array(reply.buffer)
  }

  burn(seconds) {
    return this.request(BURN, Float64Array.of(seconds))
  }

  async copySeconds(size) {
    return new Float64Array((await this.request(COPY, BigUint64Array.of(BigInt(size)))).buffer)[0]
  }

  async info() {
    return JSON.parse(Buffer.from(await this.request(INFO)).toString())
  }

  // For bench/shm.mjs: the child opens these two files (read from the first, write to the second).
  async openFiles(input, output) {
    await this.request(FILES, Buffer.from(`${input}\0${output}`))
  }

  // The child reads `size` bytes of its first file into a fresh array and writes them to its second.
  // `mapped`: the child maps both files and copies from one to the other instead.
  async fileEcho(size, mapped = false) {
    await this.request(mapped ? MAP_ECHO : FILE_ECHO, BigUint64Array.of(BigInt(size)))
  }

  close() {
    this.#socket.end()
    return new Promise((resolve) => this.#child.once('exit', resolve))
  }

  kill() {
    this.#child.kill('SIGKILL')
  }

  #onData(chunk) {
    let at = 0
    while (at < chunk.length) {
      if (this.#body === null) {
        const n = Math.min(4 - this.#headFilled, chunk.length - at)
        chunk.copy(this.#head, this.#headFilled, at, at + n)
        this.#headFilled += n
        at += n
        if (this.#headFilled < 4) return
        this.#headFilled = 0
        this.#body = new Uint8Array(new ArrayBuffer(this.#head.readUInt32LE(0)))
        this.#bodyFilled = 0
      }
      const n = Math.min(this.#body.length - this.#bodyFilled, chunk.length - at)
      this.#body.set(chunk.subarray(at, at + n), this.#bodyFilled)
      this.#bodyFilled += n
      at += n
      if (this.#bodyFilled === this.#body.length) {
        const body = this.#body
        this.#body = null
        this.#waiting.shift()(body)
      }
    }
  }
}
