// A paired A/B of two builds of the client on the small-call workloads W1 and W2.
//
//   node bench/ab.mjs <a.js>[=<pythonpath>] <b.js>[=<pythonpath>] [rounds]
//
// <a.js> and <b.js> are built client entries (js/build.mjs's output: e.g. one of the
// last commit, one of the working tree); `=<pythonpath>` gives a side its own PYTHONPATH
// (the Python half of that build: e.g. a copy of src/ from before a change). Each round starts one fresh `node` per side,
// in an order that alternates between rounds, so that neither build always runs first
// or meets the same neighbours: it makes a one-worker client, warms it with 500 calls,
// then measures W1 (p50 of 2,000 sequential numpy.sum([1..9]) calls) and W2 (10,000
// such calls, 64 in flight: calls/s, and the CPU time Node spent per call, in µs,
// which a busy machine disturbs less than a rate), and W3e (p50 of 20 echoes of a 1e6-element
// Float64Array through numpy.asarray, in ms: the large-array path). The third side,
// "B+listen", is B with a pyferry:call:end subscriber: what the debug hooks cost when on;
// with BENCH_AB_THIRD=tcp it is "B+tcp", B with transport: 'tcp'. Prints the medians
// and the median of the per-round ratios against A, which is what a change costs.

import { spawn } from 'node:child_process'
import diagnosticsChannel from 'node:diagnostics_channel'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { median, percentile, rate, timeUs } from './stats.mjs'

const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]

// One side, in this process: print {w1, w2} as JSON.
async function child(build, third) {
  if (third === 'listen') diagnosticsChannel.subscribe('pyferry:call:end', () => {})
  const { Python } = await import(pathToFileURL(path.resolve(build)).href)
  const py = new Python({ workers: 1, ...(third === 'tcp' ? { transport: 'tcp' } : {}) })
  try {
    if ((await py.call('numpy.sum', SEED)) !== 45) throw new Error('the seed call did not return 45')
    for (let i = 0; i < 500; i++) await py.call('numpy.sum', SEED)
    const times = []
    for (let i = 0; i < 2000; i++) times.push(await timeUs(() => py.call('numpy.sum', SEED)))
    const cpu = process.cpuUsage()
    const w2 = await rate(10_000, 64, () => py.call('numpy.sum', SEED))
    const { user, system } = process.cpuUsage(cpu)
    const big = new Float64Array(1e6).fill(1.5)
    const echoes = []
    for (let i = 0; i < 22; i++) echoes.push(await timeUs(() => py.call('numpy.asarray', big)))
    const w3e = percentile(echoes.slice(2), 50) / 1000
    console.log(JSON.stringify({ w1: percentile(times, 50), w2, cpu: (user + system) / 10_000, w3e }))
  } finally {
    await py.close()
  }
}

function runSide(spec, third) {
  const [build, pythonPath] = spec.split('=')
  return new Promise((resolve, reject) => {
    const args = [fileURLToPath(import.meta.url), '--child', build, ...(third ? [`--${third}`] : [])]
    const env = pythonPath === undefined ? process.env : { ...process.env, PYTHONPATH: pythonPath }
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env })
    let out = ''
    proc.stdout.setEncoding('utf8').on('data', (text) => { out += text })
    proc.on('error', reject)
    proc.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${build} exited ${code}`))))
  })
}

async function main([a, b, roundsArg]) {
  if (!a || !b) {
    console.error('usage: node bench/ab.mjs <a.js> <b.js> [rounds]')
    process.exit(2)
  }
  const rounds = Number(roundsArg ?? 9)
  const third = process.env.BENCH_AB_THIRD === 'tcp' ? 'tcp' : 'listen'
  const sides = { A: [a, null], B: [b, null], [`B+${third}`]: [b, third] }
  const names = Object.keys(sides)
  const got = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 ? [...names].reverse() : names) got[name].push(await runSide(...sides[name]))
    console.error(`round ${round + 1}/${rounds}: ` +
      names.map((n) => `${n} W1 ${got[n].at(-1).w1.toFixed(1)} µs, W2 ${Math.round(got[n].at(-1).w2)}/s ` +
        `${got[n].at(-1).cpu.toFixed(2)} µs CPU`).join('; '))
  }
  const of = (name, key) => got[name].map((r) => r[key])
  const ratio = (name, key) => median(of(name, key).map((x, i) => x / got.A[i][key]))
  const last = names[2]
  console.log(`| row | A | B | ${last} | B/A | ${last}/A |`)
  console.log('| --- | --- | --- | --- | --- | --- |')
  const rows = [['w1', 'W1 p50 µs', 1], ['w2', 'W2 calls/s', 0], ['cpu', 'W2 Node CPU µs/call', 2], ['w3e', 'W3e 8 MB echo p50 ms', 2]]
  for (const [key, label, digits] of rows) {
    console.log(`| ${label} | ${names.map((n) => median(of(n, key)).toFixed(digits)).join(' | ')} | ` +
      `${ratio('B', key).toFixed(3)} | ${ratio(last, key).toFixed(3)} |`)
  }
}

const argv = process.argv.slice(2)
if (argv[0] === '--child') await child(argv[1], argv[2]?.slice(2))
else await main(argv)
