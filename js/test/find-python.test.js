// Finding Python (find-python.js) as a pure function of the environment, the entry script
// and the files that exist; the start-up error's text (runtime.js); relative `path` and
// `cwd` against the application's root, with a real worker.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { appRoot, describeTried, findPython } from '../src/find-python.js'
import { REQUIREMENTS, VERSION, missingModules, mismatch, startFailure } from '../src/runtime.js'

// A file check that says yes to exactly `files`.
const only = (...files) => (file) => files.includes(file)
const APP = '/home/u/app'
const ENTRY = `${APP}/server/main.js`
const look = (env, files, more = {}) =>
  findPython({ env, argv1: ENTRY, cwd: '/elsewhere', platform: 'linux', exists: only(`${APP}/package.json`, ...files), ...more })

describe('findPython', () => {
  test('order: option, $PYFERRY_PYTHON, $VIRTUAL_ENV, $CONDA_PREFIX, the app .venv, PATH', () => {
    const files = ['/v/bin/python', '/c/bin/python', `${APP}/.venv/bin/python`, '/usr/bin/python3', '/usr/bin/python']
    const env = { PYFERRY_PYTHON: '/p/python', VIRTUAL_ENV: '/v', CONDA_PREFIX: '/c', PATH: '/usr/local/bin:/usr/bin' }
    assert.equal(look(env, files, { python: '/o/python' }).command, '/o/python')
    assert.equal(look(env, files).command, '/p/python')
    const { PYFERRY_PYTHON, ...noExplicit } = env
    assert.equal(look(noExplicit, files).source, '$VIRTUAL_ENV (the active virtual environment)')
    const { VIRTUAL_ENV, ...noVenv } = noExplicit
    assert.equal(look(noVenv, files).command, '/c/bin/python')
    const { CONDA_PREFIX, ...plain } = noVenv
    assert.equal(look(plain, files).command, `${APP}/.venv/bin/python`)
    assert.equal(look(plain, files.slice(3)).command, '/usr/bin/python3')
    assert.equal(look(plain, ['/usr/bin/python']).command, '/usr/bin/python')
  })

  test('every candidate looked at is listed, with why it was skipped', () => {
    const chosen = look({ VIRTUAL_ENV: '/gone', PATH: '/usr/bin' }, ['/usr/bin/python3'])
    assert.deepEqual(chosen.tried.map((c) => [c.source, c.skipped]), [
      ['the `python` option', 'not given'],
      ['$PYFERRY_PYTHON', 'not set'],
      ['$VIRTUAL_ENV (the active virtual environment)', '/gone has no interpreter at /gone/bin/python'],
      ['$CONDA_PREFIX (the active conda environment)', 'not set'],
      ["the application's .venv", 'no such file'],
      ['`python3` on PATH', null],
    ])
    assert.equal(chosen.tried[4].command, `${APP}/.venv/bin/python`)
    const text = describeTried(chosen)
    assert.match(text, /-> `python3` on PATH: \/usr\/bin\/python3 \(chosen\)/)
    assert.match(text, /\$VIRTUAL_ENV .* — skipped: \/gone has no interpreter/)
  })

  test('a relative `python` path is the application\'s; a bare name is left to PATH', () => {
    assert.equal(look({}, [], { python: './.venv-3.12/bin/python' }).command, `${APP}/.venv-3.12/bin/python`)
    assert.equal(look({}, [], { python: 'python3.12' }).command, 'python3.12')
  })

  test('an explicit choice is final, even if it does not exist', () => {
    const chosen = look({ PYFERRY_PYTHON: '/missing/python', VIRTUAL_ENV: '/v' }, ['/v/bin/python'])
    assert.equal(chosen.command, '/missing/python')
    assert.equal(chosen.tried.length, 2)
  })

  test('nothing on PATH: python3 all the same, so that the error is the system\'s', () => {
    const chosen = look({ PATH: '/nowhere' }, [])
    assert.equal(chosen.command, 'python3')
    assert.match(chosen.source, /none found/)
  })

  test('the option as an argv array: the program (resolved like a string), then its arguments', () => {
    const chosen = look({ PYFERRY_PYTHON: '/p/python' }, [], { python: ['py', '-3.12'] })
    assert.deepEqual([chosen.command, chosen.args, chosen.source], ['py', ['-3.12'], 'the `python` option'])
    assert.deepEqual(look({}, [], { python: ['./env/bin/python', '-X', 'dev'] }).command, `${APP}/env/bin/python`)
  })
})

