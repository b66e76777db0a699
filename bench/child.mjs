// A fresh Node process for the workloads that need one, started by the benchmark as
//
//   node bench/child.mjs cold floor|pyferry   W5: print the seed's sum as soon as it is known
//   node bench/child.mjs rss  floor|pyferry   W6: one 1e7-element rfft round trip, then print
//                                             { node, worker } peak RSS in bytes as JSON
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
  const { Python } = await import('../js/dist/pyferry.js') // the built entry, what `import 'pyferry'` loads
  const py = new Python({ python, workers: 1, path: benchDir })
  return {
    seed: () => py.call('numpy.sum', SEED),
    fft: (x) => py.call('bench_calls.rfft_abs', x),
    pid: () => py.info.pid,
    close: () => py.destroy(),
  }
}

const bridge = await open()
if (what === 'cold') {
  console.log(String(await bridge.seed()))
} else {
  const x = new Float64Array(N)
  for (let i = 0; i < N; i++) x[i] = Math.random() - 0.5
  const y = await bridge.fft(x)
  if (y.length !== N / 2 + 1) throw new Error(`rfft came back with ${y.length} elements`)
  const worker = vmHwm(bridge.pid())
  console.log(JSON.stringify({ node: process.resourceUsage().maxRSS * 1024, worker }))
}
await bridge.close()
