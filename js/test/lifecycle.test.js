// Lifecycle: lazy start, start(), close(), Node's exit, crashes and restarts, start failures.

import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, test } from 'node:test'
import {
  PoolClosedError, PROTOCOL_VERSION, ProtocolError, Python, WorkerCrashedError, WorkerStartError,
} from '../src/index.js'
import { findPython } from '../src/find-python.js'
import { VERSION } from '../src/worker.js'
import {
  childProcesses, fixturesDir, indexUrl, killNodeDuringCall, lineOf, needsProc, needsProcessList, needsSignals, processGone, rejection,
  runNode, waitFor, waitGone,
} from './helpers.js'

const pythonPath = findPython().command // the interpreter the clients use
const workerChildren = () => childProcesses().filter((c) => c.cmdline.includes('-m pyferry worker'))

// A new client closed when the test ends.
function client(t, options = {}) {
  const py = new Python({ path: [fixturesDir], ...options })
  t.after(() => py.close())
  return py
}

describe('starting', () => {
  test('importing and constructing start nothing', { skip: needsProc }, async () => {
    const result = await runNode(`
      import { readdirSync, readFileSync } from 'node:fs'
      const { Python } = await import(${JSON.stringify(indexUrl)})
      const py = new Python({ path: [${JSON.stringify(fixturesDir)}] })
      const children = readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).filter((n) => {
        try {
          const stat = readFileSync('/proc/' + n + '/stat', 'utf8')
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid
        } catch { return false }
      })
      console.log(JSON.stringify({ children, info: py.info }))
    `)
    assert.equal(result.timedOut, false, 'the script must end by itself')
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), { children: [], info: null })
  })

  test('no process before the first call; the first call spawns one worker', { skip: needsProcessList }, async (t) => {
    const before = workerChildren().map((c) => c.pid)
    const py = client(t)
    const spawned = []
    py.on('spawn', (event) => spawned.push(event))
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(spawned, [])
    assert.equal(py.info, null)
    assert.deepEqual(workerChildren().map((c) => c.pid), before)
    assert.equal(await py.call('sum', [1, 2]), 3)
    assert.equal(spawned.length, 1)
    const pid = spawned[0].pid
    assert.equal(py.info.pid, pid)
    assert.equal(await py.call('os.getpid'), pid)
    const now = workerChildren()
    assert.deepEqual(now.map((c) => c.pid).filter((p) => !before.includes(p)), [pid])
    await py.call('sum', [1])
    assert.equal(spawned.length, 1, 'a later call reuses the idle worker')
    await Promise.all([py.call('failing.slow', 0.1, 1), py.call('failing.slow', 0.1, 2)])
    assert.equal(spawned.length, 2, 'a second worker starts only when the first is busy')
    await Promise.all([1, 2, 3, 4].map((n) => py.call('failing.slow', 0.05, n)))
    assert.equal(spawned.length, 2, 'never more than options.workers')
  })

  test('the HELLO the client sends names the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    assert.equal(VERSION, pkg.version)
  })

  test('`spin` reaches each worker\'s command line; the default adds nothing there', { skip: needsProcessList }, async (t) => {
    const commandLine = (info) => workerChildren().find((c) => c.pid === info.pid)?.cmdline
    const quiet = client(t, { workers: 1, spin: 0 })
    const eager = client(t, { workers: 1, spin: 2500 })
    const plain = client(t, { workers: 1 })
    assert.match(commandLine(await quiet.start()), / --spin-us 0( |$)/)
    assert.match(commandLine(await eager.start()), / --spin-us 2500( |$)/)
    assert.doesNotMatch(commandLine(await plain.start()), /--spin-us/)
    for (const py of [quiet, eager, plain]) assert.equal(await py.call('math.fsum', [0.5, 0.25]), 0.75)
  })

  test('start() starts every worker and resolves with the first one\'s info', async (t) => {
    const py = client(t, { workers: 2 })
    const spawned = []
    py.on('spawn', (event) => spawned.push(event.pid))
    const info = await py.start()
    const expectedNumpy = execFileSync(pythonPath, ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' }).trim()
    const expectedPython = execFileSync(pythonPath, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim()
    assert.equal(info.protocol, 1)
    assert.equal(info.protocol, PROTOCOL_VERSION)
    assert.equal(info.numpy, expectedNumpy)
    assert.equal(info.python, expectedPython)
    assert.equal(typeof info.pyferry, 'string')
    assert.equal(spawned.length, 2)
    assert.equal(spawned[0], info.pid)
    assert.ok(spawned.every((pid) => !processGone(pid)))
    assert.deepEqual(py.info, info)
    assert.equal((await py.start()).pid, info.pid, 'start() twice starts nothing more')
    assert.equal(spawned.length, 2)
    assert.equal(await py.call('os.getpid'), info.pid, 'a lone call goes to the oldest idle worker')
  })
})

