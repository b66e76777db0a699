// Choose the Python interpreter that runs the workers, and say why.
//
// Order (README "How Python is found"): the `python` option, $PYFERRY_PYTHON, the active
// virtual environment ($VIRTUAL_ENV), the active conda environment ($CONDA_PREFIX), the
// `.venv` in the application's root, then `python3` and `python` on PATH (on Windows
// `python.exe`, then the `py -3` launcher, then the Microsoft Store's `python.exe` alias).
// An explicit choice (the option or $PYFERRY_PYTHON) is final even if it does not exist:
// the start error says so instead of silently using another. An environment whose
// interpreter file is missing is skipped with the reason.
//
// Pure: the environment, the entry script, the platform and the file check are
// arguments, so that tests and `npx pyferry doctor` can ask about any set-up; paths are
// built with the rules of `platform` (path.win32 for 'win32'), whatever Node runs on.

import { existsSync } from 'node:fs'
import path from 'node:path'
import { envValue } from './platform.js'

// The path functions of `platform`.
function pathsOf(platform) {
  return platform === 'win32' ? path.win32 : path.posix
}

// The interpreter inside a venv (`conda`: a conda environment) at `prefix`: bin/python on
// POSIX; on Windows Scripts\python.exe in a venv, python.exe at the top of a conda env.
function envPython(prefix, platform, conda = false) {
  const p = pathsOf(platform)
  if (platform !== 'win32') return p.join(prefix, 'bin', 'python')
  return conda ? p.join(prefix, 'python.exe') : p.join(prefix, 'Scripts', 'python.exe')
}

// The application's root: the nearest folder with a package.json above the entry
// script (`argv1`, process.argv[1]), outside any node_modules (a test runner's or a
// tool's own script counts as the project's). Without an entry script (REPL, `node -e`,
// `npx pyferry doctor`): the same search from `cwd`. With no package.json anywhere
// above: the folder the search started from.
// (`argv1: undefined` given explicitly means: no entry script.)
export function appRoot(options = {}) {
  const { cwd = process.cwd(), exists = existsSync, platform = process.platform } = options
  const p = pathsOf(platform)
  const argv1 = 'argv1' in options ? options.argv1 : process.argv[1]
  let start = argv1 ? p.dirname(p.resolve(cwd, argv1)) : p.resolve(cwd)
  const parts = start.split(p.sep)
  const inModules = parts.indexOf('node_modules')
  if (inModules > 0) start = parts.slice(0, inModules).join(p.sep) || p.sep
  for (let dir = start; ; dir = p.dirname(dir)) {
    if (exists(p.join(dir, 'package.json'))) return dir
    if (p.dirname(dir) === dir) return start
  }
}

// Whether `dir` is the Microsoft Store's folder of app aliases, whose python.exe opens the
// Store unless Python was installed from there.
function storeAliases(dir) {
  return /[\\/]Microsoft[\\/]WindowsApps[\\/]?$/i.test(dir)
}

// The first of `names` found in a folder of the PATH, as { name, file }, or null.
// `where(dir)`: whether a folder may be searched.
function onPath(names, env, platform, exists, where = () => true) {
  const p = pathsOf(platform)
  const dirs = (envValue(env, 'PATH', platform) ?? '').split(platform === 'win32' ? ';' : ':').filter(Boolean).filter(where)
  const exts = platform === 'win32' ? ['.exe', ''] : ['']
  for (const name of names) {
    for (const dir of dirs) {
      for (const ext of exts) {
        const file = p.join(dir, name + ext)
        if (exists(file)) return { name, file }
      }
    }
  }
  return null
}

