// The Python half this npm package carries, how a worker is started with it, and the
// start-up errors a new user meets, each with the command that fixes it.
//
// A packed or installed package holds a copy of the pure-Python runtime in python/
// (build.mjs --runtime puts it there; a source checkout has none). With it, a worker
// starts as `<python> <package>/python/pyferry/launch.py worker ...`: launch.py runs the
// interpreter's own pyferry if it is this very version, else the bundled copy, and
// exits with MISSING_DEPENDENCIES if msgpack or numpy cannot be imported. Without it,
// as `<python> -m pyferry worker ...` (the interpreter's pyferry, e.g. an editable install).

import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeTried } from './find-python.js'
import { likelyCause } from './platform.js'

export const VERSION = '0.1.0' // package.json's and the Python half's; a test keeps them equal
const LAUNCHER = fileURLToPath(new URL('../python/pyferry/launch.py', import.meta.url))
export const MISSING_DEPENDENCIES = 5 // launch.py's exit status (docs/protocol.md section 1)
const PRELOAD_FAILED = 3 // the worker's, when a --preload import failed
const MEMORY_LIMIT_FAILED = 6 // ... when --max-memory-bytes cannot be applied on its system (pyferry.memory)

// What the runtime needs in the interpreter, and the extras `npx pyferry init --with` adds:
// pyproject.toml's dependencies (a test keeps them equal).
export const REQUIREMENTS = {
  runtime: ['msgpack>=1.0.5,<2', 'numpy>=1.24'],
  scipy: ['scipy>=1.10'],
  dataframe: ['pandas>=2.1', 'pyarrow>=15'],
  dask: ['distributed>=2024.8'],
}

let bundled // cached: whether python/ exists never changes while Node runs

// The bundled runtime's launcher, or null when this package has none (a source checkout).
export function bundledRuntime() {
  bundled ??= existsSync(LAUNCHER) ? LAUNCHER : null
  return bundled
}

// The argv after the interpreter that runs `pyferry <args>` (`worker`, `doctor`, `version`).
export function pyferryArgv(interpreter, args) {
  const launcher = bundledRuntime()
  return [...(interpreter.args ?? []), ...(launcher ? [launcher] : ['-m', 'pyferry']), ...args]
}

// The interpreter as a command to paste (quoted if needed), with its `py -3` arguments.
export function shellCommand({ command, args = [] }) {
  const quote = (word) => (/^[\w@%+=:,./\\-]+$/.test(word) ? word : `"${word}"`)
  return [command, ...args].map(quote).join(' ')
}

