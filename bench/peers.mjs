// The peers: bridges a user would pick instead of pyferry, each driven the way its README
// teaches, doing the same numpy work (bench_calls.seed: numpy.sum, returned as a JS number).
//
//   python-shell 5  a persistent JSON-lines child (`mode: 'json'`, peers/shell_server.py)
//   pythonia 1.2    `await python(module)`, then calls on the module's proxy
//
// They are dev dependencies of the benchmark alone (bench/peers/package.json), never of the
// package. openPeer(name, { warm }) resolves with { seed(xs), pid, close() }; peerRate and peerCold are
// their W2 and W5, as workloads.mjs has pyferry's.

import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { python } from './raw.mjs'
import { freshNode, rateWithCpu } from './stats.mjs'

const require = createRequire(new URL('peers/package.json', import.meta.url))
export const PEERS = ['pythonShell', 'pythonia']
export const PEER_NAMES = { pythonShell: 'python-shell', pythonia: 'pythonia' }

async function pythonShell(warm) {
  const { PythonShell } = require('python-shell')
  const shell = new PythonShell(fileURLToPath(new URL('peers/shell_server.py', import.meta.url)), {
    mode: 'json', pythonPath: python, pythonOptions: ['-u'],
  })
  const waiting = new Map() // id -> { resolve, reject }
  let next = 0
  shell.on('message', ({ id, result }) => {
    waiting.get(id).resolve(result)
    waiting.delete(id)
  })
  shell.on('error', (error) => {
    for (const { reject } of waiting.values()) reject(error)
    waiting.clear()
  })
  const seed = (xs) => new Promise((resolve, reject) => {
    const id = next++
    waiting.set(id, { resolve, reject })
    shell.send({ id, xs })
  })
  if (warm) await seed([1]) // started: the first answer came back
  return {
    seed,
    pid: shell.childProcess.pid,
    close: () => new Promise((resolve) => shell.end(() => resolve())),
  }
}

async function pythonia(warm) {
  process.env.PYTHON_BIN ??= python // pythonia's own way to name the interpreter
  const { python: bridge } = require('pythonia')
  const calls = await bridge(fileURLToPath(new URL('bench_calls.py', import.meta.url)))
  if (warm) await calls.seed([1])
  return {
    seed: (xs) => calls.seed(xs),
    pid: null, // pythonia does not expose its child
    close: async () => bridge.exit(),
  }
}

// `warm`: one call made before it resolves (a cold start leaves it out).
export function openPeer(name, { warm = true } = {}) {
  if (name === 'pythonShell') return pythonShell(warm)
  if (name === 'pythonia') return pythonia(warm)
  throw new Error(`no peer ${name}`)
}

const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]

// W2 for a peer: seed calls with `width` in flight; calls/s and the CPU per call (µs) in Node
// and, where the peer tells its child's pid, in Python.
export async function peerRate(peer, { total, width }) {
  const { result, node, python } = await rateWithCpu(total, width, peer.pid ? [peer.pid] : [], () => peer.seed(SEED))
  return { rate: result, nodeCpu: node, ...(peer.pid ? { pythonCpu: python } : {}) }
}

// W5 for a peer: a fresh node process to its first seed result.
export async function peerCold(name) {
  return { ms: (await freshNode(['cold', name])).ms }
}
