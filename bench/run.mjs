// `make bench`: pyferry against the raw floor, measured in the same run.
//
// Every round runs each workload's floor and pyferry measurement back to back, floor first
// in even rounds and pyferry first in odd ones, so a noisy neighbour hits both. The table
// (report.mjs) gives medians over rounds, their min–max and the ratio to the floor; the same
// goes to bench/results/latest.json. BENCH_ROUNDS=<n> (at least 5) changes the round count.

import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, release } from 'node:os'
import { Python } from '../js/dist/pyferry.js' // the built entry, what `import 'pyferry'` loads
import * as floors from './floors.mjs'
import { PEERS, openPeer, peerCold, peerRate } from './peers.mjs'
import { RawWorker, benchDir, python } from './raw.mjs'
import { CALLBACKS, IN_FLIGHT, PIPELINE, STREAM_ITEMS, buildRows, table } from './report.mjs'
import { collectGarbage, cpuTicks, freshNode, latencies, stolenShare } from './stats.mjs'
import * as work from './workloads.mjs'

const ROUNDS = Math.max(5, Number(process.env.BENCH_ROUNDS) || 15)
const SEQUENTIAL = 2000 // W1 and the echo latency, per round
const SEED_BLOCK = 100 // W1 and its floor alternate every SEED_BLOCK calls
const RATE_CALLS = 10_000 // W2 and the echo rate, per round
const W7_CALLS = 20
const COLD_RUNS = 3 // per side and round: a cold start is short and noisy, so W5's medians rest on 3 × ROUNDS samples
const BURN_SECONDS = 2
const BIG = 1e7 // 80 MB of float64