// The modules a worker's stderr says it could not import (launch.py's line, or a traceback's).
export function missingModules(stderr) {
  const names = new Set()
  for (const line of stderr) {
    const listed = /pyferry worker: missing modules: ([\w., ]+?)(?: \(|$)/.exec(line)
    if (listed) for (const name of listed[1].split(',')) names.add(name.trim())
    const raised = /ModuleNotFoundError: No module named '([\w.]+)'/.exec(line)
    if (raised) names.add(raised[1].split('.')[0])
  }
  return [...names]
}

// The message of a WorkerStartError: what happened, the interpreter and how it was
// found, every candidate looked at, then numbered fixes with commands to paste.
// `kind`: 'spawn' (the interpreter could not be run: `error`), 'exit' (died before the
// handshake: `pid`, `code`, `signal`, `cause`), 'preload' (a preload module failed),
// 'memory' (maxMemoryBytes cannot be applied there: exit 6, pyferry.memory).
export function startFailure({ kind, interpreter, error, pid, code, signal, stderr = [], cause = '' }) {
  const python = shellCommand(interpreter)
  const tail = stderr.length ? `:\n  ${stderr.join('\n  ')}` : ''
  const fixes = []
  let what
  if (kind === 'spawn') {
    what = `could not start the Python worker: ${error.message}`
    if (error.code === 'ENOENT') {
      what += `\nThere is no interpreter ${interpreter.command}.`
      fixes.push('install Python 3.11 or newer, then: npx pyferry init   (creates the .venv pyferry finds)')
    } else {
      what += `\n${interpreter.command} cannot be run as a program (${error.code ?? 'error'}).`
    }
    fixes.push('or name an interpreter: new Python({ python: "/path/to/python" }) or PYFERRY_PYTHON=/path/to/python')
  } else if (kind === 'memory') {
    what = `the Python worker exited during start-up (code ${code}): options.maxMemoryBytes cannot be applied on this system${tail}`
    fixes.push('leave out maxMemoryBytes here; to bound a worker that grows, recycle it with maxCallsPerWorker')
  } else if (kind === 'preload') {
    what = `the Python worker exited during start-up (code ${code}): a module of the preload option failed to import${tail}`
    fixes.push('make that module importable by this interpreter (the `path` option), or leave it out of preload')
  } else if (signal) {
    what = `the Python worker ${pid ? `${pid} ` : ''}was killed by ${signal} during start-up${cause}${tail}`
  } else {
    what = `the Python worker exited during start-up (code ${code})${cause}${tail}`
    const missing = missingModules(stderr)
    if (stderr.some((line) => line.includes('pyferry needs Python 3.11 or newer'))) {
      fixes.push('install Python 3.11 or newer, then: npx pyferry init --python /path/to/python3.11')
      fixes.push('or name such an interpreter: new Python({ python: "/path/to/python" }) or PYFERRY_PYTHON=/path/to/python')
    } else if (missing.includes('pyferry')) {
      what += `\n${interpreter.command} has no pyferry, and this copy of the npm package carries no Python runtime (python/ is built by its prepare script).`
      fixes.push('reinstall the npm package: npm install pyferry')
      fixes.push(`or install the Python half from a checkout: ${python} -m pip install -e <checkout>`)
    } else if (missing.length) {
      const needed = [...new Set(['msgpack', 'numpy', ...missing])].join(' ')
      what += `\n${interpreter.command} cannot import ${missing.join(', ')}, which the pyferry runtime needs.`
      fixes.push(`install the runtime's dependencies there: ${python} -m pip install ${needed}`)
      fixes.push('or make the application its own environment: npx pyferry init')
    } else if (!bundledRuntime()) {
      // `python -m pyferry worker` with the interpreter's own pyferry, which did not start.
      fixes.push(`install (or repair) the Python half there: ${python} -m pip install pyferry==${VERSION}`)
      fixes.push(`or, from a checkout of the repository: ${python} -m pip install -e <checkout>`)
    }
  }
  if (fixes.length === 0) fixes.push('run `npx pyferry doctor` for a report of the set-up')
  else fixes.push('`npx pyferry doctor` reports the whole set-up')
  return [
    what,
    `Interpreter: ${interpreter.command} (from ${interpreter.source})`,
    describeTried(interpreter),
    'To fix it:',
    ...fixes.map((fix, i) => `  ${i + 1}. ${fix}`),
  ].join('\n')
}

// The start error of a worker that exited before its handshake: killed by a signal, a preload
// that failed (exit 3), a memory limit it cannot set (exit 6), or another exit. pyferry did
// start in each, so installing it would not help.
export function exitedAtStart({ interpreter, pid, code, signal, stderr }) {
  const kind = signal ? 'exit' : code === PRELOAD_FAILED ? 'preload' : code === MEMORY_LIMIT_FAILED ? 'memory' : 'exit'
  return startFailure({ kind, interpreter, pid, code, signal, stderr, cause: likelyCause(signal, code) })
}

// The message of a VersionMismatchError: which half is older and how to bring it level.
// `theirs`: the worker's HELLO ({ pid, pyferry, protocol }); `ours`: { pyferry, protocol }.
export function mismatch(theirs, ours, interpreter) {
  const what = theirs.protocol !== ours.protocol
    ? `speaks protocol version ${theirs.protocol}, this client (pyferry-js/${ours.pyferry}) speaks ${ours.protocol}`
    : `and this client (the npm package, pyferry ${ours.pyferry}) are not the same version, as the two halves must be`
  const newer = compareVersions(theirs.pyferry, ours.pyferry) > 0 || (theirs.protocol > ours.protocol)
  const python = interpreter ? shellCommand(interpreter) : 'python'
  const runtime = bundledRuntime()
  const fix = newer
    ? `upgrade the npm package to match: npm install pyferry@${theirs.pyferry}`
    : runtime
      ? `the runtime in ${path.dirname(runtime)} is not this package's own: reinstall the npm package: npm install pyferry@${ours.pyferry}`
      : `upgrade the Python half: ${python} -m pip install pyferry==${ours.pyferry} (or, from a checkout, -m pip install -e <checkout>)`
  return `worker ${theirs.pid} (pyferry ${theirs.pyferry}) ${what}\n` +
    `The ${newer ? 'npm package' : 'Python half'} is the older one. To fix it: ${fix}`
}

// -1, 0 or 1 as dotted version `a` is older than, equal to or newer than `b`.
function compareVersions(a, b) {
  const pa = String(a).split('.').map((n) => Number.parseInt(n, 10) || 0)
  const pb = String(b).split('.').map((n) => Number.parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0) ? 1 : -1
  }
  return 0
}
