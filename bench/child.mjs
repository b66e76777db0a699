// A fresh Node process for the workloads that need one, started by the benchmark as
//
//   node bench/child.mjs cold floor|pyferry|pythonShell|pythonia
//                                             W5: print the seed's sum as soon as it is known
//   node bench/child.mjs rss  floor|pyferry   W6: one 1e7-element rfft round trip, then print
//                                             { node, worker } peak RSS in bytes as JSON
//   node bench/child.mjs seed <calls> <block>  W1 with both sides in this process: print
//                                             { floor, pyferry } seed call p50s (µs) as JSON.
//                                             The benchmark runs it under `taskset -c 0`, so
//                                             Node and both children share one CPU.
//
// Only what the mode needs is imported, so the floor does not load pyferry and vice versa.

import { readFileSync } from 'node:fs'

const [what, side] = process.argv.slice(2)
const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const N = 1e7

function vmHwm(pid) {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]
  return Number(kb) * 1024
}

// { call(x) -> result, pid(), close() } for the chosen side.
async function open() {
  const { python, benchDir, RawWorker } = await import('./raw.mjs')
  if (side === 'floor') {
    const raw = new RawWorker()
    return {
      seed: () => raw.seed(SEED),
      fft: (x) => raw.fft(x),
      pid: () => raw.pid,
      close: () => raw.kill(),
    }
  }
  if (side === 'pythonShell' || side === 'pythonia') {
    const peer = await (await import('./peers.mjs')).openPeer(side, { warm: false })
    return { seed: () => peer.seed(SEED), close: () => peer.close() }
  }
  const { Python } = await import('../js/dist/pyferry.js') // the built entry, what `import 'pyferry'` loads
  const py = new Python({ python, workers: 1, path: benchDir })
  return {
    seed: () => py.call('numpy.sum', SEED),
    fft: (x) => py.call('bench_calls.rfft_abs', x),
    pid: () => py.info.pid,
    close: () => py.destroy(),
  }
}

// W1 pinned: floor and pyferry in this one process, in alternating blocks; their p50s.
async function seedPair(calls, block) {
  const { python, benchDir, RawWorker } = await import('./raw.mjs')
  const { latencies } = await import('./stats.mjs')
  const { Python } = await import('../js/dist/pyferry.js')
  const raw = new RawWorker()
  const py = new Python({ python, workers: 1, path: benchDir })
  const sides = { floor: () => raw.seed(SEED), pyferry: () => py.call('numpy.sum', SEED) }
  for (let i = 0; i < 3000; i++) await Promise.all([sides.floor(), sides.pyferry()]) // past the JIT's warm-up
  const res = await latencies(calls, block, sides)
  await Promise.all([raw.close(), py.close()])
  return { floor: res.floor.p50, pyferry: res.pyferry.p50 }
}

if (what === 'seed') {
  const [calls, block] = process.argv.slice(3).map(Number)
  console.log(JSON.stringify(await seedPair(calls, block)))
} else if (what === 'cold') {
  const bridge = await open()
  console.log(String(await bridge.seed()))
  await bridge.close()
} else {
  const bridge = await open()
  const x = new Float64Array(N)
  for (let i = 0; i < N; i++) x[i] = Math.random() - 0.5
  const y = await bridge.fft(x)
  if (y.length !== N / 2 + 1) throw new Error(`rfft came back with ${y.length} elements`)
  const worker = vmHwm(bridge.pid())
  console.log(JSON.stringify({ node: process.resourceUsage().maxRSS * 1024, worker }))
  await bridge.close()
}
