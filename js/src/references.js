// Values that cross as references, not as data, as the codec sees them: PyHandles
// (extension type 3) and module proxies (which name a Python object and cannot cross).
//
// The API modules that make them (handle.js, proxy.js) mark each one here as they make
// it, and handle.js says how a HANDLE decoded outside any worker becomes a PyHandle; the
// codec looks them up here. So the codec knows them without importing the API: imports
// point down, API -> codec -> protocol.

import { HandleInvalidatedError, HandleReleasedError } from './errors.js'

const handles = new WeakMap() // a PyHandle, or the Proxy users hold of it -> its state
const modules = new WeakSet() // module proxies
let detached = null // (id, type, repr) => a PyHandle of no worker; see setDetached

// Mark `value` (a PyHandle or its Proxy) as the handle whose state is `state`.
export function markHandle(value, state) {
  handles.set(value, state)
}

// The state of a handle (a Proxy or the PyHandle itself), or undefined for any other value.
export function handleState(value) {
  return handles.get(value)
}

// Mark `value` as a module proxy.
export function markModule(value) {
  modules.add(value)
}

// Whether `value` is a module proxy (which names an object but cannot cross as one).
export function isModuleProxy(value) {
  return modules.has(value)
}

// How a HANDLE read without a worker's decode context becomes a (unusable) PyHandle.
export function setDetached(adopt) {
  detached = adopt
}

// A PyHandle of no worker for a HANDLE decoded outside any; handle.js, which makes every
// PyHandle, has set how (no handle can exist before it is loaded).
export function detachedHandle(id, type, repr) {
  if (detached === null) throw new HandleInvalidatedError(`handle ${id} (${type}) was decoded outside any worker`)
  return detached(id, type, repr)
}

// Whether a handle may be named in a message now; throws the error saying why not.
export function checkUsable(state) {
  if (state.released) {
    throw new HandleReleasedError(`${describe(state)} was released; it cannot be used any more`)
  }
  if (state.table.invalid) {
    const why = state.table.pid === undefined ? 'it was not received from a worker' : 'its worker exited'
    throw new HandleInvalidatedError(`${describe(state)} is gone: ${why}`)
  }
}

// How errors name a handle: its id, type and worker.
export function describe(state) {
  return `the handle ${state.id} (${state.type}) of worker ${state.table.pid ?? '(none)'}`
}