describe('closing', () => {
  test('close() lets calls in flight finish, then stops the worker', async (t) => {
    const py = client(t, { workers: 1 })
    const { pid } = await py.start()
    const exits = []
    py.on('exit', (event) => exits.push(event))
    const inFlight = py.call('failing.slow', 0.2, 'finished')
    const closing = py.close()
    await assert.rejects(py.call('sum', [1]), PoolClosedError)
    assert.equal(await inFlight, 'finished')
    await closing
    await waitGone(pid)
    assert.deepEqual(exits, [{ pid, code: 0, signal: null }])
  })

  test('a call after close() rejects with PoolClosedError; close() is idempotent', async (t) => {
    const py = client(t)
    const { pid } = await py.start()
    const first = py.close()
    const second = py.close()
    await Promise.all([first, second])
    await py.close()
    await assert.rejects(py.call('sum', [1]), (error) => error instanceof PoolClosedError && error.code === 'PYFERRY_POOL_CLOSED')
    await assert.rejects(py.start(), PoolClosedError)
    await waitGone(pid)
    if (!needsProcessList) assert.equal(workerChildren().some((c) => c.pid === pid), false)
  })

  test('closing a client that never started spawns nothing', { skip: needsProcessList }, async (t) => {
    const before = workerChildren().length
    const py = client(t)
    let spawned = false
    py.on('spawn', () => { spawned = true })
    await py.close()
    assert.equal(spawned, false)
    assert.equal(workerChildren().length, before)
    await assert.rejects(py.call('sum', [1]), PoolClosedError)
  })

  test('Symbol.asyncDispose closes the client', async (t) => {
    const py = client(t)
    const { pid } = await py.start()
    await py[Symbol.asyncDispose]()
    await waitGone(pid)
    await assert.rejects(py.call('sum', [1]), PoolClosedError)
    await py[Symbol.asyncDispose]() // idempotent
  })
})

describe('Node going away', () => {
  test('an idle client does not keep Node alive, and its worker exits with Node', async () => {
    const result = await runNode(`
      const { Python } = await import(${JSON.stringify(indexUrl)})
      const py = new Python({ path: [${JSON.stringify(fixturesDir)}] })
      const value = await py.call('mypkg.stats.square', 12)
      console.log(JSON.stringify({ pid: py.info.pid, value }))
      // never closed
    `)
    assert.equal(result.timedOut, false, 'Node must exit by itself')
    assert.equal(result.code, 0, result.stderr)
    const { pid, value } = JSON.parse(result.stdout)
    assert.equal(value, 144)
    await waitGone(pid)
  })

  test('a client that was only start()ed does not keep Node alive', async () => {
    const result = await runNode(`
      const { Python } = await import(${JSON.stringify(indexUrl)})
      const py = new Python({ path: [${JSON.stringify(fixturesDir)}] })
      const info = await py.start()
      console.log(JSON.stringify({ pid: info.pid }))
    `, { timeout: 6000 })
    const { pid } = JSON.parse(result.stdout)
    await waitGone(pid) // after a timeout the child was killed: its worker must go anyway
    assert.equal(result.timedOut, false, 'Node must exit by itself after start() without calls')
    assert.equal(result.code, 0, result.stderr)
  })

  test('a worker busy in a call exits when Node is killed', async (t) => {
    await killNodeDuringCall(t)
  })
})

