// Remote objects (protocol section 3.2): a PyHandle stands for one object in one worker's
// handle table; users hold it wrapped in a Proxy so that `await counter.most_common(2)`
// calls the method `most_common` of the object. A HandleTable is the part of a worker's
// table this client holds: it batches RELEASEs and invalidates its handles when the
// worker exits.
//
// Releasing: `release()` (or `using`), or the FinalizationRegistry when a handle is
// garbage-collected unreleased. Released ids go out in one RELEASE per worker per turn
// of the event loop (setImmediate), and never before a call that names the handle has
// been sent: a queued call holds its handles (so they cannot be collected), and an
// explicit release waits until no unsent call names the handle (`unsent`).

import { checkUsable, markHandle, setDetached } from './references.js'

// The codec reads handles through references.js; these are this module's to the API.
export { checkUsable, describe, handleState } from './references.js'

// util.inspect.custom without importing node:util (its ESM face loads more of Node at start-up).
const INSPECT = Symbol.for('nodejs.util.inspect.custom')

// A handle collected unreleased: release its id. Holds { table, id }, never the handle.
const registry = new FinalizationRegistry(({ table, id }) => table.collected(id))

// What the Proxy answers itself; any other string property (but `then`) is a method call.
const OWN = new Set([
  'type', 'repr', 'id', 'pid', 'released', 'get', 'call', 'callMethod', 'value', 'release', 'toString',
  // Not remote methods either: JSON.stringify and constructor checks must not call Python.
  'toJSON', 'constructor',
])
const OWN_SYMBOLS = new Set([Symbol.dispose, Symbol.asyncDispose, Symbol.toPrimitive, INSPECT])

let stateOf // PyHandle -> its internal state; set in the class's static block
const MAKE = Symbol('make a PyHandle')

// One object in a worker's handle table. Made only by the client, when a HANDLE arrives.
export class PyHandle {
  #state

  constructor(state, token) {
    if (token !== MAKE) throw new TypeError('PyHandles are made by pyferry, when a worker sends one')
    this.#state = state
  }

  static {
    stateOf = (handle) => handle.#state
  }

  /** Qualified Python type name, e.g. `collections.Counter`. */
  get type() {
    return this.#state.type
  }

  /** `repr()` of the object when it crossed (at most 1000 characters). */
  get repr() {
    return this.#state.repr
  }

  /** The id in its worker's handle table. */
  get id() {
    return this.#state.id
  }

  /** The pid of the worker that holds the object. */
  get pid() {
    return this.#state.table.pid
  }

  get released() {
    return this.#state.released
  }

  // Read attribute `name` (dotted names walk further: 'shape.ndim'); resolves with its value.
  get(name, ...rest) {
    return this.#invoke(names(name, 'get'), rest, { op: 'get' })
  }

  // Call the object itself.
  call(...args) {
    return this.#invoke([], args, {})
  }

  // Call its method `name`.
  callMethod(name, ...args) {
    return this.#invoke(names(name, 'callMethod'), args, {})
  }

  // The object itself by value (fails with SerializationError if it cannot cross).
  value(...rest) {
    return this.#invoke([], rest, { op: 'get', result: 'value' })
  }

  // Drop the object in Python (batched, see above). Idempotent; using the handle later
  // rejects with HandleReleasedError.
  release() {
    const state = this.#state
    if (state.released) return
    state.released = true
    registry.unregister(this)
    state.table.release(state)
  }

  [Symbol.dispose]() {
    this.release()
  }

  async [Symbol.asyncDispose]() {
    this.release()
  }

  toString() {
    const { type, repr, released } = this.#state
    return `<PyHandle ${type}${released ? ' (released)' : ''}: ${repr}>`
  }

  toJSON() {
    const { id, type, repr } = this.#state
    return { pyHandle: id, type, repr }
  }

  [Symbol.toPrimitive]() {
    return this.toString()
  }

  [INSPECT]() {
    return this.toString()
  }

  #invoke(path, args, options) {
    const state = this.#state
    try {
      checkUsable(state)
    } catch (error) {
      return Promise.reject(error)
    }
    return state.table.client.invoke([state.proxy, ...path], args, options)
  }
}

function names(name, method) {
  if (typeof name !== 'string' || name === '' || name.split('.').some((part) => part === '')) {
    throw new TypeError(`${method}() takes an attribute name such as 'shape' or 'shape.ndim'`)
  }
  return name.split('.')
}

