// A monotonic clock in milliseconds (fractions included) for the hot and the cold path.
// process.uptime() rather than performance.now(): the global `performance` loads
// node:perf_hooks when first used, ~2 ms of a fresh process's first call (bench W5).
export const nowMs = () => process.uptime() * 1000