describe('crashes', () => {
  test('a worker killed with SIGKILL rejects its call with WorkerCrashedError; the next call gets a new worker', { skip: needsSignals }, async (t) => {
    const py = client(t)
    const lines = []
    const exits = []
    py.on('stdout', (line) => lines.push(line))
    py.on('exit', (event) => exits.push(event))
    const { pid } = await py.start()
    const call = py.call('failing.block', 60)
    await waitFor(() => lines.includes(`blocking ${pid}`), { what: 'the call to start' })
    process.kill(pid, 'SIGKILL')
    const error = await rejection(call)
    assert.ok(error instanceof WorkerCrashedError, error.stack)
    assert.equal(error.code, 'PYFERRY_WORKER_CRASHED')
    assert.equal(error.pid, pid)
    assert.equal(error.signal, 'SIGKILL')
    assert.equal(error.exitCode, null)
    assert.match(error.message, new RegExp(`worker ${pid} was killed by SIGKILL`))
    assert.deepEqual(exits, [{ pid, code: null, signal: 'SIGKILL' }])
    const newPid = await py.call('os.getpid')
    assert.notEqual(newPid, pid)
    assert.equal(py.info.pid, newPid)
    assert.equal(await py.call('mypkg.stats.square', 5), 25)
  })

  test('a call queued behind the one that crashed, not yet started, runs on a new worker', async (t) => {
    // docs/reliability.md: a crash fails only the call the worker was running; calls not
    // yet started go to a healthy worker.
    const py = client(t, { workers: 1 })
    const lines = []
    py.on('stdout', (line) => lines.push(line))
    const { pid } = await py.start()
    const running = py.call('failing.block', 60)
    const queued = py.call('mypkg.stats.square', 3)
    await waitFor(() => lines.includes(`blocking ${pid}`), { what: 'the first call to start' })
    process.kill(pid, 'SIGKILL')
    await assert.rejects(running, WorkerCrashedError)
    assert.equal(await queued, 9)
  })

  test('each call failed by one crash gets an error whose stack names its own caller', async (t) => {
    const py = client(t)
    const lines = []
    py.on('stdout', (line) => lines.push(line))
    const { pid } = await py.start()
    const first = py.call('failing.block', 60)
    const second = py.call('failing.slow', 0, 'x').catch((error) => error)
    await waitFor(() => lines.includes(`blocking ${pid}`), { what: 'the first call to start' })
    process.kill(pid, 'SIGKILL')
    let error
    try {
      await first // CALL-SITE:first
    } catch (caught) {
      error = caught
    }
    await second
    const line = lineOf(fileURLToPath(import.meta.url), 'CALL-SITE:' + 'first')
    assert.ok(error instanceof WorkerCrashedError)
    assert.ok(error.stack.includes(`lifecycle.test.js:${line}:`), `the first call's stack:\n${error.stack}`)
  })

  test('an idle worker killed from outside is replaced on the next call', { skip: needsSignals }, async (t) => {
    const py = client(t)
    const { pid } = await py.start()
    const exits = []
    py.on('exit', (event) => exits.push(event))
    process.kill(pid, 'SIGKILL')
    // Poll: an idle client's worker does not keep Node alive on its own.
    await waitFor(() => exits.length > 0, { what: 'the exit event' })
    assert.deepEqual(exits, [{ pid, code: null, signal: 'SIGKILL' }])
    const newPid = await py.call('os.getpid')
    assert.notEqual(newPid, pid)
  })

  test('os._exit() in a call is a WorkerCrashedError with the exit code and stderr tail', async (t) => {
    const py = client(t)
    py.on('stderr', () => {})
    const { pid } = await py.start()
    const error = await rejection(py.call('failing.hard_exit', 5))
    assert.ok(error instanceof WorkerCrashedError)
    assert.deepEqual([error.pid, error.exitCode, error.signal], [pid, 5, null])
    assert.ok(error.stderr.includes('about to hard-exit'))
    assert.notEqual(await py.call('os.getpid'), pid)
  })

  test('garbage on the protocol channel fails the call with a ProtocolError; the very next call gets a new worker', async (t) => {
    const py = client(t)
    const { pid } = await py.start()
    await assert.rejects(py.call('failing.corrupt_channel'), (error) => {
      assert.ok(error instanceof ProtocolError, error.stack)
      assert.match(error.message, /magic/)
      return true
    })
    // Issued at once, before the failed worker's exit has been seen: it has not
    // started anywhere, so it belongs on a healthy worker.
    const next = await py.call('os.getpid')
    assert.notEqual(next, pid)
    await waitGone(pid)
  })
})

