// The pool: worker processes, the queue of calls, routing, timeouts, cancellation, healing.
//
// Every call is a job. A job waits in the queue until a worker is idle, then
// runs there alone: a worker holds at most one call at a time, so a slow call
// never holds up a call that another worker could take, and a call that has not
// been sent is never lost with a crashed worker — it simply waits for the next.
//
//   queued --send--> running --reply--> settled
//     |                 |
//     |                 +--timeout/abort--> cancelling --reply, or killGrace: kill--> settled
//     +--timeout/abort/close--> settled (never sent)
//
// Workers are spawned on demand up to `size`, and one that dies, is killed or is
// recycled is replaced once its process has exited, so there are never more
// than `size` processes. A worker that fails to start is retried with
// exponential backoff; while no worker is alive, calls fail at once with the
// start error instead of waiting.

import { AbortError, PoolClosedError, QueueFullError, TimeoutError } from './errors.js'

const BACKOFF_FIRST_MS = 100
const BACKOFF_MAX_MS = 10_000

export class Pool {
  #size
  #spawn
  #emit
  #maxQueue
  #maxCallsPerWorker
  #killGrace
  #workers = [] // every process not yet exited, oldest first
  #queue = []
  #wanted = 0 // how many workers the pool keeps alive: grows with demand, up to #size
  #restarts = 0
  #recycled = 0
  #startFailures = 0
  #backoffUntil = 0
  #backoffTimer = null
  #lastStartFailure = null
  #full = false
  #closed = false

  constructor({ size, spawn, emit, maxQueue, maxCallsPerWorker, killGrace }) {
    this.#size = size
    this.#spawn = spawn
    this.#emit = emit
    this.#maxQueue = maxQueue
    this.#maxCallsPerWorker = maxCallsPerWorker
    this.#killGrace = killGrace
  }

