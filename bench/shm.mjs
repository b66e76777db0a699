// `make bench-shm`: what moving a large array through shared memory instead of the socket
// would gain, measured before building it (the stretch target of W3).
//
// Node has no mmap without a native addon, so the best it can do with /dev/shm is a file
// there: write the array into it, and read the answer out of another one into a fresh
// ArrayBuffer. The Python end (floor_worker.py, ops 6 and 7) reads the first file into a
// fresh np.empty, as pyferry's worker lands an array, and writes it to the second. Each
// variant moves 80 MB there and back, interleaved with the raw socket echo of the same 80 MB
// (F3's floor) in every round:
//
//   warm   the files keep their pages between transfers (an arena per worker);
//   fresh  the files are emptied before each transfer (no memory kept between calls);
//   async  warm, with fs.promises (the thread pool) so the event loop is not blocked;
//   mapped warm, and Python maps both files: it copies the bytes once, from one mapping to the
//          other, instead of into an array and out again. (The array it would hand to user
//          code then lives in the shared file: the least copying any design can do here.)
//
// The sync variants block Node's event loop while they copy: "blocked" is the longest single
// writeSync or readSync. SHM_ROUNDS=<n> changes the round count (default 11).

import { closeSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { RawWorker } from './raw.mjs'
import { collectGarbage, median, summary } from './stats.mjs'

const ROUNDS = Math.max(3, Number(process.env.SHM_ROUNDS) || 11)
const RUNS = 3 // transfers per variant and round; the round's figure is their median
const SIZE = 8e7 // 1e7 float64, W3's large array
const DIR = '/dev/shm'

const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6

function timed(fn) {
  const start = process.hrtime.bigint()
  fn()
  return ms(start)
}

const raw = new RawWorker()
const paths = [`${DIR}/pyferry-bench-${process.pid}-in`, `${DIR}/pyferry-bench-${process.pid}-out`]
let fds
let ready = false
try {
  fds = paths.map((path) => openSync(path, 'w+', 0o600))
  await raw.openFiles(...paths)
  ready = true
} catch (error) {
  console.log(`no usable ${DIR} (${error.message}): nothing to measure`)
} finally {
  // Both processes hold them open: unlinked now, they vanish with the processes, whatever happens.
  for (const path of paths) {
    try {
      unlinkSync(path)
    } catch {}
  }
}
if (!ready) {
  await raw.close()
  process.exit(0)
}
const [fdIn, fdOut] = fds
const handles = await Promise.all(fds.map((fd) => open(`/proc/self/fd/${fd}`, 'r+')))

const payload = new Uint8Array(SIZE)
for (let i = 0; i < SIZE; i += 4096) payload[i] = (i / 4096) & 0xff
payload[SIZE - 1] = 7
function check(reply) {
  if (reply.length !== SIZE || reply[SIZE - 1] !== 7 || reply[4096 * 1234] !== (1234 & 0xff)) {
    throw new Error('the 80 MB came back wrong')
  }
}

async function viaSocket() {
  const start = process.hrtime.bigint()
  check(await raw.echo(payload))
  return { ms: ms(start), blocked: 0 }
}

async function viaFiles(fresh, mapped = false) {
  if (fresh) for (const fd of fds) ftruncateSync(fd, 0)
  const start = process.hrtime.bigint()
  const write = timed(() => writeSync(fdIn, payload, 0, SIZE, 0))
  await raw.fileEcho(SIZE, mapped)
  const reply = new Uint8Array(SIZE)
  const read = timed(() => readSync(fdOut, reply, 0, SIZE, 0))
  const total = ms(start)
  check(reply)
  return { ms: total, blocked: Math.max(write, read) }
}

async function viaFilesAsync() {
  const start = process.hrtime.bigint()
  await handles[0].write(payload, 0, SIZE, 0)
  await raw.fileEcho(SIZE)
  const reply = new Uint8Array(SIZE)
  await handles[1].read(reply, 0, SIZE, 0)
  const total = ms(start)
  check(reply)
  return { ms: total, blocked: 0 }
}

const variants = [
  ['socket (F3 floor)', viaSocket],
  ['/dev/shm, warm', () => viaFiles(false)],
  ['/dev/shm, fresh', () => viaFiles(true)],
  ['/dev/shm, warm, async', viaFilesAsync],
  ['/dev/shm, warm, mapped by Python', () => viaFiles(false, true)],
]
for (const [, run] of variants) await run() // warm-up: pages, code
const samples = Object.fromEntries(variants.map(([name]) => [name, { ms: [], blocked: [] }]))
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? [...variants].reverse() : variants
  for (const [name, run] of order) {
    const runs = []
    for (let i = 0; i < RUNS; i++) {
      collectGarbage()
      runs.push(await run())
    }
    samples[name].ms.push(median(runs.map((r) => r.ms)))
    samples[name].blocked.push(Math.max(...runs.map((r) => r.blocked)))
  }
  process.stderr.write(`[bench-shm] round ${round + 1}/${ROUNDS} done\n`)
}
await Promise.all(handles.map((h) => h.close()))
for (const fd of fds) closeSync(fd)
await raw.close()

const socket = summary(samples[variants[0][0]].ms).median
const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))
console.log(`\n80 MB there and back, ${ROUNDS} rounds of ${RUNS} (medians; min–max over rounds)\n`)
console.log('| path | ms | ratio to the socket | event loop blocked, max (ms) |')
console.log('| --- | --- | --- | --- |')
for (const [name] of variants) {
  const t = summary(samples[name].ms)
  const blocked = Math.max(...samples[name].blocked)
  console.log(`| ${name} | ${f(t.median)} (${f(t.min)}–${f(t.max)}) | ${(t.median / socket).toFixed(2)}× | ${blocked ? f(blocked) : '—'} |`)
}