describe('findPython on Windows (path.win32 rules, whatever Node runs on)', () => {
  const W = path.win32
  const win = (env, files, more = {}) =>
    findPython({ env, argv1: 'C:\\app\\main.js', cwd: 'C:\\app', platform: 'win32', exists: only('C:\\app\\package.json', ...files), ...more })
  const STORE = 'C:\\Users\\u\\AppData\\Local\\Microsoft\\WindowsApps'

  test("a venv's Scripts\\python.exe, conda's <env>\\python.exe, the app's .venv", () => {
    assert.equal(win({ VIRTUAL_ENV: 'C:\\v' }, ['C:\\v\\Scripts\\python.exe']).command, 'C:\\v\\Scripts\\python.exe')
    assert.equal(win({ CONDA_PREFIX: 'C:\\conda\\envs\\sci' }, ['C:\\conda\\envs\\sci\\python.exe']).command, 'C:\\conda\\envs\\sci\\python.exe')
    const noConda = win({ CONDA_PREFIX: 'C:\\c' }, ['C:\\c\\Scripts\\python.exe'])
    assert.equal(noConda.tried[3].skipped, 'C:\\c has no interpreter at C:\\c\\python.exe')
    assert.equal(win({}, ['C:\\app\\.venv\\Scripts\\python.exe']).command, W.join('C:\\app', '.venv', 'Scripts', 'python.exe'))
    assert.equal(win({}, [], { python: '.\\env\\python.exe' }).command, 'C:\\app\\env\\python.exe')
  })

  test('environment names in any case: Path, Virtual_Env', () => {
    assert.equal(win({ Virtual_Env: 'C:\\v' }, ['C:\\v\\Scripts\\python.exe']).command, 'C:\\v\\Scripts\\python.exe')
    assert.equal(win({ Path: 'C:\\Python312;C:\\Windows' }, ['C:\\Python312\\python.exe']).command, 'C:\\Python312\\python.exe')
  })

  test('PATH: python.exe, then the py -3 launcher as the last resort, then the Store alias', () => {
    const files = ['C:\\Python312\\python.exe', 'C:\\Windows\\py.exe', `${STORE}\\python.exe`]
    const Path = `${STORE};C:\\Windows;C:\\Python312`
    const python = win({ Path }, files)
    assert.deepEqual([python.command, python.args, python.source], ['C:\\Python312\\python.exe', [], '`python.exe` on PATH'])
    const py = win({ Path }, files.slice(1))
    assert.deepEqual([py.command, py.args, py.source], ['C:\\Windows\\py.exe', ['-3'], 'the `py -3` launcher on PATH'])
    assert.match(py.tried.at(-2).skipped, /outside the Store's WindowsApps aliases/)
    const store = win({ Path }, files.slice(2))
    assert.equal(store.command, `${STORE}\\python.exe`)
    assert.match(store.source, /Microsoft Store's `python.exe` alias .* opens the Store unless Python was installed from there/)
  })

  test('nothing found: `python`, so that the error is the system\'s', () => {
    const chosen = win({ Path: 'C:\\nowhere' }, [])
    assert.deepEqual([chosen.command, chosen.args], ['python', []])
    assert.match(chosen.source, /none found in %PATH%/)
    assert.deepEqual(chosen.tried.slice(5).map((c) => c.skipped), [
      "none found in %PATH% (outside the Store's WindowsApps aliases)", 'no py.exe in %PATH%', 'not in %PATH%', null,
    ])
  })
})

describe('appRoot', () => {
  test('the nearest package.json above the entry script, not the current folder', () => {
    assert.equal(appRoot({ argv1: ENTRY, cwd: '/elsewhere', exists: only(`${APP}/package.json`) }), APP)
    assert.equal(appRoot({ argv1: 'server/main.js', cwd: APP, exists: only(`${APP}/package.json`) }), APP)
  })

  test('a script inside node_modules (a test runner, npx) counts as the project\'s', () => {
    const exists = only(`${APP}/package.json`, `${APP}/node_modules/mocha/package.json`)
    assert.equal(appRoot({ argv1: `${APP}/node_modules/mocha/bin/mocha.js`, exists }), APP)
  })

  test('no entry script: from the current folder; no package.json: where the search began', () => {
    assert.equal(appRoot({ argv1: undefined, cwd: `${APP}/sub`, exists: only(`${APP}/package.json`) }), APP)
    assert.equal(appRoot({ argv1: '/srv/tool/run.js', exists: only() }), '/srv/tool')
  })
})

describe('start-up errors', () => {
  const interpreter = look({}, [`${APP}/.venv/bin/python`])

  test('a missing interpreter: install Python 3.11 or name one; every candidate listed', () => {
    const error = Object.assign(new Error('spawn /x ENOENT'), { code: 'ENOENT' })
    const text = startFailure({ kind: 'spawn', interpreter: look({ PYFERRY_PYTHON: '/x' }, []), error })
    assert.match(text, /There is no interpreter \/x\./)
    assert.match(text, /install Python 3\.11 or newer/)
    assert.match(text, /PYFERRY_PYTHON=\/path\/to\/python/)
    assert.match(text, /-> \$PYFERRY_PYTHON: \/x \(chosen\)/)
    assert.doesNotMatch(text, /\/x -m pip/)
  })

  test('a missing dependency names the module, the interpreter and the command', () => {
    const stderr = ['Traceback (most recent call last):', "ModuleNotFoundError: No module named 'msgpack'"]
    assert.deepEqual(missingModules(stderr), ['msgpack'])
    const text = startFailure({ kind: 'exit', interpreter, code: 1, stderr })
    assert.match(text, new RegExp(`${APP}/.venv/bin/python cannot import msgpack`))
    assert.ok(text.includes(`${APP}/.venv/bin/python -m pip install msgpack numpy`), text)
    assert.match(text, /npx pyferry init/)
    assert.deepEqual(missingModules(['pyferry worker: missing modules: numpy, msgpack (the pyferry runtime ...)']), ['numpy', 'msgpack'])
  })

  test('a Python older than 3.11 (launch.py\'s line) says to install a newer one', () => {
    const stderr = ['pyferry worker: Python 3.9.2 (/usr/bin/python3) is too old: pyferry needs Python 3.11 or newer']
    const text = startFailure({ kind: 'exit', interpreter, code: 5, stderr })
    assert.match(text, /1\. install Python 3\.11 or newer, then: npx pyferry init --python/)
    assert.doesNotMatch(text, /pip install/)
  })

  test('a version mismatch says which half is older and how to fix it', () => {
    const older = mismatch({ pid: 1, pyferry: '0.0.9', protocol: 1 }, { pyferry: '0.1.0', protocol: 1 }, interpreter)
    assert.match(older, /The Python half is the older one/)
    assert.match(older, /pip install pyferry==0\.1\.0|npm install pyferry@0\.1\.0/)
    const newer = mismatch({ pid: 1, pyferry: '0.3.0', protocol: 2 }, { pyferry: '0.1.0', protocol: 1 }, interpreter)
    assert.match(newer, /speaks protocol version 2/)
    assert.match(newer, /The npm package is the older one\. To fix it: upgrade the npm package to match: npm install pyferry@0\.3\.0/)
  })
})

describe('the halves agree', () => {
  const pyproject = readFileSync(new URL('../../pyproject.toml', import.meta.url), 'utf8')

  test('REQUIREMENTS are pyproject.toml\'s dependencies and extras', () => {
    const list = (text) => [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1])
    assert.deepEqual(REQUIREMENTS.runtime, list(/^dependencies = \[(.*)\]$/m.exec(pyproject)[1]))
    for (const extra of ['scipy', 'dataframe', 'dask']) {
      assert.deepEqual(REQUIREMENTS[extra], list(new RegExp(`^${extra} = \\[(.*)\\]$`, 'm').exec(pyproject)[1]), extra)
    }
  })

  test('the npm package, the client and the Python half are one version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    const init = readFileSync(new URL('../../src/pyferry/__init__.py', import.meta.url), 'utf8')
    assert.equal(VERSION, pkg.version)
    assert.equal(/^__version__ = "(.+)"$/m.exec(init)[1], VERSION)
  })
})

describe('relative path and cwd', () => {
  test('resolve against the application\'s root, not the folder Node was started from', async (t) => {
    const app = realpathSync(mkdtempSync(path.join(tmpdir(), 'pyferry-root-')))
    t.after(() => rmSync(app, { recursive: true, force: true }))
    writeFileSync(path.join(app, 'package.json'), '{"type": "module"}\n')
    mkdirSync(path.join(app, 'py'))
    mkdirSync(path.join(app, 'data'))
    writeFileSync(path.join(app, 'py', 'rootmod.py'), 'import os\n\ndef where():\n    return os.getcwd()\n')
    const entry = path.join(app, 'main.mjs')
    writeFileSync(entry, '')
    const interpreter = findPython({ argv1: entry })
    assert.equal(interpreter.root, app)
    // The client reads process.argv[1]; a child Node run from / shows the same from anywhere.
    const script = `import { Python } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)}
const py = new Python({ path: ['./py'], cwd: 'data', workers: 1 })
console.log(await py.call('rootmod.where'))
await py.close()`
    writeFileSync(entry, script)
    const out = execFileSync(process.execPath, [entry], { cwd: '/', encoding: 'utf8' })
    assert.equal(out.trim(), path.join(app, 'data'))
  })
})
