// `make bench`'s Dask rows (also `make bench-dask`): pyferry's backend: 'dask' against a bare
// asynchronous Python distributed.Client (dask_peer.py) on the same LocalCluster, in the same run.
//
// The cluster is python -m pyferry.backends.dask_cluster (2 worker processes, 1 thread each) with
// bench/ on its workers' PYTHONPATH. Every round measures each row's pyferry side and bare side
// back to back, pyferry first in even rounds and the bare client first in odd ones. The table
// gives medians over rounds, their min–max and the ratio pyferry / bare; the same goes to
// bench/results/dask.json. BENCH_DASK_ROUNDS=<n> (at least 3) changes the round count.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Python } from '../js/dist/pyferry.js' // the built entry, what `import 'pyferry'` loads
import { benchDir, python } from './raw.mjs'
import { table } from './report.mjs'
import { collectGarbage, cpuUs, latency, medianMs, rate, summary, timeUs, withCpu } from './stats.mjs'

const ROUNDS = Math.max(3, Number(process.env.BENCH_DASK_ROUNDS) || 7)
const SEQUENTIAL = 200 // seed calls a round and side, one at a time
const RATE_CALLS = 1000 // seed calls a round and side, IN_FLIGHT at a time
const IN_FLIGHT = 64
const FFT_N = 1e6
const FFT_RUNS = 7
const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const DASK_DEFAULT_S = 0.01 // distributed's own batching interval
const MIB = 2 ** 20

const began = Date.now()
const log = (msg) => process.stderr.write(`[bench dask ${((Date.now() - began) / 1e3).toFixed(0)} s] ${msg}\n`)
const env = { ...process.env, PYTHONPATH: [benchDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) }

// The LocalCluster; resolves with { address, stop() }.
async function startCluster() {
  const child = spawn(python, ['-m', 'pyferry.backends.dask_cluster', '--workers', '2'], { env, stdio: ['pipe', 'pipe', 'ignore'] })
  const exited = once(child, 'exit')
  const [line] = await once(createInterface({ input: child.stdout }), 'line')
  return { ...JSON.parse(line), stop: async () => { child.stdin.end(); await exited } }
}

// The bare client, long-lived: ask(request) resolves with its JSON answer.
function startPeer(address) {
  const child = spawn(python, [fileURLToPath(new URL('dask_peer.py', import.meta.url)), address], {
    env, stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const exited = once(child, 'exit')
  return {
    pid: child.pid,
    async ask(request) {
      child.stdin.write(`${JSON.stringify(request)}\n`)
      const { value, done } = await lines.next()
      if (done) throw new Error('dask_peer.py exited')
      return JSON.parse(value)
    },
    close: async () => { child.stdin.end(); await exited },
  }
}

// Milliseconds from spawning `dask_peer.py --cold` to its first line (a fresh Python process).
async function peerCold(address) {
  const start = process.hrtime.bigint()
  const child = spawn(python, [fileURLToPath(new URL('dask_peer.py', import.meta.url)), '--cold', address], {
    env, stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(child, 'exit')
  const [line] = await once(createInterface({ input: child.stdout }), 'line')
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  const [code] = await exited
  if (code !== 0 || Number(line) !== 45) throw new Error(`dask_peer.py --cold printed ${line}, exited ${code}`)
  return ms
}

// Milliseconds a fresh Python process takes to `import distributed` and exit: most of a cold start.
async function importMs() {
  const start = process.hrtime.bigint()
  const child = spawn(python, ['-c', 'import distributed'], { env, stdio: 'ignore' })
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`python -c 'import distributed' exited with ${code}`)
  return Number(process.hrtime.bigint() - start) / 1e6
}

// Milliseconds from a fresh `new Python({ backend: 'dask' })` to its first result.
async function pyferryCold(address) {
  let ms
  const py = new Python({ python, backend: 'dask', scheduler: address, workers: 1 })
  try {
    ms = (await timeUs(async () => {
      if (Number(await py.call('numpy.sum', SEED)) !== 45) throw new Error('the cold seed call came back wrong')
    })) / 1e3
  } finally {
    await py.close()
  }
  return ms
}

// A gateway's resident set (VmRSS) and peak (VmHWM), in MiB.
function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)[1])
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 }
}

function signal(n) {
  const x = new Float64Array(n)
  for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.001) + (i % 7) / 7 - 0.5
  return x
}

// --- set-up ----------------------------------------------------------------------------------