const began = Date.now()
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - began) / 1e3).toFixed(0)} s] ${msg}\n`)

// A fixed pseudo-random signal in [-0.5, 0.5).
function signal(n) {
  const x = new Float64Array(n)
  let s = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    x[i] = (s >>> 0) / 2 ** 32 - 0.5
  }
  return x
}

// |X_k| of x's DFT, summed directly in JS: the reference for a few bins of rfft.
function dftBin(x, k) {
  const n = x.length
  let re = 0
  let im = 0
  for (let i = 0; i < n; i++) {
    const angle = (2 * Math.PI * ((k * i) % n)) / n
    re += x[i] * Math.cos(angle)
    im -= x[i] * Math.sin(angle)
  }
  return Math.hypot(re, im)
}

const sum = (y) => y.reduce((a, b) => a + b, 0)

// A check for rfft results of x: length, four bins against the JS DFT, and the checksum of the
// first result that passed (numpy's FFT of the same input is the same on both sides).
function fftCheck(x) {
  const bins = [0, 1, 4321, x.length / 2]
  const want = bins.map((k) => dftBin(x, k))
  let checksum = null
  return (y) => {
    if (y.length !== x.length / 2 + 1) throw new Error(`rfft of ${x.length} came back with ${y.length} elements`)
    bins.forEach((k, i) => {
      if (Math.abs(y[k] - want[i]) > 1e-6 * (1 + want[i])) throw new Error(`rfft bin ${k}: ${y[k]}, expected ${want[i]}`)
    })
    const total = sum(y)
    checksum ??= total
    if (Math.abs(total - checksum) > 1e-9 * checksum) throw new Error('rfft checksum differs between runs')
  }
}

function echoCheck(x) {
  return (y) => {
    const f = y instanceof Float64Array ? y : new Float64Array(y.buffer)
    if (f.length !== x.length || f[12345] !== x[12345] || f.at(-1) !== x.at(-1)) throw new Error('echo came back wrong')
  }
}

async function machine(raw, py) {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown'
  const floorInfo = await raw.info()
  return {
    nproc: availableParallelism(),
    cpu,
    kernel: release(),
    node: process.version,
    python: floorInfo.python,
    numpy: floorInfo.numpy,
    pyferry: py.info.pyferry,
    channel: `fd 3 of the child, a Node 'pipe' stdio entry: ${floorInfo.family} ${floorInfo.type} (a socket pair)`,
  }
}

// --- set-up: processes, data, warm-up, checks -------------------------------------------

// Bytecode for pyferry's Python half and bench/, as an installed package has after its first
// start. Python writes none where PYTHONDONTWRITEBYTECODE is set, and a module whose .pyc is
// stale is then compiled from source at every start (cli.py alone was ~5 ms of each cold
// start), which W5 and P3 would count against pyferry.
const compiled = spawnSync(python, ['-c',
  'import compileall, os, sys, pyferry\n' +
  'ok = compileall.compile_dir(sys.argv[1], maxlevels=0, quiet=1)\n' +
  'sys.exit(not (compileall.compile_dir(os.path.dirname(pyferry.__file__), quiet=1) and ok))',
  benchDir])
if (compiled.status !== 0) throw new Error(`compiling the bytecode failed: ${compiled.stderr}`)

const raw = new RawWorker()
const py1 = new Python({ python, path: benchDir, workers: 1 })
const pool = new Python({ python, path: benchDir })
const py1InClient = new Python({ python, path: benchDir, workers: 1, pipeline: PIPELINE })
const poolInClient = new Python({ python, path: benchDir, pipeline: PIPELINE })
const rateClients = { one: py1, pool, oneInClient: py1InClient, poolInClient }
// W7 compares two clients that do nothing else: one worker and two.
const solo = new Python({ python, path: benchDir, workers: 1 })
const py2 = new Python({ python, path: benchDir, workers: 2 })
const clients = [py1, pool, py1InClient, poolInClient, solo, py2]
await Promise.all(clients.map((py) => py.start()))
const peers = Object.fromEntries(await Promise.all(PEERS.map(async (name) => [name, await openPeer(name)])))
const info = await machine(raw, py1)
log(`${info.cpu}, ${info.nproc} cores, Node ${info.node}, Python ${info.python}; ${ROUNDS} rounds`)

const x6 = signal(1e6)
const x7 = signal(BIG)
const check6 = fftCheck(x6)
const check7 = fftCheck(x7)
const checkBig = echoCheck(x7)
for (const y of [await raw.fft(x6), await py1.call('bench_calls.rfft_abs', x6)]) check6(y)
for (const y of [await raw.fft(x7), await py1.call('bench_calls.rfft_abs', x7)]) check7(y)
checkBig(await raw.echo(x7))
checkBig(await py1.call('numpy.asarray', x7))
const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const seeds = [await raw.seed(SEED), await py1.call('numpy.sum', SEED), ...await Promise.all(Object.values(peers).map((peer) => peer.seed(SEED)))]
if (seeds.some((s) => Number(s) !== 45)) throw new Error(`the seed sums came back as ${seeds}`)
for (let i = 0; i < 500; i++) await Promise.all([raw.seed([1, 2, 3]), py1.call('numpy.sum', [1, 2, 3])])
for (const peer of Object.values(peers)) for (let i = 0; i < 500; i++) await peer.seed([1, 2, 3])
for (const py of [pool, py1InClient, poolInClient]) {
  await Promise.all(Array.from({ length: 500 }, () => py.call('numpy.sum', [1, 2, 3])))
}
const spinN = Number(await solo.call('bench_calls.calibrate', 50))
await Promise.all([solo, py2, py2].map((py) => py.call('bench_calls.spin', 1000)))
await work.callback(py1, 200)
await work.stream(py1, 10_000)
log(`checked; W7 uses spin(${spinN}), about 50 ms`)

// --- rounds -------------------------------------------------------------------------------

// W1 again with Node and both children on one CPU, where no message waits for a sleeping CPU to
// wake: what is left is each side's own cost per call. Needs taskset (util-linux).
const PIN = ['taskset', '-c', '0']
const pinned = spawnSync(PIN[0], [...PIN.slice(1), 'true']).status === 0
if (!pinned) log('taskset not found: the W1 row on one CPU is left out')
async function seedPinned() {
  const { floor, pyferry } = JSON.parse((await freshNode(['seed', SEQUENTIAL, SEED_BLOCK], PIN)).line)
  return { floor: { p50: floor }, pyferry: { p50: pyferry } }
}

// Each entry: [task, sides], sides mapping a side (floor, pyferry, a peer) to one round's
// measurement, or { both } for one function that measures several sides in turn itself.
// The sides run in their order in even rounds and in reverse in odd ones.
const peerSeeds = Object.fromEntries(Object.entries(peers).map(([name, peer]) => [name, () => peer.seed(SEED)]))
const plan = [
  // W1, its floor and the peers take turns in blocks of SEED_BLOCK calls.
  ['seed', { both: () => latencies(SEQUENTIAL, SEED_BLOCK, { floor: floors.seed(raw), pyferry: work.seed(py1), ...peerSeeds }) }],
  ...(pinned ? [['pinned', { both: seedPinned }]] : []),
  ['echo', {
    floor: () => floors.echo(raw, { calls: SEQUENTIAL, total: RATE_CALLS, width: IN_FLIGHT }),
    pyferry: () => work.seedRate(rateClients, { total: RATE_CALLS, width: IN_FLIGHT }),
    ...Object.fromEntries(Object.entries(peers).map(([name, peer]) => [name, () => peerRate(peer, { total: RATE_CALLS, width: IN_FLIGHT })])),
  }],
  ['fft6', { floor: () => floors.fft(raw, x6, 7, check6), pyferry: () => work.fft(py1, x6, 7, check6) }],
  ['fft7', { floor: () => floors.fft(raw, x7, 5, check7), pyferry: () => work.fft(py1, x7, 5, check7) }],
  ['big', { floor: () => floors.echoBig(raw, x7, 3, checkBig), pyferry: () => work.echoBig(py1, x7, 3, checkBig) }],
  ['memcpy', { floor: () => floors.memcpy(raw, BIG * 8) }],
  ['burn', { floor: () => floors.burn(raw, BURN_SECONDS), pyferry: () => work.burn(py1, BURN_SECONDS) }],
  ...Array.from({ length: COLD_RUNS }, () => ['cold', {
    floor: () => floors.cold(), pyferry: () => work.cold(), ...Object.fromEntries(PEERS.map((name) => [name, () => peerCold(name)])),
  }]),
  ['rss', { floor: () => floors.rss(), pyferry: () => work.rss() }],
  // W7's baseline is pyferry itself with one worker.
  ['spin', { floor: () => work.spinRate(solo, spinN, W7_CALLS), pyferry: () => work.spinRate(py2, spinN, W7_CALLS) }],
  // W8 and W9 compare with the echo floor measured above.
  ['callback', { pyferry: () => work.callback(py1, CALLBACKS) }],
  ['stream', { pyferry: () => work.stream(py1, STREAM_ITEMS) }],
]
const samples = {}
const ticks = cpuTicks()

const keep = (task, side, metrics) => {
  for (const [metric, value] of Object.entries(metrics)) {
    ;(((samples[side] ??= {})[task] ??= {})[metric] ??= []).push(value)
  }
}

for (let round = 0; round < ROUNDS; round++) {
  const roundTicks = cpuTicks()
  for (const [task, sides] of plan) {
    const taskTicks = cpuTicks()
    if (sides.both) {
      collectGarbage()
      for (const [side, metrics] of Object.entries(await sides.both())) keep(task, side, metrics)
    } else {
      const order = Object.entries(sides)
      if (round % 2) order.reverse()
      for (const [side, run] of order) {
        collectGarbage()
        keep(task, side, await run())
      }
    }
    const stolenInTask = stolenShare(taskTicks, cpuTicks())
    if (stolenInTask !== null) keep(task, 'host', { stolen: stolenInTask * 100 })
  }
  const stolenInRound = stolenShare(roundTicks, cpuTicks())
  if (stolenInRound !== null) keep('round', 'host', { stolen: stolenInRound * 100 })
  log(`round ${round + 1}/${ROUNDS} done`)
}

// --- report -------------------------------------------------------------------------------

await Promise.all(clients.map((py) => py.close()).concat(raw.close(), ...Object.values(peers).map((peer) => peer.close())))
const rows = buildRows(samples)
const stolen = stolenShare(ticks, cpuTicks())
info.stolen = stolen === null ? null : `${(stolen * 100).toFixed(1)}% of the CPUs' time during the rounds (/proc/stat steal)`
const seconds = Math.round((Date.now() - began) / 1e3)
const date = new Date().toISOString()
console.log(`pyferry benchmark, ${date.slice(0, 10)}: ${info.cpu}, ${info.nproc} cores, Node ${info.node}, ` +
  `Python ${info.python}, numpy ${info.numpy}; ${ROUNDS} rounds, ${seconds} s` +
  (info.stolen ? `; the host stole ${info.stolen}` : '') + '\n')
console.log(table(rows))
const met = rows.filter((r) => r.met !== null)
console.log(`\ntargets met: ${met.filter((r) => r.met).length} of ${met.length}` +
  (met.some((r) => !r.met) ? ` (not met: ${met.filter((r) => !r.met).map((r) => `${r.id} ${r.workload}`).join('; ')})` : ''))

const out = new URL('results/', import.meta.url)
mkdirSync(out, { recursive: true })
const config = {
  rounds: ROUNDS, coldRuns: COLD_RUNS, sequential: SEQUENTIAL, rateCalls: RATE_CALLS, inFlight: IN_FLIGHT, pipeline: PIPELINE, w7Calls: W7_CALLS, spinN,
  callbacks: CALLBACKS, streamItems: STREAM_ITEMS,
}
writeFileSync(new URL('latest.json', out), `${JSON.stringify({ date, seconds, machine: info, config, rows }, null, 2)}\n`)
console.log('written to bench/results/latest.json')