// Return { command, args, source, root, tried }: the interpreter (`args` go before
// `-m pyferry ...`, e.g. ['-3'] for Windows' `py`), why it was chosen, the
// application's root, and every candidate looked at in order as { command, source,
// skipped } (`skipped`: why it was not used, null for the one chosen). `python`: a
// string, or an argv array (['py', '-3.12']) whose first item is the program.
export function findPython(options = {}) {
  const { python, env = process.env, cwd = process.cwd(), platform = process.platform, exists = existsSync } = options
  const p = pathsOf(platform)
  const root = appRoot({ argv1: 'argv1' in options ? options.argv1 : process.argv[1], cwd, exists, platform })
  const tried = []
  const skip = (source, skipped, command = null) => tried.push({ command, source, skipped })
  const choose = (command, source, args = []) => {
    tried.push({ command, source, skipped: null })
    return { command, args, source, root, tried }
  }
  const variable = (name) => envValue(env, name, platform)
  if (python) {
    const [program, ...args] = Array.isArray(python) ? python : [python]
    // A relative path (not a bare name such as 'python3.12', which PATH resolves) is the app's.
    return choose(/[/\\]/.test(program) ? p.resolve(root, program) : program, 'the `python` option', args)
  }
  skip('the `python` option', 'not given')
  if (variable('PYFERRY_PYTHON')) return choose(variable('PYFERRY_PYTHON'), '$PYFERRY_PYTHON')
  skip('$PYFERRY_PYTHON', 'not set')
  for (const [name, what] of [['VIRTUAL_ENV', 'the active virtual environment'], ['CONDA_PREFIX', 'the active conda environment']]) {
    const source = `$${name} (${what})`
    const prefix = variable(name)
    if (!prefix) {
      skip(source, 'not set')
      continue
    }
    const command = envPython(prefix, platform, name === 'CONDA_PREFIX')
    if (exists(command)) return choose(command, source)
    skip(source, `${prefix} has no interpreter at ${command}`, command)
  }
  const venv = envPython(p.join(root, '.venv'), platform)
  const venvSource = "the application's .venv"
  if (exists(venv)) return choose(venv, venvSource)
  skip(venvSource, 'no such file', venv)
  if (platform === 'win32') return windowsPath(env, exists, choose, skip) ?? choose('python', '`python.exe` on PATH (none found in %PATH%)')
  const names = ['python3', 'python']
  const found = onPath(names, env, platform, exists)
  if (found) return choose(found.file, `\`${found.name}\` on PATH`)
  skip('`python3`, `python` on PATH', 'none found in $PATH')
  // Nothing found: try the usual name anyway, so that the error is the system's own.
  tried.pop()
  return choose('python3', '`python3` on PATH (none found in $PATH)')
}

// Windows' PATH: python.exe (not the Store's alias), then the `py -3` launcher, then the
// Store's python.exe alias (real if Python came from the Store, else it opens the Store);
// null if none is there.
function windowsPath(env, exists, choose, skip) {
  const python = onPath(['python'], env, 'win32', exists, (dir) => !storeAliases(dir))
  if (python) return choose(python.file, '`python.exe` on PATH')
  skip('`python.exe` on PATH', 'none found in %PATH% (outside the Store\'s WindowsApps aliases)')
  const py = onPath(['py'], env, 'win32', exists)
  if (py) return choose(py.file, 'the `py -3` launcher on PATH', ['-3'])
  skip('the `py -3` launcher on PATH', 'no py.exe in %PATH%')
  const store = onPath(['python'], env, 'win32', exists, storeAliases)
  if (store) return choose(store.file, "the Microsoft Store's `python.exe` alias on PATH (it opens the Store unless Python was installed from there)")
  skip("the Microsoft Store's `python.exe` alias", 'not in %PATH%')
  return null
}

// Resolve a relative `cwd` or `path` option against the application's root, so that it
// does not change with the folder the application was started from.
export function fromRoot(root, dir) {
  return path.resolve(root, dir)
}

// The candidates an interpreter choice looked at, one line each, for error messages.
export function describeTried({ tried }) {
  const lines = tried.map(({ command, source, skipped }) => {
    const what = command ? `${source}: ${command}` : source
    return `  ${skipped === null ? '->' : '  '} ${what}${skipped === null ? ' (chosen)' : ` — skipped: ${skipped}`}`
  })
  return ['Interpreters looked at, in order:', ...lines].join('\n')
}