const loadBefore = loadavg()[0]
const cluster = await startCluster()
const peer = startPeer(cluster.address)
const fast = new Python({ python, backend: 'dask', scheduler: cluster.address, workers: 1 }) // batchInterval: 1, the default
const slow = new Python({ python, backend: 'dask', scheduler: cluster.address, workers: 1, batchInterval: 10 })
const pool = new Python({ python, backend: 'dask', scheduler: cluster.address }) // the default pool: one gateway per core
const clients = [fast, slow, pool]
const x = signal(FFT_N)
const checkFft = (y) => {
  if (y.length !== FFT_N / 2 + 1) throw new Error(`rfft of ${FFT_N} came back with ${y.length} elements`)
}
for (const py of clients) {
  if (Number(await py.call('numpy.sum', SEED)) !== 45) throw new Error('the seed call came back wrong')
  await Promise.all(Array.from({ length: 200 }, () => py.call('numpy.sum', SEED)))
}
checkFft(await fast.call('bench_calls.rfft_abs', x))
await peer.ask({ op: 'seed', calls: 200, interval: 0.001 })
await peer.ask({ op: 'rate', total: 500, width: IN_FLIGHT, interval: 0.001 })
await peer.ask({ op: 'fft', n: FFT_N, runs: 2, scatter: false })
await pyferryCold(cluster.address)
log(`cluster at ${cluster.address}, 2 Dask workers; ${ROUNDS} rounds`)

// --- rounds: [task, pyferry side, bare side] -------------------------------------------------

const plan = [
  ['seed1', () => latency(SEQUENTIAL, () => fast.call('numpy.sum', SEED)),
    () => peer.ask({ op: 'seed', calls: SEQUENTIAL, interval: 0.001 })],
  ['seed10', () => latency(SEQUENTIAL, () => slow.call('numpy.sum', SEED)),
    () => peer.ask({ op: 'seed', calls: SEQUENTIAL, interval: DASK_DEFAULT_S })],
  ['rate', async () => {
    const { result, node, python: gateway } = await withCpu(RATE_CALLS, [fast.info.pid],
      () => rate(RATE_CALLS, IN_FLIGHT, () => fast.call('numpy.sum', SEED)))
    return { one: result, cpu: node + gateway, pool: await rate(RATE_CALLS, IN_FLIGHT, () => pool.call('numpy.sum', SEED)) }
  }, async () => {
    const before = cpuUs([peer.pid])
    const { rate: calls } = await peer.ask({ op: 'rate', total: RATE_CALLS, width: IN_FLIGHT, interval: 0.001 })
    return { rate: calls, cpu: (cpuUs([peer.pid]) - before) / RATE_CALLS }
  }],
  ['fft', async () => ({ ms: await medianMs(FFT_RUNS, () => fast.call('bench_calls.rfft_abs', x), checkFft) }),
    async () => ({
      ms: (await peer.ask({ op: 'fft', n: FFT_N, runs: FFT_RUNS, scatter: false })).ms,
      scatterMs: (await peer.ask({ op: 'fft', n: FFT_N, runs: FFT_RUNS, scatter: true })).ms,
    })],
  ['cold', async () => ({ ms: await pyferryCold(cluster.address) }),
    async () => ({ ms: await peerCold(cluster.address), importMs: await importMs() })],
]
const samples = { pyferry: {}, bare: {} }
for (let round = 0; round < ROUNDS; round++) {
  for (const [task, ours, theirs] of plan) {
    const sides = [['pyferry', ours], ['bare', theirs]]
    if (round % 2) sides.reverse()
    for (const [side, run] of sides) {
      collectGarbage()
      for (const [metric, value] of Object.entries(await run())) {
        ;((samples[side][task] ??= {})[metric] ??= []).push(value)
      }
    }
  }
  log(`round ${round + 1}/${ROUNDS} done`)
}
const gateways = Object.fromEntries(Object.entries({ fast, slow }).map(([name, py]) => [name, rssMiB(py.info.pid)]))

// --- report ----------------------------------------------------------------------------------

await Promise.all([...clients.map((py) => py.close()), peer.close()])
await cluster.stop()

