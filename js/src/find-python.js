// Choose the Python interpreter that runs the workers.
//
// Order: the `python` option, then $PYFERRY_PYTHON, then ./.venv (relative to
// the `cwd` option), then `python3` on PATH. The first that applies is used;
// if it cannot start a worker, the error lists what was tried and how to fix it.

import { existsSync } from 'node:fs'
import path from 'node:path'

const venvPython = process.platform === 'win32' ? ['Scripts', 'python.exe'] : ['bin', 'python']

// Return { command, source } naming the interpreter and why it was chosen.
export function findPython({ python, cwd = process.cwd(), env = process.env } = {}) {
  if (python) return { command: python, source: 'the `python` option' }
  if (env.PYFERRY_PYTHON) return { command: env.PYFERRY_PYTHON, source: '$PYFERRY_PYTHON' }
  const venv = path.resolve(cwd, '.venv', ...venvPython)
  if (existsSync(venv)) return { command: venv, source: './.venv' }
  return { command: process.platform === 'win32' ? 'python' : 'python3', source: 'PATH' }
}

// The "how to fix it" text appended to a start failure.
export function howToFix({ command, source }) {
  return [
    `Interpreter: ${command} (from ${source})`,
    'To fix it, either:',
    '  1. install the Python half into that interpreter: ' + `${command} -m pip install pyferry`,
    '  2. or point pyferry at one that has it: new Python({ python: "/path/to/python" })',
    '     or set PYFERRY_PYTHON=/path/to/python',
  ].join('\n')
}
