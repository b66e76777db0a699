// The framed socket of one worker: bytes in through a FrameReader, frames out in
// corked writes. It knows frames, not messages: worker.js decodes and encodes them.
//
// Writes: messages written in one turn of the event loop leave in one writev. They
// wait here until the current callback and its microtasks are done (process.nextTick),
// then go to the socket corked, so calls made together (or made by the continuations of
// replies read together) share a system call; until then a frame can still be taken
// back (an abort in the same turn as the call: it never leaves). end() writes what
// waits first, so nothing is lost when the channel closes.
//
// The socket is the child's descriptor 3 (transport 'pipe'), or a loopback TCP connection
// the worker makes (transport 'tcp', tcp-listener.js), which arrives after the spawn: until
// attach() gives it, frames wait here and an end() waits too.

import { once } from 'node:events'
import { FrameReader } from './protocol.js'

export class Transport {
  #socket = null
  #options
  #waiting = [] // frames (arrays of chunks) written in this turn, not yet on the socket
  #ignoring = false // the worker is failed or killed: nothing it sends counts
  #ended = false // end() came before the socket
  #ref = true
  // Made once: a write turn costs no closure.
  #flush = () => {
    const frames = this.#waiting
    if (frames.length === 0 || this.#socket === null) return
    this.#waiting = []
    const socket = this.#socket
    socket.cork()
    for (const chunks of frames) for (const chunk of chunks) socket.write(chunk)
    socket.uncork()
  }

  // Read frames from `socket` into onFrame(header, buffers); a stream that breaks the
  // framing (or an onFrame that throws) goes to onBroken(error). `socket` null: attach() follows.
  constructor(socket, options) {
    this.#options = options
    if (socket !== null) this.attach(socket)
  }

  // Start reading and writing on `socket` (once).
  attach(socket) {
    const { onFrame, onBroken, maxMessageBytes } = this.#options
    this.#socket = socket
    if (!this.#ref) socket.unref?.()
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
    socket.resume() // tcp-listener.js paused it after reading the token
    this.#flush()
    if (this.#ended) socket.end()
  }

  // Whether the socket still takes writes (frames written before it came wait for it).
  get writable() {
    return this.#socket === null ? !this.#ended : this.#socket.writable
  }

  // Write the chunks of one frame (see above: they leave with this turn's other frames).
  write(chunks) {
    if (this.#waiting.length === 0) process.nextTick(this.#flush)
    this.#waiting.push(chunks)
  }

  // Take back a frame written in this turn (the same array of chunks); false once it left.
  unwrite(chunks) {
    const index = this.#waiting.indexOf(chunks)
    if (index < 0) return false
    this.#waiting.splice(index, 1)
    return true
  }

  // Drop every byte read from now on.
  ignoreInput() {
    this.#ignoring = true
  }

  // End the request channel (EOF to the worker), after the frames still waiting.
  end() {
    this.#ended = true
    if (this.#socket === null) return
    this.#flush()
    this.#socket.end()
  }

  // Whether the socket keeps Node alive.
  ref(on) {
    this.#ref = on
    if (on) this.#socket?.ref?.()
    else this.#socket?.unref?.()
  }

  // A Promise settled once the worker's side has ended, or null if it already has (or never came).
  readEnd() {
    const socket = this.#socket
    if (socket === null || socket.readableEnded || socket.destroyed) return null
    return once(socket, 'end').catch(() => {})
  }
}
