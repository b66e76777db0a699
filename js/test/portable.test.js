// The loopback-TCP transport and the portable core (issue 21): the token handshake and its
// failures, the listener's life, the EOF-only parent-death path, and a worker whose Python
// lacks the POSIX names pyferry can use (fixtures/shim/sitecustomize.py removes them).
// The rest of the suite runs over TCP too: `make jstest-portable`.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import diagnosticsChannel from 'node:diagnostics_channel'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { TimeoutError, WorkerCrashedError, WorkerStartError, opts } from '../src/index.js'
import { fixturesDir, killNodeDuringCall, pool, rejection, waitFor, waitGone } from './helpers.js'

const shimDir = path.join(fixturesDir, 'shim')
const scratch = mkdtempSync(path.join(tmpdir(), 'pyferry-portable-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

// The worker's environment with the start-up shim in `modes` (see sitecustomize.py).
function shimmed(modes) {
  const pythonPath = [shimDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter)
  return { PYTHONPATH: pythonPath, PYFERRY_TEST_SHIM: modes }
}

// Each --connect port a worker is started with, from the debug channel, in spawn order.
function ports(t) {
  const seen = []
  seen.envs = []
  const onSpawn = ({ args, env }) => {
    const at = args.indexOf('--connect')
    if (at >= 0) seen.push(Number(/:(\d+)$/.exec(args[at + 1])[1]))
    seen.envs.push(env)
  }
  diagnosticsChannel.subscribe('pyferry:worker:spawn', onSpawn)
  t.after(() => diagnosticsChannel.unsubscribe('pyferry:worker:spawn', onSpawn))
  return seen
}

// Connect to 127.0.0.1:port; resolves with the socket, or with the connect error.
function dial(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => resolve(socket))
    socket.once('error', (error) => resolve(error))
  })
}

// A client whose connect deadline is `ms` (read from the environment when it is made).
function withConnectTimeout(ms, make) {
  const before = process.env.PYFERRY_CONNECT_TIMEOUT_MS
  process.env.PYFERRY_CONNECT_TIMEOUT_MS = String(ms)
  try {
    return make()
  } finally {
    if (before === undefined) delete process.env.PYFERRY_CONNECT_TIMEOUT_MS
    else process.env.PYFERRY_CONNECT_TIMEOUT_MS = before
  }
}

