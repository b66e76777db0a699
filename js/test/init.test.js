// `npx pyferry init`'s last step: the Python runtime the package carries, compiled to bytecode
// for the application's interpreter, so that no worker start compiles pyferry from source.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { compileRuntime } from '../src/init.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const python = process.env.PYFERRY_PYTHON || path.join(root, '.venv/bin/python')

// A copy of src/pyferry as the package's python/ folder holds it: sources, no bytecode.
function runtimeCopy(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pyferry-runtime-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(path.join(root, 'src/pyferry'), path.join(dir, 'pyferry'), {
    recursive: true,
    filter: (source) => path.basename(source) !== '__pycache__',
  })
  return dir
}

describe('compileRuntime (npx pyferry init)', () => {
  test('gives every module of the runtime, subpackages too, bytecode for the interpreter', (t) => {
    const dir = runtimeCopy(t)
    const lines = []
    assert.equal(compileRuntime(python, dir, (line) => lines.push(line)), true)
    assert.match(lines[0], /^\$ .*python\S* -m compileall -q \S*pyferry-runtime-/, 'the command is shown as run')
    const tag = execFileSync(python, ['-c', 'import sys; print(sys.implementation.cache_tag)'], { encoding: 'utf8' }).trim()
    for (const folder of ['pyferry', 'pyferry/backends']) {
      const modules = readdirSync(path.join(dir, folder)).filter((name) => name.endsWith('.py'))
      assert.ok(modules.length > 3, `${folder} holds the runtime's modules`)
      for (const name of modules) {
        const pyc = path.join(dir, folder, '__pycache__', `${name.slice(0, -3)}.${tag}.pyc`)
        assert.ok(existsSync(pyc), `${pyc} was written`)
      }
    }
  })

  test('a folder whose bytecode cannot be written is reported, and init goes on', (t) => {
    const dir = runtimeCopy(t)
    // A file where the cache folder would go: no user, root included, can write it.
    writeFileSync(path.join(dir, 'pyferry', '__pycache__'), '')
    const lines = []
    assert.equal(compileRuntime(python, dir, (line) => lines.push(line)), false)
    assert.match(lines.at(-1), /^Note: \S+ could not be compiled to bytecode \(.*Not a directory/s)
    assert.match(lines.at(-1), /workers still start, each compiling pyferry from source/)
  })

  test('an interpreter that cannot be run is reported the same way', (t) => {
    const dir = runtimeCopy(t)
    const lines = []
    assert.equal(compileRuntime(path.join(dir, 'no-such-python'), dir, (line) => lines.push(line)), false)
    assert.match(lines.at(-1), /could not be compiled to bytecode \(.*ENOENT/)
  })
})
