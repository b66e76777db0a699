// The table: which samples each row compares, its target, and how it is printed.
//
// A row's figures are the median of its per-round values and their min–max over rounds;
// its ratio is pyferry's median / the baseline's median (for W4, the difference in ms). The
// baseline is the raw floor, a peer bridge (P rows), or pyferry itself (W7's one worker).

import { availableParallelism } from 'node:os'
import { summary } from './stats.mjs'

export const IN_FLIGHT = 64
export const PIPELINE = 0 // W2's comparison rows: calls kept in the client until a worker is free (the default before 'auto')
export const CALLBACKS = 2000 // W8, per round
export const STREAM_ITEMS = 100_000 // W9, per round

// [id, workload, unit, baseline sample, pyferry sample, target]
// A target is { max: r } (ratio ≤ r), { min: r } (ratio ≥ r) or { plus: ms } (≤ floor + ms).
const ROWS = [
  // The host's state: the share of the CPUs' time the hypervisor gave to someone else (steal in
  // /proc/stat), over each round and while W1 and W2 (with their peers) were measured in it.
  ['H', 'CPU time stolen by the host, per round', '%', 'host.round.stolen', null],
  ['H', 'CPU time stolen by the host, during W1 and P1', '%', 'host.seed.stolen', null],
  ['H', 'CPU time stolen by the host, during W2 and P2', '%', 'host.echo.stolen', null],
  ['F1', '8-byte echo, latency p50', 'µs', 'floor.echo.p50', null],
  ['F1', '8-byte echo, latency p99', 'µs', 'floor.echo.p99', null],
  ['F2', `8-byte echo, ${IN_FLIGHT} in flight`, 'msg/s', 'floor.echo.rate', null],
  ['F3', '80 MB each way (pyferry: numpy.asarray)', 'ms', 'floor.big.ms', 'pyferry.big.ms'],
  ['F4', 'memcpy 80 MB, Node Buffer.copy', 'ms', 'floor.memcpy.node', null],
  ['F4', 'memcpy 80 MB, Python np.copyto', 'ms', 'floor.memcpy.python', null],
  ['W1', 'seed call, p50', 'µs', 'floor.seed.p50', 'pyferry.seed.p50', { max: 1.1 }],
  ['W1', 'seed call, p99', 'µs', 'floor.seed.p99', 'pyferry.seed.p99'],
  ['W1', 'seed call, p50, all on one CPU (taskset)', 'µs', 'floor.pinned.p50', 'pyferry.pinned.p50'],
  ['W2', `seed calls, ${IN_FLIGHT} in flight, 1 worker`, 'calls/s', 'floor.echo.rate', 'pyferry.echo.one', { min: 0.5 }],
  ['W2', `seed calls, ${IN_FLIGHT} in flight, default pool (${availableParallelism()})`, 'calls/s', 'floor.echo.rate', 'pyferry.echo.pool', { min: 0.5 }],
  ['W2', `same, 1 worker, pipeline: ${PIPELINE}`, 'calls/s', 'floor.echo.rate', 'pyferry.echo.oneInClient', { min: 0.5 }],
  ['W2', `same, default pool, pipeline: ${PIPELINE}`, 'calls/s', 'floor.echo.rate', 'pyferry.echo.poolInClient', { min: 0.5 }],
  // What W2 costs in CPU: at 0.5× the echo rate two cores leave 2 / (0.5 × rate) of CPU per call
  // for Node and the workers together (the echo's own CPU per message is the floor column).
  ['W2', 'CPU per call, Node, default pool', 'µs', 'floor.echo.nodeCpu', 'pyferry.echo.poolNodeCpu'],
  ['W2', 'CPU per call, workers, default pool', 'µs', 'floor.echo.pythonCpu', 'pyferry.echo.poolPythonCpu'],
  ['W2', `CPU per call, Node, pool, pipeline: ${PIPELINE}`, 'µs', 'floor.echo.nodeCpu', 'pyferry.echo.poolInClientNodeCpu'],
  ['W2', `CPU per call, workers, pool, pipeline: ${PIPELINE}`, 'µs', 'floor.echo.pythonCpu', 'pyferry.echo.poolInClientPythonCpu'],
  ['W3', 'rfft 1e6, time', 'ms', 'floor.fft6.ms', 'pyferry.fft6.ms', { max: 1.1 }],
  ['W3', 'rfft 1e6, throughput', 'GB/s', 'floor.fft6.gbps', 'pyferry.fft6.gbps'],
  ['W3', 'rfft 1e7, time', 'ms', 'floor.fft7.ms', 'pyferry.fft7.ms', { max: 1.1 }],
  ['W3', 'rfft 1e7, throughput', 'GB/s', 'floor.fft7.gbps', 'pyferry.fft7.gbps'],
  ['W4', 'event-loop delay max, 2 s CPU call', 'ms', 'floor.burn.max', 'pyferry.burn.max', { plus: 5 }],
  ['W4', 'event-loop delay p99', 'ms', 'floor.burn.p99', 'pyferry.burn.p99'],
  ['W4', '1 ms timer drift, max', 'ms', 'floor.burn.drift', 'pyferry.burn.drift'],
  ['W5', 'cold start to first seed result', 'ms', 'floor.cold.ms', 'pyferry.cold.ms', { max: 1.1 }],
  ['W6', 'peak RSS at 1e7, Node', 'MB', 'floor.rss.node', 'pyferry.rss.node', { max: 1.25 }],
  ['W6', 'peak RSS at 1e7, worker', 'MB', 'floor.rss.worker', 'pyferry.rss.worker', { max: 1.25 }],
  ['W7', '~50 ms CPU calls, 1 → 2 workers', 'calls/s', 'floor.spin.rate', 'pyferry.spin.rate', { min: 1.8 }],
  // The peers a user would pick instead, measured in the same run (bench/peers.mjs): the
  // baseline column holds the peer's figure, the ratio is pyferry's against it.
  ['P1', 'seed call p50, against python-shell', 'µs', 'pythonShell.seed.p50', 'pyferry.seed.p50', { max: 0.9 }],
  ['P1', 'seed call p50, against pythonia', 'µs', 'pythonia.seed.p50', 'pyferry.seed.p50', { max: 0.9 }],
  ['P1', 'seed call p99 against its own p50', 'µs', 'pyferry.seed.p50', 'pyferry.seed.p99', { max: 3 }],
  // The peers' tails in the same blocks: what the host does to any bridge's p99.
  ['P1', 'seed call p99, against python-shell', 'µs', 'pythonShell.seed.p99', 'pyferry.seed.p99'],
  ['P1', 'seed call p99, against pythonia', 'µs', 'pythonia.seed.p99', 'pyferry.seed.p99'],
  ['P2', `${IN_FLIGHT} in flight, default pool, against python-shell`, 'calls/s', 'pythonShell.echo.rate', 'pyferry.echo.pool', { min: 1.5 }],
  ['P2', `${IN_FLIGHT} in flight, default pool, against pythonia`, 'calls/s', 'pythonia.echo.rate', 'pyferry.echo.pool', { min: 1.5 }],
  ['P2', 'CPU per call, Node: python-shell against pyferry (pool)', 'µs', 'pythonShell.echo.nodeCpu', 'pyferry.echo.poolNodeCpu'],
  ['P2', 'CPU per call, Python: python-shell against pyferry (pool)', 'µs', 'pythonShell.echo.pythonCpu', 'pyferry.echo.poolPythonCpu'],
  ['P3', 'cold start, against python-shell', 'ms', 'pythonShell.cold.ms', 'pyferry.cold.ms', { max: 1.0 }],
  ['P3', 'cold start, against pythonia', 'ms', 'pythonia.cold.ms', 'pyferry.cold.ms', { max: 1.0 }],
  // A callback is one round trip, Python to Node and back: its floor is the 8-byte echo's.
  ['W8', 'Python → JS callback round trip', 'µs', 'floor.echo.p50', 'pyferry.callback.us'],
  // A streamed item against one 8-byte message at the echo's rate with 64 in flight.
  ['W9', `streamed item (${STREAM_ITEMS.toLocaleString('en-US')} small ints)`, 'µs', 'floor.echo.perMessage', 'pyferry.stream.us'],
]

