// Every call settles, against hostile user code: answers that cannot be encoded, ndarray
// subclasses, os.fork() in a call, garbage on the protocol socket of an idle worker, and
// clients ended while they start. Real workers; where the worker must survive, its pid and
// the pool's restarts are checked unchanged.

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, test as nodeTest } from 'node:test'
import { inspect } from 'node:util'
import {
  NDArray, PoolClosedError, PyHandle, PythonError, SerializationError, WorkerStartError,
} from '../src/index.js'
import { childProcesses, fixturesDir, indexUrl, needsProcessList, needsSignals, pool, processGone, rejection, runNode, waitFor } from './helpers.js'

const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn)
const tmp = mkdtempSync(path.join(tmpdir(), 'pyferry-hostile-'))
const workerChildren = () => childProcesses().filter((c) => c.cmdline.includes('pyferry worker'))

after(async () => {
  rmSync(tmp, { recursive: true, force: true })
  if (!needsProcessList) await waitFor(() => workerChildren().length === 0, { what: 'no worker children left' })
})

// One worker, started, and a check that it is still the same process with no restart.
async function oneWorker(t, options = {}) {
  const py = pool(t, { workers: 1, ...options })
  py.on('stderr', () => {})
  const { pid } = await py.start()
  const same = async () => {
    assert.equal(py.stats().restarts, 0, 'the worker was not replaced')
    assert.deepEqual(await py.call('os.getpid'), pid, 'the same worker serves the next call')
  }
  return { py, pid, same }
}

const isError = (Class, pattern) => (error) => {
  assert.ok(error instanceof Class, `expected ${Class.name}, got:\n${error?.stack ?? inspect(error)}`)
  if (pattern) assert.match(error.message, pattern)
  return true
}

describe('an answer that cannot be encoded fails only its call', () => {
  const cases = [
    ['a cyclic list', 'hostile.cyclic_list', SerializationError, /cyclic: this builtins\.list holds itself \(it is the container 1 level up\) at result\[1\]$/],
    ['a cyclic dict, two levels down', 'hostile.cyclic_dict', SerializationError, /cyclic: this builtins\.dict holds itself \(it is the container 2 levels up\) at result\['rows'\]\[0\]$/],
    ['a datetime whose tzinfo raises', 'hostile.broken_datetime', SerializationError, /datetime\.datetime cannot cross: RuntimeError: no offset today at result$/],
    ['KeyboardInterrupt raised while packing', 'hostile.interrupts_in_items', SerializationError, /cannot cross: KeyboardInterrupt at result\[0\]$/],
    ['a list nested 2,000 deep', ['hostile.nested', 2000], SerializationError, /nests deeper than 512 levels/],
    ['1.5 × 30,000,000 under maxMemoryBytes', ['hostile.huge_list', 30_000_000], PythonError, /^MemoryError: out of memory while encoding the result \(a builtins\.list\)/],
    ['an error message with a lone surrogate', 'hostile.bad_file_name', PythonError, /^ValueError: cannot parse report-\\udcff\.csv$/],
    ['an exception whose type cannot be named', 'hostile.unnameable_error', PythonError, /the type of this error cannot be named/],
  ]
  for (const [name, call, Class, pattern] of cases) {
    test(`${name}: ${Class.name}, same worker`, async (t) => {
      const { py, same } = await oneWorker(t, { maxMemoryBytes: 2 ** 30 })
      const [target, ...args] = Array.isArray(call) ? call : [call]
      isError(Class, pattern)(await rejection(py.call(target, ...args)))
      await same()
    })
  }

  test('the 2,000-deep path is abbreviated: first and last steps, and how many are left out', async (t) => {
    const { py, same } = await oneWorker(t)
    const error = await rejection(py.call('hostile.nested', 2000))
    assert.equal(error.path, `result${'[0]'.repeat(8)}…(495 more)…${'[0]'.repeat(8)}`)
    await same()
  })

  test('a handle whose __repr__ raises SystemExit(5) still crosses, as a handle', async (t) => {
    const { py, same } = await oneWorker(t)
    const handle = await py.call('hostile.exits_in_repr')
    assert.ok(handle instanceof PyHandle)
    assert.equal(handle.type, 'hostile.Exits')
    assert.equal(handle.repr, '<unrepresentable>')
    await handle.release()
    await same()
  })

  test('a stream that yields a cyclic list: the items before it arrive, then SerializationError', async (t) => {
    const { py, same } = await oneWorker(t)
    const items = []
    const error = await rejection((async () => {
      for await (const item of py.stream('hostile.items_then_cycle')) items.push(item)
    })())
    assert.deepEqual(items, [1])
    isError(SerializationError, /cyclic.* at result\[1\]\[1\]$/)(error)
    await same()
  })
})

