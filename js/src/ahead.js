// Calls sent ahead to busy workers (pool.js, protocol section 3.7): to which, how many, which
// calls. `pipeline: n` sends up to n to any busy worker; 'auto' (the default) sends up to
// AUTO_DEPTH, only to a worker whose calls are short (their service times average at most
// SHORT_MS, and the one it runs now has not run longer), and never a call of more than
// AHEAD_MAX_BYTES. bench/README.md ("W2") has the measurements behind them.

import { messageBytes } from './protocol.js'

export const AUTO_DEPTH = 32
export const SHORT_MS = 1
export const AHEAD_MAX_BYTES = 64 * 1024

// The pool's policy for calls sent ahead: `pipeline` ('auto' or a count, 0 for none) and the
// clock (ms) service times are measured with.
export class Ahead {
  #pipeline
  #now
  #pace = new Map() // worker -> its Pace (pipeline: 'auto' only)

  constructor(pipeline, now) {
    this.#pipeline = pipeline
    this.#now = now
  }

  // Whether any call is ever sent ahead.
  get on() {
    return this.#pipeline !== 0
  }

  // A call began on `worker`, which was idle.
  began(worker) {
    if (this.#pipeline === 'auto') this.#paceOf(worker).began(this.#now())
  }

  // `worker` answered a call that held its main thread to its end.
  answered(worker) {
    if (this.#pipeline === 'auto') this.#paceOf(worker).answered(this.#now())
  }

  forget(worker) {
    this.#pace.delete(worker)
  }

  // The average time (ms) `worker`'s calls held its main thread, or null: none measured yet,
  // or `pipeline` is not 'auto' (only 'auto' measures).
  paceMs(worker) {
    const ms = this.#pace.get(worker)?.ms
    return ms === undefined || ms === Infinity ? null : ms
  }

  // Send queued calls ahead, in queue order: a worker's own (`pinned`: worker -> its queue)
  // to it, the rest to the worker with the fewest sent ahead, each while `open(worker)` and
  // under its depth. A call too large to go ahead stops the rest behind it.
  send(workers, queue, pinned, open) {
    if (queue.length === 0 && pinned.size === 0) return // every reply dispatches: most find none
    // No closure made here: esbuild's keepNames would name each one, costing more than the rest.
    const now = this.#now()
    for (const [worker, own] of pinned) {
      const depth = this.#depth(worker, now)
      while (own.length && open(worker) && worker.ahead < depth && this.#mayGo(own[0])) own.shift().send(worker, true)
    }
    const depths = []
    for (const worker of workers) depths.push(this.#depth(worker, now))
    while (queue.length && this.#mayGo(queue[0])) {
      let best = -1
      for (let i = 0; i < workers.length; i++) {
        const worker = workers[i]
        if (open(worker) && worker.ahead < depths[i] && (best < 0 || worker.ahead < workers[best].ahead)) best = i
      }
      if (best < 0) break
      queue.shift().send(workers[best], true)
    }
  }

  // How many calls `worker` may hold sent ahead now: `pipeline`, or for 'auto' AUTO_DEPTH
  // while its calls are short and 0 otherwise (none measured yet, or the current one is long).
  #depth(worker, now) {
    if (this.#pipeline !== 'auto') return this.#pipeline
    const pace = this.#pace.get(worker)
    return pace !== undefined && pace.short(now) ? AUTO_DEPTH : 0
  }

  #mayGo(call) {
    return this.#pipeline !== 'auto' || messageBytes(call.chunks) <= AHEAD_MAX_BYTES
  }

  #paceOf(worker) {
    let pace = this.#pace.get(worker)
    if (pace === undefined) this.#pace.set(worker, (pace = new Pace(this.#now())))
    return pace
  }
}

// How long a worker's calls keep its main thread: the average of their service times (an
// answer's time since the previous answer, or since its call began on an idle worker), and
// when the call it runs now began.
class Pace {
  #ms = Infinity // none measured yet
  #since

  constructor(now) {
    this.#since = now
  }

  get ms() {
    return this.#ms
  }

  // A call began on the worker, which was idle.
  began(now) {
    this.#since = now
  }

  // An answer came; the worker's next call (if any) begins now.
  answered(now) {
    const ms = Math.min(now - this.#since, 8 * SHORT_MS) // one slow call (an import) weighs little
    this.#ms = this.#ms === Infinity ? ms : this.#ms + (ms - this.#ms) / 4
    this.#since = now
  }

  // Its calls are short, and so far the current one too.
  short(now) {
    return this.#ms <= SHORT_MS && now - this.#since <= SHORT_MS
  }
}
