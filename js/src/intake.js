// A worker's frames as messages, in the order they came (worker.js). The first Arrow table
// this process meets waits for apache-arrow to load (arrow.js): its message, and every
// frame after it, wait too, so that stream items and replies keep their order.

import { decodeMessage, messageReady } from './codec.js'

export class Intake {
  #held = null // frames waiting behind a message whose Arrow tables are still loading
  #context
  #ignoring
  #onMessage
  #onUndecodable
  #onBroken

  // `context`: decodeMessage's (handles); `ignoring()`: true once nothing the worker sends
  // counts; onMessage(message); onUndecodable(header, error, failure?) for a frame that does
  // not decode; onBroken(error) for what either throws after a wait for apache-arrow.
  constructor({ context, ignoring, onMessage, onUndecodable, onBroken }) {
    this.#context = context
    this.#ignoring = ignoring
    this.#onMessage = onMessage
    this.#onUndecodable = onUndecodable
    this.#onBroken = onBroken
  }

  take(header, buffers) {
    if (this.#held !== null) this.#held.push([header, buffers])
    else this.#decode(header, buffers)
  }

  #decode(header, buffers) {
    if (this.#ignoring()) return
    let message
    try {
      message = decodeMessage(header, buffers, this.#context)
    } catch (error) {
      return this.#onUndecodable(header, error)
    }
    const ready = messageReady(message)
    if (ready !== message) return this.#hold(ready, header)
    this.#onMessage(message)
  }

  #hold(ready, header) {
    this.#held = []
    const go = (take) => {
      try {
        take()
        const held = this.#held
        this.#held = null
        while (held.length && this.#held === null) this.#decode(...held.shift())
        if (this.#held !== null) this.#held.unshift(...held)
      } catch (error) {
        this.#onBroken(error)
      }
    }
    // A table that cannot be read (apache-arrow missing) fails like any undecodable reply.
    ready.then((message) => go(() => this.#onMessage(message)), (error) => go(() => this.#onUndecodable(header, error, error)))
  }
}
