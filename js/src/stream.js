// py.stream(): the items of a Python iterable, as an async iterator (protocol section 3.4).
//
// The CALL (option `stream: window`) is sent on the first next(). The worker sends
// items in batches (STREAM_ITEMS) while it has credit: `window` items, plus what this
// side returns as its consumer takes them, in steps of half the window. So a slow
// consumer holds at most about `window` items here and the generator stops in
// Python. `return()` (a `break` out of `for await`) sends STREAM_CLOSE and resolves
// once the worker has closed the iterator (STREAM_END): its `finally` has run.

import { DEFAULT_WINDOW } from './options.js'

const DONE = Object.freeze({ value: undefined, done: true })

export class PyStream {
  #begin
  #window
  #step
  #call = null // { call, outcome, withdraw } once started
  #items = [] // received, not yet taken
  #waiters = [] // next() calls waiting for an item: { resolve, reject }
  #taken = 0 // items taken since credit was last returned
  #ended = false // the call is answered (STREAM_END, ERROR, or it failed)
  #aborted = false // its signal aborted: items are dropped, next() waits for the AbortError
  #error = null // its failure, until a next() has rejected with it
  #closing = null // return()'s promise

  // begin(hooks) prepares and submits the CALL; returns { call, outcome, withdraw } where
  // `call` is its Call (call.js), `outcome` settles with the call's answer and withdraw()
  // takes it back if not yet sent.
  constructor(begin, window = DEFAULT_WINDOW) {
    this.#begin = begin
    this.#window = window
    this.#step = Math.max(1, Math.floor(window / 2))
  }

  [Symbol.asyncIterator]() {
    return this
  }

  next() {
    if (this.#call === null && this.#closing === null) this.#start()
    if (this.#items.length) return Promise.resolve(this.#take())
    if (this.#error !== null) {
      const error = this.#error
      this.#error = null
      return Promise.reject(error)
    }
    if (this.#ended || this.#closing !== null) return Promise.resolve(DONE)
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  // Stop: items not taken are dropped, the iterator is closed in Python. Resolves once it
  // has been (rejects if closing it raised).
  return() {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close() {
    this.#items = []
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(DONE)
    if (this.#call === null || this.#ended) return DONE
    const { call, outcome, withdraw } = this.#call
    if (!withdraw()) call.closeStream() // not streaming yet: closed once it is (DETACHED)
    await outcome
    return DONE
  }

  #start() {
    const hooks = { push: (items) => this.#push(items) }
    try {
      this.#call = this.#begin(hooks)
    } catch (error) {
      // Refused before anything was sent (bad arguments): the first next() rejects.
      this.#call = { call: null, outcome: null, withdraw: () => false }
      this.#ended = true
      this.#error = error
      return
    }
    const { call, outcome } = this.#call
    const onAbort = () => {
      this.#aborted = true
      this.#items = []
    }
    call.signal?.addEventListener('abort', onAbort, { once: true })
    outcome.then(() => this.#end(null), (error) => this.#end(error))
      .finally(() => call.signal?.removeEventListener('abort', onAbort))
  }

  #push(items) {
    if (this.#closing !== null || this.#aborted) return // items sent before a close or abort are dropped
    for (const item of items) this.#items.push(item)
    while (this.#waiters.length && this.#items.length) this.#waiters.shift().resolve(this.#take())
  }

  #take() {
    const value = this.#items.shift()
    this.#taken++
    // Credit goes back only while the call runs on a worker; until then it adds up.
    if (this.#taken >= this.#step && !this.#ended && this.#closing === null && this.#call.call.credit(this.#taken)) {
      this.#taken = 0
    }
    return { value, done: false }
  }

  #end(error) {
    this.#ended = true
    if (this.#closing !== null) return // return() reports how closing went
    if (error !== null) this.#error = error
    if (this.#items.length) return // the waiters were served already; the error follows the items
    for (const waiter of this.#waiters.splice(0)) {
      if (this.#error !== null) {
        waiter.reject(this.#error)
        this.#error = null
      } else {
        waiter.resolve(DONE)
      }
    }
  }
}
