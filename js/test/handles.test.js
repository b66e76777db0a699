// Remote handles (protocol section 3.2) with real workers: objects that cannot cross by
// value arrive as PyHandles; their methods and attributes run in the worker that holds
// them; release() and garbage collection empty the worker's handle table; a handle whose
// worker exited is invalid.

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { inspect } from 'node:util'
import { describe, test } from 'node:test'
import {
  HandleError, HandleInvalidatedError, HandleReleasedError, PyHandle, TargetForbiddenError, WorkerCrashedError, kw,
  opts,
} from '../src/index.js'
import { decodeMessage } from '../src/codec.js'
import { fromErrorInfo } from '../src/errors.js'
import { fixturesDir, indexUrl, pool, rejection, runNode, waitFor } from './helpers.js'

const isError = (Class, code) => (error) => {
  assert.ok(error instanceof Class, `expected ${Class.name}, got:\n${error?.stack ?? inspect(error)}`)
  assert.equal(error.code, code)
  return true
}

// The size of the handle table of the worker that runs the call, as the worker reports it.
const tableSize = async (py) => (await py.call('pyferry.worker_stats')).handles

describe('handles to Python objects', () => {
  test('a Counter via opts({ handle: true }): methods, value, repr, type and the Proxy\'s manners', async (t) => {
    const py = pool(t, { workers: 1 })
    const counter = await py.call('collections.Counter', 'abracadabra', opts({ handle: true }))
    assert.ok(counter instanceof PyHandle)
    assert.equal(counter.type, 'collections.Counter')
    assert.equal(counter.repr, "Counter({'a': 5, 'b': 2, 'r': 2, 'c': 1, 'd': 1})")
    assert.equal(counter.pid, py.info.pid)
    assert.ok(Number.isSafeInteger(counter.id) && counter.id >= 1)
    assert.equal(counter.released, false)
    assert.deepEqual(await counter.most_common(2), [['a', 5], ['b', 2]])
    assert.equal(await counter.total(), 11)
    // `get` is the handle's own (attributes): dict.get is reached with callMethod.
    assert.equal(await counter.callMethod('get', 'z', 0), 0)
    assert.equal(await counter.update('zz'), null)
    assert.equal(await counter.callMethod('get', 'z'), 2)
    // A Counter is a dict: by value it crosses as a plain object.
    assert.deepEqual(await counter.value(), { a: 5, b: 2, r: 2, c: 1, d: 1, z: 2 })
    assert.equal(String(counter), "<PyHandle collections.Counter: Counter({'a': 5, 'b': 2, 'r': 2, 'c': 1, 'd': 1})>")
    assert.equal(inspect(counter), String(counter))
    assert.equal(`${counter}`, String(counter))
    assert.deepEqual(JSON.parse(JSON.stringify(counter)), { pyHandle: counter.id, type: counter.type, repr: counter.repr })
    // Not thenable: awaiting a handle gives the handle back, and symbols are not methods.
    assert.equal(counter.then, undefined)
    assert.equal(await counter, counter)
    assert.equal(counter[Symbol.iterator], undefined)
    assert.equal(counter.most_common, counter.most_common, 'method functions are stable')
    assert.equal(counter.constructor, PyHandle)
    assert.throws(() => new PyHandle({}), /made by pyferry/)
    assert.throws(() => { counter.x = 1 }, TypeError)
    await assert.rejects(counter._private(), TargetForbiddenError)
    counter.release()
    await waitFor(async () => (await tableSize(py)) === 0, { what: 'the Counter to be released' })
  })

  test('an object of a fixture class: auto handle, kwargs, get(), call(), passed back as an argument', async (t) => {
    const py = pool(t, { workers: 1 })
    const account = await py.call('features.open_account', 'ann', kw({ balance: 10 }))
    assert.ok(account instanceof PyHandle)
    assert.equal(account.type, 'features.Account')
    assert.equal(account.repr, "Account('ann', balance=10)")
    assert.equal(await account.deposit(5, kw({ note: 'salary' })), 15)
    assert.equal(await account.get('balance'), 15)
    assert.deepEqual(await account.get('history'), ['salary'])
    // A bound method cannot cross by value: it is a handle too, called with call().
    const upper = await account.get('owner.upper')
    assert.ok(upper instanceof PyHandle)
    assert.equal(upper.type, 'builtins.builtin_function_or_method')
    assert.equal(await upper.call(), 'ANN')
    assert.equal(await account.call(2), 30, '__call__')
    assert.deepEqual(await py.call('features.owner_of', account), ['Account', 'ann', 15])
    assert.deepEqual(await py.call('features.owner_of', kw({ account })), ['Account', 'ann', 15])
    assert.equal(await py.call('features.same_object', account, account), true)
    // The repr is the one of when it crossed; a new answer has a new handle (a new id).
    assert.equal(account.repr, "Account('ann', balance=10)")
    const again = await account.get('owner.upper.__self__').catch((error) => error)
    assert.ok(again instanceof TargetForbiddenError)
    for (const h of [account, upper]) h.release()
    await waitFor(async () => (await tableSize(py)) === 0, { what: 'the table to empty' })
    assert.equal(py.stats().handles, 0)
  })

  test('release: use after release is a HandleReleasedError, release twice is a no-op, dispose releases', async (t) => {
    const py = pool(t, { workers: 1 })
    const account = await py.call('features.open_account', 'bob')
    assert.equal(py.stats().handles, 1)
    assert.equal(py.stats().workers[0].handles, 1)
    account.release()
    assert.equal(account.released, true)
    assert.equal(py.stats().handles, 0)
    account.release()
    account[Symbol.dispose]()
    assert.match(String(account), /\(released\)/)
    const released = isError(HandleReleasedError, 'PYFERRY_HANDLE_RELEASED')
    for (const attempt of [
      () => account.deposit(1), () => account.get('balance'), () => account.value(), () => account.call(1),
      () => py.call('features.owner_of', account), () => py.call('features.owner_of', [{ deep: account }]),
    ]) {
      const error = await rejection(attempt())
      released(error)
      assert.ok(error instanceof HandleError)
      assert.match(error.message, /handle \d+ \(features\.Account\) of worker \d+ was released/)
    }
    const other = await py.call('features.open_account', 'eve')
    await other[Symbol.asyncDispose]()
    assert.equal(other.released, true)
    await waitFor(async () => (await tableSize(py)) === 0, { what: 'the table to empty' })
    // A worker ERROR PYFERRY_HANDLE (an id it does not have) maps to HandleReleasedError.
    released(fromErrorInfo({ type: 'pyferry.errors.HandleError', message: 'no handle 7', traceback: '', code: 'PYFERRY_HANDLE' }))
  })

  test('a release waits until every queued call naming the handle has been sent', async (t) => {
    const py = pool(t, { workers: 1 })
    const account = await py.call('features.open_account', 'cy', 1)
    // Both calls are made before the release, and sit in the queue behind a busy worker.
    const busy = py.call('time.sleep', 0.2)
    const deposits = [account.deposit(1), account.deposit(2)]
    assert.equal(py.stats().queued, 2)
    account.release()
    await busy
    assert.deepEqual(await Promise.all(deposits), [2, 4])
    await waitFor(async () => (await tableSize(py)) === 0, { what: 'the table to empty' })
  })

  test('10 000 handles released explicitly: the worker\'s table and stats().handles go back to 0', async (t) => {
    const py = pool(t, { workers: 1 })
    const objects = await py.call('features.many', 10_000)
    assert.equal(objects.length, 10_000)
    assert.ok(objects.every((h) => h instanceof PyHandle && h.type === 'builtins.object'))
    assert.equal(new Set(objects.map((h) => h.id)).size, 10_000)
    assert.equal(py.stats().handles, 10_000)
    assert.equal(await tableSize(py), 10_000)
    for (const h of objects) h.release()
    assert.equal(py.stats().handles, 0)
    await waitFor(async () => (await tableSize(py)) === 0, { what: 'the worker to drop 10 000 handles' })
  })

  test('10 000 handles dropped unreleased are released once garbage-collected', async () => {
    const script = `
      import { Python } from ${JSON.stringify(indexUrl)}
      const py = new Python({ workers: 1, path: [${JSON.stringify(fixturesDir)}] })
      const table = async () => (await py.call('pyferry.worker_stats')).handles
      // Held until both counts are read: a GC in between must not find them unreachable yet.
      let handles = await py.call('features.many', 10000)
      const made = handles.length
      const before = [await table(), py.stats().handles]
      handles = null
      const deadline = Date.now() + 10000
      let now
      for (;;) {
        globalThis.gc()
        await new Promise((resolve) => setImmediate(resolve))
        now = [await table(), py.stats().handles]
        if ((now[0] === 0 && now[1] === 0) || Date.now() > deadline) break
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      console.log(JSON.stringify({ made, before, now }))
      await py.close()
    `
    const { code, stdout, stderr } = await runNode(script, { flags: ['--expose-gc'] })
    assert.equal(code, 0, stderr)
    assert.deepEqual(JSON.parse(stdout), { made: 10_000, before: [10_000, 10_000], now: [0, 0] })
  })

  test('handles used from many concurrent calls always run on the worker that holds them', async (t) => {
    const py = pool(t, { workers: 3 })
    await py.start()
    // Made while the workers are busy with each other's calls: they spread over the pool.
    const accounts = await Promise.all(Array.from({ length: 6 }, (_, i) => py.call('features.open_account', `a${i}`)))
    const owners = new Set(accounts.map((a) => a.pid))
    assert.ok(owners.size >= 2, `handles on ${owners.size} worker(s)`)
    const checks = []
    for (let round = 0; round < 10; round++) {
      for (const account of accounts) checks.push(account.whereami().then((pid) => [account.pid, pid]))
      checks.push(py.call('time.sleep', 0.001)) // shared calls in between
    }
    for (const check of await Promise.all(checks)) if (check) assert.equal(check[1], check[0])
    assert.equal(py.stats().handles, 6)
    assert.deepEqual(
      Object.fromEntries(py.stats().workers.map((w) => [w.pid, w.handles])),
      Object.fromEntries(py.stats().workers.map((w) => [w.pid, accounts.filter((a) => a.pid === w.pid).length])),
    )
    // Two workers' handles in one call: refused before anything is sent.
    const [a, b] = [accounts[0], accounts.find((x) => x.pid !== accounts[0].pid)]
    const error = await rejection(py.call('features.transfer', a, b, 1))
    isError(HandleError, 'PYFERRY_HANDLE')(error)
    assert.ok(!(error instanceof HandleReleasedError) && !(error instanceof HandleInvalidatedError))
    assert.match(error.message, /cannot go to worker \d+/)
    assert.deepEqual(await a.get('history'), [], 'nothing ran')
    for (const account of accounts) account.release()
  })

  test('a worker\'s pinned calls run before the shared queue, and hold up no other worker', async (t) => {
    // One worker: a shared call made first still runs after the pinned one.
    const one = pool(t, { workers: 1 })
    const mine = await one.call('features.open_account', 'kim')
    const busy = one.call('time.sleep', 0.05)
    const shared = one.call('features.log', 'shared')
    const pinned = one.call('features.log', 'pinned', mine)
    assert.deepEqual([one.stats().queued, one.stats().workers[0].queued], [2, 1])
    await busy
    assert.deepEqual(await pinned, ['pinned'])
    assert.deepEqual(await shared, ['pinned', 'shared'])
    mine.release()
    // Two workers: while the handle's worker is held, shared calls run on the other one.
    const py = pool(t, { workers: 2 })
    py.on('stdout', () => {})
    await py.start()
    const account = await py.call('features.open_account', 'jo')
    const dir = mkdtempSync(path.join(tmpdir(), 'pyferry-handles-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const gate = path.join(dir, 'gate')
    const held = py.call('poolwork.gate', gate, account) // names the handle: runs on its worker
    const queuedThere = account.whereami()
    const elsewhere = await Promise.all([py.call('os.getpid'), py.call('os.getpid')])
    for (const pid of elsewhere) assert.notEqual(pid, account.pid)
    assert.equal(py.stats().queued, 1)
    writeFileSync(gate, '')
    assert.equal(await queuedThere, account.pid)
    const back = await held
    assert.equal(back.repr, account.repr)
    back.release()
    account.release()
  })

  test('a handle whose worker was killed is invalid; its calls still queued fail too', async (t) => {
    const py = pool(t, { workers: 1 })
    py.on('stderr', () => {})
    const account = await py.call('features.open_account', 'dee')
    const { pid } = account
    const blocking = py.call('time.sleep', 30)
    const queued = account.deposit(1) // pinned to the busy worker
    assert.equal(py.stats().workers[0].queued, 1)
    await waitFor(() => py.stats().busy === 1, { what: 'the sleep to be sent' })
    process.kill(pid, 'SIGKILL')
    isError(WorkerCrashedError, 'PYFERRY_WORKER_CRASHED')(await rejection(blocking))
    const stranded = await rejection(queued)
    isError(HandleInvalidatedError, 'PYFERRY_HANDLE_INVALIDATED')(stranded)
    assert.match(stranded.message, new RegExp(`worker ${pid}, which exited before the call could be sent`))
    const later = await rejection(account.deposit(1))
    isError(HandleInvalidatedError, 'PYFERRY_HANDLE_INVALIDATED')(later)
    assert.match(later.message, new RegExp(`of worker ${pid} is gone: its worker exited`))
    assert.equal(account.released, false)
    account.release() // harmless
    assert.equal(py.stats().handles, 0)
    assert.notEqual(await py.call('os.getpid'), pid)
  })

  test('maxCallsPerWorker waits for the worker\'s handles to be released before recycling it', async (t) => {
    const py = pool(t, { workers: 1, maxCallsPerWorker: 2 })
    const account = await py.call('features.open_account', 'fay')
    const { pid } = account
    for (let i = 1; i <= 3; i++) assert.equal(await account.deposit(1), i)
    assert.equal(await py.call('os.getpid'), pid, 'not recycled: it holds a handle')
    assert.equal(py.stats().recycled, 0)
    account.release()
    await waitFor(() => py.stats().recycled === 1, { what: 'the worker to be recycled' })
    assert.notEqual(await py.call('os.getpid'), pid)
  })

  test('a HANDLE decoded outside a worker is a PyHandle of no worker', async () => {
    // [2, 1, HANDLE(5, "mod.T\nT()")]
    const payload = Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('mod.T\nT()')])
    const header = Buffer.concat([Buffer.from([0x93, 2, 1, 0xc7, payload.length, 3]), payload])
    const [, , handle] = decodeMessage(header, [])
    assert.ok(handle instanceof PyHandle)
    assert.deepEqual([handle.id, handle.type, handle.repr, handle.pid], [5, 'mod.T', 'T()', undefined])
    await assert.rejects(handle.call(), HandleInvalidatedError)
  })
})
