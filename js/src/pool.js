// The pool: worker processes, the queue of calls, routing, timeouts, cancellation, healing.
//
// Every call is a Call (call.js). It waits in the queue until a worker is free, then
// runs there: a worker is free when each call sent to it has been answered or
// got DETACHED (a coroutine or a stream that no longer holds its main thread),
// so a slow call never holds up a call that another worker could take, and a
// call that has not been sent is never lost with a crashed worker — it simply
// waits for the next.
//
// When no worker is free, queued calls are sent ahead to busy ones (protocol section
// 3.7; which, how many and which calls: ahead.js). A worker that is free with nothing
// to do takes back the newest call sent ahead elsewhere (WITHDRAW), so a short call
// does not wait behind a long one. A worker that dies had started only the oldest of
// its calls (calls run one at a time, in arrival order): the ones sent ahead behind it
// go to another worker.
//
// A call that names handles (PyHandle) can only run on their worker: it waits in
// that worker's own FIFO queue, served before the shared queue whenever the
// worker is free; if the worker exits first it fails with HandleInvalidatedError.
// A call made while a JS callback runs goes straight to the worker that called
// back (which is busy: it waits for the callback and runs the call meanwhile).
//
//   queued --send--> running --reply--> settled
//     |                 |
//     |                 +--timeout/abort--> cancelling --reply, or killGrace: kill--> settled
//     +--timeout/abort/close--> settled (never sent)
//
// The Call carries these out (call.js); the pool decides them. What the pool needs of
// a worker is the interface described in worker-api.js.
//
// Workers are spawned on demand up to `size`, and one that dies, is killed or is
// recycled is replaced once its process has exited, so there are never more
// than `size` processes. A worker that fails to start is retried with
// exponential backoff; while no worker is alive, calls fail at once with the
// start error instead of waiting.

import { DEBUG, log } from './debug.js'
import { HandleInvalidatedError, PoolClosedError, QueueFullError } from './errors.js'
import { Ahead } from './ahead.js'
import { Backoff } from './backoff.js'
import { nowMs } from './clock.js'
import { Spinner } from './spin.js'

export class Pool {
  #size
  #spawn
  #emit
  #maxQueue
  #maxCallsPerWorker
  #killGrace
  #ahead // which busy workers are sent calls ahead, and which calls (ahead.js)
  #spinner // polls for a lone call's answer while answers come quickly (spin.js)
  #workers = [] // every process not yet exited, oldest first
  #queue = [] // calls any worker may run
  #pinned = new Map() // worker -> calls only it may run (they name its handles), oldest first
  #retiring = new WeakSet() // served maxCallsPerWorker calls: closed once its calls are answered
  #wanted = 0 // how many workers the pool keeps alive: grows with demand, up to #size
  #restarts = 0
  #recycled = 0
  #backoff = new Backoff() // after start failures (backoff.js)
  #full = false
  #closed = false
  #keepAlive = null // a timer that never fires, ref'd while calls are queued; see #holdOpen
  #abortCall = (call, error) => this.#abort(call, error) // what a call's timeout and signal do
  #takesAhead = (worker) => worker.usable && worker.busy && !this.#retiring.has(worker)

  // `now`: the clock service times are measured with (milliseconds; tests give their own).
  // `spin`: microseconds Node polls for a lone call's answer (spin.js); 0 never.
  constructor({ size, spawn, emit, maxQueue, maxCallsPerWorker, killGrace, pipeline, spin = 0, now = nowMs }) {
    this.#size = size
    this.#spawn = spawn
    this.#emit = emit
    this.#maxQueue = maxQueue
    this.#maxCallsPerWorker = maxCallsPerWorker
    this.#killGrace = killGrace
    this.#ahead = new Ahead(pipeline, now)
    this.#spinner = new Spinner(spin, { now })
  }

