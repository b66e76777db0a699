// Calls: target names, keyword arguments, options, concurrency, and output printed during calls.

import assert from 'node:assert/strict'
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import {
  Complex, NDArray, PythonError, Python, SerializationError, TargetError, TargetForbiddenError, TargetNotFoundError, kw, opts,
} from '../src/index.js'
import { fixturesDir, waitFor } from './helpers.js'

const py = new Python({ path: [fixturesDir] })
after(() => py.close())

const close = (a, b, eps = 1e-9) => Math.abs(a - b) < eps

describe('targets', () => {
  test('dotted names reach into numpy', async () => {
    const spectrum = await py.call('numpy.fft.rfft', Float64Array.of(0, 1, 0, -1))
    assert.ok(spectrum instanceof NDArray)
    assert.deepEqual([spectrum.dtype, spectrum.shape], ['complex128', [3]])
    const values = spectrum.toArray()
    assert.ok(values.every((c) => c instanceof Complex))
    assert.ok(close(values[0].re, 0) && close(values[0].im, 0))
    assert.ok(close(values[1].re, 0) && close(values[1].im, -2))
    assert.ok(close(values[2].re, 0) && close(values[2].im, 0))
    assert.ok(close(await py.call('numpy.linalg.det', new NDArray(Float64Array.of(1, 2, 3, 4), [2, 2])), -2))
    assert.equal(await py.call('numpy.sum', Float64Array.of(1.5, 2.5, 3)), 7)
  })

  test('dotted names reach into the application package on `path`', async () => {
    const x = Float64Array.of(0, 1, 2, 3, 4)
    const y = x.map((v) => 2 * v + 1)
    const fit = await py.call('mypkg.stats.fit', x, y)
    assert.equal(fit.n, 5)
    assert.ok(close(fit.slope, 2), `slope ${fit.slope}`)
    assert.ok(close(fit.intercept, 1), `intercept ${fit.intercept}`)
  })

  test('builtins are called by their bare name', async () => {
    assert.equal(await py.call('sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]), 45)
    assert.equal(await py.call('len', 'héllo'), 5)
    assert.deepEqual(await py.call('divmod', 17, 5), [3, 2])
    assert.deepEqual(await py.call('sorted', [3, 1, 2], kw({ reverse: true })), [3, 2, 1])
  })

  test('kw() gives keyword arguments; a plain object is a positional dict', async () => {
    assert.deepEqual(await py.call('mypkg.stats.args_kwargs', { a: 1 }), { args: [{ a: 1 }], kwargs: {} })
    assert.deepEqual(await py.call('mypkg.stats.args_kwargs', 1, kw({ a: 1, b: [2] })), { args: [1], kwargs: { a: 1, b: [2] } })
    assert.deepEqual(await py.call('mypkg.stats.args_kwargs', kw({})), { args: [], kwargs: {} })
    assert.deepEqual(await py.call('mypkg.stats.args_kwargs', { x: 1 }, kw({ y: 2 })), { args: [{ x: 1 }], kwargs: { y: 2 } })
    const m = new NDArray(Float64Array.of(1, 2, 3, 4), [2, 2])
    assert.deepEqual([...(await py.call('numpy.sum', m, kw({ axis: 0 })))], [4, 6])
    assert.deepEqual([...(await py.call('numpy.sum', m, kw({ axis: 1 })))], [3, 7])
    await assert.rejects(py.call('mypkg.stats.fit', [1], kw({ nope: 1 })), (error) => {
      assert.ok(error instanceof PythonError)
      assert.match(error.message, /^TypeError: .*nope/)
      return true
    })
  })

  test('kw() and opts() close the arguments in either order; a second one is a positional value', async () => {
    const expected = { args: [1], kwargs: { a: 2 } }
    assert.deepEqual(await py.call('mypkg.stats.args_kwargs', 1, kw({ a: 2 }), opts({ timeout: 5000 })), expected)
    assert.deepEqual(await py.call('mypkg.stats.args_kwargs', 1, opts({ timeout: 5000 }), kw({ a: 2 })), expected)
    await assert.rejects(
      py.call('mypkg.stats.args_kwargs', kw({ a: 1 }), kw({ a: 2 })),
      { name: 'SerializationError', path: 'args[0]' },
    )
    await assert.rejects(
      py.call('mypkg.stats.args_kwargs', opts({}), opts({})),
      { name: 'SerializationError', path: 'args[0]' },
    )
  })

  test('kw() anywhere but last is a SerializationError', async () => {
    await assert.rejects(py.call('mypkg.stats.args_kwargs', kw({ a: 1 }), 2), (error) => {
      assert.ok(error instanceof SerializationError)
      assert.equal(error.path, 'args[0]')
      assert.match(error.message, /kw\(\)/)
      return true
    })
    await assert.rejects(py.call('mypkg.stats.args_kwargs', [kw({ a: 1 })]), { name: 'SerializationError', path: 'args[0][0]' })
    assert.throws(() => kw([1]), TypeError)
    assert.throws(() => kw(null), TypeError)
  })

  test('a private segment is refused before anything is imported or run', async () => {
    const pid = py.info?.pid ?? (await py.start()).pid
    for (const name of ['mypkg._hidden', 'os._exit', 'mypkg.stats.__class__', '_thread.exit', 'numpy.__version__.upper']) {
      await assert.rejects(py.call(name, 0), (error) => {
        assert.ok(error instanceof TargetForbiddenError, `${name}: ${error.stack}`)
        assert.ok(error instanceof TargetError)
        assert.equal(error.code, 'PYFERRY_TARGET_FORBIDDEN')
        assert.match(error.message, /private/)
        return true
      })
    }
    assert.equal(await py.call('os.getpid'), pid, 'the worker still serves, and is the same process')
  })

  test('an unknown module or attribute is a TargetNotFoundError', async () => {
    for (const [name, pattern] of [
      ['pyferry_no_such_module.f', /pyferry_no_such_module/],
      ['numpy.no_such_function', /no_such_function/],
      ['mypkg.stats.no_such_function', /no_such_function/],
      ['no_such_builtin_xyz', /no_such_builtin_xyz/],
    ]) {
      await assert.rejects(py.call(name), (error) => {
        assert.ok(error instanceof TargetNotFoundError, `${name}: ${error.stack}`)
        assert.equal(error.code, 'PYFERRY_TARGET_NOT_FOUND')
        assert.match(error.message, pattern)
        return true
      })
    }
  })

  test('an import failing inside an existing module is the module\'s own error', async () => {
    await assert.rejects(py.call('mypkg.needs_missing.f'), (error) => {
      assert.ok(error instanceof PythonError, error.stack)
      assert.equal(error.pythonType, 'builtins.ModuleNotFoundError')
      assert.match(error.message, /pyferry_test_definitely_not_installed/)
      return true
    })
  })

  test('a non-callable target is a TargetError', async () => {
    for (const name of ['mypkg.VERSION', 'math.pi']) {
      await assert.rejects(py.call(name), (error) => {
        assert.equal(error.constructor, TargetError, `${name}: ${error.stack}`)
        assert.equal(error.code, 'PYFERRY_TARGET')
        assert.match(error.message, /not callable/)
        return true
      })
    }
    await assert.rejects(py.call('numpy..sum'), (error) => error.constructor === TargetError && /invalid segment/.test(error.message))
  })

  test('a target that is not a non-empty string is a TypeError', async () => {
    await assert.rejects(py.call(''), TypeError)
    await assert.rejects(py.call(42), TypeError)
  })
})

describe('the private channel', () => {
  test('user code reading stdin gets end-of-file, not protocol bytes', async () => {
    assert.deepEqual([...(await py.call('probe.read_stdin'))], [])
    await assert.rejects(py.call('input'), (error) => error instanceof PythonError && error.pythonType === 'builtins.EOFError')
    assert.equal(await py.call('mypkg.stats.square', 6), 36)
  })

  test('processes started by user code inherit no protocol descriptor', async () => {
    assert.equal(await py.call('probe.child_sockets'), '[]')
  })
})

describe('options', () => {
  test('path, cwd and env reach the worker', async (t) => {
    const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'pyferry-cwd-')))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const client = new Python({ path: [fixturesDir], cwd: dir, env: { PYFERRY_TEST_VAR: 'from js ✓' } })
    t.after(() => client.close())
    assert.equal(await client.call('probe.cwd'), dir)
    assert.equal(await client.call('probe.getenv', 'PYFERRY_TEST_VAR'), 'from js ✓')
    assert.equal(await client.call('probe.getenv', 'PYFERRY_TEST_VAR_UNSET'), null)
    assert.deepEqual(await client.call('probe.sys_path_head', 1), [path.resolve(fixturesDir)])
    // And the shared client, started without them, sees none of it.
    assert.equal(await py.call('probe.getenv', 'PYFERRY_TEST_VAR'), null)
    assert.notEqual(await py.call('probe.cwd'), dir)
  })

  test('bad options are refused on entry, naming the option', () => {
    assert.throws(() => new Python({ python: '' }), { name: 'TypeError', message: /options\.python/ })
    assert.throws(() => new Python({ path: [''] }), { name: 'TypeError', message: /options\.path/ })
    assert.throws(() => new Python({ path: [1] }), { name: 'TypeError', message: /options\.path/ })
    assert.throws(() => new Python({ cwd: 1 }), { name: 'TypeError', message: /options\.cwd/ })
    assert.throws(() => new Python({ env: null }), { name: 'TypeError', message: /options\.env/ })
    assert.throws(() => new Python({ maxMessageBytes: 10 }), { name: 'RangeError', message: /options\.maxMessageBytes/ })
    assert.throws(() => new Python(null), TypeError)
  })
})