  // Queue a job ({ id, target, chunks, timeout, signal }); resolves or rejects with its outcome.
  submit(job) {
    job.promise = new Promise((resolve, reject) => {
      job.resolve = resolve
      job.reject = reject
    })
    if (this.#closed) return this.#refuse(job, new PoolClosedError('this Python client is closed'))
    if (job.signal?.aborted) return this.#refuse(job, abortError(job))
    const failure = this.#startFailureNow()
    if (failure) return this.#refuse(job, failure())
    job.state = 'queued'
    this.#queue.push(job)
    this.#grow()
    this.#dispatch()
    if (job.state === 'queued' && this.#queue.length > this.#maxQueue) {
      // No idle worker took it and the queue was already full.
      this.#queue.pop()
      this.#full = true
      return this.#refuse(job, new QueueFullError(
        `${this.#queue.length} calls are already waiting (maxQueue is ${this.#maxQueue})`))
    }
    if (this.#queue.length > 0 && this.#queue.length >= this.#maxQueue) this.#full = true
    if (job.timeout !== undefined) {
      job.timer = setTimeout(() => this.#abort(job, new TimeoutError(
        `the call to ${job.target} did not finish within its timeout of ${job.timeout} ms`)), job.timeout)
    }
    if (job.signal) {
      job.onAbort = () => this.#abort(job, abortError(job))
      job.signal.addEventListener('abort', job.onAbort, { once: true })
    }
    return job.promise
  }

  // Spawn workers until `count` (default: the pool size) are alive; resolves when they are ready.
  async start(count = this.#size) {
    if (this.#closed) throw new PoolClosedError('this Python client is closed')
    const failure = this.#startFailureNow()
    if (failure) throw failure()
    this.#wanted = Math.max(this.#wanted, Math.min(count, this.#size))
    this.#grow()
    const starting = this.#workers.filter((w) => w.state === 'starting' || w.state === 'ready')
    await Promise.all(starting.map((worker) => worker.info ?? new Promise((resolve, reject) => {
      worker.once('ready', resolve)
      worker.exited.then(({ started, failure }) => { if (!started) reject(failure()) })
    })))
    if (this.#closed) throw new PoolClosedError('this Python client was closed while it started')
    return this.info
  }

  // HELLO info of the oldest ready worker: the one a lone caller's calls go to.
  get info() {
    return this.#workers.find((w) => w.info !== null && w.usable)?.info ?? null
  }

  stats() {
    const workers = this.#workers.map((w) => ({ pid: w.pid, state: w.state, busy: w.pending > 0, calls: w.calls }))
    return {
      size: this.#size,
      live: this.#workers.filter((w) => w.usable).length,
      busy: workers.filter((w) => w.busy).length,
      queued: this.#queue.length,
      inFlight: this.#workers.reduce((n, w) => n + w.pending, 0),
      restarts: this.#restarts,
      recycled: this.#recycled,
      workers,
    }
  }

  // Reject queued calls, let running ones finish (or, after `timeout` ms, cancel them as a
  // timeout would), end every worker and resolve once all have exited.
  async close({ timeout } = {}) {
    this.#closed = true
    clearTimeout(this.#backoffTimer)
    for (const job of this.#queue.splice(0)) {
      this.#settle(job, new PoolClosedError('the Python client was closed before the call started'))
    }
    const timer = timeout === undefined ? null : setTimeout(() => {
      for (const worker of this.#workers) {
        for (const job of worker.jobs()) {
          this.#abort(job, new PoolClosedError(`the Python client was closed; the call ran past ${timeout} ms`))
        }
      }
    }, timeout)
    for (const worker of this.#workers) if (worker.pending === 0) worker.close()
    try {
      while (this.#workers.length) await this.#workers[0].exited
    } finally {
      clearTimeout(timer)
    }
  }

  // Kill every worker now; every call not yet settled rejects with PoolClosedError.
  async destroy() {
    this.#closed = true
    clearTimeout(this.#backoffTimer)
    const error = () => new PoolClosedError('the Python client was destroyed')
    for (const job of this.#queue.splice(0)) this.#settle(job, error())
    for (const worker of this.#workers) {
      for (const job of worker.jobs()) this.#settle(job, error())
      worker.kill()
    }
    while (this.#workers.length) await this.#workers[0].exited
  }

  #refuse(job, error) {
    job.state = 'settled'
    job.reject(error)
    return job.promise
  }

  // The error factory of the last start failure, while its backoff runs and no worker is alive.
  #startFailureNow() {
    if (Date.now() >= this.#backoffUntil || this.#workers.some((w) => w.usable)) return null
    return this.#lastStartFailure
  }

  #grow() {
    if (this.#closed || Date.now() < this.#backoffUntil) return
    // A worker on its way out still counts against `size` (it is a process) but not as live.
    let live = this.#workers.filter((w) => w.usable).length
    let idle = this.#workers.filter((w) => w.usable && w.pending === 0).length
    while (this.#workers.length < this.#size && (live < this.#wanted || this.#queue.length > idle)) {
      this.#startWorker()
      live++
      idle++
      this.#wanted = Math.max(this.#wanted, live)
    }
  }

  #startWorker() {
    const worker = this.#spawn()
    this.#workers.push(worker)
    worker.on('ready', () => {
      this.#startFailures = 0
      this.#backoffUntil = 0
    })
    worker.on('reply', (job, error, value) => this.#onReply(worker, job, error, value))
    worker.on('exit', (exit) => this.#onExit(worker, exit))
    for (const stream of ['stdout', 'stderr']) worker.on(stream, (line) => this.#emit(stream, line, { pid: worker.pid }))
    if (worker.pid !== undefined) this.#emit('spawn', { pid: worker.pid })
  }

  // Send queued jobs to idle workers, oldest worker first.
  #dispatch() {
    while (this.#queue.length) {
      const worker = this.#workers.find((w) => w.usable && w.pending === 0)
      if (worker === undefined) break
      const job = this.#queue.shift()
      job.state = 'running'
      job.worker = worker
      worker.send(job)
    }
    if (this.#full && this.#queue.length === 0) {
      this.#full = false
      this.#emit('drain')
    }
  }

  #onReply(worker, job, error, value) {
    if (job.state === 'cancelling') this.#settle(job, job.abortError)
    else if (job.state === 'running') this.#settle(job, error, value)
    if (this.#closed) worker.close()
    else if (this.#maxCallsPerWorker && worker.calls >= this.#maxCallsPerWorker && worker.usable) {
      this.#recycled++
      worker.close()
    }
    this.#dispatch()
  }

  #onExit(worker, { pid, code, signal, started, closed, failure, jobs }) {
    this.#workers.splice(this.#workers.indexOf(worker), 1)
    this.#emit('exit', { pid, code, signal })
    if (!started && !closed) {
      this.#onStartFailure(failure, jobs)
    } else {
      for (const job of jobs) {
        // At most once: a call that was sent is never sent again.
        this.#settle(job, job.state === 'cancelling' ? job.abortError : failure())
      }
      if (!this.#closed && (!closed || jobs.length)) this.#restarts++
    }
    if (!this.#closed) {
      this.#grow()
      this.#dispatch()
    }
  }

  // Nothing ran on a worker that never finished its handshake: its calls go back to the queue.
  #onStartFailure(failure, jobs) {
    this.#startFailures++
    this.#lastStartFailure = failure
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (this.#startFailures - 1), BACKOFF_MAX_MS)
    this.#backoffUntil = Date.now() + delay
    for (const job of jobs.reverse()) {
      if (job.state === 'cancelling') this.#settle(job, job.abortError)
      else if (this.#closed) this.#settle(job, failure())
      else if (job.state === 'running') {
        job.state = 'queued'
        this.#queue.unshift(job)
      }
    }
    if (!this.#workers.some((w) => w.usable)) {
      // Nobody can run the queued calls soon: fail them now rather than keep them waiting.
      this.#wanted = 0
      for (const job of this.#queue.splice(0)) this.#settle(job, failure())
      return
    }
    clearTimeout(this.#backoffTimer)
    this.#backoffTimer = setTimeout(() => {
      this.#grow()
      this.#dispatch()
    }, delay).unref()
  }

  // A timeout, an abort or close({ timeout }): a queued call is dropped, a running one is
  // interrupted in Python and, if it has not ended after killGrace, its worker is killed.
  #abort(job, error) {
    if (job.state === 'queued') {
      this.#queue.splice(this.#queue.indexOf(job), 1)
      this.#settle(job, error)
      this.#dispatch()
    } else if (job.state === 'running') {
      job.state = 'cancelling'
      job.abortError = error
      job.worker.cancel(job)
      job.killTimer = setTimeout(() => {
        this.#settle(job, job.abortError)
        job.worker.kill()
      }, this.#killGrace)
    }
  }

  #settle(job, error, value) {
    if (job.state === 'settled') return
    job.state = 'settled'
    clearTimeout(job.timer)
    clearTimeout(job.killTimer)
    job.signal?.removeEventListener('abort', job.onAbort)
    job.chunks = null
    if (error) job.reject(error)
    else job.resolve(value)
  }
}

function abortError(job) {
  return new AbortError(`the call to ${job.target} was aborted`, { cause: job.signal.reason })
}
