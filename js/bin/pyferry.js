#!/usr/bin/env node
// `npx pyferry doctor [--json] [--config FILE] [--python PATH]`: report the set-up; exit 0
// when a real call works. `npx pyferry init [--with scipy,dataframe] [--python PATH]`:
// make the application's .venv. `npx pyferry --version`.

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { diagnose, format } from '../src/doctor.js'
import { init } from '../src/init.js'
import { VERSION } from '../src/runtime.js'

const USAGE = `usage: pyferry doctor [--json] [--config FILE.json] [--python PATH] [--backend dask --scheduler ADDR]
       pyferry init [--with scipy,dataframe,dask] [--python PATH]
       pyferry --version

doctor  reports how Python is found, the runtime it runs, its modules, and a real call;
        --config: a JSON file of new Python() options to check (python, path, env, allow, ...);
        --backend dask --scheduler ADDR: also the scheduler, its workers, and whether
        pyferry and numpy import on them
init    creates ./.venv in the application's root with what the pyferry runtime needs`

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      config: { type: 'string' },
      python: { type: 'string' },
      with: { type: 'string' },
      backend: { type: 'string' },
      scheduler: { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.version) return console.log(`pyferry ${VERSION}`) ?? 0
  const [command] = positionals
  if (values.help || command === undefined) {
    console.log(USAGE)
    return command === undefined && !values.help ? 2 : 0
  }
  if (command === 'doctor') {
    const options = values.config ? JSON.parse(readFileSync(values.config, 'utf8')) : {}
    if (values.python) options.python = values.python
    if (values.backend) options.backend = values.backend
    if (values.scheduler) options.scheduler = values.scheduler
    const found = await diagnose(options)
    console.log(values.json ? JSON.stringify(found, null, 2) : format(found))
    return found.ok ? 0 : 1
  }
  if (command === 'init') {
    const extras = values.with ? values.with.split(',').map((s) => s.trim()).filter(Boolean) : []
    init({ extras, python: values.python })
    return 0
  }
  console.error(`pyferry: unknown command ${JSON.stringify(command)}\n${USAGE}`)
  return 2
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (error) {
  console.error(`pyferry: ${error.message}`)
  process.exitCode = 2
}
