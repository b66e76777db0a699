// The public client: `new Python(options)`, `call()`, `close()`.
//
// It owns its worker process(es) and routes calls to them. Today that is one
// worker, started on the first call and started again after a crash; the
// routing goes through #pick() so that a pool can take its place.

import { EventEmitter } from 'node:events'
import { Kwargs } from './codec.js'
import { ClosedError, PyferryError } from './errors.js'
import { findPython } from './find-python.js'
import { DEFAULT_MAX_MESSAGE_BYTES } from './protocol.js'
import { Worker } from './worker.js'

function checkOptions(options) {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const { python, path, cwd, env, maxMessageBytes } = options
  if (python !== undefined && (typeof python !== 'string' || python === '')) {
    throw new TypeError('options.python must be a non-empty string (path to the interpreter)')
  }
  const paths = path === undefined ? [] : Array.isArray(path) ? path : [path]
  if (!paths.every((p) => typeof p === 'string' && p !== '')) {
    throw new TypeError('options.path must be a directory or an array of directories')
  }
  if (cwd !== undefined && typeof cwd !== 'string') throw new TypeError('options.cwd must be a string')
  if (env !== undefined && (env === null || typeof env !== 'object')) {
    throw new TypeError('options.env must be an object of environment variables')
  }
  const limit = maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  if (!Number.isSafeInteger(limit) || limit < 64) {
    throw new RangeError('options.maxMessageBytes must be an integer of at least 64')
  }
  return { python, paths, cwd, env, maxMessageBytes: limit }
}

export class Python extends EventEmitter {
  #options
  #worker = null
  #closing = null

  // Check the options; nothing starts until the first call or start().
  constructor(options = {}) {
    super()
    this.#options = checkOptions(options)
  }

  // Start the worker now instead of on the first call; resolves with its HELLO info.
  async start() {
    return this.#pick().ready()
  }

  // Call the Python callable named `target` (e.g. 'numpy.fft.rfft') with `args`;
  // a trailing kw({...}) gives keyword arguments.
  async call(target, ...args) {
    if (typeof target !== 'string' || target === '') {
      throw new TypeError('call target must be a non-empty string such as "numpy.sum"')
    }
    let kwargs
    if (args.at(-1) instanceof Kwargs) kwargs = args.pop().values
    try {
      return await this.#pick().call(target, args, kwargs)
    } catch (error) {
      // Make the stack show the caller's line, then the Python traceback.
      if (error instanceof PyferryError) {
        Error.captureStackTrace(error)
        if (error.pythonTraceback) error.stack += `\n\nPython traceback:\n${error.pythonTraceback.trimEnd()}`
      }
      throw error
    }
  }

  // The running worker's pid and versions (its HELLO info), or null before the start.
  get info() {
    return this.#worker?.info ?? null
  }

  // Let calls in flight finish, then stop the worker; later calls reject with ClosedError.
  close() {
    this.#closing ??= (async () => {
      const worker = this.#worker
      this.#worker = null
      if (worker) await worker.close()
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }

  #pick() {
    if (this.#closing) throw new ClosedError('this Python client is closed')
    // A worker that failed is on its way out (its exit is handled later): use a new one.
    if (this.#worker === null || !this.#worker.usable) this.#worker = this.#spawn()
    return this.#worker
  }

  #spawn() {
    const { python, paths, cwd, env, maxMessageBytes } = this.#options
    const fullEnv = { ...process.env, ...env }
    const interpreter = findPython({ python, cwd, env: fullEnv })
    const worker = new Worker({ interpreter, paths, cwd, env: fullEnv, maxMessageBytes })
    const { pid } = worker
    for (const stream of ['stdout', 'stderr']) {
      worker.on(stream, (line) => {
        if (this.listenerCount(stream) > 0) this.emit(stream, line, { pid })
        else process.stderr.write(`[python ${pid}] ${line}\n`)
      })
    }
    worker.on('exit', ({ code, signal }) => {
      if (this.#worker === worker) this.#worker = null // the next call starts a new one
      this.emit('exit', { pid, code, signal })
    })
    if (pid !== undefined) this.emit('spawn', { pid })
    return worker
  }
}
