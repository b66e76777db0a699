// A TLS-only Dask scheduler and worker on 127.0.0.1 for the node:test suite, with a throwaway CA
// and certificate made by the `openssl` command. Not a test file.

import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { daskFixtures, freePort, pythonPath } from './dask-cluster.js'

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

// Whether the openssl command is there (the TLS tests are skipped without it).
export function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

// A folder with ca.pem, node.pem/node.key (signed by ca) and other.pem (another CA); remove() deletes it.
export function makeCerts() {
  const dir = mkdtempSync(path.join(tmpdir(), 'pyferry-tls-'))
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 60_000 })
  for (const name of ['ca', 'other']) {
    openssl('req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=pyferry test ${name}`)
  }
  openssl('req', ...EC, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1')
  openssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '2')
  const file = (name) => path.join(dir, name)
  return { dir, file, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

// `dask scheduler --protocol tls` on a free port and one `dask worker`, both with the certificate;
// resolves with { address, kill() }.
export async function startTlsCluster(certs) {
  const port = await freePort()
  const address = `tls://127.0.0.1:${port}`
  const dask = path.join(path.dirname(pythonPath), 'dask')
  const tls = ['--tls-ca-file', certs.file('ca.pem'), '--tls-cert', certs.file('node.pem'), '--tls-key', certs.file('node.key')]
  const env = { ...process.env, PYTHONPATH: [daskFixtures, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) }
  const opts = { env, stdio: 'ignore' }
  const children = [
    spawn(dask, ['scheduler', '--protocol', 'tls', '--host', '127.0.0.1', '--port', String(port),
      '--dashboard-address', '127.0.0.1:0', ...tls], opts),
    spawn(dask, ['worker', address, '--nthreads', '1', '--host', '127.0.0.1', '--dashboard-address', '127.0.0.1:0',
      '--no-nanny', ...tls], opts),
  ]
  return {
    address,
    async kill() {
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue
        const done = once(child, 'exit')
        child.kill('SIGKILL')
        await done
      }
    },
  }
}
