// Debug output and diagnostics channels: what the workers and the calls did, for whoever listens.
//
// NODE_DEBUG=pyferry prints one line per event on stderr, through Node's own
// util.debuglog('pyferry'). The diagnostics_channel channels below carry the same
// events as objects, published only when a channel has subscribers (as undici
// does); the message shapes are documented in README.md ("Debugging"). With
// neither, a call pays one test of three booleans: nothing is timed or built.
//
//   pyferry:worker:spawn  { pid, python, args, source, cwd, env }
//   pyferry:worker:exit   { pid, code, signal, reason, error }
//   pyferry:call:start    { client, id, target, stream }
//   pyferry:call:end      { client, id, target, stream, pid, duration, outcome, error }

import diagnosticsChannel from 'node:diagnostics_channel'
import { debuglog } from 'node:util'

export const log = debuglog('pyferry')
// NODE_DEBUG is read once, when Node starts: a constant, so a disabled hook costs a branch.
export const DEBUG = log.enabled

const callStart = diagnosticsChannel.channel('pyferry:call:start')
const callEnd = diagnosticsChannel.channel('pyferry:call:end')
const workerSpawn = diagnosticsChannel.channel('pyferry:worker:spawn')
const workerExit = diagnosticsChannel.channel('pyferry:worker:exit')

// Whether a call made now is traced: timed, and its start and end published or logged.
export function tracing() {
  return DEBUG || callStart.hasSubscribers || callEnd.hasSubscribers
}

// A call goes to the pool; `client` is the Python that made it. Returns the trace callEnded() takes.
export function callStarted(client, call) {
  const trace = { client, id: call.id, target: call.target, stream: call.stream !== undefined, start: performance.now() }
  if (callStart.hasSubscribers) {
    callStart.publish({ client, id: trace.id, target: trace.target, stream: trace.stream })
  }
  return trace
}

// A traced call settled, on `worker` (null if it was never sent), with `error` or a result.
export function callEnded(trace, worker, error) {
  const duration = performance.now() - trace.start
  const pid = worker?.pid ?? null
  const outcome = error ? 'error' : 'result'
  if (callEnd.hasSubscribers) {
    const { client, id, target, stream } = trace
    callEnd.publish({ client, id, target, stream, pid, duration, outcome, error: error ?? undefined })
  }
  if (DEBUG) {
    const where = pid === null ? 'never sent' : `worker ${pid}`
    const what = error ? `error ${error.name}${error.code ? ` (${error.code})` : ''}` : 'result'
    log('call %d %s%s on %s: %s in %s ms', trace.id, trace.target, trace.stream ? ' (stream)' : '', where, what, duration.toFixed(3))
  }
}

// A worker process was spawned (`pid` undefined when the spawn itself failed).
export function workerSpawned({ pid, interpreter, args, cwd, env }) {
  if (workerSpawn.hasSubscribers) {
    workerSpawn.publish({ pid: pid ?? null, python: interpreter.command, args, source: interpreter.source, cwd: cwd ?? process.cwd(), env })
  }
  if (DEBUG) {
    const argv = [interpreter.command, ...args].map(quote).join(' ')
    const changed = Object.keys(env).filter((name) => env[name] !== process.env[name] && name !== 'PYTHONPATH')
    log('spawn worker %s: %s (python from %s; cwd %s; PYTHONPATH=%s%s)', pid ?? '(none)', argv, interpreter.source,
      cwd ?? process.cwd(), env.PYTHONPATH ?? '', changed.length ? `; env option sets ${changed.join(', ')}` : '')
  }
}

// Its HELLO arrived `ms` after the spawn.
export function workerReady(info, ms) {
  if (!DEBUG) return
  log('worker %d ready in %s ms: pyferry %s, protocol %d, %s %s, numpy %s', info.pid, ms.toFixed(1), info.pyferry,
    info.protocol, info.implementation, info.python, info.numpy ?? 'not installed')
}

// The process is gone. `reason`: 'closed' (close() or recycling asked it to end), 'killed'
// (destroy() or a cancel past killGrace), 'crashed' (it ended on its own after its handshake)
// or 'start-failed'; `failure()` makes the error its calls failed with, `lost` how many.
export function workerExited({ pid, code, signal, reason, failure, lost }) {
  const error = reason === 'crashed' || reason === 'start-failed'
  if (workerExit.hasSubscribers) {
    workerExit.publish({ pid: pid ?? null, code, signal, reason, error: error ? failure() : undefined })
  }
  if (DEBUG) {
    const how = signal ? `signal ${signal}` : `code ${code}`
    const first = error ? `: ${failure().message.split('\n')[0]}` : ''
    log('worker %s exited (%s): %s, %d call%s in flight%s', pid ?? '(none)', how, reason, lost, lost === 1 ? '' : 's', first)
  }
}

// An argument as a shell would need it written.
function quote(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`
}
