// `npm run build`: dist/pyferry.js, the file `import ... from 'pyferry'` loads: src/
// bundled into one ES module by esbuild, unminified, apache-arrow left to the application.
//
// Why: Node 20 resolves, reads, compiles and links each ES module of a package on its
// own, ~0.4 ms apiece. src/ is 20 modules; as one file the client loads sooner (~5 ms
// when it was 15), most of what pyferry used to add to a fresh process's first call (bench W5).
// Tests run against src/; test/dist.test.js checks that dist/ is what src/ builds to
// and that it exports the same API. It also copies CHANGELOG.md from the root (FROM_ROOT).
//
// `node build.mjs --package` (npm's prepare, so `npm pack` and an install from a folder or a
// clone run it) also copies the pure-Python runtime ../src/pyferry into python/pyferry,
// which the client runs when the interpreter has no pyferry of this version (src/runtime.js).
// npm runs prepare for a folder install without the package's devDependencies, so esbuild
// may be missing then: dist/pyferry.js becomes a one-line re-export of src/index.js (the
// same API, loading ~5 ms slower), and the package still works. `--clean` (postpack)
// removes python/ again, so that a source checkout keeps running the Python half in src/.

import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = (file) => fileURLToPath(new URL(file, import.meta.url))

export const options = {
  entryPoints: [here('src/index.js')],
  outfile: here('dist/pyferry.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  keepNames: true, // classes keep their names (esbuild would call a self-referencing NDArray _NDArray)
  external: ['apache-arrow'], // an optional peer: the application's own copy, loaded on demand
  banner: { js: '// pyferry: built from src/ by build.mjs (npm run build); edit src/, not this file.' },
  logLevel: 'warning',
}

// Files the package ships that live at the repository's root: npm packs only what is under
// package.json, so the build copies them here (git-ignored).
export const FROM_ROOT = ['CHANGELOG.md']

export function copyFromRoot() {
  for (const file of FROM_ROOT) {
    if (existsSync(here(`../${file}`))) copyFileSync(here(`../${file}`), here(file)) // not in an unpacked tarball
  }
}

const RUNTIME = here('python')
const SOURCE = here('../src/pyferry')

// Copy the Python runtime (no caches) into python/pyferry.
function copyRuntime() {
  if (!existsSync(SOURCE)) {
    if (existsSync(here('python/pyferry/launch.py'))) return // an unpacked tarball: already there
    throw new Error(`build.mjs: the Python runtime ${SOURCE} is missing (build from a checkout of the whole repository)`)
  }
  rmSync(RUNTIME, { recursive: true, force: true })
  mkdirSync(RUNTIME)
  cpSync(SOURCE, here('python/pyferry'), {
    recursive: true,
    filter: (file) => !/(__pycache__|\.pyc$)/.test(file),
  })
}

// Bundle src/ with esbuild, or, where it is not installed, re-export src/index.js.
async function buildDist() {
  let esbuild
  try {
    esbuild = await import('esbuild')
  } catch {
    mkdirSync(here('dist'), { recursive: true })
    writeFileSync(options.outfile, `${options.banner.js}\n// esbuild was not installed: src/ unbundled.\nexport * from '../src/index.js'\n`)
    return
  }
  await esbuild.build(options)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const flags = new Set(process.argv.slice(2))
  if (flags.has('--clean')) rmSync(RUNTIME, { recursive: true, force: true })
  else {
    await buildDist()
    copyFromRoot()
    if (flags.has('--package')) copyRuntime()
  }
}
