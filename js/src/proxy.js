// `py.import('numpy')`: a module proxy. Reading a property extends the dotted path
// (`np.fft.rfft`), calling it calls that path (`py.call('numpy.fft.rfft', ...args)`).
// Nothing is sent until a call: the proxy knows a name, not whether it exists.
//
// It is a Proxy around a function (so it can be called), never thenable (`then` is
// undefined, so `await np` gives the proxy back; `toJSON` is undefined too), and its symbols are undefined except
// `util.inspect.custom` and `Symbol.toPrimitive`, which, like `toString`, give
// `<PyModule numpy.fft>`.

import { markModule } from './references.js'

// util.inspect.custom without importing node:util (its ESM face loads more of Node at start-up).
const INSPECT = Symbol.for('nodejs.util.inspect.custom')

const DOTTED = /^[^.]+(\.[^.]+)*$/

// A proxy for the dotted `path`; calls go through `client.call(path, ...args)`.
export function moduleProxy(client, path) {
  if (typeof path !== 'string' || !DOTTED.test(path)) {
    const got = typeof path === 'string' ? `'${path}'` : path === null ? 'null' : `a ${typeof path}`
    throw new TypeError(`a module name is a non-empty dotted name such as 'numpy' or 'scipy.optimize', not ${got}`)
  }
  const label = `<PyModule ${path}>`
  const describe = () => label
  // util.inspect formats a Proxy's target without its traps: the target names itself.
  const target = function PyModule() {}
  Object.defineProperty(target, INSPECT, { value: describe })
  const proxy = new Proxy(target, {
    get(_, prop) {
      if (typeof prop === 'symbol') return prop === INSPECT || prop === Symbol.toPrimitive ? describe : undefined
      // Not thenable; and JSON.stringify must not call Python (`toJSON`) either.
      if (prop === 'then' || prop === 'toJSON') return undefined
      if (prop === 'toString') return describe
      return moduleProxy(client, `${path}.${prop}`)
    },
    apply(_, thisArg, args) {
      return client.call(path, ...args)
    },
    construct() {
      throw new TypeError(`${label} is called without new: calling a Python class makes an instance`)
    },
    set(_, prop) {
      throw new TypeError(`cannot set ${String(prop)} on ${label}: it names a Python object, it does not hold one`)
    },
    defineProperty(_, prop) {
      throw new TypeError(`cannot define ${String(prop)} on ${label}`)
    },
    deleteProperty(_, prop) {
      throw new TypeError(`cannot delete ${String(prop)} of ${label}`)
    },
  })
  markModule(proxy)
  return proxy
}
