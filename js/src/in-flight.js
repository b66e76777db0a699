// The calls a worker holds (worker.js): sent and not yet answered, oldest first, and how
// many of them hold its main thread (not DETACHED) or were sent ahead of a running call.

export class InFlight {
  #calls = new Map() // call id -> Call
  #attached = 0 // not DETACHED: they hold the main thread
  #ahead = 0 // sent ahead (protocol section 3.7), neither answered nor DETACHED

  get size() { return this.#calls.size }
  // Whether a call holds the main thread: sent, neither answered nor DETACHED.
  get busy() { return this.#attached > 0 }
  get ahead() { return this.#ahead }
  get(id) { return this.#calls.get(id) }
  has(id) { return this.#calls.has(id) }
  list() { return [...this.#calls.values()] }

  add(call, ahead) {
    this.#calls.set(call.id, call)
    this.#attached++
    if (ahead) this.#ahead++
  }

  // Answered, withdrawn or taken back.
  remove(call) {
    this.#calls.delete(call.id)
    if (!call.detached) this.letGo(call)
  }

  // The call no longer holds the main thread: answered, withdrawn or DETACHED.
  letGo(call) {
    this.#attached--
    if (call.ahead) this.#ahead--
  }

  // Forget every call; the ones it held, oldest first.
  clear() {
    const calls = this.list()
    this.#calls.clear()
    this.#attached = 0
    this.#ahead = 0
    return calls
  }
}
