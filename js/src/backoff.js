// The pool's start-failure backoff: after the n-th failure in a row, no worker starts for
// 100 ms · 2^(n-1), at most 10 s; a worker that becomes ready ends the series.

const BACKOFF_FIRST_MS = 100
const BACKOFF_MAX_MS = 10_000

export class Backoff {
  failures = 0 // start failures in a row
  failure = null // the last one's error factory
  #until = 0 // Date.now() before which no worker starts
  #timer = null

  // Whether the backoff still runs.
  get waiting() {
    return Date.now() < this.#until
  }

  // A worker failed to start with `failure`: the delay (ms) before the next may.
  failed(failure) {
    this.failures++
    this.failure = failure
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (this.failures - 1), BACKOFF_MAX_MS)
    this.#until = Date.now() + delay
    return delay
  }

  // A worker became ready.
  reset() {
    this.failures = 0
    this.#until = 0
  }

  // Run `retry` once the backoff of `delay` ms is over (replacing a retry already set).
  // Unref'd: queued calls hold Node open themselves (pool.js #holdOpen); an idle pool must not.
  retryAfter(delay, retry) {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(retry, delay).unref()
  }

  cancel() {
    clearTimeout(this.#timer)
  }
}