  // Run a Call (call.js); resolves or rejects with its outcome (`call.promise`).
  submit(call) {
    const direct = this.#directWorker(call)
    // A call made by a JS callback is part of a running call, which close() lets finish.
    if (this.#closed && direct === undefined) return this.#refuse(call, new PoolClosedError('this Python client is closed'))
    if (call.signal?.aborted) return this.#refuse(call, call.abortError())
    if (call.owner && !(call.owner.usable && this.#workers.includes(call.owner))) {
      return this.#refuse(call, new HandleInvalidatedError(
        `the call to ${call.target} names a handle of worker ${call.owner.pid}, which has exited`))
    }
    if (direct === undefined && call.owner === undefined) {
      const failure = this.#startFailureNow()
      if (failure) return this.#refuse(call, failure())
    }
    if (direct !== undefined) {
      call.send(direct, false, true) // may run nested in the call that waits for the callback
    } else {
      const queue = call.owner === undefined ? this.#queue : this.#pinnedOf(call.owner)
      call.enqueue(queue)
      queue.push(call)
      this.#grow()
      this.#dispatch()
      const waiting = this.#waiting()
      if (call.state === 'queued' && waiting > this.#maxQueue) {
        // No free worker took it and the queues were already full.
        queue.pop()
        this.#full = true
        return this.#refuse(call, new QueueFullError(
          `${waiting - 1} calls are already waiting (maxQueue is ${this.#maxQueue})`))
      }
      if (waiting > 0 && waiting >= this.#maxQueue) this.#full = true
      this.#holdOpen()
    }
    call.watch(this.#abortCall)
    return call.promise
  }

