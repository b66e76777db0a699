// What differs per OS (platform.js), as pure functions of the platform: the environment
// merge, the memory-limit refusal, crash hints for Windows exit codes; then, with real
// workers, the `python` option as an argv array, Python's own pid behind a launcher
// process, and a worker that cannot set its memory limit.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Python, WorkerCrashedError, WorkerStartError, opts } from '../src/index.js'
import { diagnose, format } from '../src/doctor.js'
import { init } from '../src/init.js'
import { childProcesses, needsProc } from './helpers.js'
import { checkOptions } from '../src/options.js'
import { startFailure } from '../src/runtime.js'
import { envValue, likelyCause, memoryLimitProblem, mergeEnv } from '../src/platform.js'

const PYTHON = process.env.PYFERRY_PYTHON ?? 'python3'
// An interpreter that runs its arguments as python would, with `resource` unimportable: a
// Python without RLIMIT_AS, on Linux.
const NO_RESOURCE = [PYTHON, '-c', [
  'import runpy, sys',
  "sys.modules['resource'] = None",
  'a = sys.argv[1:]',
  "if a[0] == '-m': sys.argv = [a[1], *a[2:]]; runpy.run_module(a[1], run_name='__main__', alter_sys=True)",
  "else: sys.argv = a; runpy.run_path(a[0], run_name='__main__')",
].join('\n')]

describe('mergeEnv', () => {
  const base = { Path: 'C:\\Windows', SystemRoot: 'C:\\Windows', HOME: 'x' }

  test('win32: a name given in another case replaces the inherited one', () => {
    assert.deepEqual(mergeEnv(base, { PATH: 'C:\\py;C:\\Windows' }, 'win32'),
      { SystemRoot: 'C:\\Windows', HOME: 'x', PATH: 'C:\\py;C:\\Windows' })
    assert.deepEqual(mergeEnv(base, { systemroot: undefined }, 'win32'), { Path: 'C:\\Windows', HOME: 'x', systemroot: undefined })
  })

  test('elsewhere names keep their case; no extra: a copy of the base', () => {
    assert.deepEqual(mergeEnv(base, { PATH: '/usr/bin' }, 'linux'), { ...base, PATH: '/usr/bin' })
    const copy = mergeEnv(base, undefined, 'win32')
    assert.deepEqual(copy, base)
    assert.notEqual(copy, base)
  })

  test('envValue looks a name up in any case on win32 only', () => {
    assert.equal(envValue(base, 'PATH', 'win32'), 'C:\\Windows')
    assert.equal(envValue(base, 'PATH', 'linux'), undefined)
    assert.equal(envValue({ PATH: 'a', Path: 'b' }, 'PATH', 'win32'), 'a')
  })
})

describe('maxMemoryBytes per platform', () => {
  test('macOS: a TypeError before any spawn, saying what to do instead', () => {
    assert.match(memoryLimitProblem('darwin'), /not supported on macOS/)
    assert.throws(() => checkOptions({ maxMemoryBytes: 2 ** 30 }, 'darwin'), (error) => {
      assert.ok(error instanceof TypeError)
      assert.match(error.message, /^options\.maxMemoryBytes is not supported on macOS/)
      assert.match(error.message, /maxCallsPerWorker/)
      return true
    })
    assert.equal(checkOptions({}, 'darwin').maxMemoryBytes, undefined)
  })

  test('Linux and Windows take it; a value out of range is still a RangeError first', () => {
    for (const platform of ['linux', 'win32', 'freebsd']) {
      assert.equal(memoryLimitProblem(platform), null)
      assert.equal(checkOptions({ maxMemoryBytes: 2 ** 30 }, platform).maxMemoryBytes, 2 ** 30)
    }
    assert.throws(() => checkOptions({ maxMemoryBytes: 1 }, 'darwin'), RangeError)
  })

  test('a worker that cannot set the limit fails its start with an error naming the option', async (t) => {
    const py = new Python({ python: NO_RESOURCE, maxMemoryBytes: 2 ** 30, workers: 1 })
    t.after(() => py.destroy())
    py.on('stderr', () => {}) // the error carries it
    const error = await py.call('operator.add', 1, 2).then(() => assert.fail('the call ran'), (e) => e)
    assert.ok(error instanceof WorkerStartError, error.stack)
    assert.match(error.message, /exited during start-up \(code 6\): options\.maxMemoryBytes cannot be applied on this system/)
    assert.match(error.message, /--max-memory-bytes is not supported on linux: this Python has no resource\.RLIMIT_AS/)
    assert.match(error.message, /1\. leave out maxMemoryBytes here/)
    assert.doesNotMatch(error.message, /pip install/)
  })
})

