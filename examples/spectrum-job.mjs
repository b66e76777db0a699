// The spectrum job of examples/spectrum.mjs and examples/cluster.mjs: JS makes a noisy signal,
// SciPy finds its spectrum and peaks wherever `py` runs its calls (worker processes, or a Dask
// cluster), JS prints the peaks and a small plot. spectrumJob() returns false if the peaks
// found are not the tones that were put in.
import { kw } from 'pyferry'

const RATE = 8000 // samples per second
const TONES = [ // [frequency in Hz, amplitude]
  [50, 1.0],
  [120, 0.6],
  [440, 0.35],
]

// Seeded noise, so every run prints the same thing.
function gaussian(seed) {
  let s = seed >>> 0
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297
  }
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())
}

function makeSignal() {
  const noise = gaussian(42)
  const signal = new Float64Array(RATE) // one second
  for (let i = 0; i < signal.length; i++) {
    const t = i / RATE
    signal[i] = 0.5 * noise()
    for (const [f, a] of TONES) signal[i] += a * Math.sin(2 * Math.PI * f * t)
  }
  return signal
}

// Run the job through `py`, print what it found; true if it found every tone.
export async function spectrumJob(py) {
  const signal = makeSignal()
  // One call: the power spectrum of the signal (bytes in, bytes out).
  const [freqs, power] = await py.call('scipy.signal.periodogram', signal, kw({ fs: RATE, scaling: 'spectrum' }))
  const amplitude = power.map((p) => Math.sqrt(2 * p)) // a sine of amplitude A has power A²/2
  // A second call: the peaks that stand out of the noise floor.
  const [indices] = await py.call('scipy.signal.find_peaks', amplitude, kw({ height: 0.1 }))
  const peaks = [...indices].map((i) => ({ freq: freqs[Number(i)], amp: amplitude[Number(i)] }))
    .sort((a, b) => b.amp - a.amp)

  console.log(`Spectrum of ${signal.length} samples at ${RATE} Hz: strongest peaks`)
  for (const { freq, amp } of peaks) {
    console.log(`  ${freq.toFixed(1).padStart(7)} Hz   amplitude ${amp.toFixed(3)}`)
  }
  plot(freqs, amplitude, 500)

  const found = peaks.map((p) => Math.round(p.freq)).sort((a, b) => a - b)
  const wanted = TONES.map(([f]) => f)
  if (found.join() !== wanted.join()) {
    console.error(`expected peaks at ${wanted.join(', ')} Hz, found ${found.join(', ')} Hz`)
    return false
  }
  console.log(`Found every tone: ${wanted.join(', ')} Hz`)
  return true
}

// A bar chart of the amplitude from 0 to maxFreq Hz, 10 Hz per column.
function plot(freqs, amplitude, maxFreq, rows = 8) {
  const columns = new Array(maxFreq / 10).fill(0)
  for (let i = 0; i < freqs.length && freqs[i] < maxFreq; i++) {
    const c = Math.floor(freqs[i] / 10)
    columns[c] = Math.max(columns[c], amplitude[i])
  }
  const top = Math.max(...columns)
  for (let r = rows; r > 0; r--) {
    const line = columns.map((v) => (v / top) * rows >= r - 0.5 ? '█' : ' ').join('')
    console.log(`  │${line}`)
  }
  console.log(`  └${'─'.repeat(columns.length)}`)
  console.log(`   0 Hz${' '.repeat(columns.length - 12)}${maxFreq} Hz`)
}