describe('start failures', () => {
  // One child Node process tries a missing interpreter in every way and reports what happened.
  const badInterpreterScript = `
    const { Python } = await import(${JSON.stringify(indexUrl)})
    const describe = (e) => ({ name: e.name, code: e.code, message: e.message, isStartError: e.constructor.name })
    const out = {}
    const py = new Python({ python: '/nonexistent/python' })
    try { await py.call('sum', [1]); out.call = 'resolved' } catch (e) { out.call = describe(e) }
    try { await py.start(); out.start = 'resolved' } catch (e) { out.start = describe(e) }
    const py2 = new Python({ python: '/nonexistent/python' })
    const pending = py2.call('sum', [1]).then(() => 'resolved', (e) => e.name)
    try { await py2.close(); out.close = 'resolved' } catch (e) { out.close = 'rejected: ' + e.message }
    out.pending = await pending
    console.log(JSON.stringify(out))
  `
  let warned
  const reportWithWarnings = () => (warned ??= runNode(badInterpreterScript, { flags: ['--unhandled-rejections=warn'] }))

  test('a missing interpreter rejects calls and start() with a WorkerStartError naming it', async () => {
    const result = await reportWithWarnings()
    const out = JSON.parse(result.stdout)
    for (const error of [out.call, out.start]) {
      assert.equal(error.name, 'WorkerStartError')
      assert.equal(error.code, 'PYFERRY_WORKER_START')
      assert.match(error.message, /\/nonexistent\/python/)
      assert.match(error.message, /ENOENT/)
    }
    assert.equal(out.pending, 'WorkerStartError')
  })

  test('close() right after a call on a missing interpreter resolves', async () => {
    const out = JSON.parse((await reportWithWarnings()).stdout)
    assert.equal(out.close, 'resolved')
  })

  test('a missing interpreter causes no unhandled rejection', async () => {
    const result = await runNode(badInterpreterScript)
    assert.equal(result.code, 0, `the script crashed:\n${result.stderr}`)
    assert.doesNotMatch(result.stderr, /Unhandled|ENOENT/)
  })

  test('a "pyferry" without the worker gives a WorkerStartError with its stderr lines', async (t) => {
    const py = client(t, { env: { PYTHONPATH: path.join(fixturesDir, 'nomain_pyferry') } })
    const lines = []
    py.on('stderr', (line) => lines.push(line))
    const error = await rejection(py.call('sum', [1]))
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /exited during start-up/)
    assert.match(error.message, /No module named pyferry\.__main__/)
    assert.ok(error.message.includes(pythonPath), error.message)
    assert.match(error.message, /pip install pyferry/)
    assert.ok(lines.some((line) => /No module named pyferry\.__main__/.test(line)))
    await assert.rejects(py.start(), WorkerStartError)
  })
})

after(() => {
  // Every client of this file is closed by now: none of its workers may be left.
  if (!needsProcessList) return waitFor(() => workerChildren().length === 0, { what: 'no worker children left' })
})
