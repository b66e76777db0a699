// Fake workers and a Pool made over them, for the tests of the pool's scheduling on its
// own (pool-scheduling.test.js, pipeline-auto.test.js): each fake implements the interface
// of src/worker-api.js in-process, no Python, and the test plays the worker's side by hand.

import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { Call } from '../src/call.js'
import { WorkerCrashedError, WorkerStartError } from '../src/errors.js'
import { Pool } from '../src/pool.js'

let nextPid = 1000

// A worker the test plays: it records what the pool asks of it and answers on demand.
export class FakeWorker extends EventEmitter {
  pid = nextPid++
  state = 'starting'
  info = null
  calls = 0
  frames = 0
  handles = { size: 0 }
  sent = [] // [call, ahead] in order
  withdrawals = []
  cancels = []
  #pending = new Map()
  #attached = 0
  #ahead = 0
  #failed = false
  #resolveExit
  exited = new Promise((resolve) => { this.#resolveExit = resolve })

  get usable() { return !this.#failed && (this.state === 'starting' || this.state === 'ready') }
  get busy() { return this.#attached > 0 }
  get ahead() { return this.#ahead }
  get pending() { return this.#pending.size }
  jobs() { return [...this.#pending.values()] }

  send(call, ahead = false) {
    assert.equal(call.state, 'running', 'a call is marked sent before the worker gets it')
    this.#pending.set(call.id, call)
    this.#attached++
    if (ahead) this.#ahead++
    this.sent.push([call, ahead])
  }

  // Frames leave at once unless `holding` (a real worker holds them until the turn ends).
  holding = false
  unsend(call) {
    if (!this.holding || call.ahead) return false
    this.#forget(call)
    this.unsent.push(call)
    return true
  }

  unsent = []
  withdraw(call) { this.withdrawals.push(call) }
  cancel(call) { this.cancels.push(call) }
  credit() {}
  closeStream() {}

  close() {
    if (this.state === 'exited' || this.state === 'closing') return this.exited
    this.state = 'closing'
    setImmediate(() => this.exit({ code: 0 }))
    return this.exited
  }

  kill() {
    this.#failed = true
    if (this.state !== 'exited') setImmediate(() => this.exit({ signal: 'SIGKILL' }))
    return this.exited
  }

  // -- the worker's side, played by the test --

  ready() {
    this.info = { pid: this.pid }
    if (this.state === 'starting') this.state = 'ready'
    this.emit('ready', this.info)
  }

  reply(call, error = null, value = `value of ${call.target}`) {
    this.#forget(call)
    this.calls++
    this.emit('reply', call, error, value)
  }

  detach(call) {
    if (!call.detach()) return
    this.#letGo(call)
    this.emit('free')
  }

  withdrawn(call) {
    this.#forget(call)
    this.emit('withdrawn', call)
  }

  // The process is gone: `started` unless it never finished its handshake.
  exit({ code = null, signal = null, started = this.info !== null } = {}) {
    if (this.state === 'exited') return
    const closed = this.state === 'closing'
    this.state = 'exited'
    const pid = this.pid
    const failure = started
      ? () => new WorkerCrashedError({ pid, exitCode: code, signal, stderr: [] })
      : () => new WorkerStartError(`worker ${pid} exited during start-up`)
    const jobs = this.jobs()
    this.#pending.clear()
    this.#attached = 0
    this.#ahead = 0
    const exit = { pid, code, signal, started, closed, failure, jobs }
    this.emit('exit', exit)
    this.#resolveExit(exit)
  }

  #forget(call) {
    assert.ok(this.#pending.delete(call.id), `call ${call.id} is in flight here`)
    if (!call.detached) this.#letGo(call)
  }

  #letGo(call) {
    this.#attached--
    if (call.ahead) this.#ahead--
  }
}

// A pool of fake workers: `workers` lists them in spawn order, `events` what it emitted.
export function makePool(t, options = {}) {
  const workers = []
  const events = []
  const pool = new Pool({
    size: 2, maxQueue: Infinity, maxCallsPerWorker: 0, killGrace: 1000, pipeline: 0,
    ...options,
    spawn: () => {
      const worker = new FakeWorker()
      workers.push(worker)
      return worker
    },
    emit: (event, ...args) => events.push([event, ...args]),
  })
  t.after(() => pool.destroy())
  return { pool, workers, events }
}

// A pool whose `size` workers have all done their handshake.
export async function readyPool(t, options = {}) {
  const made = makePool(t, options)
  const started = made.pool.start()
  for (const worker of made.workers) worker.ready()
  await started
  return made
}

let nextId = 1
export const NO_REFS = { handles: null, callbacks: null, table: null }

// A Call as python.js makes one; `owner`: the worker whose handles it names; `bytes`: the
// size of its encoded message.
export function call(target, { owner, timeout, signal, stream, bytes = 8 } = {}) {
  const refs = owner === undefined ? NO_REFS : { handles: null, callbacks: null, table: { owner } }
  return new Call(nextId++, target, [Buffer.alloc(bytes)], refs, signal ? { signal } : undefined, timeout, undefined, stream)
}

// Submit calls named `targets`; returns them, their promises' outcomes observed.
export function submit(pool, ...targets) {
  return targets.map((target) => {
    const c = typeof target === 'string' ? call(target) : target
    pool.submit(c).catch(() => {}) // each test awaits the outcomes it checks
    return c
  })
}

export const names = (worker) => worker.sent.map(([c, ahead]) => (ahead ? `${c.target}(ahead)` : c.target))

