// The built entry (dist/pyferry.js, what `import 'pyferry'` loads): it is what src/ builds
// to now, it exports the same API, and a call through it works end to end.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { build } from 'esbuild'
import { options } from '../build.mjs'
import * as src from '../src/index.js'

describe('the built entry', () => {
  test('is what src/ builds to (run `npm run build` after changing src/)', async () => {
    const { outputFiles } = await build({ ...options, write: false })
    assert.equal(outputFiles.length, 1)
    assert.ok(readFileSync(options.outfile, 'utf8') === outputFiles[0].text, `${options.outfile} is stale: npm run build`)
  })

  test('is what the package name resolves to, with the same exports as src/index.js', async () => {
    assert.equal(import.meta.resolve('pyferry'), new URL(`file://${options.outfile}`).href)
    const dist = await import('pyferry')
    assert.deepEqual(Object.keys(dist).sort(), Object.keys(src).sort())
    for (const [name, value] of Object.entries(src)) {
      assert.equal(typeof dist[name], typeof value, name)
      if (typeof value === 'function') assert.equal(dist[name].name, value.name, `${name}.name`)
      else assert.deepEqual(dist[name], value, name)
    }
  })

  test('runs a call, and its errors are its own classes', async (t) => {
    const { Python, PythonError, kw } = await import('pyferry')
    const py = new Python({ workers: 1 })
    t.after(() => py.close())
    assert.equal(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]), 45)
    assert.equal(await py.call('math.fsum', [0.1, 0.2, 0.3]), 0.6)
    assert.deepEqual(await py.call('builtins.dict', kw({ a: 1 })), { a: 1 })
    await assert.rejects(py.call('math.sqrt', -1), (error) => error instanceof PythonError && error.pythonType === 'builtins.ValueError')
  })
})
