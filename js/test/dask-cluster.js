// Dask clusters on 127.0.0.1 for the node:test suite: the pyferry.backends.dask_cluster module
// (a LocalCluster), or a scheduler and a worker started by the `dask` CLI. Not a test file.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
export const pythonPath = process.env.PYFERRY_PYTHON || path.join(root, '.venv/bin/python')
// The Python suite's fixtures (workmod): the cluster's workers import what calls name.
export const daskFixtures = path.join(root, 'tests/fixtures')
const env = { ...process.env, PYTHONPATH: [daskFixtures, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) }

// Start a LocalCluster; resolves with { address, workers, stop() } once it printed its address.
export async function startCluster({ workers = 2 } = {}) {
  const child = spawn(pythonPath, ['-m', 'pyferry.backends.dask_cluster', '--workers', String(workers)], {
    env, stdio: ['pipe', 'pipe', 'ignore'],
  })
  let text = ''
  child.stdout.setEncoding('utf8')
  for await (const chunk of child.stdout) {
    text += chunk
    if (text.includes('\n')) break
  }
  if (!text.includes('\n')) throw new Error('the Dask cluster printed no address')
  const info = JSON.parse(text.slice(0, text.indexOf('\n')))
  const exited = once(child, 'exit')
  return {
    ...info,
    async stop() {
      child.stdin.end() // the module closes its cluster when stdin closes
      await exited
    },
  }
}

// A free TCP port on 127.0.0.1.
export async function freePort() {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

// `dask scheduler` on 127.0.0.1:port (with `schedulerArgs`) and one `dask worker` (2 threads);
// kill() ends both.
export function startSchedulerAndWorker(port, schedulerArgs = []) {
  const dask = path.join(path.dirname(pythonPath), 'dask')
  const address = `tcp://127.0.0.1:${port}`
  const opts = { env, stdio: 'ignore' }
  const scheduler = spawn(dask, ['scheduler', '--host', '127.0.0.1', '--port', String(port),
    '--dashboard-address', '127.0.0.1:0', ...schedulerArgs], opts)
  const worker = spawn(dask, ['worker', address, '--nthreads', '2', '--host', '127.0.0.1',
    '--dashboard-address', '127.0.0.1:0', '--no-nanny'], opts)
  const ended = (child) => child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit')
  return {
    address,
    scheduler,
    async kill() {
      for (const child of [scheduler, worker]) {
        const done = ended(child)
        child.kill('SIGKILL')
        await done
      }
    },
  }
}
