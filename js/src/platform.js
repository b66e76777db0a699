// What differs per operating system on the Node side: environment variable names, the
// memory limit, and what a worker's exit code or signal most likely means.
//
// Pure: the platform (a process.platform value) is an argument, so that tests on Linux
// check the Windows and macOS answers too. The Python side's counterparts live in
// pyferry.memory (the memory limit) and pyferry.startup.

// Whether environment variable names ignore case on `platform` (Windows: `Path` is `PATH`).
function caseless(platform) {
  return platform === 'win32'
}

// The worker's environment: `base` (process.env) with `extra` (the `env` option) on top.
// On Windows names ignore case, so `{ PATH }` replaces the inherited `Path` instead of
// sitting beside it (the child would see one of the two, and not always the one given).
export function mergeEnv(base, extra, platform = process.platform) {
  const merged = { ...base }
  if (extra === undefined) return merged
  if (caseless(platform)) {
    const given = new Set(Object.keys(extra).map((name) => name.toUpperCase()))
    for (const name of Object.keys(merged)) {
      if (given.has(name.toUpperCase())) delete merged[name]
    }
  }
  return Object.assign(merged, extra)
}

// The value of variable `name` in `env`, looked up as `platform` would (any case on Windows).
export function envValue(env, name, platform = process.platform) {
  if (env[name] !== undefined || !caseless(platform)) return env[name]
  const upper = name.toUpperCase()
  const key = Object.keys(env).find((k) => k.toUpperCase() === upper)
  return key === undefined ? undefined : env[key]
}

// Why `maxMemoryBytes` cannot be used on `platform`, or null (it can): RLIMIT_AS on Linux and
// the BSDs, a job object on Windows (pyferry.memory); macOS rejects RLIMIT_AS or ignores it.
export function memoryLimitProblem(platform = process.platform) {
  if (platform !== 'darwin') return null
  return 'options.maxMemoryBytes is not supported on macOS: its kernel rejects RLIMIT_AS (or does not ' +
    'enforce it), so the limit would not hold. Leave the option out there; to bound a worker that grows, ' +
    'recycle it with maxCallsPerWorker, or run the workers on Linux (a container), where the limit is RLIMIT_AS'
}

// Windows NTSTATUS exit codes of a process that crashed, and what each most likely means.
const WINDOWS_CRASHES = new Map([
  [0xC0000005, 'an access violation in native code (STATUS_ACCESS_VIOLATION), like a segfault'],
  [0xC00000FD, 'a stack overflow (STATUS_STACK_OVERFLOW): recursion too deep, in native code or Python'],
  [0xC0000409, 'a fail-fast abort in native code (STATUS_STACK_BUFFER_OVERRUN: __fastfail, abort or a corrupted stack)'],
  [0xC0000374, 'heap corruption in native code (STATUS_HEAP_CORRUPTION)'],
  [0xC0000017, 'out of memory (STATUS_NO_MEMORY)'],
  [0xC000001D, 'an illegal instruction (STATUS_ILLEGAL_INSTRUCTION): a native module built for another CPU'],
  [0xC0000135, 'a DLL a native module needs was not found (STATUS_DLL_NOT_FOUND)'],
  [0xC000013A, 'the console was closed or got Ctrl-C (STATUS_CONTROL_C_EXIT)'],
])

// What a worker's end by `signal` (POSIX) or exit `code` most likely means, as a parenthesis
// for its error message ('' when nothing is known). On Windows there are no signals: a kill
// from outside (TerminateProcess: Node's kill(), taskkill /F, Task Manager) is exit code 1,
// and a crash is an NTSTATUS code such as 0xC0000005.
export function likelyCause(signal, code = null, platform = process.platform) {
  if (signal === 'SIGKILL') return ' (likely out of memory, or killed from outside)'
  if (signal === 'SIGSEGV' || signal === 'SIGBUS') return ' (a crash in native code)'
  if (signal === 'SIGABRT') return ' (an abort in native code)'
  if (signal || platform !== 'win32' || typeof code !== 'number') return ''
  const status = code >>> 0 // Node may give an NTSTATUS as a negative int32 or as its unsigned value
  const crash = WINDOWS_CRASHES.get(status)
  if (crash) return ` (0x${status.toString(16).toUpperCase()}: ${crash})`
  if (status === 1) return ' (killed from outside — TerminateProcess, taskkill /F, Task Manager — or an uncaught error at exit)'
  if (status === 3) return ' (an abort in native code: abort() exits with 3 on Windows)'
  return ''
}