  // Take back a call not sent yet (a stream closed before it started); true if it was queued.
  withdraw(call) {
    if (call.state !== 'queued') return false
    call.queue.splice(call.queue.indexOf(call), 1)
    call.settle(null, undefined)
    this.#dispatch()
    return true
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
      worker.exited.then(({ started, failure }) => {
        // Ended by close() or destroy() (which kills it) before its handshake: no start failure.
        if (!started) reject(this.#closed ? new PoolClosedError('this Python client was closed while it started') : failure())
      })
    })))
    if (this.#closed) throw new PoolClosedError('this Python client was closed while it started')
    return this.info
  }

  // HELLO info of the oldest ready worker: the one a lone caller's calls go to.
  get info() {
    return this.#workers.find((w) => w.info !== null && w.usable)?.info ?? null
  }

  stats() {
    const workers = this.#workers.map((w) => ({
      pid: w.pid,
      state: w.state,
      busy: w.busy,
      ahead: w.ahead,
      paceMs: this.#ahead.paceMs(w),
      calls: w.calls,
      inFlight: w.pending,
      queued: this.#pinned.get(w)?.length ?? 0,
      handles: w.handles.size,
      frames: w.frames,
    }))
    return {
      size: this.#size,
      live: this.#workers.filter((w) => w.usable).length,
      busy: workers.filter((w) => w.busy).length,
      queued: this.#waiting(),
      inFlight: this.#workers.reduce((n, w) => n + w.pending, 0),
      handles: workers.reduce((n, w) => n + w.handles, 0),
      restarts: this.#restarts,
      recycled: this.#recycled,
      workers,
    }
  }

  // Reject queued calls, let running ones finish (or, after `timeout` ms, cancel them as a
  // timeout would), end every worker and resolve once all have exited.
  async close({ timeout } = {}) {
    this.#closed = true
    this.#backoff.cancel()
    for (const call of this.#takeQueued()) {
      call.settle(new PoolClosedError('the Python client was closed before the call started'))
    }
    this.#holdOpen()
    const timer = timeout === undefined ? null : setTimeout(() => {
      for (const worker of this.#workers) {
        for (const call of worker.jobs()) {
          this.#abort(call, new PoolClosedError(`the Python client was closed; the call ran past ${timeout} ms`))
        }
      }
    }, timeout)
    for (const worker of this.#workers) {
      // A stream runs as long as its consumer wants: it would keep the worker for ever.
      for (const call of worker.jobs()) {
        if (call.stream) this.#abort(call, new PoolClosedError('the Python client was closed while the stream was open'))
      }
      if (worker.pending === 0) worker.close()
    }
    try {
      while (this.#workers.length) await this.#workers[0].exited
    } finally {
      clearTimeout(timer)
    }
  }

  // Kill every worker now; every call not yet settled rejects with PoolClosedError.
  async destroy() {
    this.#closed = true
    this.#backoff.cancel()
    const error = () => new PoolClosedError('the Python client was destroyed')
    for (const call of this.#takeQueued()) call.settle(error())
    this.#holdOpen()
    for (const worker of this.#workers) {
      for (const call of worker.jobs()) call.settle(error())
      worker.kill()
    }
    while (this.#workers.length) await this.#workers[0].exited
  }

  #refuse(call, error) {
    call.settle(error)
    return call.promise
  }

  // Every queued call, shared and pinned, taken out of the queues.
  #takeQueued() {
    const calls = this.#queue.splice(0)
    for (const queue of this.#pinned.values()) calls.push(...queue.splice(0))
    return calls
  }

  #waiting() {
    let n = this.#queue.length
    for (const queue of this.#pinned.values()) n += queue.length
    return n
  }

  // A queued call keeps Node alive until it settles, whatever state the workers are in
  // (dying, starting, backing off): a pending Promise alone would let Node exit with it
  // unsettled. Workers hold Node only while they run calls or start (worker.js #setRef).
  #holdOpen() {
    if (this.#waiting() > 0) {
      (this.#keepAlive ??= setInterval(() => {}, 2 ** 30)).ref()
    } else if (this.#closed) {
      clearInterval(this.#keepAlive)
      this.#keepAlive = null
    } else {
      this.#keepAlive?.unref()
    }
  }

  #pinnedOf(worker) {
    let queue = this.#pinned.get(worker)
    if (queue === undefined) this.#pinned.set(worker, (queue = []))
    return queue
  }

  // The worker a call made inside a JS callback goes to at once: the one that called back,
  // unless the call names handles of another worker (those decide).
  #directWorker(call) {
    const worker = call.via?.active ? call.via.worker : undefined
    if (worker === undefined || !worker.usable || !this.#workers.includes(worker)) return undefined
    if (call.owner !== undefined && call.owner !== worker) return undefined
    return worker
  }

  // Free: usable, and every call sent to it answered or DETACHED.
  #free(worker) {
    return worker.usable && !worker.busy && !this.#retiring.has(worker)
  }

  // The error factory of the last start failure, while its backoff runs and no worker is alive.
  #startFailureNow() {
    if (!this.#backoff.waiting || this.#workers.some((w) => w.usable)) return null
    return this.#backoff.failure
  }

  #grow() {
    if (this.#closed || this.#backoff.waiting) return
    // A worker on its way out still counts against `size` (it is a process) but not as live.
    let live = this.#workers.filter((w) => w.usable && !this.#retiring.has(w)).length
    let free = this.#workers.filter((w) => this.#free(w)).length
    while (this.#workers.length < this.#size && (live < this.#wanted || this.#queue.length > free)) {
      this.#startWorker()
      live++
      free++
      this.#wanted = Math.max(this.#wanted, live)
    }
  }

  // Start the workers that are wanted, then send them what waits.
  #refill() {
    this.#grow()
    this.#dispatch()
  }

  #startWorker() {
    const worker = this.#spawn()
    this.#workers.push(worker)
    worker.on('ready', () => {
      this.#backoff.reset()
      this.#grow() // a start that failed beside this one may have left a slot to fill
    })
    worker.on('reply', (call, error, value) => this.#onReply(worker, call, error, value))
    worker.on('free', () => this.#dispatch())
    worker.on('withdrawn', (call) => this.#onWithdrawn(worker, call))
    worker.on('unpinned', () => {
      // Its last handle was released: it may be recycled now.
      if (this.#closed) return
      this.#retire(worker)
      this.#dispatch()
    })
    worker.on('exit', (exit) => this.#onExit(worker, exit))
    for (const stream of ['stdout', 'stderr']) worker.on(stream, (line) => this.#emit(stream, line, { pid: worker.pid }))
    // transport 'tcp' spawns the process a tick later, once its listener has a port.
    if (worker.pid !== undefined) this.#emit('spawn', { pid: worker.pid })
    else worker.once('spawn', (pid) => pid !== undefined && this.#emit('spawn', { pid }))
  }

  // Send queued calls to free workers, oldest worker first; a worker's pinned calls first.
  #dispatch() {
    let sent = null
    for (const worker of this.#workers) {
      while (this.#free(worker)) {
        const call = this.#pinned.get(worker)?.shift() ?? this.#queue.shift()
        if (call === undefined) break
        call.send(worker)
        this.#ahead.began(worker)
        sent = call
      }
    }
    if (this.#ahead.on) this.#sendAhead()
    this.#spinner.dispatched(sent, this.#workers)
    if (this.#full && this.#waiting() === 0) {
      this.#full = false
      this.#emit('drain')
    }
    this.#holdOpen()
  }

  // No worker is free: queued calls go ahead to busy ones with room (ahead.js decides how
  // much); then a worker free with nothing to do takes some back.
  #sendAhead() {
    this.#ahead.send(this.#workers, this.#queue, this.#pinned, this.#takesAhead)
    this.#rebalance()
  }

  // A ready worker is free with nothing queued while others hold calls sent ahead: ask
  // for the newest of those back, one per free worker; WITHDRAWN requeues them.
  #rebalance() {
    if (this.#queue.length) return
    let idle = this.#workers.filter((w) => w.state === 'ready' && this.#free(w)).length
    for (const worker of this.#workers) {
      if (idle === 0) return
      if (worker.ahead === 0) continue
      const calls = worker.jobs()
      for (let i = calls.length - 1; i >= 0 && idle > 0; i--) {
        const call = calls[i]
        if (call.ahead && !call.detached && !call.withdrawing && call.owner === undefined && call.state === 'running') {
          call.withdraw()
          idle--
        }
      }
    }
  }

  #onWithdrawn(worker, call) {
    if (call.state === 'cancelling') {
      call.settleCancelled()
    } else if (call.state === 'running') {
      if (this.#closed) {
        call.settle(new PoolClosedError('the Python client was closed before the call started'))
      } else {
        this.#requeue(call)
      }
    }
    if (this.#closed && worker.pending === 0) worker.close()
    this.#dispatch()
  }

  // A call that never started, made queued again at the front of the queue: withdrawn,
  // sent to a worker that failed to start, or behind the call its worker died in.
  #requeue(call) {
    call.enqueue(this.#queue)
    this.#queue.unshift(call)
  }

  #onReply(worker, call, error, value) {
    this.#spinner.answered(call)
    // A call that held the main thread to its end: how long it kept the worker (not a stream
    // or a coroutine that detached, nor one made inside a callback, which ran nested).
    if (!call.detached && !call.direct) this.#ahead.answered(worker)
    if (call.state === 'cancelling') call.settleCancelled()
    else if (call.state === 'running') call.settle(error, value)
    if (this.#closed) {
      if (worker.pending === 0) worker.close()
    } else {
      this.#retire(worker)
    }
    this.#dispatch()
  }

  // Recycle a worker that has served maxCallsPerWorker calls: it takes no new call, and is
  // closed once its calls are answered. Not while the client holds handles there (they
  // would become invalid): then at the first answer after the last one is released.
  #retire(worker) {
    if (!this.#retiring.has(worker)) {
      const due = this.#maxCallsPerWorker && worker.calls >= this.#maxCallsPerWorker && worker.usable
      if (!due || worker.handles.size > 0 || this.#pinned.get(worker)?.length) return
      this.#retiring.add(worker)
      this.#recycled++
      if (DEBUG) log('pool: worker %d recycled after %d calls (maxCallsPerWorker)', worker.pid, worker.calls)
    }
    if (worker.pending === 0) worker.close()
  }

  #onExit(worker, { pid, code, signal, started, closed, failure, jobs }) {
    this.#workers.splice(this.#workers.indexOf(worker), 1)
    this.#ahead.forget(worker)
    const pinned = this.#pinned.get(worker) ?? []
    this.#pinned.delete(worker)
    this.#emit('exit', { pid, code, signal })
    for (const call of pinned) {
      call.settle(new HandleInvalidatedError(
        `the call to ${call.target} names a handle of worker ${pid}, which exited before the call could be sent`))
    }
    if (!started && !closed) {
      this.#onStartFailure(failure, jobs)
    } else {
      // At most once: a call that may have started is never sent again. Calls run one at a
      // time in arrival order, so of those neither DETACHED nor made inside a callback only
      // the oldest can have started; the ones sent ahead behind it go to another worker.
      let oldest = true
      const again = []
      for (const call of jobs) {
        const attached = !call.detached && !call.direct
        if (call.state === 'cancelling') {
          call.settleCancelled()
        } else if (attached && !oldest && call.ahead && call.owner === undefined && !this.#closed) {
          again.push(call)
        } else {
          call.settle(failure())
        }
        if (attached) oldest = false
      }
      // Back to the front, in their order: before the calls made after them.
      for (let i = again.length - 1; i >= 0; i--) this.#requeue(again[i])
      if (!this.#closed && (!closed || jobs.length)) {
        this.#restarts++
        if (DEBUG) log('pool: worker %d lost, %d call%s sent elsewhere; restart %d', pid, again.length, again.length === 1 ? '' : 's', this.#restarts)
      }
    }
    if (!this.#closed) this.#refill()
  }

  // Nothing ran on a worker that never finished its handshake: its calls go back to the queue.
  #onStartFailure(failure, jobs) {
    const delay = this.#backoff.failed(failure)
    for (const call of jobs.reverse()) {
      if (call.state === 'cancelling') call.settleCancelled()
      else if (this.#closed) call.settle(failure())
      else if (call.state === 'running') this.#requeue(call)
    }
    if (!this.#workers.some((w) => w.usable)) {
      // Nobody can run the queued calls soon: fail them now rather than keep them waiting.
      if (DEBUG) log('pool: start failure %d, no worker alive: %d queued calls fail; next start allowed in %d ms', this.#backoff.failures, this.#queue.length, delay)
      this.#wanted = 0
      for (const call of this.#queue.splice(0)) call.settle(failure())
      this.#holdOpen()
      return
    }
    // Beside a ready worker, start again after the backoff. While the others only start, wait
    // for them: they show whether the failure is the setup's or this process's (a retry now
    // would start a new process per backoff step while they do).
    const ready = this.#workers.some((w) => w.usable && w.state === 'ready')
    if (DEBUG) log(`pool: start failure %d; ${ready ? 'next start' : 'calls wait for the starting workers, backoff'} %d ms`, this.#backoff.failures, delay)
    if (ready) this.#backoff.retryAfter(delay, () => this.#refill())
    this.#holdOpen()
  }

  // A timeout, an abort or close({ timeout }): a queued call is dropped, as is one sent in
  // this same turn (it has not left yet); a running one is interrupted in Python and, if it
  // has not ended after killGrace, its worker is killed.
  #abort(call, error) {
    if (call.state === 'queued') {
      call.queue.splice(call.queue.indexOf(call), 1)
      call.settle(error)
      this.#dispatch()
    } else if (call.state === 'running') {
      if (call.worker.unsend(call)) {
        // Aborted in the turn it was sent: it never left, so it never runs.
        call.settle(error)
        this.#dispatch()
      } else {
        call.cancel(error, this.#killGrace)
      }
    }
  }
}