describe('likelyCause', () => {
  const win = (code) => likelyCause(null, code, 'win32')

  test('Windows crash codes, given unsigned or as a negative int32', () => {
    const cases = [
      [0xC0000005, /0xC0000005: an access violation in native code/],
      [0xC00000FD, /0xC00000FD: a stack overflow/],
      [0xC0000409, /0xC0000409: a fail-fast abort in native code/],
      [0xC0000374, /0xC0000374: heap corruption/],
      [0xC0000017, /0xC0000017: out of memory/],
      [0xC000001D, /0xC000001D: an illegal instruction/],
      [0xC0000135, /0xC0000135: a DLL .* not found/],
      [0xC000013A, /0xC000013A: the console was closed or got Ctrl-C/],
    ]
    for (const [code, expected] of cases) {
      assert.match(win(code), expected)
      assert.equal(win(code | 0), win(code), `${code} as int32`)
      assert.ok(code | 0, 'a negative int32') // the cases are NTSTATUS errors
    }
  })

  test('Windows: 1 is a kill from outside (TerminateProcess) or an error, 3 an abort, others nothing', () => {
    assert.match(win(1), /killed from outside — TerminateProcess, taskkill \/F, Task Manager/)
    assert.match(win(3), /abort\(\) exits with 3 on Windows/)
    assert.equal(win(0), '')
    assert.equal(win(2), '')
    assert.equal(win(null), '')
  })

  test('POSIX: signals as before; exit codes carry no Windows meaning there', () => {
    assert.match(likelyCause('SIGKILL', null, 'linux'), /out of memory, or killed from outside/)
    assert.match(likelyCause('SIGSEGV', null, 'darwin'), /a crash in native code/)
    assert.match(likelyCause('SIGABRT', null, 'linux'), /an abort in native code/)
    assert.equal(likelyCause(null, 0xC0000005, 'linux'), '')
    assert.equal(likelyCause(null, 1, 'darwin'), '')
  })

  test('a start failure carries the hint too (a DLL missing at start-up)', () => {
    const interpreter = { command: 'C:\\v\\Scripts\\python.exe', args: [], source: 'test', tried: [] }
    const text = startFailure({ kind: 'exit', interpreter, code: 0xC0000135, cause: likelyCause(null, 0xC0000135, 'win32') })
    assert.match(text, /^the Python worker exited during start-up \(code 3221225781\) \(0xC0000135: a DLL a native module needs was not found/)
  })

  test('a WorkerCrashedError message carries the hint', () => {
    const error = new WorkerCrashedError({ pid: 7, exitCode: process.platform === 'win32' ? 0xC0000005 : null, signal: process.platform === 'win32' ? null : 'SIGSEGV', stderr: [] })
    assert.match(error.message, /Python worker 7 .* during the call \((0xC0000005: an access violation|a crash in native code)/)
  })
})

describe('the python option as an argv array', () => {
  test('empty, or holding a non-string, is a TypeError naming the option', () => {
    assert.throws(() => new Python({ python: [] }), { name: 'TypeError', message: /^options\.python is an empty array: give the interpreter first/ })
    assert.throws(() => new Python({ python: ['py', 3] }), { name: 'TypeError', message: /^options\.python\[1\] must be a non-empty string .* got number/ })
    assert.throws(() => new Python({ python: ['py', ''] }), { name: 'TypeError', message: /options\.python\[1\] .* got ""/ })
    assert.throws(() => new Python({ python: 42 }), { name: 'TypeError', message: /options\.python must be a non-empty string .* or an argv array/ })
    assert.throws(() => init({ python: ['py', 3], log: () => {} }), { name: 'TypeError', message: /^--python\[1\] must be a non-empty string/ })
    return assert.rejects(diagnose({ python: [] }), { name: 'TypeError', message: /^options\.python is an empty array/ })
  })

  test('its arguments go before -m pyferry in workers and in the doctor', async (t) => {
    const py = new Python({ python: [PYTHON, '-X', 'utf8'], workers: 1 })
    t.after(() => py.close())
    assert.equal(await py.get('sys.flags.utf8_mode'), 1)
    const found = await diagnose({ python: [PYTHON, '-X', 'utf8'] })
    assert.equal(found.ok, true, JSON.stringify(found.problems))
    assert.deepEqual(found.interpreter.args, ['-X', 'utf8'])
    if (process.platform === 'linux') assert.match(format(found), /^System: linux; maxMemoryBytes: RLIMIT_AS \(address space\)$/m)
  })

  test("behind a launcher process, stats() and errors give Python's own pid, from its HELLO", async (t) => {
    // A shell that runs Python as its child and waits (`; exit $?` keeps it from exec'ing),
    // as a venv's Scripts\python.exe redirector does on Windows.
    const launcher = ['/bin/sh', '-c', '"$0" "$@"; exit $?', PYTHON]
    const py = new Python({ python: launcher, workers: 1 })
    t.after(() => py.destroy())
    py.on('stderr', () => {}) // faulthandler's report of the abort
    const spawned = []
    py.on('spawn', ({ pid }) => spawned.push(pid))
    const pid = await py.call('os.getpid')
    assert.equal(py.info.pid, pid)
    assert.notEqual(spawned[0], pid, 'the spawned process is the shell, not Python')
    assert.deepEqual(py.stats().workers.map((w) => w.pid), [pid])
    const handle = await py.call('collections.OrderedDict', opts({ handle: true }))
    assert.equal(handle.pid, pid)
    const error = await py.call('os.abort').then(() => assert.fail('os.abort returned'), (e) => e)
    assert.ok(error instanceof WorkerCrashedError, error.stack)
    assert.equal(error.pid, pid)
    assert.match(error.message, new RegExp(`^Python worker ${pid} `))
  })
})

describe('the test helpers off Linux', () => {
  test('the ps(1) listing used where there is no /proc (macOS) finds what /proc finds', { skip: needsProc || (process.platform === 'win32' && 'no ps(1)') }, async (t) => {
    const py = new Python({ workers: 1 })
    t.after(() => py.close())
    const { pid } = await py.start()
    const worker = (list) => list.filter((c) => c.pid === pid).map((c) => [c.pid, c.cmdline.includes('pyferry worker')])
    assert.deepEqual(worker(childProcesses(process.pid, { via: 'ps' })), [[pid, true]])
    assert.deepEqual(worker(childProcesses(process.pid, { via: 'ps' })), worker(childProcesses(process.pid, { via: 'proc' })))
  })
})
