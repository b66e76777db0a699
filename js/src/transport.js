// The framed socket of one worker: bytes in through a FrameReader, frames out in
// corked writes. It knows frames, not messages: worker.js decodes and encodes them.
//
// Writes: messages written in one turn of the event loop leave in one writev. The
// socket stays corked until the current callback and its microtasks are done
// (process.nextTick), so calls made together (or made by the continuations of replies
// read together) share a system call. end() uncorks, so nothing corked is lost when
// the channel closes.

import { once } from 'node:events'
import { FrameReader } from './protocol.js'

export class Transport {
  #socket
  #corked = false
  #ignoring = false // the worker is failed or killed: nothing it sends counts
  // Made once: a write turn costs no closure.
  #uncork = () => {
    this.#corked = false
    this.#socket.uncork()
  }

  // Read frames from `socket` into onFrame(header, buffers); a stream that breaks the
  // framing (or an onFrame that throws) goes to onBroken(error).
  constructor(socket, { onFrame, onBroken, maxMessageBytes }) {
    this.#socket = socket
    const reader = new FrameReader(onFrame, { maxMessageBytes })
    socket.on('data', (chunk) => {
      if (this.#ignoring) return
      try {
        reader.push(chunk)
      } catch (error) {
        onBroken(error)
      }
    })
    socket.on('error', () => {}) // EPIPE after a crash: the worker's exit handler reports it
  }

  // Whether the socket still takes writes.
  get writable() {
    return this.#socket.writable
  }

  // Write the chunks of one frame (see above: they leave with this turn's other frames).
  write(chunks) {
    if (!this.#corked) {
      this.#corked = true
      this.#socket.cork()
      process.nextTick(this.#uncork)
    }
    for (const chunk of chunks) this.#socket.write(chunk)
  }

  // Drop every byte read from now on.
  ignoreInput() {
    this.#ignoring = true
  }

  // End the request channel (EOF to the worker).
  end() {
    this.#socket.end()
  }

  // Whether the socket keeps Node alive.
  ref(on) {
    if (on) this.#socket.ref?.()
    else this.#socket.unref?.()
  }

  // A Promise settled once the worker's side has ended, or null if it already has.
  readEnd() {
    const socket = this.#socket
    if (socket.readableEnded || socket.destroyed) return null
    return once(socket, 'end').catch(() => {})
  }
}