// [id, workload, unit, pyferry sample, bare sample, target]: { max } / { min } on the ratio,
// { atMost } on pyferry's own median.
// A scale turns the samples into the unit (µs -> ms).
const ROWS = [
  ['D1', 'seed call p50, both at batchInterval 1 ms', 'ms', 'pyferry.seed1.p50', 'bare.seed1.p50', { max: 1.1 }, 1e-3],
  ['D1', 'seed call p99, both at 1 ms', 'ms', 'pyferry.seed1.p99', 'bare.seed1.p99', null, 1e-3],
  ['D1', 'seed call p50, both at Dask\'s 10 ms', 'ms', 'pyferry.seed10.p50', 'bare.seed10.p50', null, 1e-3],
  ['D2', 'seed call p50, pyferry\'s default (1 ms) against the bare client\'s (10 ms)', 'ms', 'pyferry.seed1.p50', 'bare.seed10.p50', { max: 0.75 }, 1e-3],
  ['D3', `seed calls, ${IN_FLIGHT} in flight, 1 gateway (bare: 1 ms)`, 'calls/s', 'pyferry.rate.one', 'bare.rate.rate', { min: 0.8 }],
  ['D3', 'CPU per call: Node + gateway against the bare client\'s process', 'µs', 'pyferry.rate.cpu', 'bare.rate.cpu'],
  ['D3', 'seed calls, 64 in flight, default pool of gateways (bare: one client)', 'calls/s', 'pyferry.rate.pool', 'bare.rate.rate'],
  ['D4', 'rfft 1e6 round trip, Node → cluster → Node (pyferry scatters the 8 MB; bare: inline)', 'ms', 'pyferry.fft.ms', 'bare.fft.ms', { max: 1.25 }],
  ['D4', 'same, the bare client scattering too', 'ms', 'pyferry.fft.ms', 'bare.fft.scatterMs'],
  ['D5', 'cold: fresh new Python({ backend: \'dask\' }) to first result (bare: fresh python process)', 'ms', 'pyferry.cold.ms', 'bare.cold.ms', { atMost: 600 }],
  ['D5', 'the same cold start against a fresh python -c \'import distributed\' alone', 'ms', 'pyferry.cold.ms', 'bare.cold.importMs'],
]
const pick = (key) => {
  const [side, task, metric] = key.split('.')
  return samples[side]?.[task]?.[metric] ?? null
}
const rows = ROWS.map(([id, workload, unit, oursKey, bareKey, target, scale = 1]) => {
  const ours = summary(pick(oursKey).map((v) => v * scale))
  const floor = summary(pick(bareKey).map((v) => v * scale))
  const row = { id, workload, unit, floor, pyferry: ours, ratio: ours.median / floor.median, target: null, met: null }
  if (target?.atMost !== undefined) {
    row.target = `pyferry ≤ ${target.atMost} ${unit}`
    row.met = ours.median <= target.atMost
  } else if (target) {
    row.target = target.max !== undefined ? `≤ ${target.max}×` : `≥ ${target.min}×`
    row.met = target.max !== undefined ? row.ratio <= target.max : row.ratio >= target.min
  }
  return row
})
const one = (v) => summary([v])
rows.push({
  id: 'D6', workload: 'gateway RSS after the rounds, batchInterval 1 / 10 (peak in brackets)', unit: 'MiB', floor: null,
  pyferry: one(Math.max(gateways.fast.rss, gateways.slow.rss)), ratio: null,
  target: 'pyferry ≤ 80 MiB', met: Math.max(gateways.fast.rss, gateways.slow.rss) <= 80,
  note: `${gateways.fast.rss.toFixed(0)} (${gateways.fast.hwm.toFixed(0)}) / ${gateways.slow.rss.toFixed(0)} (${gateways.slow.hwm.toFixed(0)})`,
})

const seconds = Math.round((Date.now() - began) / 1e3)
const date = new Date().toISOString()
const load = [loadBefore, loadavg()[0]].map((l) => l.toFixed(1)).join(' → ')
console.log(`\npyferry Dask rows, ${date.slice(0, 10)}: against a bare async distributed.Client on the same LocalCluster ` +
  `(2 workers, 1 thread each); ${ROUNDS} rounds, ${seconds} s; load average ${load}\n`)
console.log(table(rows, { baseline: 'bare client' }))
const met = rows.filter((r) => r.met !== null)
console.log(`\nDask targets met: ${met.filter((r) => r.met).length} of ${met.length}` +
  (met.some((r) => !r.met) ? ` (not met: ${met.filter((r) => !r.met).map((r) => `${r.id} ${r.workload}`).join('; ')})` : ''))
const out = new URL('results/', import.meta.url)
mkdirSync(out, { recursive: true })
const config = { rounds: ROUNDS, sequential: SEQUENTIAL, rateCalls: RATE_CALLS, inFlight: IN_FLIGHT, fftN: FFT_N, fftRuns: FFT_RUNS, scatterBytes: 4 * MIB }
writeFileSync(new URL('dask.json', out), `${JSON.stringify({ date, seconds, load, config, gateways, rows }, null, 2)}\n`)
console.log('written to bench/results/dask.json')