describe('concurrency', () => {
  test('1,000 concurrent calls each resolve to their own value', async () => {
    const calls = Array.from({ length: 1000 }, (_, i) =>
      i % 3 === 0
        ? py.call('mypkg.stats.square', i)
        : i % 3 === 1
          ? py.call('mypkg.stats.echo', { i, s: `v${i}` })
          : py.call('mypkg.stats.echo', Float64Array.of(i, -i)),
    )
    const results = await Promise.all(calls)
    results.forEach((result, i) => {
      if (i % 3 === 0) assert.equal(result, i * i)
      else if (i % 3 === 1) assert.deepEqual(result, { i, s: `v${i}` })
      else assert.deepEqual([...result], [i, -i])
    })
  })

  test('a SerializationError in one call leaves the worker serving the next', async () => {
    const pid = (await py.call('os.getpid'))
    const batch = Array.from({ length: 50 }, (_, i) =>
      i === 10
        ? py.call('mypkg.stats.echo', '\ud800')
        : i === 20
          ? py.call('probe.big_int', 70)
          : py.call('mypkg.stats.square', i),
    )
    const settled = await Promise.allSettled(batch)
    settled.forEach((s, i) => {
      if (i === 10 || i === 20) {
        assert.equal(s.status, 'rejected')
        assert.ok(s.reason instanceof SerializationError)
        assert.equal(s.reason.path, i === 10 ? 'args[0]' : 'result')
      } else {
        assert.deepEqual(s, { status: 'fulfilled', value: i * i })
      }
    })
    assert.equal(await py.call('mypkg.stats.square', 12), 144)
    assert.equal(await py.call('os.getpid'), pid)
  })
})