describe('ndarray subclasses and array-likes cross faithfully or are refused with a fix', () => {
  test('a masked array, and np.ma.masked, are refused with the way to fill them', async (t) => {
    const { py, same } = await oneWorker(t)
    for (const target of ['hostile.masked', 'hostile.fully_masked_max']) {
      isError(SerializationError, /masked array cannot cross: its mask would be lost.*filled\(np\.nan\)/)(
        await rejection(py.call(target)))
    }
    await same()
  })

  test('np.matrix arrives as its 2-d array, np.memmap as its data', async (t) => {
    const { py } = await oneWorker(t)
    const m = await py.call('hostile.matrix')
    assert.ok(m instanceof NDArray)
    assert.deepEqual(m.shape, [2, 2])
    assert.deepEqual([...m.data], [1, 2, 3, 4])
    assert.deepEqual(await py.call('hostile.memmap', path.join(tmp, 'memmap.bin')), new Float64Array([1, 2, 3]))
  })

  test('a recarray and a subclass of unknown meaning are refused, naming the fix', async (t) => {
    const { py, same } = await oneWorker(t)
    isError(SerializationError, /structured arrays cannot cross; send each field/)(await rejection(py.call('hostile.recarray')))
    isError(SerializationError, /hostile\.Quantity is a subclass of numpy\.ndarray.*np\.asarray\(value\)/)(
      await rejection(py.call('hostile.quantity')))
    await same()
  })

  test('pandas Categorical and Index cross as handles, nothing dropped', async (t) => {
    const { py } = await oneWorker(t)
    const categorical = await py.call('hostile.categorical')
    assert.equal(categorical.type, 'pandas.Categorical')
    assert.deepEqual(await categorical.tolist(), ['a', 'b', 'a'])
    const index = await py.call('hostile.index')
    assert.equal(index.type, 'pandas.Index')
    assert.deepEqual(await index.tolist(), [1, 2, 3])
  })
})

describe('os.fork() in user code', () => {
  test('the child never answers: the parent\'s call settles once, the child ends as it returns', async (t) => {
    const { py, pid, same } = await oneWorker(t)
    assert.deepEqual(await py.call('hostile.fork', 'return'), ['parent', pid, 0])
    assert.deepEqual(await py.call('hostile.fork', 'exit'), ['parent', pid, 3], 'sys.exit(3) in the child is its status')
    assert.deepEqual(await py.call('hostile.fork', 'raise'), ['parent', pid, 1])
    assert.deepEqual(await py.call('hostile.fork_async'), ['parent', 0])
    const items = []
    for await (const item of py.stream('hostile.fork_stream')) items.push(item)
    assert.deepEqual(items, ['parent', 0])
    await same()
  })
})

