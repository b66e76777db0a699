// A real job: JS makes a noisy signal, SciPy finds its spectrum and peaks in a
// Python worker, JS prints the peaks and a small plot (examples/spectrum-job.mjs).
// Exits 1 if the peaks found are not the tones that were put in.
import { Python } from 'pyferry'
import { spectrumJob } from './spectrum-job.mjs'

const py = new Python()
try {
  if (!(await spectrumJob(py))) process.exitCode = 1
} finally {
  await py.close()
}
