// The workloads, through pyferry's public API. Each function is one round's measurement of
// one workload and returns its metrics; run.mjs interleaves them with the floors.

import { freshNode, loopDelay, medianMs, rate, rateWithCpu } from './stats.mjs'

const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]

// W1: the seed call (run.mjs times it one at a time, in blocks alternating with the floor's).
export function seed(py) {
  return () => py.call('numpy.sum', SEED)
}

// W2: seed calls with `width` in flight on each of `clients` (name -> Python): calls/s by name,
// and the CPU per call (µs) in Node and in the client's workers as `<name>NodeCpu`, `<name>PythonCpu`.
export async function seedRate(clients, { total, width }) {
  const metrics = {}
  for (const [name, py] of Object.entries(clients)) {
    const pids = py.stats().workers.map((w) => w.pid)
    const { result, node, python } = await rateWithCpu(total, width, pids, () => py.call('numpy.sum', SEED))
    Object.assign(metrics, { [name]: result, [`${name}NodeCpu`]: node, [`${name}PythonCpu`]: python })
  }
  return metrics
}

// W3: a Float64Array to np.abs(np.fft.rfft(x)) and back.
export async function fft(py, x, runs, check) {
  const ms = await medianMs(runs, () => py.call('bench_calls.rfft_abs', x), check)
  return { ms, gbps: (x.byteLength + (x.length / 2 + 1) * 8) / ms / 1e6 }
}

// A Float64Array there and back untouched (numpy.asarray returns the array it got).
export async function echoBig(py, x, runs, check) {
  return { ms: await medianMs(runs, () => py.call('numpy.asarray', x), check) }
}

// W4: event-loop delay while a call burns `seconds` of CPU in Python.
export function burn(py, seconds) {
  return loopDelay(() => py.call('bench_calls.burn', seconds))
}

// W5: a fresh node process to the first seed result.
export async function cold() {
  return { ms: (await freshNode(['cold', 'pyferry'])).ms }
}

// W6: peak RSS of a fresh node process and of its worker over one W3 call at 1e7.
export async function rss() {
  return JSON.parse((await freshNode(['rss', 'pyferry'])).line)
}

// W7: calls/s of `calls` CPU-bound pure-Python calls (spin(n)), all submitted at once.
export async function spinRate(py, n, calls) {
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: calls }, () => py.call('bench_calls.spin', n)))
  return { rate: calls / (Number(process.hrtime.bigint() - start) / 1e9) }
}

// W8: Python calls a JS function `n` times in one call; µs per callback round trip.
export async function callback(py, n) {
  let calls = 0
  const start = process.hrtime.bigint()
  const done = await py.call('bench_calls.call_back', (i) => { calls++; return i }, n)
  const us = Number(process.hrtime.bigint() - start) / 1e3 / n
  if (done !== n || calls !== n) throw new Error(`${calls} of ${n} callbacks ran`)
  return { us }
}

// W9: a generator of `n` small ints consumed with for await; µs per item, checked in order.
export async function stream(py, n) {
  let next = 0
  const start = process.hrtime.bigint()
  for await (const item of py.stream('bench_calls.count', n)) {
    if (item !== next++) throw new Error(`stream item ${next - 1} came back as ${item}`)
  }
  const us = Number(process.hrtime.bigint() - start) / 1e3 / n
  if (next !== n) throw new Error(`the stream ended after ${next} of ${n} items`)
  return { us }
}
