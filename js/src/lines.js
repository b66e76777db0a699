// Split a byte stream into lines, bounding how much a line without a newline may hold.

const MAX_LINE = 64 * 1024

// Call onLine(line) for every line of `stream`; a line over 64 KiB is emitted in pieces.
export function forEachLine(stream, onLine) {
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (text) => {
    const lines = (rest + text).split('\n')
    rest = lines.pop()
    while (rest.length > MAX_LINE) {
      lines.push(rest.slice(0, MAX_LINE))
      rest = rest.slice(MAX_LINE)
    }
    for (const line of lines) onLine(line.endsWith('\r') ? line.slice(0, -1) : line)
  })
  stream.on('end', () => {
    if (rest) onLine(rest)
    rest = ''
  })
}
