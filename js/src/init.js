// `npx pyferry init [--with scipy,dataframe]`: make the application's .venv, the
// environment pyferry finds on its own, with the runtime's dependencies (and extras).
//
// Nothing is ever installed but by this explicit command (no install script). The base
// interpreter is `--python`, else `python3` (`py -3` on Windows) on PATH; it must be
// Python 3.11 or newer. An existing .venv is kept and only gets the packages.

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { appRoot, findPython } from './find-python.js'
import { checkPython } from './options.js'
import { envValue } from './platform.js'
import { REQUIREMENTS, bundledRuntime, shellCommand } from './runtime.js'

// The packages for `extras` (names of REQUIREMENTS), or throw a TypeError naming a wrong one.
export function requirements(extras = []) {
  const wanted = ['runtime', ...extras]
  for (const name of extras) {
    if (!(name in REQUIREMENTS) || name === 'runtime') {
      const known = Object.keys(REQUIREMENTS).filter((k) => k !== 'runtime').join(', ')
      throw new TypeError(`--with ${name}: unknown extra (known: ${known})`)
    }
  }
  return wanted.flatMap((name) => REQUIREMENTS[name])
}

function run(interpreter, args, log) {
  log(`$ ${shellCommand({ command: interpreter.command, args: [...(interpreter.args ?? []), ...args] })}`)
  const result = spawnSync(interpreter.command, [...(interpreter.args ?? []), ...args], { stdio: 'inherit' })
  if (result.error) throw new Error(`could not run ${interpreter.command}: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`${interpreter.command} ${args[0]} ${args[1]} failed (exit ${result.status})`)
}

// Create (or complete) <application root>/.venv; returns its interpreter's path.
// `python`: the base interpreter, a path or an argv array (['py', '-3.12']).
export function init({ extras = [], python, cwd = process.cwd(), env = process.env, log = console.log } = {}) {
  const packages = requirements(extras)
  checkPython(python, '--python')
  const root = appRoot({ argv1: undefined, cwd })
  const venv = path.join(root, '.venv')
  const venvPython = process.platform === 'win32' ? path.join(venv, 'Scripts', 'python.exe') : path.join(venv, 'bin', 'python')
  if (!existsSync(venvPython)) {
    // The base: never an environment pyferry would pick over the new .venv's own.
    const base = python
      ? { command: [python].flat()[0], args: [python].flat().slice(1) }
      : findPython({ env: { PATH: envValue(env, 'PATH') }, argv1: undefined, cwd: root, exists: (f) => f !== venvPython && existsSync(f) })
    run(base, ['-c', "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'pyferry needs Python 3.11 or newer, not ' + sys.version)"], log)
    run(base, ['-m', 'venv', venv], log)
  }
  run({ command: venvPython }, ['-m', 'pip', 'install', '--disable-pip-version-check', ...packages], log)
  const launcher = bundledRuntime()
  if (launcher) compileRuntime(venvPython, path.dirname(path.dirname(launcher)), log)
  log(`Done: ${venvPython} has what pyferry needs. Check with: npx pyferry doctor`)
  return venvPython
}

// Compile the Python runtime this package carries (`dir`: its python/ folder) to bytecode for
// `interpreter`. Without it the first worker compiles pyferry from source (~75 ms more than
// from bytecode on the project's VM, bench/README.md, W5), and so does every worker where
// python/ is not writable to the application's user (a package installed as root in an
// image) or PYTHONDONTWRITEBYTECODE is set. Returns whether it worked: a failure (a folder
// that cannot be written, say) is said and does not fail init, since workers still run.
export function compileRuntime(interpreter, dir, log = console.log) {
  const args = ['-m', 'compileall', '-q', dir]
  log(`$ ${shellCommand({ command: interpreter, args })}`)
  const result = spawnSync(interpreter, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
  if (result.status === 0) return true
  const why = result.error?.message ?? (result.stdout + result.stderr).trim().split('\n').slice(-3).join('\n')
  log(`Note: ${dir} could not be compiled to bytecode (${why || `exit ${result.status}`}); ` +
    'workers still start, each compiling pyferry from source (slower). Run this again as the folder\'s owner to fix it.')
  return false
}
