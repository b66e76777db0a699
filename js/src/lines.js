// Split a byte stream into lines, bounding how much a line without a newline may hold.

const MAX_LINE = 64 * 1024

// Call onLine(line) for every line of `stream`; a line over 64 KiB is emitted in pieces.
export function forEachLine(stream, onLine) {
  let rest = ''
  const emit = (line) => {
    do {
      onLine(line.slice(0, MAX_LINE))
      line = line.slice(MAX_LINE)
    } while (line.length > 0)
  }
  stream.setEncoding('utf8')
  stream.on('data', (text) => {
    const lines = (rest + text).split('\n')
    rest = lines.pop()
    for (const line of lines) emit(line.endsWith('\r') ? line.slice(0, -1) : line)
    // An unfinished line is held back only up to the bound.
    while (rest.length > MAX_LINE) {
      onLine(rest.slice(0, MAX_LINE))
      rest = rest.slice(MAX_LINE)
    }
  })
  stream.on('end', () => {
    if (rest) emit(rest)
    rest = ''
  })
}

// The last `count` lines pushed, each cut at `chars` characters (a stderr tail for errors).
export class Tail {
  #lines = []
  #count
  #chars

  constructor(count, chars) {
    this.#count = count
    this.#chars = chars
  }

  push(line) {
    this.#lines.push(line.length > this.#chars ? `${line.slice(0, this.#chars)}…` : line)
    if (this.#lines.length > this.#count) this.#lines.shift()
  }

  lines() {
    return [...this.#lines]
  }
}
