// The client's side of `spin`: while one call alone is out and answers have come back
// quickly, Node's event loop keeps polling for that answer instead of sleeping in
// epoll_wait until the kernel wakes it. On a VM the wake-up is tens of microseconds,
// as much as a small call itself (bench/README.md, W1); the worker spins for the same
// reason (pyferry.inbox). The poll is a chain of setImmediate: timers and other I/O run
// between its turns as usual, so nothing in the application waits for it.
//
// The rule mirrors the worker's: spin for the window after a lone call is sent only if
// the previous lone call's answer came within the window (twice the window if Node slept
// meanwhile, the wake-up being part of that wait). A call that took longer stops the
// spinning until one is quick again, so slow calls and idle pools cost nothing. With more
// than one call in flight the loop has answers to read anyway: no spin. Nor where this
// process may run on one CPU only (a container, `taskset`): there its polling would hold
// the CPU the worker needs to answer (W1 on one CPU went from 37 to 159 µs).

import { availableParallelism } from 'node:os'
import { setImmediate } from 'node:timers' // the real one, even under an application's fake timers
import { nowMs } from './clock.js'

export class Spinner {
  #windowMs
  #now
  #schedule
  #call = null // the lone call being waited for
  #sentAt = 0
  #until = 0 // poll until this time (ms)
  #polling = false
  #quick = true // the last lone call's answer came within the window
  #spun = false // the current wait spins

  // `windowUs`: the spin window in microseconds (0: never spin). `cpus` (how many this
  // process may run on), `now` (ms) and `schedule` (what runs the next poll turn) are for tests.
  constructor(windowUs, { cpus = availableParallelism(), now = nowMs, schedule = setImmediate } = {}) {
    this.#windowMs = cpus > 1 ? windowUs / 1000 : 0
    this.#now = now
    this.#schedule = schedule
  }

  // Whether a poll turn is pending.
  get polling() {
    return this.#polling
  }

  // After the pool dispatched: `sent` is the last call it sent then (or null), `workers`
  // the pool's workers. A call sent alone is waited for; more in flight end the wait.
  dispatched(sent, workers) {
    if (this.#windowMs === 0) return
    const inFlight = workers.reduce((n, worker) => n + worker.pending, 0)
    if (inFlight > 1) this.#stop()
    else if (inFlight === 1 && sent !== null) this.#sent(sent)
  }

  // `call` was answered; if it was the lone call, its wait decides whether the next one spins.
  answered(call) {
    if (call !== this.#call) return
    const waited = this.#now() - this.#sentAt
    this.#quick = waited < (this.#spun ? this.#windowMs : 2 * this.#windowMs)
    this.#stop()
  }

  #sent(call) {
    this.#call = call
    this.#sentAt = this.#now()
    this.#spun = this.#quick
    if (!this.#spun) return
    this.#until = this.#sentAt + this.#windowMs
    if (!this.#polling) {
      this.#polling = true
      this.#schedule(this.#poll)
    }
  }

  #stop() {
    this.#call = null
    this.#until = 0
  }

  #poll = () => {
    if (this.#now() < this.#until) this.#schedule(this.#poll)
    else this.#polling = false
  }
}