const SCALE = { MB: 1e-6 }

function number(x, unit) {
  if (unit === 'msg/s' || unit === 'calls/s') return Math.round(x).toLocaleString('en-US')
  if (unit === 'MB') return x.toFixed(0)
  if (unit === 'GB/s') return x.toFixed(2)
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
}

function targetText(t) {
  if (t.plus !== undefined) return `≤ floor + ${t.plus} ms`
  return t.max !== undefined ? `≤ ${t.max}×` : `≥ ${t.min}×`
}

// The rows, figures and verdicts from `samples` (side -> task -> metric -> per-round values).
export function buildRows(samples) {
  const pick = (key) => {
    if (!key) return null
    const [side, task, metric] = key.split('.')
    return samples[side]?.[task]?.[metric] ?? null
  }
  const rows = ROWS.map(([id, workload, unit, floorKey, oursKey, target]) => {
    const scale = SCALE[unit] ?? 1
    const floorRaw = pick(floorKey)
    const oursRaw = pick(oursKey)
    const floor = floorRaw && summary(floorRaw.map((v) => v * scale))
    const ours = oursRaw && summary(oursRaw.map((v) => v * scale))
    const row = { id, workload, unit, floor, pyferry: ours, ratio: null, target: null, met: null }
    if (floor && ours) {
      row.ratio = target?.plus !== undefined ? ours.median - floor.median : ours.median / floor.median
    }
    if (target && row.ratio !== null) {
      row.target = targetText(target)
      row.met = target.plus !== undefined ? row.ratio <= target.plus
        : target.max !== undefined ? row.ratio <= target.max : row.ratio >= target.min
    }
    return row
  })
  return rows
}

// The rows as a Markdown table (readable in a terminal, pasteable into bench/README.md);
// `baseline` names the column pyferry is compared with (bench/dask.mjs: the bare client).
export function table(rows, { baseline = 'baseline' } = {}) {
  const cell = (s, unit) => (s ? `${number(s.median, unit)} (${number(s.min, unit)}–${number(s.max, unit)})` : '—')
  const lines = [['workload', `${baseline} median (min–max)`, 'pyferry median (min–max)', 'ratio', 'target', 'met?']]
  for (const r of rows) {
    const name = `${r.id} ${r.workload}${r.unit ? ` (${r.unit})` : ''}`
    const ratio = r.ratio === null ? '—' : r.target?.includes('floor +') ? `${r.ratio >= 0 ? '+' : ''}${r.ratio.toFixed(1)} ms` : `${r.ratio.toFixed(2)}×`
    const met = r.met === null ? '—' : r.met ? 'yes' : 'NO'
    lines.push([name, r.note ? '—' : cell(r.floor, r.unit), r.note ?? cell(r.pyferry, r.unit), ratio, r.target ?? '—', met])
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)))
  const fmt = (l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n')
}
