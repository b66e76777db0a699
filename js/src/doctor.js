// `npx pyferry doctor`: one report of the set-up, in the order a person reads it.
//
// Node and this package (with its bundled Python runtime), the application's root, how
// the interpreter was found (every candidate and why each was skipped), the Python
// side's own report (`pyferry doctor --json` run through the same launcher a worker
// uses: version, runtime installed or bundled, numpy/scipy/pandas/pyarrow), apache-arrow
// in Node, then a real worker started and the seed call made, with its time. Each
// problem carries its fix as a command to paste. ok: the seed call returned 45.

import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeTried, findPython } from './find-python.js'
import { checkPython } from './options.js'
import { mergeEnv } from './platform.js'
import { Python } from './python.js'
import { VERSION, bundledRuntime, pyferryArgv, shellCommand, startFailure } from './runtime.js'

const PROBE_TIMEOUT_MS = 30_000
const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]

// Run the Python side's doctor; resolves with { report } or { failure: message }.
// With `backend: 'dask'`, it also reports the scheduler and its workers.
function pythonReport(interpreter, env, cwd, options) {
  const dask = options.backend === 'dask' && options.scheduler
    ? ['--backend', 'dask', '--scheduler', options.scheduler, '--insecure-tcp-scheduler', options.insecureScheduler ? 'yes' : 'no',
        ...(options.connectTimeout === undefined ? [] : ['--scheduler-timeout-ms', String(options.connectTimeout)])]
    : []
  return new Promise((resolve) => {
    const argv = pyferryArgv(interpreter, ['doctor', '--json', ...dask])
    execFile(interpreter.command, argv, { env, cwd, timeout: PROBE_TIMEOUT_MS, windowsHide: true }, (error, stdout, stderr) => {
      const lines = stderr.split('\n').filter(Boolean).slice(-20)
      try {
        return resolve({ report: JSON.parse(stdout) })
      } catch {}
      if (error?.code === 'ENOENT' || error?.code === 'EACCES') {
        return resolve({ failure: startFailure({ kind: 'spawn', interpreter, error }) })
      }
      resolve({ failure: startFailure({ kind: 'exit', interpreter, code: error?.code ?? 0, signal: error?.signal, stderr: lines }) })
    })
  })
}

// apache-arrow as pyferry would load it: its version, or null if it is not installed.
function arrowVersion() {
  try {
    let dir = path.dirname(createRequire(import.meta.url).resolve('apache-arrow'))
    for (; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
      const file = path.join(dir, 'package.json')
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8'))
        if (pkg.name === 'apache-arrow') return pkg.version
      }
    }
  } catch {}
  return null
}

// A real worker and the seed call: { ok, ms, result, info } or { ok: false, error }.
async function seedCall(options) {
  let py
  try {
    py = new Python({ ...options, workers: 1 }) // throws for an invalid option of the config
    const start = performance.now()
    const result = await py.call('numpy.sum', SEED)
    return { ok: Number(result) === 45, result: Number(result), ms: Math.round(performance.now() - start), info: py.info }
  } catch (error) {
    return { ok: false, error: { name: error.name, code: error.code, message: error.message } }
  } finally {
    await py?.destroy()
  }
}

// The findings as data (what --json prints). `options`: those of `new Python()`.
export async function diagnose(options = {}, { env = process.env, cwd = process.cwd() } = {}) {
  checkPython(options.python) // a TypeError naming the option, before anything runs
  const fullEnv = mergeEnv(env, options.env)
  const interpreter = findPython({ python: options.python, env: fullEnv, cwd })
  const runtime = bundledRuntime()
  const problems = []
  const python = await pythonReport(interpreter, fullEnv, cwd, options)
  if (python.failure) problems.push({ problem: 'the Python side could not report', detail: python.failure })
  for (const item of python.report?.problems ?? []) problems.push(item)
  const seed = python.failure ? { ok: false, skipped: 'the interpreter cannot run pyferry' } : await seedCall(options)
  if (seed.error) problems.push({ problem: `the seed call failed: ${seed.error.name}`, detail: seed.error.message })
  return {
    node: { version: process.version, pyferry: VERSION, package: fileURLToPath(new URL('..', import.meta.url)) },
    bundledRuntime: runtime && path.dirname(runtime),
    root: interpreter.root,
    interpreter: { command: interpreter.command, args: interpreter.args, source: interpreter.source, tried: interpreter.tried },
    python: python.report ?? null,
    arrow: arrowVersion(),
    seed,
    options,
    problems,
    ok: seed.ok === true,
  }
}

// The findings as the text a person reads.
export function format(found) {
  const out = []
  out.push(`Node ${found.node.version}, pyferry ${found.node.pyferry} (npm) at ${found.node.package}`)
  out.push(`  bundled Python runtime: ${found.bundledRuntime ?? 'none (a source checkout: the interpreter needs its own pyferry)'}`)
  out.push(`Application root: ${found.root}`)
  out.push(`Interpreter: ${shellCommand(found.interpreter)} (from ${found.interpreter.source})`)
  out.push(describeTried(found.interpreter))
  const py = found.python
  if (py) {
    out.push(`Python ${py.interpreter.version} (${py.interpreter.implementation}) at ${py.interpreter.executable}${py.interpreter.venv ? ', a virtual environment' : ''}`)
    out.push(`Runtime it runs: pyferry ${py.runtime.pyferry}, ${py.runtime.kind === 'bundled' ? 'the copy in the npm package' : "the interpreter's own"} (${py.runtime.folder})`)
    if (py.bytecode) out.push(`  bytecode for this Python: ${py.bytecode.compiled} of ${py.bytecode.modules} modules`)
    if (py.system) out.push(`System: ${py.system.platform}; maxMemoryBytes: ${py.system.memory_limit}`)
    out.push('Python modules:')
    for (const [name, version] of Object.entries(py.modules)) out.push(`  ${name.padEnd(12)} ${version ?? 'missing'}`)
  }
  if (py?.dask) {
    out.push(`Dask scheduler: ${py.dask.scheduler}, ${Object.keys(py.dask.workers).length} worker(s)`)
    for (const [worker, seen] of Object.entries(py.dask.workers)) {
      out.push(`  ${worker}: pyferry ${seen.pyferry ?? 'missing'}, numpy ${seen.numpy ?? 'missing'} (${seen.executable ?? seen.error})`)
    }
  }
  out.push(`apache-arrow (Node): ${found.arrow ?? 'not installed (optional: DataFrames; npm install apache-arrow)'}`)
  const seed = found.seed
  if (seed.ok) out.push(`Worker: pid ${seed.info.pid} started; numpy.sum([1, ..., 9]) = ${seed.result} in ${seed.ms} ms (start-up included)`)
  else out.push(`Worker: no seed call (${seed.skipped ?? 'it failed, see below'})`)
  if (Object.keys(found.options).length) out.push(`Options in force: ${JSON.stringify(found.options)}`)
  found.problems.forEach((item, i) => {
    out.push(`Problem ${i + 1}: ${item.problem}`)
    if (item.fix) out.push(`  fix: ${item.fix}`)
    if (item.detail) out.push(`  ${item.detail.split('\n').join('\n  ')}`)
  })
  for (const item of found.python?.notes ?? []) out.push(`Note: ${item.note}\n  fix: ${item.fix}`)
  out.push(found.ok ? 'OK: pyferry works here.' : 'NOT OK: see the problems above.')
  return out.join('\n')
}
