// Fuzzing the JS readers: FrameReader (protocol.js) and decodeMessage (codec.js, msgpack.js, ndarray.js).
//
// Seeded random and mutation loops (fuzz-loop.js) feed random bytes, mutated
// golden vectors, truncations and MessagePack bombs through the real code in
// random chunk splits. Only PyferryErrors may come out, every iteration must
// finish (a watchdog stops a loop whose iteration runs over HANG_MS), and
// memory stays bounded. A normal run is bounded; PYFERRY_FUZZ=long (make fuzz)
// runs 50 times as many iterations. PYFERRY_FUZZ_SEED=<n> replays a run.

import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker } from 'node:worker_threads'
import { decodeMessage } from '../src/codec.js'
import { ProtocolError, SerializationError } from '../src/errors.js'
import { FrameReader } from '../src/protocol.js'
import { BOMBS, LOOPS, envelope, frame } from './fuzz-loop.js'

const LONG = (process.env.PYFERRY_FUZZ ?? '').trim().toLowerCase() === 'long'
const SCALE = LONG ? 50 : 1
const SEED = process.env.PYFERRY_FUZZ_SEED ? Number(process.env.PYFERRY_FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0
const HANG_MS = 5000
const START_MS = 20_000 // for a worker thread to load its modules and begin
const BOMB_RSS_MIB = 10
// Iterations per loop in a bounded run.
const ITERATIONS = {
  'random bytes into FrameReader': 20_000,
  'mutated frames into FrameReader': 30_000,
  'truncated frames into FrameReader': 10_000,
  'random headers into decodeMessage': 30_000,
  'mutated headers into decodeMessage': 30_000,
  'mutated bombs into decodeMessage': 3000,
}

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') // a full collection before each memory reading

const mib = (bytes) => bytes / 2 ** 20
const maxRss = () => process.resourceUsage().maxRSS * 1024 // bytes, the process's peak so far

// Run `fn`; return how far it raised the process's peak RSS, in MiB, above what it was
// before (the larger of the earlier peak and the RSS then).
function peakGrowth(fn) {
  gc()
  const before = Math.max(maxRss(), process.memoryUsage().rss)
  fn()
  return mib(Math.max(0, maxRss() - before))
}

// -- bombs first, while the process is small: peak RSS cannot be reset -------------------

test('MessagePack bombs are SerializationErrors, quickly and without memory', () => {
  for (const [name, bomb] of Object.entries(BOMBS)) {
    for (const header of [bomb, envelope(bomb)]) {
      const started = performance.now()
      const growth = peakGrowth(() => {
        assert.throws(() => decodeMessage(header, [new Uint8Array(0)]), (error) => {
          assert.ok(error instanceof SerializationError, `${name}: ${error.stack}`)
          assert.ok(!(error instanceof ProtocolError), name)
          return true
        })
        // Through the real reader as well: the framing is fine, the header is not.
        const frames = []
        new FrameReader((h, b) => frames.push([h, b]), { maxMessageBytes: 1 << 22 }).push(frame(header, [Buffer.alloc(0)]))
        assert.equal(frames.length, 1)
        assert.throws(() => decodeMessage(...frames[0]), SerializationError)
      })
      const ms = performance.now() - started
      assert.ok(growth < BOMB_RSS_MIB, `${name}: peak RSS grew by ${growth.toFixed(1)} MiB`)
      assert.ok(ms < 1000, `${name}: took ${ms.toFixed(0)} ms`)
    }
  }
})

test('FrameReader refuses declared sizes over the limit from the prefix, before allocating', () => {
  const limit = 2 ** 30
  const prefix = (count, headerLen, lengths = []) => {
    const head = Buffer.alloc(8 + 8 * lengths.length)
    head.write('PF', 0, 'latin1')
    head.writeUInt16LE(count, 2)
    head.writeUInt32LE(headerLen, 4)
    lengths.forEach((n, i) => head.writeBigUInt64LE(BigInt(n), 8 + 8 * i))
    return head
  }
  const cases = [
    // H is a u32: 2**32-1 is the largest header a prefix can declare.
    [prefix(0, 2 ** 32 - 1), `frame of ${2 ** 32 - 1} bytes exceeds the limit of ${limit} bytes`],
    // 2**40 bytes declared in the length table.
    [prefix(1, 4, [2n ** 40n]), `frame of ${2n ** 40n + 4n} bytes exceeds the limit of ${limit} bytes`],
    // Past 2**53 the size is still named exactly.
    [prefix(2, 4, [2n ** 64n - 1n, 2n ** 40n]), `frame of ${2n ** 64n - 1n + 2n ** 40n + 4n} bytes exceeds`],
    // Buffers each under the limit, their sum past it.
    [prefix(3, 4, [2 ** 29, 2 ** 29, 2 ** 29]), `frame of ${3 * 2 ** 29 + 4} bytes exceeds the limit of ${limit} bytes`],
    [prefix(65535, 1, Array(65535).fill(2 ** 16)), `frame of ${65535 * 2 ** 16 + 1} bytes exceeds`],
  ]
  for (const [bytes, words] of cases) {
    for (const chunks of [[bytes], [...bytes].map((b) => Buffer.from([b]))]) {
      const growth = peakGrowth(() => {
        const reader = new FrameReader(() => assert.fail('no frame'), { maxMessageBytes: limit })
        assert.throws(() => { for (const chunk of chunks) reader.push(chunk) }, (error) => {
          assert.ok(error instanceof ProtocolError, error.stack)
          assert.ok(error.message.includes(words), `${error.message} should include ${words}`)
          return true
        })
      })
      assert.ok(growth < BOMB_RSS_MIB, `${words}: peak RSS grew by ${growth.toFixed(1)} MiB`)
    }
  }
})

// -- the seeded loops, each in a worker thread under a watchdog ---------------------------

// Run LOOPS[loop] `iterations` times in a worker thread; fail with the seed, the iteration
// and the input if an iteration throws something else than a PyferryError or runs over HANG_MS.
async function runLoop(t, loop, iterations, hangMs = HANG_MS) {
  const progress = new Int32Array(new SharedArrayBuffer(8)) // [iteration, input length]
  progress[0] = -1 // until the thread has loaded its modules and begins iteration 0
  const input = new Uint8Array(new SharedArrayBuffer(1 << 16))
  const worker = new Worker(new URL('./fuzz-loop.js', import.meta.url), {
    workerData: { loop, seed: SEED, iterations, progress, input },
  })
  const describeInput = () => {
    const n = Atomics.load(progress, 1)
    const hex = Buffer.from(input.subarray(0, Math.min(n, 512))).toString('hex')
    return `iteration ${Atomics.load(progress, 0)}, input of ${n} bytes: ${hex}${n > 512 ? '…' : ''}`
  }
  const context = () => `${loop}: replay with PYFERRY_FUZZ_SEED=${SEED}`
  let settled = false
  const result = once(worker, 'message').finally(() => { settled = true })
  const exited = once(worker, 'exit')
  // The watchdog: the worker stores its iteration number and notifies as it goes. Starting
  // the thread (its module loads) is not an iteration: on a loaded machine it can take longer.
  let seen = -1
  while (!settled) {
    const wait = Atomics.waitAsync(progress, 0, seen, seen === -1 ? START_MS : hangMs)
    const outcome = wait.async ? await Promise.race([wait.value, result.then(() => 'done', () => 'done')]) : 'not-equal'
    const now = Atomics.load(progress, 0)
    if (outcome === 'timed-out' && now === seen && !settled) {
      await worker.terminate()
      if (seen === -1) assert.fail(`${context()}: the worker thread did not begin within ${START_MS} ms`)
      assert.fail(`${context()}: an iteration ran over ${hangMs} ms at ${describeInput()}`)
    }
    seen = now
  }
  Atomics.notify(progress, 0) // wake a wait still pending, so no timer outlives the test
  const [message] = await result
  await exited
  if (message.failed) {
    const { name, message: text, stack } = message.failed
    t.diagnostic(`${context()}\n${describeInput()}`)
    assert.fail(`${context()}: ${name}: ${text} at ${describeInput()}\n${stack}`)
  }
  assert.equal(message.done, iterations)
}

for (const [loop, count] of Object.entries(ITERATIONS)) {
  test(`${loop} (seed ${SEED})`, async (t) => {
    const iterations = count * SCALE
    const before = Math.max(maxRss(), process.memoryUsage().rss)
    const started = performance.now()
    await runLoop(t, loop, iterations)
    t.diagnostic(`${iterations} iterations in ${(performance.now() - started).toFixed(0)} ms`)
    // A worker thread has a heap of its own; beyond that the loops keep nothing.
    const growth = mib(maxRss() - before)
    assert.ok(growth < 256, `${loop}: peak RSS grew by ${growth.toFixed(1)} MiB`)
  })
}

test('the harness reports a thrown error and a hang with the seed, the iteration and the input', async (t) => {
  assert.ok(Object.keys(ITERATIONS).every((name) => name in LOOPS))
  await assert.rejects(runLoop(t, 'no such loop', 1), /no such loop: replay with PYFERRY_FUZZ_SEED=\d+: TypeError/)
  await assert.rejects(runLoop(t, 'spin (watchdog self-test)', 1, 200),
    /spin \(watchdog self-test\): replay with PYFERRY_FUZZ_SEED=\d+: an iteration ran over 200 ms at iteration 0, input of 4 bytes: 7370696e/)
})