// The Proxy around a PyHandle: own API as is (methods bound, so private fields work),
// `then` undefined (not thenable), any other string property a method of the object.
const traps = {
  get(target, prop) {
    if (typeof prop === 'symbol') return OWN_SYMBOLS.has(prop) ? member(target, prop) : undefined
    if (prop === 'then') return undefined
    if (OWN.has(prop)) return member(target, prop)
    const functions = stateOf(target).functions
    let method = functions.get(prop)
    if (method === undefined) {
      method = (...args) => target.callMethod(prop, ...args)
      functions.set(prop, method)
    }
    return method
  },
  has(target, prop) {
    return OWN.has(prop) || OWN_SYMBOLS.has(prop)
  },
  set(target, prop) {
    throw new TypeError(`cannot set ${String(prop)} on a PyHandle: the object lives in Python (call one of its methods instead)`)
  },
  defineProperty(target, prop) {
    throw new TypeError(`cannot define ${String(prop)} on a PyHandle`)
  },
  deleteProperty(target, prop) {
    throw new TypeError(`cannot delete ${String(prop)} of a PyHandle`)
  },
}

function member(target, prop) {
  const value = Reflect.get(target, prop, target)
  if (typeof value !== 'function' || prop === 'constructor') return value
  const functions = stateOf(target).functions
  const key = `own:${String(prop)}`
  let bound = functions.get(key)
  if (bound === undefined) {
    bound = value.bind(target)
    functions.set(key, bound)
  }
  return bound
}

// The handles this client holds in one worker's table.
export class HandleTable {
  #send
  #onEmpty
  #live = new Set() // ids handed out and not released
  #batch = [] // ids for the next RELEASE
  #scheduled = false
  invalid = false

  // client: what handles call through ({ invoke(target, args, options) }); owner: the
  // worker; send(ids) writes a RELEASE; onEmpty() runs when the last live handle is released.
  constructor({ pid, client, owner = null, send, onEmpty }) {
    this.pid = pid
    this.client = client
    this.owner = owner
    this.#send = send
    this.#onEmpty = onEmpty
  }

  // A table no worker stands behind: handles decoded outside any worker (tests) are unusable.
  static detached() {
    const table = new HandleTable({ pid: undefined, client: null, send: () => {} })
    table.invalid = true
    return table
  }

  // Live handles: made and not yet released or collected.
  get size() {
    return this.#live.size
  }

  // A HANDLE arrived: make the PyHandle and the Proxy users hold.
  adopt(id, type, repr) {
    const state = { table: this, id, type, repr, released: false, unsent: 0, releaseWhenSent: false, functions: new Map(), proxy: null }
    const handle = new PyHandle(state, MAKE)
    const proxy = new Proxy(handle, traps)
    state.proxy = proxy
    markHandle(handle, state) // handleState() knows both
    markHandle(proxy, state)
    if (!this.invalid) {
      this.#live.add(id)
      registry.register(handle, { table: this, id }, handle)
    }
    return proxy
  }

  // A call that names the handle was encoded: its RELEASE waits until that call is sent or dropped.
  hold(state) {
    state.unsent++
  }

  unhold(state) {
    if (--state.unsent === 0 && state.releaseWhenSent) this.#queue(state.id)
  }

  // Released by the user.
  release(state) {
    if (!this.#live.delete(state.id)) return
    if (state.unsent > 0) state.releaseWhenSent = true
    else this.#queue(state.id)
    if (this.#live.size === 0) this.#onEmpty?.()
  }

  // Garbage-collected unreleased (no queued call can hold it: a call holds its handles).
  collected(id) {
    if (!this.#live.delete(id)) return
    this.#queue(id)
    if (this.#live.size === 0) this.#onEmpty?.()
  }

  // The worker exited: every handle of it is invalid, nothing more is sent.
  invalidate() {
    this.invalid = true
    this.#live.clear()
    this.#batch = []
  }

  #queue(id) {
    if (this.invalid) return
    this.#batch.push(id)
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      const ids = this.#batch
      this.#batch = []
      if (!this.invalid && ids.length) this.#send(ids)
    })
  }
}

// A HANDLE decoded outside any worker (tests) is a PyHandle of no worker, which is unusable.
let detachedTable = null
setDetached((id, type, repr) => (detachedTable ??= HandleTable.detached()).adopt(id, type, repr))
