// Errors: Python exceptions as PythonError (type, message, traceback, cause chain), and the error classes.

import assert from 'node:assert/strict'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  HandleError, HandleInvalidatedError, HandleReleasedError, PoolClosedError, ProtocolError, PyferryError, PythonError,
  Python, SerializationError, TargetError, TargetForbiddenError, TargetNotFoundError, VersionMismatchError,
  WorkerCrashedError, WorkerStartError,
} from '../src/index.js'
import { findPython } from '../src/find-python.js'
import { fixturesDir, lineOf, rejection } from './helpers.js'

const thisFile = fileURLToPath(import.meta.url)
const failingPy = path.join(fixturesDir, 'failing.py')

const py = new Python({ path: [fixturesDir] })
after(() => py.close())

describe('PythonError', () => {
  test('carries name, code, message, qualified type and traceback', async () => {
    const error = await rejection(py.call('failing.boom', 'it went wrong'))
    assert.ok(error instanceof PythonError)
    assert.ok(error instanceof PyferryError)
    assert.ok(error instanceof Error)
    assert.equal(error.name, 'PythonError')
    assert.equal(error.code, 'PYFERRY_PYTHON')
    assert.equal(error.message, 'ValueError: it went wrong')
    assert.equal(error.pythonType, 'builtins.ValueError')
    assert.equal(error.pythonMessage, 'it went wrong')
    const line = lineOf(failingPy, 'MARK:boom')
    assert.ok(
      error.pythonTraceback.includes(`File "${failingPy}", line ${line}, in boom`),
      `traceback should point at failing.py line ${line}:\n${error.pythonTraceback}`,
    )
    assert.match(error.pythonTraceback, /ValueError: it went wrong\s*$/)
    assert.doesNotMatch(error.pythonTraceback, /pyferry[/\\]worker\.py/, 'the worker\'s own frames are left out')
  })

  test('a non-builtin exception type is named with its module', async () => {
    const error = await rejection(py.call('failing.raise_custom'))
    assert.equal(error.pythonType, 'failing.CustomError')
    assert.equal(error.message, 'failing.CustomError: custom')
  })

  test('the JS stack shows the calling line, then the Python traceback', async () => {
    let error
    try {
      await py.call('failing.boom', 'stack') // CALL-SITE:stack
    } catch (caught) {
      error = caught
    }
    const line = lineOf(thisFile, 'CALL-SITE:' + 'stack')
    assert.ok(error.stack.includes(`errors.test.js:${line}:`), `stack should include errors.test.js:${line}:\n${error.stack}`)
    assert.ok(error.stack.startsWith('PythonError: ValueError: stack\n'), error.stack)
    assert.ok(error.stack.includes(`line ${lineOf(failingPy, 'MARK:boom')}, in boom`), error.stack)
  })

  test('an explicit `raise ... from ...` becomes error.cause with relation "cause"', async () => {
    const error = await rejection(py.call('failing.raise_with_cause'))
    assert.equal(error.message, 'RuntimeError: lookup failed')
    const cause = error.cause
    assert.ok(cause instanceof PythonError)
    assert.equal(cause.relation, 'cause')
    assert.equal(cause.pythonType, 'builtins.KeyError')
    assert.equal(cause.message, "KeyError: 'missing'")
    assert.match(cause.pythonTraceback, /failing\.py", line \d+, in raise_with_cause/)
    assert.equal(cause.cause, undefined)
  })

  test('an exception raised while handling another has it as cause with relation "context"', async () => {
    const error = await rejection(py.call('failing.raise_with_context'))
    assert.equal(error.message, 'ValueError: while handling')
    assert.ok(error.cause instanceof PythonError)
    assert.equal(error.cause.relation, 'context')
    assert.equal(error.cause.pythonType, 'builtins.ZeroDivisionError')
  })

  test('a three-level chain keeps its order and relations', async () => {
    const error = await rejection(py.call('failing.raise_three_deep'))
    const chain = []
    for (let e = error; e; e = e.cause) chain.push([e.pythonType, e.relation])
    assert.deepEqual(chain, [
      ['builtins.RuntimeError', undefined],
      ['builtins.KeyError', 'context'],
      ['builtins.ValueError', 'cause'],
    ])
  })

  test('`raise ... from None` has no cause', async () => {
    const error = await rejection(py.call('failing.raise_from_none'))
    assert.equal(error.message, 'ValueError: clean')
    assert.equal(error.cause, undefined)
  })

  test('an exception whose __str__ raises still crosses', async () => {
    const error = await rejection(py.call('failing.raise_bad_str'))
    assert.ok(error instanceof PythonError)
    assert.equal(error.pythonType, 'failing.BadStr')
    assert.ok(error.message.startsWith('failing.BadStr: '), error.message)
    assert.match(error.pythonTraceback, /raise_bad_str/)
    assert.equal(await py.call('mypkg.stats.square', 3), 9)
  })

  test('SystemExit and KeyboardInterrupt raised by user code are PythonErrors; the worker keeps serving', async () => {
    const pid = await py.call('os.getpid')
    const exit = await rejection(py.call('failing.exit_with', 3))
    assert.ok(exit instanceof PythonError)
    assert.equal(exit.pythonType, 'builtins.SystemExit')
    assert.equal(exit.message, 'SystemExit: 3')
    const interrupt = await rejection(py.call('failing.keyboard_interrupt'))
    assert.equal(interrupt.pythonType, 'builtins.KeyboardInterrupt')
    assert.equal(await py.call('os.getpid'), pid)
    assert.equal(await py.call('mypkg.stats.square', 4), 16)
  })
})

describe('error classes', () => {
  // [class, code, parent]: the contract in js/src/errors.js's header and index.d.ts.
  const classes = [
    [PyferryError, 'PYFERRY_ERROR', Error],
    [PythonError, 'PYFERRY_PYTHON', PyferryError],
    [TargetError, 'PYFERRY_TARGET', PyferryError],
    [TargetNotFoundError, 'PYFERRY_TARGET_NOT_FOUND', TargetError],
    [TargetForbiddenError, 'PYFERRY_TARGET_FORBIDDEN', TargetError],
    [SerializationError, 'PYFERRY_SERIALIZATION', PyferryError],
    [ProtocolError, 'PYFERRY_PROTOCOL', PyferryError],
    [VersionMismatchError, 'PYFERRY_VERSION_MISMATCH', ProtocolError],
    [WorkerStartError, 'PYFERRY_WORKER_START', PyferryError],
    [WorkerCrashedError, 'PYFERRY_WORKER_CRASHED', PyferryError],
    [PoolClosedError, 'PYFERRY_POOL_CLOSED', PyferryError],
    [HandleError, 'PYFERRY_HANDLE', PyferryError],
    [HandleReleasedError, 'PYFERRY_HANDLE_RELEASED', HandleError],
    [HandleInvalidatedError, 'PYFERRY_HANDLE_INVALIDATED', HandleError],
  ]

  for (const [Class, code, Parent] of classes) {
    test(`${Class.name}: name and code on the prototype, extends ${Parent.name}`, () => {
      assert.equal(Class.prototype.name, Class.name)
      assert.equal(Class.prototype.code, code)
      assert.ok(Class.prototype instanceof Parent || Class === PyferryError)
      assert.equal(Object.getPrototypeOf(Class.prototype), Parent.prototype)
      assert.ok(!Object.keys(Class.prototype).includes('code'), 'code is not enumerable')
    })
  }

  // Check a real error against the table.
  function checkReal(error, Class) {
    const [, code] = classes.find(([C]) => C === Class)
    assert.equal(error.constructor, Class, `expected ${Class.name}, got ${error?.stack ?? error}`)
    assert.ok(error instanceof PyferryError)
    assert.equal(error.code, code)
    assert.equal(error.name, Class.name)
    assert.ok(error.stack.startsWith(`${Class.name}: `), error.stack)
  }

  test('real errors from a worker have the right class and code', async () => {
    checkReal(await rejection(py.call('failing.boom', 'x')), PythonError)
    checkReal(await rejection(py.call('mypkg.VERSION')), TargetError)
    checkReal(await rejection(py.call('mypkg.nope')), TargetNotFoundError)
    checkReal(await rejection(py.call('mypkg._hidden')), TargetForbiddenError)
    checkReal(await rejection(py.call('probe.describe', 2n ** 64n)), SerializationError)
    checkReal(await rejection(py.call('probe.big_int', 80)), SerializationError)
  })

  test('PoolClosedError after close()', async (t) => {
    const client = new Python({ path: [fixturesDir] })
    t.after(() => client.close())
    await client.call('mypkg.stats.square', 2)
    await client.close()
    checkReal(await rejection(client.call('mypkg.stats.square', 2)), PoolClosedError)
  })

  test('WorkerCrashedError when the worker exits during a call', async (t) => {
    const client = new Python({ path: [fixturesDir] })
    t.after(() => client.close())
    client.on('stderr', () => {})
    const pid = (await client.start()).pid
    const error = await rejection(client.call('failing.hard_exit', 7))
    checkReal(error, WorkerCrashedError)
    assert.equal(error.pid, pid)
    assert.equal(error.exitCode, 7)
    assert.equal(error.signal, null)
    assert.match(error.message, /exited with code 7/)
    assert.ok(error.stderr.includes('about to hard-exit'), `stderr tail: ${JSON.stringify(error.stderr)}`)
  })

  test('WorkerStartError when the interpreter cannot import pyferry, with its stderr', async (t) => {
    const lines = []
    const client = new Python({ path: [fixturesDir], env: { PYTHONPATH: path.join(fixturesDir, 'broken_pyferry') } })
    t.after(() => client.close())
    client.on('stderr', (line) => lines.push(line))
    const error = await rejection(client.call('mypkg.stats.square', 2))
    checkReal(error, WorkerStartError)
    assert.match(error.message, /broken on purpose/)
    assert.match(error.message, /exited during start-up \(code 1\)/)
    assert.ok(error.message.includes(findPython().command), error.message)
    assert.ok(lines.some((line) => line.includes('broken on purpose')))
  })

  test('VersionMismatchError when the worker speaks another protocol version', async (t) => {
    const client = new Python({ path: [fixturesDir], env: { PYTHONPATH: path.join(fixturesDir, 'future_pyferry') } })
    t.after(() => client.close())
    const error = await rejection(client.call('mypkg.stats.square', 2))
    checkReal(error, VersionMismatchError)
    assert.ok(error instanceof ProtocolError)
    assert.match(error.message, /99/)
    assert.match(error.message, /\b1\b/)
  })
})
