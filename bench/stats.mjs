// Small statistics and timing helpers shared by the floors and the workloads.

import { spawn } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

// Nearest-rank percentile (p in 0..100).
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}

export function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs }
}

// Microseconds `fn` takes, awaited.
export async function timeUs(fn) {
  const start = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - start) / 1e3
}

// Latency p50/p99 (µs) of `calls` sequential awaited calls of `fn`.
export async function latency(calls, fn) {
  const times = new Array(calls)
  for (let i = 0; i < calls; i++) times[i] = await timeUs(fn)
  return { p50: percentile(times, 50), p99: percentile(times, 99) }
}

// Untimed calls each side makes before W1 and W2 are timed. The harness forces a full GC
// before every measurement (collectGarbage); after one, V8 runs a client's JS slower for
// about this many calls while it rebuilds its optimized code (measured on seed calls: Node's
// CPU per call ~3× its steady value for pyferry, ~1.5× for python-shell, half a second's
// wait after the GC changing nothing). A program that calls steadily is past that.
export const WARM_CALLS = 2000

// Latency p50/p99 (µs) of `calls` sequential awaited calls of each function of `sides`
// (name -> fn), taken in alternating blocks of `block` calls: the scheduler's mood changes
// over seconds, and sides measured in turn within one stretch meet the same moods. Each
// side first makes WARM_CALLS untimed calls.
export async function latencies(calls, block, sides) {
  const names = Object.keys(sides)
  for (const name of names) for (let i = 0; i < WARM_CALLS; i++) await sides[name]()
  const times = Object.fromEntries(names.map((name) => [name, []]))
  for (let b = 0; b * block < calls; b++) {
    for (const name of b % 2 ? [...names].reverse() : names) {
      for (let i = 0; i < block; i++) times[name].push(await timeUs(sides[name]))
    }
  }
  return Object.fromEntries(names.map((name) => [name, { p50: percentile(times[name], 50), p99: percentile(times[name], 99) }]))
}

// Calls per second of `total` calls of `fn` with `width` of them in flight at any time.
export async function rate(total, width, fn) {
  let started = 0
  const lane = async () => {
    while (started < total) {
      started++
      await fn()
    }
  }
  const us = await timeUs(() => Promise.all(Array.from({ length: width }, lane)))
  return total / (us / 1e6)
}

// CPU time (µs) the processes `pids` have used, all their threads: the first field of each
// thread's /proc schedstat is its time on a CPU in ns, exact where /proc/<pid>/stat counts ticks.
export function cpuUs(pids) {
  let ns = 0
  for (const pid of pids) {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0])
      } catch {} // a thread that ended between the listing and the read
    }
  }
  return ns / 1e3
}

// The machine's CPU time so far, in clock ticks, from /proc/stat's first line: `stolen` is the
// time the hypervisor gave this VM's CPUs to someone else while they had work, `total` all of
// it (idle included; the guest fields after steal are counted in user already). Null where
// there is no /proc/stat. Two readings give a stretch's share of stolen time, the host's
// state during it (see bench/README, "How it measures").
export function cpuTicks() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
    return { stolen: fields[7] ?? 0, total: fields.reduce((a, b) => a + b, 0) }
  } catch {
    return null
  }
}

// The share (0–1) of CPU time stolen between two cpuTicks() readings; null if either is.
export function stolenShare(before, after) {
  if (!before || !after || after.total === before.total) return null
  return (after.stolen - before.stolen) / (after.total - before.total)
}

// W2's measurement for one side: the calls/s of `total` calls of `fn` with `width` in flight,
// after WARM_CALLS untimed ones, and the CPU per call in Node and in the processes `pids`.
export async function rateWithCpu(total, width, pids, fn) {
  await rate(WARM_CALLS, width, fn)
  return withCpu(total, pids, () => rate(total, width, fn))
}

// What `run()` returns, and the CPU it cost per call (µs) out of `calls`: `node` in this process
// (all its threads), `python` in the processes `pids`.
export async function withCpu(calls, pids, run) {
  const node = process.cpuUsage()
  const python = cpuUs(pids)
  const result = await run()
  const spent = process.cpuUsage(node)
  return { result, node: (spent.user + spent.system) / calls, python: (cpuUs(pids) - python) / calls }
}

// Median milliseconds of `runs` awaited calls of `fn`; the last result goes to `check`.
export async function medianMs(runs, fn, check) {
  const times = []
  let result
  for (let i = 0; i < runs; i++) times.push((await timeUs(async () => (result = await fn()))) / 1e3)
  check(result)
  return median(times)
}

// Event-loop delay (ms) while `fn` runs: max and p99 of monitorEventLoopDelay, and the
// largest overshoot of a 1 ms setInterval.
export async function loopDelay(fn) {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  let last = performance.now()
  let drift = 0
  const timer = setInterval(() => {
    const now = performance.now()
    drift = Math.max(drift, now - last - 1)
    last = now
  }, 1)
  histogram.enable()
  await fn()
  histogram.disable()
  clearInterval(timer)
  return { max: histogram.max / 1e6, p99: histogram.percentile(99) / 1e6, drift }
}

export function collectGarbage() {
  globalThis.gc?.()
}

// The environment of a fresh `node`: ours less NODE_EXTRA_CA_CERTS. Node reads the file it
// names before running any script (about 100 ms where it names the system's whole bundle, as
// on the machines this suite runs on), and no bridge here speaks TLS.
const { NODE_EXTRA_CA_CERTS: _caCerts, ...FRESH_ENV } = process.env

// Start `node bench/child.mjs ...args` (behind `prefix`, a command such as taskset and its
// arguments); resolves with the milliseconds from spawn to its first line of output, and that
// line, once the process has exited.
export function freshNode(args, prefix = []) {
  const start = process.hrtime.bigint()
  const command = [...prefix, process.execPath, fileURLToPath(new URL('child.mjs', import.meta.url)), ...args]
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env: FRESH_ENV })
  let ms
  let out = ''
  child.stdout.on('data', (chunk) => {
    ms ??= Number(process.hrtime.bigint() - start) / 1e6
    out += chunk
  })
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0 || ms === undefined) reject(new Error(`node bench/child.mjs ${args.join(' ')} exited with ${code}`))
      else resolve({ ms, line: out.split('\n')[0] })
    })
  })
}
