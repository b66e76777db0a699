// What `npm pack` puts in the tarball besides the code: the npm page's README, the CHANGELOG
// (copied from the repository's root by build.mjs), the license and the types.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { FROM_ROOT, copyFromRoot } from '../build.mjs'

const here = (file) => fileURLToPath(new URL(`../${file}`, import.meta.url))
const pkg = JSON.parse(readFileSync(here('package.json'), 'utf8'))

// The tarball's file list, without running prepack (it would rebuild dist/ under the other tests).
async function packed() {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: here(''),
    env: { ...process.env, npm_config_loglevel: 'error' },
  })
  const [report] = JSON.parse(stdout)
  return new Map(report.files.map((file) => [file.path, file.size]))
}

describe('the npm package', () => {
  test('ships the README, the CHANGELOG of the repository, the license, the types and the entry', async () => {
    copyFromRoot() // what build.mjs does at prepack
    const files = await packed()
    for (const name of ['README.md', 'CHANGELOG.md', 'LICENSE', 'index.d.ts', 'dist/pyferry.js', 'package.json']) {
      assert.ok(files.has(name), `${name} is not in the tarball: ${[...files.keys()].join(', ')}`)
    }
    for (const name of FROM_ROOT) {
      assert.equal(readFileSync(here(name), 'utf8'), readFileSync(here(`../${name}`), 'utf8'), `${name} is the root's`)
    }
    assert.ok(![...files.keys()].some((name) => name.startsWith('test/')), 'no tests')
    // src/ ships as the entry's fallback where a folder install cannot bundle (no esbuild: build.mjs).
    assert.ok(files.has('src/index.js'), 'src/index.js, the unbundled entry, is in the tarball')
  })

  test('its README is the npm page: install, the seed call, TypeScript, CommonJS, where the docs are', () => {
    const readme = readFileSync(here('README.md'), 'utf8')
    assert.match(readme, /npm install pyferry/)
    assert.match(readme, /py\.call\('numpy\.sum', \[1, 2, 3, 4, 5, 6, 7, 8, 9\]\)/)
    assert.match(readme, /Sum of numbers= 45/)
    assert.match(readme, /@types\/node/)
    assert.match(readme, /require\('pyferry'\)/)
    assert.match(readme, /await import\('pyferry'\)/)
    assert.match(readme, /docs\/guide\.md/)
    assert.match(readme, /CHANGELOG\.md/)
  })

  test('CommonJS code loads it with require() and with await import()', async (t) => {
    const app = mkdtempSync(path.join(tmpdir(), 'pyferry-cjs-'))
    t.after(() => rmSync(app, { recursive: true, force: true }))
    mkdirSync(path.join(app, 'node_modules'))
    symlinkSync(here(''), path.join(app, 'node_modules', 'pyferry'), 'dir')
    writeFileSync(path.join(app, 'app.cjs'), `
      const { Python } = require('pyferry')
      async function main() {
        const py = new Python()
        console.log('Sum of numbers=', await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9]))
        await py.close()
        console.log((await import('pyferry')).Python === Python)
      }
      main()
    `)
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['app.cjs'], { cwd: app, timeout: 60_000 })
    assert.equal(stdout, 'Sum of numbers= 45\ntrue\n')
    assert.doesNotMatch(stderr, /Warning/, 'no experimental-feature warning on this Node')
  })

  test('its metadata: description, keywords, ESM with types first, Node floor', () => {
    assert.equal(typeof pkg.description, 'string')
    assert.ok(pkg.keywords.includes('numpy') && pkg.keywords.includes('python'))
    assert.equal(pkg.type, 'module')
    assert.deepEqual(Object.keys(pkg.exports['.']), ['types', 'default'])
    assert.equal(pkg.engines.node, '>=20.19')
  })
})
