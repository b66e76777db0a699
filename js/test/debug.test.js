// Debug output and diagnostics channels (README "Debugging"): the messages of a real call,
// an error call, a worker crash and a failed start, and the NODE_DEBUG=pyferry lines.

import assert from 'node:assert/strict'
import path from 'node:path'
import diagnosticsChannel from 'node:diagnostics_channel'
import { describe, test } from 'node:test'
import { PythonError, TargetNotFoundError, WorkerCrashedError, WorkerStartError } from '../src/index.js'
import { fixturesDir, indexUrl, pool, rejection, runNode } from './helpers.js'

const NAMES = ['pyferry:call:start', 'pyferry:call:end', 'pyferry:worker:spawn', 'pyferry:worker:exit']

// Every message of the four channels, in order, as [channel, message]; unsubscribed when the test ends.
function listen(t) {
  const seen = []
  for (const name of NAMES) {
    const onMessage = (message) => seen.push([name, message])
    diagnosticsChannel.subscribe(name, onMessage)
    t.after(() => diagnosticsChannel.unsubscribe(name, onMessage))
  }
  return seen
}

// The messages about `py`'s calls and workers (the suite's other clients publish too).
function about(seen, py, pids) {
  return seen.filter(([name, m]) => (name.startsWith('pyferry:call:') ? m.client === py : pids.has(m.pid)))
}

function spawned(py) {
  const pids = new Set()
  py.on('spawn', ({ pid }) => pids.add(pid))
  return pids
}

describe('diagnostics channels', () => {
  test('a call that returns: start, spawn, then end with its worker, duration and result', async (t) => {
    const seen = listen(t)
    const py = pool(t)
    const pids = spawned(py)
    assert.equal(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]), 45)
    const [pid] = pids
    const messages = about(seen, py, pids)
    assert.deepEqual(messages.map(([name]) => name), ['pyferry:call:start', 'pyferry:worker:spawn', 'pyferry:call:end'])
    const [[, start], [, spawn], [, end]] = messages
    assert.deepEqual(start, { client: py, id: start.id, target: 'numpy.sum', stream: false })
    assert.ok(Number.isSafeInteger(start.id) && start.id > 0)

    assert.equal(spawn.pid, pid)
    assert.equal(typeof spawn.python, 'string')
    assert.ok(spawn.python.length > 0)
    assert.deepEqual(spawn.args.slice(0, 3), ['-m', 'pyferry', 'worker'])
    assert.ok(spawn.args.includes(path.resolve(fixturesDir)), 'the path option is on the command line')
    assert.equal(typeof spawn.source, 'string')
    assert.equal(spawn.cwd, process.cwd())
    assert.equal(spawn.env.PATH, process.env.PATH, 'the environment it was given')

    const { duration, ...rest } = end
    assert.deepEqual(rest, { client: py, id: start.id, target: 'numpy.sum', stream: false, pid, outcome: 'result', error: undefined })
    assert.ok(duration > 0 && duration < 120_000, `duration ${duration}`)
  })

  test('calls that fail: outcome error, with the error the caller got', async (t) => {
    const py = pool(t)
    await py.start()
    const seen = listen(t)
    const pids = new Set([py.info.pid])
    const python = await rejection(py.call('failing.boom', 'no'))
    const missing = await rejection(py.call('numpy.no_such_function'))
    assert.ok(python instanceof PythonError)
    assert.ok(missing instanceof TargetNotFoundError)
    const ends = about(seen, py, pids).filter(([name]) => name === 'pyferry:call:end').map(([, m]) => m)
    assert.deepEqual(ends.map((m) => [m.target, m.pid, m.outcome, m.error]), [
      ['failing.boom', py.info.pid, 'error', python],
      ['numpy.no_such_function', py.info.pid, 'error', missing],
    ])
  })

  test('a worker that crashes: exit with its code, reason and error, the call ends, a new worker spawns', async (t) => {
    const py = pool(t)
    const pids = spawned(py)
    await py.start()
    const [first] = pids
    const seen = listen(t)
    const error = await rejection(py.call('failing.hard_exit', 7))
    assert.ok(error instanceof WorkerCrashedError)
    assert.equal(await py.call('numpy.sum', [1, 2]), 3) // on its replacement
    const messages = about(seen, py, pids)
    const exit = messages.find(([name]) => name === 'pyferry:worker:exit')?.[1]
    assert.ok(exit, 'no pyferry:worker:exit message')
    assert.equal(exit.pid, first)
    assert.equal(exit.code, 7)
    assert.equal(exit.signal, null)
    assert.equal(exit.reason, 'crashed')
    assert.ok(exit.error instanceof WorkerCrashedError)
    assert.equal(exit.error.exitCode, 7)
    const end = messages.find(([name, m]) => name === 'pyferry:call:end' && m.target === 'failing.hard_exit')?.[1]
    assert.equal(end.pid, first)
    assert.equal(end.error, error)
    const respawn = messages.find(([name]) => name === 'pyferry:worker:spawn')?.[1]
    assert.ok(respawn && respawn.pid !== first, 'the replacement worker was announced')
    // The replacement is closed with the pool: its exit reason says so.
    await py.close()
    const last = seen.filter(([name, m]) => name === 'pyferry:worker:exit' && m.pid === respawn.pid)
    assert.deepEqual(last.map(([, m]) => [m.code, m.reason, m.error]), [[0, 'closed', undefined]])
  })

  test('an interpreter that does not exist: spawn without a pid, exit start-failed with the start error', async (t) => {
    const seen = listen(t)
    const py = pool(t, { python: '/nonexistent/pyferry-test/python' })
    const error = await rejection(py.call('numpy.sum', [1]))
    assert.ok(error instanceof WorkerStartError)
    const mine = seen.filter(([name, m]) =>
      name.startsWith('pyferry:call:') ? m.client === py : m.pid === null)
    const spawn = mine.find(([name, m]) => name === 'pyferry:worker:spawn' && m.python === '/nonexistent/pyferry-test/python')
    assert.ok(spawn, 'no spawn message for the missing interpreter')
    const exit = mine.find(([name]) => name === 'pyferry:worker:exit')?.[1]
    assert.equal(exit.reason, 'start-failed')
    assert.ok(exit.error instanceof WorkerStartError)
    const end = mine.find(([name]) => name === 'pyferry:call:end')?.[1]
    assert.deepEqual([end.pid, end.outcome, end.error], [null, 'error', error])
  })

  test('destroy(): exit reason killed, with no error', async (t) => {
    const py = pool(t)
    await py.start()
    const { pid } = py.info
    const seen = listen(t)
    await py.destroy()
    const exits = seen.filter(([name, m]) => name === 'pyferry:worker:exit' && m.pid === pid).map(([, m]) => m)
    assert.deepEqual(exits.map((m) => [m.code, m.signal, m.reason, m.error]), [[null, 'SIGKILL', 'killed', undefined]])
  })

  test('a subscriber of call:end alone gets every call; none after it unsubscribes', async (t) => {
    const py = pool(t)
    await py.start()
    const ends = []
    const onEnd = (m) => { if (m.client === py) ends.push(m.target) }
    diagnosticsChannel.subscribe('pyferry:call:end', onEnd)
    try {
      await py.call('numpy.sum', [1])
      for await (const item of py.stream('builtins.range', 2)) assert.equal(typeof item, 'number')
    } finally {
      diagnosticsChannel.unsubscribe('pyferry:call:end', onEnd)
    }
    await py.call('numpy.sum', [2])
    assert.deepEqual(ends, ['numpy.sum', 'builtins.range'])
  })
})

