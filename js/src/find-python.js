// Choose the Python interpreter that runs the workers, and say why.
//
// Order (README "How Python is found"): the `python` option, $PYFERRY_PYTHON, the active
// virtual environment ($VIRTUAL_ENV), the active conda environment ($CONDA_PREFIX), the
// `.venv` in the application's root, then `python3` and `python` on PATH (on Windows
// `py -3`, then `python`). An explicit choice (the option or $PYFERRY_PYTHON) is final
// even if it does not exist: the start error says so instead of silently using another.
// An environment whose interpreter file is missing is skipped with the reason.
//
// Pure: the environment, the entry script, the platform and the file check are
// arguments, so that tests and `npx pyferry doctor` can ask about any set-up.

import { existsSync } from 'node:fs'
import path from 'node:path'

// The interpreter inside a venv or conda environment at `prefix`.
function envPython(prefix, platform) {
  if (platform !== 'win32') return path.join(prefix, 'bin', 'python')
  return path.join(prefix, 'Scripts', 'python.exe')
}

// The application's root: the nearest folder with a package.json above the entry
// script (`argv1`, process.argv[1]), outside any node_modules (a test runner's or a
// tool's own script counts as the project's). Without an entry script (REPL, `node -e`,
// `npx pyferry doctor`): the same search from `cwd`. With no package.json anywhere
// above: the folder the search started from.
// (`argv1: undefined` given explicitly means: no entry script.)
export function appRoot(options = {}) {
  const { cwd = process.cwd(), exists = existsSync } = options
  const argv1 = 'argv1' in options ? options.argv1 : process.argv[1]
  let start = argv1 ? path.dirname(path.resolve(cwd, argv1)) : path.resolve(cwd)
  const parts = start.split(path.sep)
  const inModules = parts.indexOf('node_modules')
  if (inModules > 0) start = parts.slice(0, inModules).join(path.sep) || path.sep
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (exists(path.join(dir, 'package.json'))) return dir
    if (path.dirname(dir) === dir) return start
  }
}

// The first of `names` found in a folder of `env.PATH`, or null.
function onPath(names, env, platform, exists) {
  const dirs = (env.PATH ?? env.Path ?? '').split(platform === 'win32' ? ';' : ':').filter(Boolean)
  const exts = platform === 'win32' ? ['.exe', ''] : ['']
  for (const name of names) {
    for (const dir of dirs) {
      for (const ext of exts) {
        const file = path.join(dir, name + ext)
        if (exists(file)) return { name, file }
      }
    }
  }
  return null
}

// Return { command, args, source, root, tried }: the interpreter (`args` go before
// `-m pyferry ...`, e.g. ['-3'] for Windows' `py`), why it was chosen, the
// application's root, and every candidate looked at in order as { command, source,
// skipped } (`skipped`: why it was not used, null for the one chosen).
export function findPython(options = {}) {
  const { python, env = process.env, cwd = process.cwd(), platform = process.platform, exists = existsSync } = options
  const root = appRoot({ argv1: 'argv1' in options ? options.argv1 : process.argv[1], cwd, exists })
  const tried = []
  const skip = (source, skipped, command = null) => tried.push({ command, source, skipped })
  const choose = (command, source, args = []) => {
    tried.push({ command, source, skipped: null })
    return { command, args, source, root, tried }
  }
  // A relative path (not a bare name such as 'python3.12', which PATH resolves) is the app's.
  if (python) return choose(/[/\\]/.test(python) ? path.resolve(root, python) : python, 'the `python` option')
  skip('the `python` option', 'not given')
  if (env.PYFERRY_PYTHON) return choose(env.PYFERRY_PYTHON, '$PYFERRY_PYTHON')
  skip('$PYFERRY_PYTHON', 'not set')
  for (const [name, what] of [['VIRTUAL_ENV', 'the active virtual environment'], ['CONDA_PREFIX', 'the active conda environment']]) {
    const source = `$${name} (${what})`
    if (!env[name]) {
      skip(source, 'not set')
      continue
    }
    const command = envPython(env[name], platform)
    if (exists(command)) return choose(command, source)
    skip(source, `${env[name]} has no interpreter at ${command}`, command)
  }
  const venv = envPython(path.join(root, '.venv'), platform)
  const venvSource = "the application's .venv"
  if (exists(venv)) return choose(venv, venvSource)
  skip(venvSource, 'no such file', venv)
  const names = platform === 'win32' ? ['py', 'python'] : ['python3', 'python']
  const found = onPath(names, env, platform, exists)
  if (found) return choose(found.file, `\`${found.name}\` on PATH`, found.name === 'py' ? ['-3'] : [])
  skip(`${names.map((n) => `\`${n}\``).join(', ')} on PATH`, 'none found in $PATH')
  // Nothing found: try the usual name anyway, so that the error is the system's own.
  tried.pop()
  return choose(names[0], `\`${names[0]}\` on PATH (none found in $PATH)`)
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