describe('a queued call keeps Node alive until it settles', () => {
  // A child Node process: garbage on the socket of an idle worker (or just after its reply),
  // then a call. Each round's call must settle; Node must not exit with it pending (code 13).
  const script = (workers, delay) => `
    import { Python } from ${JSON.stringify(indexUrl)}
    const py = new Python({ path: [${JSON.stringify(fixturesDir)}], workers: ${workers} })
    py.on('stderr', () => {})
    const outcomes = {}
    const count = (outcome) => { outcomes[outcome] = (outcomes[outcome] ?? 0) + 1 }
    for (let round = 0; round < 30; round++) {
      // Written at once, the garbage may beat this call's own reply.
      await py.call('hostile.garbage_later', ${delay}).then(() => {}, (e) => count(e.name))
      if (${delay} > 0) {
        // Wait (with a timer of our own) until the worker is known broken, then let go of Node.
        const timer = setInterval(() => {}, 1000)
        while (py.stats().live !== 0) await new Promise((resolve) => setTimeout(resolve, 1))
        clearInterval(timer)
      }
      count(await py.call('operator.add', round, 1).then((v) => v === round + 1 ? 'value' : v, (e) => e.name))
    }
    console.log(JSON.stringify(outcomes))
    await py.close()
  `
  for (const workers of [1, 2]) {
    test(`workers: ${workers}, garbage while idle: 30 rounds, every call resolves`, async () => {
      const run = await runNode(script(workers, 0.03), { timeout: 50_000 })
      assert.equal(run.code, 0, `exit ${run.code}${run.timedOut ? ' (timed out)' : ''}:\n${run.stderr}`)
      assert.deepEqual(JSON.parse(run.stdout), { value: 30 })
    })

    test(`workers: ${workers}, garbage just after the reply: 30 rounds, every call settles`, async () => {
      const run = await runNode(script(workers, 0), { timeout: 50_000 })
      assert.equal(run.code, 0, `exit ${run.code}${run.timedOut ? ' (timed out)' : ''}:\n${run.stderr}`)
      // The garbage fails whichever call is in flight when it comes (garbage_later's own, or the
      // next), with ProtocolError: each round settles two calls, the add at least once with its value.
      const outcomes = JSON.parse(run.stdout)
      assert.deepEqual(Object.keys(outcomes).filter((k) => k !== 'value' && k !== 'ProtocolError'), [])
      assert.ok(outcomes.value > 0, inspect(outcomes))
      assert.ok(outcomes.value + (outcomes.ProtocolError ?? 0) >= 30, inspect(outcomes))
    })
  }
})

describe('a client ended while it starts', () => {
  test('destroy() during start(): start() rejects with PoolClosedError, no process left', async (t) => {
    const py = pool(t, { preload: ['slow_import'] })
    py.on('stdout', () => {})
    const pids = []
    py.on('spawn', ({ pid }) => pids.push(pid))
    const starting = rejection(py.start())
    await py.destroy()
    isError(PoolClosedError)(await starting)
    assert.ok(pids.length > 0 && pids.every(processGone), `workers ${pids} are gone`)
  })

  test('close() during start(): PoolClosedError too', async (t) => {
    const py = pool(t, { preload: ['slow_import'] })
    py.on('stdout', () => {})
    const starting = rejection(py.start())
    await py.close()
    isError(PoolClosedError)(await starting)
  })

  test('a worker SIGKILLed from outside during start-up: the error says so, and suggests no install', { skip: needsSignals }, async (t) => {
    const py = pool(t, { workers: 1, preload: ['slow_import'] })
    const importing = new Promise((resolve) => py.on('stdout', (line) => { if (line.startsWith('importing')) resolve(line) }))
    const starting = py.start()
    const pid = Number((await importing).split(' ')[1])
    process.kill(pid, 'SIGKILL')
    const error = await rejection(starting)
    isError(WorkerStartError, new RegExp(`^the Python worker ${pid} was killed by SIGKILL during start-up \\(likely out of memory, or killed from outside\\)`))(error)
    assert.doesNotMatch(error.message, /pip install/)
    assert.match(error.message, /Interpreter: /)
  })
})
