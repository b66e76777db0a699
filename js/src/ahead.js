// pipeline: 'auto' (pool.js): which busy workers are sent calls ahead, and which calls.
// A worker whose calls are short (their service times average at most SHORT_MS, and the one it
// runs now has not run longer) may hold up to AUTO_DEPTH calls sent ahead; a call of more than
// AHEAD_MAX_BYTES never goes ahead. bench/README.md ("W2") has the measurements behind them.

export const AUTO_DEPTH = 32
export const SHORT_MS = 1
export const AHEAD_MAX_BYTES = 64 * 1024

// How long a worker's calls keep its main thread: the average of their service times (an
// answer's time since the previous answer, or since its call began on an idle worker), and
// when the call it runs now began.
export class Pace {
  #ms = Infinity // none measured yet
  #since

  constructor(now) {
    this.#since = now
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
