// The loopback-TCP channel (transport: 'tcp', docs/protocol.md section 1.2): Node listens on
// 127.0.0.1, port 0, the worker connects with `--connect tcp:127.0.0.1:PORT` and proves
// itself with a one-time token it was given in PYFERRY_TOKEN, which it sends before its
// first frame. The first connection decides: the right token within the deadline and
// its socket becomes the channel; anything else (a wrong token, EOF before the whole
// token, no connection in time) fails the worker's start. Either way the listener is
// closed, so no second connection can reach the worker's channel.

import { createServer } from 'node:net'

// Loaded by the first TCP worker only: node:crypto is ~5 ms of every client's first import.
const crypto = () => process.getBuiltinModule('node:crypto')

export const TOKEN_VARIABLE = 'PYFERRY_TOKEN'
const TOKEN_BYTES = 32 // sent as 64 hex characters

export class TokenListener {
  #server = createServer({ noDelay: true })
  #token = crypto().randomBytes(TOKEN_BYTES).toString('hex')
  #timer = null
  #settled = false
  #onAccept
  #onRefuse

  // onAccept(socket): the worker's connection, token read, the bytes after it unshifted.
  // onRefuse(message): why the worker's start failed. Neither runs after close().
  constructor({ onAccept, onRefuse }) {
    this.#onAccept = onAccept
    this.#onRefuse = onRefuse
    this.#server.on('connection', (socket) => this.#check(socket))
    this.#server.on('error', (error) => this.#refuse(`the loopback listener failed: ${error.message}`))
  }

  // The token the worker must present (for its PYFERRY_TOKEN).
  get token() {
    return this.#token
  }

  // Resolve with the port listened on (127.0.0.1); reject if it cannot listen.
  listen() {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
        this.#server.off('error', reject)
        resolve(this.#server.address().port)
      })
    })
  }

  // Refuse the start unless a connection presents the token within `ms` from now.
  deadline(ms) {
    if (this.#settled) return
    this.#timer = setTimeout(() => {
      this.#refuse(`the worker did not connect to 127.0.0.1:${this.#server.address()?.port} and present its token within ${ms} ms (transport: 'tcp')`)
    }, ms)
  }

  // Whether Node is held open by the listener.
  ref(on) {
    if (on) this.#server.ref()
    else this.#server.unref()
    if (this.#timer !== null) on ? this.#timer.ref() : this.#timer.unref()
  }

  // Stop listening; nothing is reported afterwards.
  close() {
    this.#settled = true
    clearTimeout(this.#timer)
    this.#server.close()
  }

  #check(socket) {
    if (this.#settled) return socket.destroy()
    this.#server.close() // the first connection decides: no second one is ever read
    const expected = Buffer.from(this.#token, 'latin1')
    let got = Buffer.alloc(0)
    const onData = (chunk) => {
      got = Buffer.concat([got, chunk])
      if (got.length < expected.length) return
      done()
      if (this.#settled) return socket.destroy()
      if (!crypto().timingSafeEqual(got.subarray(0, expected.length), expected)) {
        socket.destroy()
        return this.#refuse('a connection to the worker\'s loopback port presented a wrong token: it was closed, and the worker with it (transport: \'tcp\')')
      }
      socket.pause()
      if (got.length > expected.length) socket.unshift(got.subarray(expected.length))
      this.close()
      this.#onAccept(socket)
    }
    const onEnd = () => {
      done()
      socket.destroy()
      this.#refuse(`a connection to the worker's loopback port closed after ${got.length} of the token's ${expected.length} bytes: it was refused, and the worker with it (transport: 'tcp')`)
    }
    const done = () => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onEnd)
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('error', onEnd)
  }

  #refuse(message) {
    if (this.#settled) return
    this.close()
    this.#onRefuse(message)
  }
}
