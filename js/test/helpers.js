// Shared helpers for the node:test suite: fixture paths, polling, process checks, child Node scripts.

import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Python as PythonClass } from '../src/index.js'

export const fixturesDir = fileURLToPath(new URL('./fixtures/', import.meta.url))
export const indexUrl = new URL('../src/index.js', import.meta.url).href

// Skip reasons (node:test's `skip` option) for tests that need what only some systems have;
// false where the test can run. Their assertions stay as they are where they run.
// /proc: Linux only (no macOS, no Windows).
export const needsProc = existsSync('/proc/self/stat') ? false : 'reads /proc, which only Linux has'
// A kill from outside seen as a signal, SIGSEGV, process groups: POSIX only. On Windows a kill
// from outside is exit code 1 (TerminateProcess) and a crash an NTSTATUS code (platform.js).
export const needsSignals = process.platform === 'win32'
  ? 'Windows has no signals: an outside kill is exit code 1, a crash an NTSTATUS exit code'
  : false
// Set when the worker's cancel kick cannot end a wait in a system call (a sleep, a lock):
// PYFERRY_INTERRUPT=simulate or sigint (docs/protocol.md section 3.3). Tests that need a
// sleep interrupted are skipped with this reason rather than weakened.
export const cannotInterruptSleep = ['simulate', 'sigint'].includes(process.env.PYFERRY_INTERRUPT)
  ? `PYFERRY_INTERRUPT=${process.env.PYFERRY_INTERRUPT} reaches only Python code, not a sleep (killGrace bounds such a call)`
  : false

// Poll `check` (sync or async) every few ms until it returns a truthy value; fail at the deadline.
export async function waitFor(check, { timeout = 10_000, interval = 5, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

// The one-letter state of a process from /proc/<pid>/stat, or null if there is no such process.
function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0]
  } catch {
    return null
  }
}

// True when `pid` no longer runs: kill(pid, 0) fails with ESRCH, or it is a zombie.
export function processGone(pid) {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if (error.code === 'ESRCH') return true
    throw error
  }
  if (needsProc) return false // kill(pid, 0) found it; without /proc a zombie cannot be told apart
  const state = procState(pid)
  return state === null || state === 'Z' || state === 'X'
}

// Wait until `pid` has exited (or is a zombie), with a deadline.
export function waitGone(pid, timeout = 10_000) {
  return waitFor(() => processGone(pid), { timeout, what: `process ${pid} to exit` })
}

// Listing child processes: /proc on Linux, ps(1) on other POSIX systems; none on Windows,
// where the tests that count worker processes are skipped (and a venv's python.exe would
// count twice there: the launcher and the real interpreter).
export const needsProcessList = process.platform === 'win32' ? 'lists child processes with /proc or ps(1), which Windows lacks' : false

// Live (non-zombie) child processes of `ppid`, with their command lines. `via`: 'proc' (the
// default where /proc exists) or 'ps'.
export function childProcesses(ppid = process.pid, { via = needsProc ? 'ps' : 'proc' } = {}) {
  if (via === 'ps') return psChildren(ppid)
  const out = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) !== ppid || fields[0] === 'Z') continue
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim()
      out.push({ pid: Number(name), cmdline })
    } catch {
      // the process went away while we looked
    }
  }
  return out
}

// childProcesses() from `ps -A -o pid=,ppid=,stat=,args=` (macOS, the BSDs).
function psChildren(ppid) {
  const out = []
  for (const line of execFileSync('ps', ['-A', '-o', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' }).split('\n')) {
    const match = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line)
    if (match && Number(match[2]) === ppid && !match[3].startsWith('Z')) out.push({ pid: Number(match[1]), cmdline: match[4].trim() })
  }
  return out
}

// Run an ES module script in a child Node process. Resolves with its exit and output;
// if it has not exited after `timeout` ms it is killed and `timedOut` is true.
export function runNode(source, { timeout = 15_000, env = {}, flags = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', source], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.setEncoding('utf8').on('data', (text) => { stdout += text })
    child.stderr.setEncoding('utf8').on('data', (text) => { stderr += text })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeout)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut, pid: child.pid })
    })
  })
}

// The 1-based line number in `file` of the first line containing `marker`.
export function lineOf(file, marker) {
  const lines = readFileSync(file, 'utf8').split('\n')
  const index = lines.findIndex((line) => line.includes(marker))
  if (index < 0) throw new Error(`marker ${marker} not found in ${file}`)
  return index + 1
}

// The rejection of `promise`, which must reject.
export async function rejection(promise) {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('expected the promise to reject')
}

// A Python client for one test, checked when the test ends: every call it made has
// settled, and after close() none of its worker processes is left (zombies count as gone).
export function pool(t, options = {}) {
  const py = new PythonClass({ path: [fixturesDir], ...options })
  const calls = new Set()
  const pids = new Set()
  py.on('spawn', ({ pid }) => pids.add(pid))
  const call = py.call.bind(py)
  py.call = (...args) => {
    const promise = call(...args)
    const entry = { args, settled: false }
    calls.add(entry)
    promise.then(() => { entry.settled = true }, () => { entry.settled = true })
    return promise
  }
  t.after(async () => {
    await py.close()
    // A settled promise's handlers run within a turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve))
    const pending = [...calls].filter((c) => !c.settled).map((c) => String(c.args[0]))
    assert.deepEqual(pending, [], 'calls left pending after close()')
    const left = [...pids].filter((pid) => !processGone(pid))
    assert.deepEqual(left, [], 'worker processes alive after close()')
  })
  return py
}

// A directory for gate files, removed when the test ends. `gate(name)` is the path of one
// gate; `open(name)` creates it, which lets a poolwork.gate call waiting on it return.
export function gates(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pyferry-gates-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return {
    gate: (name) => path.join(dir, name),
    open: (name) => writeFileSync(path.join(dir, name), ''),
  }
}

// Record every stdout line of `py` with the pid it came from.
export function stdoutOf(py) {
  const lines = []
  py.on('stdout', (line, { pid }) => lines.push({ line, pid }))
  return lines
}

// Wait until `count` distinct workers have printed `<word> <pid>` on stdout; return their pids.
export async function started(lines, word, count = 1) {
  const pattern = new RegExp(`^${word} (\\d+)$`)
  const pids = await waitFor(() => {
    const seen = [...new Set(lines.map(({ line }) => pattern.exec(line)?.[1]).filter(Boolean))]
    return seen.length >= count && seen.map(Number)
  }, { what: `${count} worker(s) to print "${word} <pid>"` })
  assert.equal(pids.length, count)
  return pids
}

// A Node process whose client (options: `path` is the fixtures, plus `options`) runs a call
// that blocks in Python: once it blocks, kill that Node with SIGKILL and wait for the worker
// to be gone (it must not outlive its parent).
export async function killNodeDuringCall(t, options = {}) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { Python } = await import(${JSON.stringify(indexUrl)})
    const py = new Python({ path: [${JSON.stringify(fixturesDir)}], ...${JSON.stringify(options)} })
    py.on('stdout', (line) => console.log(line))
    await py.call('failing.block', 60)
  `], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGKILL'))
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (text) => { output += text })
  const pid = Number(await waitFor(() => /blocking (\d+)/.exec(output)?.[1], { what: 'the worker to start blocking' }))
  if (processGone(pid)) throw new Error(`worker ${pid} was gone before Node was killed`)
  child.kill('SIGKILL')
  await waitGone(pid)
}
