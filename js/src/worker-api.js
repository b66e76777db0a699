// What the pool (pool.js) relies on of a worker: the members and events below, which
// worker.js implements over a Python process and test/pool-scheduling.test.js over a
// fake in-process one. Comments only: nothing here runs, and nothing imports it.
//
// The calls it is handed are Calls (call.js); a Call marks itself sent before it calls
// send(), so the worker's own bookkeeping reads `call.id`, `call.chunks`, `call.ahead`,
// `call.detached`, `call.callbacks` and `call.stream`, and writes none of them.
//
/**
 * @typedef {object} PoolWorker
 *
 * @property {number | undefined} pid  process id (undefined if the spawn failed)
 * @property {'starting' | 'ready' | 'closing' | 'exited'} state
 * @property {object | null} info  its HELLO, null until the handshake is done
 * @property {boolean} usable  new calls may be sent: not failed, closing or gone
 * @property {boolean} busy  a call holds its main thread: sent, neither answered nor DETACHED
 * @property {number} ahead  calls sent ahead while it was busy, neither answered nor DETACHED
 * @property {number} pending  calls sent and not answered (DETACHED ones included)
 * @property {number} calls  answers received: what maxCallsPerWorker counts
 * @property {number} frames  frames received (for stats())
 * @property {{ size: number }} handles  its HandleTable: `size` live handles pin it (no recycling)
 * @property {Promise<WorkerExit>} exited  settles once the process is gone
 *
 * @property {() => import('./call.js').Call[]} jobs  the calls sent and not yet answered, oldest first
 * @property {(call: import('./call.js').Call, ahead?: boolean) => void} send
 *   write the call; its answer comes as 'reply' (or 'withdrawn' if sent ahead)
 * @property {(call: import('./call.js').Call) => boolean} unsend  take back a call sent in this
 *   turn of the event loop, before it left: true if it never reaches Python
 * @property {(call: import('./call.js').Call) => void} withdraw  ask for a call sent ahead back
 * @property {(call: import('./call.js').Call) => void} cancel  ask Python to interrupt a call
 * @property {(call: import('./call.js').Call, n: number) => void} credit  let a stream send n more items
 * @property {(call: import('./call.js').Call) => void} closeStream  ask a stream to stop
 * @property {() => Promise<WorkerExit>} close  end the request channel; exits once its calls are done
 * @property {() => Promise<WorkerExit>} kill  kill it now; its calls fail as crashed
 *
 * Events (EventEmitter):
 * - 'ready' (info): the handshake is done.
 * - 'reply' (call, error, value): the call is answered (it is no longer in jobs()).
 * - 'free': a call was DETACHED, so the worker may be free.
 * - 'withdrawn' (call): a call sent ahead never started (it is no longer in jobs()).
 * - 'unpinned': its last live handle was released.
 * - 'exit' (WorkerExit): the process is gone; emitted once, before `exited` settles.
 * - 'stdout' (line), 'stderr' (line): what Python printed.
 */

/**
 * @typedef {object} WorkerExit
 * @property {number | undefined} pid
 * @property {number | null} code
 * @property {string | null} signal
 * @property {boolean} started  the handshake was done
 * @property {boolean} closed  close() was called
 * @property {() => Error} failure  makes the error for `jobs` (a fresh one per call)
 * @property {import('./call.js').Call[]} jobs  the calls it still held, oldest first
 */
