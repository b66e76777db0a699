// The spectrum job of examples/spectrum.mjs on a Dask cluster: starts a LocalCluster on
// 127.0.0.1 (python -m pyferry.backends.dask_cluster), runs the job through backend: 'dask',
// prints the result and stops the cluster, also when something fails. Exits 1 if the job
// does not find its tones.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Python } from 'pyferry'
import { spectrumJob } from './spectrum-job.mjs'

// The interpreter pyferry finds (the python option, PYFERRY_PYTHON, the active venv, ...) runs the cluster too.
async function interpreter() {
  const py = new Python({ workers: 1 })
  try {
    return await py.get('sys.executable')
  } finally {
    await py.close()
  }
}

// Start the cluster; resolves with { address, dashboard, workers, pid, stop() } once it is up.
async function startCluster(python, workers) {
  const child = spawn(python, ['-m', 'pyferry.backends.dask_cluster', '--workers', String(workers)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = once(child, 'exit')
  child.stdin.on('error', () => {}) // a cluster that died already: its exit says enough
  let log = '' // Dask's own log lines: shown only if the cluster does not start
  child.stderr.setEncoding('utf8').on('data', (text) => { log = (log + text).slice(-4000) })
  let line = ''
  child.stdout.setEncoding('utf8')
  for await (const chunk of child.stdout) {
    line += chunk
    if (line.includes('\n')) break
  }
  const stop = async () => {
    child.stdin.end() // the module closes its cluster when its stdin closes
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    await exited
    clearTimeout(timer)
  }
  if (!line.includes('\n')) {
    await stop()
    throw new Error(`the Dask cluster did not start:\n${log}`)
  }
  return { ...JSON.parse(line.slice(0, line.indexOf('\n'))), pid: child.pid, stop }
}

const cluster = await startCluster(await interpreter(), 2)
try {
  console.log(`Dask cluster at ${cluster.address} (dashboard ${cluster.dashboard}), process ${cluster.pid}, workers ${cluster.workers.join(', ')}`)
  const py = new Python({ backend: 'dask', scheduler: cluster.address, workers: 2 })
  try {
    if (!(await spectrumJob(py))) process.exitCode = 1
  } finally {
    await py.close()
  }
} finally {
  await cluster.stop()
}
console.log('Cluster stopped')