describe('output', () => {
  // One client whose every output line is recorded with its metadata.
  const noisy = new Python({ path: [fixturesDir] })
  after(() => noisy.close())
  const out = []
  const err = []
  noisy.on('stdout', (line, meta) => out.push({ line, meta }))
  noisy.on('stderr', (line, meta) => err.push({ line, meta }))
  const linesMatching = (list, re) => list.filter((e) => re.test(e.line))
  const waitForLines = (list, re, count, what) =>
    waitFor(() => linesMatching(list, re).length >= count, { what: `${count} ${what} lines` })

  test('a print() flood of 100k lines arrives as stdout line events, frames intact', async () => {
    const n = 100_000
    const result = await noisy.call('noisy.flood', n)
    assert.ok(result instanceof Float64Array)
    assert.equal(result.length, n)
    assert.ok(result.every((v, i) => v === i))
    const pid = noisy.info.pid
    await waitForLines(out, /^line \d+ /, n, 'flood')
    const flood = linesMatching(out, /^line \d+ /)
    assert.equal(flood.length, n)
    for (let i = 0; i < n; i++) {
      if (flood[i].line !== `line ${i} é€😀`) assert.fail(`line ${i} is ${JSON.stringify(flood[i].line)}`)
      if (flood[i].meta?.pid !== pid) assert.fail(`line ${i} has meta ${JSON.stringify(flood[i].meta)}`)
    }
  })

  test('printed bytes that look like a frame stay output', async () => {
    assert.equal(await noisy.call('noisy.fake_frame'), 'done')
    await waitForLines(out, /^PF/, 2, 'fake frame')
    assert.equal(await noisy.call('mypkg.stats.square', 7), 49)
  })

  test('os.write(1, ...) below Python arrives as stdout lines', async () => {
    assert.equal(await noisy.call('noisy.os_write', ['raw one', 'raw two']), 2)
    await waitForLines(out, /^raw (one|two)$/, 2, 'os.write')
    assert.deepEqual(linesMatching(out, /^raw (one|two)$/).map((e) => e.line), ['raw one', 'raw two'])
  })

  test('printf from C code arrives as a stdout line', async () => {
    assert.equal(await noisy.call('noisy.c_printf', 'hello from C 42'), 'printed')
    await waitForLines(out, /^hello from C 42$/, 1, 'printf')
    assert.equal(linesMatching(out, /^hello from C 42$/)[0].meta.pid, noisy.info.pid)
  })

  test('stderr lines arrive as stderr events with the pid', async () => {
    assert.equal(await noisy.call('noisy.to_stderr', ['warn one', 'warn two']), 2)
    await waitForLines(err, /^(warn one|warn two|raw stderr line)$/, 3, 'stderr')
    const got = linesMatching(err, /^(warn one|warn two|raw stderr line)$/)
    assert.deepEqual(got.map((e) => e.line), ['warn one', 'warn two', 'raw stderr line'])
    assert.ok(got.every((e) => e.meta.pid === noisy.info.pid))
    assert.equal(linesMatching(out, /^warn /).length, 0, 'stderr lines are not stdout lines')
  })

  test('a line longer than 64 KiB arrives with nothing lost', async () => {
    const before = out.length
    assert.equal(await noisy.call('noisy.long_line', 200_000), 200_000)
    await waitFor(() => out.slice(before).map((e) => e.line).join('').length >= 200_000, { what: 'the long line' })
    const pieces = out.slice(before).map((e) => e.line)
    assert.equal(pieces.join(''), 'x'.repeat(200_000))
  })

  test('output interleaved with array results corrupts neither', async () => {
    const n = 300
    const arrays = await noisy.call('noisy.interleaved', n)
    assert.equal(arrays.length, n)
    arrays.forEach((a, i) => {
      assert.ok(a instanceof Int32Array)
      assert.equal(a.length, 1000)
      assert.ok(a.every((v) => v === i))
    })
    await waitForLines(out, /^(chunk|fd) \d+$/, 2 * n, 'interleaved')
    const chunks = linesMatching(out, /^chunk \d+$/).map((e) => e.line)
    assert.deepEqual(chunks, Array.from({ length: n }, (_, i) => `chunk ${i}`))
  })
})
