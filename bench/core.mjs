// Core figures of pyferry against the raw floor, measured in the same run.
//
// Floor: a Python child that echoes length-prefixed bytes on descriptor 3, the
// same socket pair pyferry uses, with no protocol, codec or dispatch. Workloads:
//   seed   numpy.sum([1..9]), one call at a time; floor: an 8-byte echo
//   1e6    a 1e6-element Float64Array to numpy.asarray and back; floor: 8 MB echoed
// Rounds alternate floor and pyferry; the table gives medians of the per-round
// medians, their min-max, and pyferry / floor. Run: node bench/core.mjs (after make setup).

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Python } from 'pyferry'

const ROUNDS = 7
const SEED_CALLS = 2000
const ARRAY_CALLS = 15
const python = process.env.PYFERRY_PYTHON ?? fileURLToPath(new URL('../.venv/bin/python', import.meta.url))

function rawEcho() {
  const child = spawn(python, [fileURLToPath(new URL('raw_echo.py', import.meta.url))], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
  })
  const socket = child.stdio[3]
  let want = -1
  let parts = []
  let have = 0
  let done
  socket.on('data', (chunk) => {
    parts.push(chunk)
    have += chunk.length
    if (want < 0 && have >= 4) want = Buffer.concat(parts).readUInt32LE(0) + 4
    if (want >= 0 && have >= want) {
      // Land the payload in one aligned buffer, as pyferry does.
      const out = new Uint8Array(new ArrayBuffer(want - 4))
      let at = -4
      for (const part of parts) {
        const skip = Math.max(0, -at)
        out.set(part.subarray(skip), Math.max(at, 0))
        at += part.length
      }
      parts = []
      have = 0
      want = -1
      done(out)
    }
  })
  return {
    echo(bytes) {
      const head = Buffer.alloc(4)
      head.writeUInt32LE(bytes.byteLength)
      return new Promise((resolve) => {
        done = resolve
        socket.cork()
        socket.write(head)
        socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
        socket.uncork()
      })
    },
    close: () => socket.end(),
  }
}

async function medianOf(n, fn) {
  const times = []
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    await fn()
    times.push(Number(process.hrtime.bigint() - start) / 1e3)
  }
  times.sort((a, b) => a - b)
  return times[times.length >> 1]
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

const raw = rawEcho()
const py = new Python({ python })
const seed = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const eight = new Float64Array(1)
const big = new Float64Array(1e6).map(() => Math.random())
const check = await py.call('numpy.asarray', big)
if (check[123] !== big[123] || check.length !== big.length) throw new Error('array came back wrong')
for (let i = 0; i < 500; i++) {
  await py.call('numpy.sum', seed)
  await raw.echo(eight)
}

const rows = { seed: [[], []], '1e6': [[], []] }
for (let r = 0; r < ROUNDS; r++) {
  rows.seed[0].push(await medianOf(SEED_CALLS, () => raw.echo(eight)))
  rows.seed[1].push(await medianOf(SEED_CALLS, () => py.call('numpy.sum', seed)))
  rows['1e6'][0].push(await medianOf(ARRAY_CALLS, () => raw.echo(big)))
  rows['1e6'][1].push(await medianOf(ARRAY_CALLS, () => py.call('numpy.asarray', big)))
}
await py.close()
raw.close()

const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`)
console.log(`workload   floor (min-max)                 pyferry (min-max)               ratio`)
for (const [name, [floor, ours]] of Object.entries(rows)) {
  const span = (xs) => `${fmt(median(xs)).padStart(9)} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`
  console.log(`${name.padEnd(10)} ${span(floor).padEnd(31)} ${span(ours).padEnd(31)} ${(median(ours) / median(floor)).toFixed(2)}x`)
}
