// The floors: what the same work costs over a raw socket pair to floor_worker.py, with no
// protocol, codec or dispatch. Each function is one round's measurement and returns its
// metrics; run.mjs interleaves them with the matching pyferry workloads.

import { freshNode, latency, loopDelay, medianMs, rateWithCpu } from './stats.mjs'

const SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const EIGHT = new Uint8Array(8)

// W1's floor: the minimal binary seed bridge (9 float64 out, numpy.sum, 8 bytes back).
export function seed(raw) {
  return () => raw.seed(SEED)
}

// The 8-byte echo: round-trip latency, and the rate with `width` messages in flight (W2's floor).
export async function echo(raw, { calls, total, width }) {
  const { p50, p99 } = await latency(calls, () => raw.echo(EIGHT))
  const { result: perSecond, node, python } = await rateWithCpu(total, width, [raw.pid], () => raw.echo(EIGHT))
  // perMessage: the time one message costs at that rate, W9's floor; nodeCpu and pythonCpu: the
  // CPU each side spent per message at that rate.
  return { p50, p99, rate: perSecond, perMessage: 1e6 / perSecond, nodeCpu: node, pythonCpu: python }
}

// W3's floor: x's bytes to Python, the same np.abs(np.fft.rfft(x)) there, the result's bytes back.
export async function fft(raw, x, runs, check) {
  const ms = await medianMs(runs, () => raw.fft(x), check)
  return { ms, gbps: (x.byteLength + (x.length / 2 + 1) * 8) / ms / 1e6 }
}

// x's bytes there and back, untouched.
export async function echoBig(raw, x, runs, check) {
  return { ms: await medianMs(runs, () => raw.echo(x), check) }
}

// A memcpy of `size` bytes on each side: Buffer.copy (median of 5) and np.copyto (median of 5).
export async function memcpy(raw, size) {
  const src = Buffer.alloc(size, 1)
  const dst = Buffer.alloc(size)
  const node = await medianMs(5, () => src.copy(dst), () => {})
  return { node, python: (await raw.copySeconds(size)) * 1e3 }
}

// W4's floor: event-loop delay while the raw Python child burns `seconds` of CPU.
export function burn(raw, seconds) {
  return loopDelay(() => raw.burn(seconds))
}

// W5's floor: a fresh node process that spawns floor_worker.py (imports numpy) and gets one answer.
export async function cold() {
  return { ms: (await freshNode(['cold', 'floor'])).ms }
}

// W6's floor: peak RSS of a fresh node process and its raw Python child over one 1e7 rfft.
export async function rss() {
  return JSON.parse((await freshNode(['rss', 'floor'])).line)
}