describe('transport: tcp', () => {
  test('calls work; the token is gone from the worker\'s environment; the listener is closed after the accept', async (t) => {
    const seen = ports(t)
    const py = pool(t, { workers: 1, transport: 'tcp' })
    assert.equal(await py.call('numpy.sum', [1, 2, 3]), 6)
    assert.equal(await py.call('portable_probe.token_seen'), false)
    assert.equal(seen.length, 1)
    assert.equal(seen.envs[0].PYFERRY_TOKEN, '(one-time token)', 'the debug channel never shows the token')
    const refused = await dial(seen[0])
    assert.equal(refused.code, 'ECONNREFUSED', 'nothing listens on the worker\'s port once it has connected')
  })

  test('a worker that presents a wrong token is refused before any call runs: WorkerStartError', async (t) => {
    const marker = path.join(scratch, 'wrong-token')
    const py = pool(t, { workers: 1, transport: 'tcp', env: shimmed('wrong-token') })
    const error = await rejection(py.call('failing.count_then_exit', marker, 0))
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /presented a wrong token/)
    assert.equal(existsSync(marker), false, 'no call ran')
  })

  test('a worker without a token exits saying so: WorkerStartError naming PYFERRY_TOKEN', async (t) => {
    const marker = path.join(scratch, 'no-token')
    const py = pool(t, { workers: 1, transport: 'tcp', env: shimmed('no-token') })
    const error = await rejection(py.call('failing.count_then_exit', marker, 0))
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /PYFERRY_TOKEN/)
    assert.equal(existsSync(marker), false, 'no call ran')
  })

  test('another connection that comes first with a wrong token is closed and fails the start', async (t) => {
    const seen = ports(t)
    const py = pool(t, { workers: 1, transport: 'tcp', env: shimmed('hang') })
    const call = rejection(py.call('numpy.sum', [1]))
    await waitFor(() => seen.length > 0, { what: 'the worker to be spawned' })
    const rogue = await dial(seen[0])
    assert.ok(!(rogue instanceof Error), String(rogue))
    const closed = new Promise((resolve) => rogue.once('close', resolve))
    rogue.write('x'.repeat(64))
    await closed
    const error = await call
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /wrong token/)
  })

  test('a worker that dies before connecting: WorkerStartError with its exit code', async (t) => {
    const py = pool(t, { workers: 1, transport: 'tcp', env: shimmed('exit') })
    const error = await rejection(py.call('numpy.sum', [1]))
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /code 7/)
  })

  test('a worker that never connects: WorkerStartError at the connect deadline, the process killed', async (t) => {
    const pids = []
    const py = withConnectTimeout(300, () => pool(t, { workers: 1, transport: 'tcp', env: shimmed('hang') }))
    py.on('spawn', ({ pid }) => pids.push(pid))
    const error = await rejection(py.call('numpy.sum', [1]))
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /did not connect .* within 300 ms/)
    for (const pid of pids) await waitGone(pid)
  })

  test('the connectTimeout option is the connect deadline too (over PYFERRY_CONNECT_TIMEOUT_MS)', async (t) => {
    const py = withConnectTimeout(60_000, () => pool(t, { workers: 1, transport: 'tcp', env: shimmed('hang'), connectTimeout: 250 }))
    const error = await rejection(py.call('numpy.sum', [1]))
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /did not connect .* within 250 ms/)
  })

  test('bad transport values are refused, naming the option and the allowed values', () => {
    assert.throws(() => pool({ after() {} }, { transport: 'ipc' }), {
      name: 'TypeError', message: 'options.transport must be \'pipe\' or \'tcp\', got "ipc"',
    })
    assert.throws(() => withConnectTimeout('soon', () => pool({ after() {} }, { transport: 'tcp' })), {
      name: 'RangeError', message: /PYFERRY_CONNECT_TIMEOUT_MS must be a whole number/,
    })
    for (const bad of [0, -5, 1.5, '500', 2 ** 31]) {
      assert.throws(() => pool({ after() {} }, { connectTimeout: bad }), {
        name: 'RangeError', message: /options\.connectTimeout must be a whole number of milliseconds from 1 to/,
      })
    }
  })
})

describe('a worker without SIGUSR1, select.poll, os.readv/writev, prctl and resource', () => {
  const env = { ...shimmed('no-posix'), PYFERRY_PORTABLE: '1' }

  test('serves calls over TCP, cancels a pure-Python loop, reports a crash', async (t) => {
    const py = pool(t, { workers: 1, transport: 'tcp', env, killGrace: 5000 })
    const missing = await py.call('portable_probe.absent')
    assert.deepEqual(missing, ['os.readv', 'os.register_at_fork', 'os.writev', 'resource', 'select.poll', 'signal.SIGUSR1', 'signal.pthread_kill'])
    const big = new Float64Array(1 << 20).map((_, i) => i)
    const echoed = await py.call('numpy.asarray', big)
    assert.deepEqual(echoed.subarray(0, 3), new Float64Array([0, 1, 2]))
    assert.equal(echoed[big.length - 1], big.length - 1)
    const { pid } = await py.start()
    const error = await rejection(py.call('failing.spin_forever', opts({ timeout: 300 })))
    assert.ok(error instanceof TimeoutError, error.stack)
    assert.equal((await py.start()).pid, pid, 'the loop was interrupted, not the worker killed')
    assert.equal(py.stats().restarts, 0)
    const crash = await rejection(py.call('failing.segfault'))
    assert.ok(crash instanceof WorkerCrashedError, crash.stack)
    assert.equal(crash.signal, 'SIGSEGV')
    assert.equal(await py.call('numpy.sum', [4, 5]), 9, 'the pool heals')
  })

  test('it exits when Node is killed (EOF only: no parent-death signal)', async (t) => {
    await killNodeDuringCall(t, { transport: 'tcp', env })
  })
})
