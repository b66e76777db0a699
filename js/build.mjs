// `npm run build`: dist/pyferry.js, the file `import ... from 'pyferry'` loads: src/
// bundled into one ES module by esbuild, unminified, apache-arrow left to the application.
//
// Why: Node 20 resolves, reads, compiles and links each ES module of a package on its
// own, ~0.4 ms apiece. src/ is 20 modules; as one file the client loads sooner (~5 ms
// when it was 15), most of what pyferry used to add to a fresh process's first call (bench W5).
// Tests run against src/; test/dist.test.js checks that dist/ is what src/ builds to
// and that it exports the same API. It also copies CHANGELOG.md from the root (FROM_ROOT).

import { build } from 'esbuild'
import { copyFileSync } from 'node:fs'
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
  for (const file of FROM_ROOT) copyFileSync(here(`../${file}`), here(file))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build(options)
  copyFromRoot()
}