describe('NODE_DEBUG=pyferry', () => {
  const script = `
    import diagnosticsChannel from 'node:diagnostics_channel'
    import { Python } from ${JSON.stringify(indexUrl)}
    diagnosticsChannel.subscribe('pyferry:worker:spawn', (m) => console.log(JSON.stringify({ python: m.python, source: m.source })))
    const py = new Python({ path: [${JSON.stringify(fixturesDir)}] })
    console.log(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]))
    await py.call('numpy.no_such_function').catch(() => {})
    await py.call('failing.hard_exit', 7).catch(() => {})
    await py.call('numpy.sum', [1])
    await py.close()
  `

  test('prints the spawn (interpreter, arguments, where it was found), handshake, calls, a crash, the restart and exits', async () => {
    const { code, stdout, stderr, timedOut } = await runNode(script, { env: { NODE_DEBUG: 'pyferry' }, timeout: 60_000 })
    assert.equal(timedOut, false)
    assert.equal(code, 0, stderr)
    const [spawnInfo, sum, respawnInfo] = stdout.trim().split('\n')
    assert.equal(sum, '45')
    assert.deepEqual(JSON.parse(respawnInfo), JSON.parse(spawnInfo), 'the replacement is started the same way')
    const { python, source } = JSON.parse(spawnInfo)
    const lines = stderr.split('\n').filter((line) => /^PYFERRY \d+: /.test(line)).map((line) => line.replace(/^PYFERRY \d+: /, ''))
    const spawn = lines.find((line) => line.startsWith('spawn worker '))
    assert.ok(spawn, `no spawn line in:\n${stderr}`)
    assert.ok(spawn.includes(` -m pyferry worker --max-message-bytes `), spawn)
    assert.ok(spawn.includes(python), `the interpreter ${python} is not in: ${spawn}`)
    assert.ok(spawn.includes(`(python from ${source}; cwd ${process.cwd()}; `), spawn)
    const pid = /^spawn worker (\d+):/.exec(spawn)[1]
    assert.ok(lines.some((line) => new RegExp(`^worker ${pid} ready in [\\d.]+ ms: pyferry \\S+, protocol 1, `).test(line)), stderr)
    assert.ok(lines.some((line) => new RegExp(`^call \\d+ numpy\\.sum on worker ${pid}: result in [\\d.]+ ms$`).test(line)), stderr)
    assert.ok(lines.some((line) => new RegExp(
      `^call \\d+ numpy\\.no_such_function on worker ${pid}: error TargetNotFoundError \\(PYFERRY_TARGET_NOT_FOUND\\) in `).test(line)), stderr)
    assert.ok(lines.some((line) => line.startsWith(`worker ${pid} exited (code 7): crashed, 1 call in flight: `)), stderr)
    assert.ok(lines.some((line) => line === `pool: worker ${pid} lost, 0 calls sent elsewhere; restart 1`), stderr)
    const spawns = lines.filter((line) => line.startsWith('spawn worker '))
    assert.equal(spawns.length, 2, stderr)
    const second = /^spawn worker (\d+):/.exec(spawns[1])[1]
    assert.ok(lines.some((line) => line === `worker ${second} exited (code 0): closed, 0 calls in flight`), stderr)
  })

  test('prints nothing without it', async () => {
    const { code, stderr } = await runNode(script, { env: { NODE_DEBUG: '' }, timeout: 60_000 })
    assert.equal(code, 0, stderr)
    assert.doesNotMatch(stderr, /PYFERRY/)
  })
})
