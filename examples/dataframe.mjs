// A table built in JS with apache-arrow, summarised by pandas in a Python worker:
// the table crosses as Arrow IPC bytes (no JSON), becomes a DataFrame, and the
// group-by summary comes back as an Arrow table. Exits 1 if pandas' numbers are
// not the ones JS computes itself.
import { fileURLToPath } from 'node:url'
import { tableFromArrays } from 'apache-arrow'
import { Python } from 'pyferry'

// Seeded, so every run prints the same thing.
function random(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

const REGIONS = ['north', 'south', 'east', 'west']
const next = random(7)
const n = 1000
const region = Array.from({ length: n }, () => REGIONS[Math.floor(next() * REGIONS.length)])
const units = Int32Array.from({ length: n }, () => 1 + Math.floor(next() * 20))
const revenue = Float64Array.from(units, (u, i) => Math.round(u * (8 + 4 * next() + REGIONS.indexOf(region[i])) * 100) / 100)
const sales = tableFromArrays({ region, units, revenue })

const py = new Python({ path: [fileURLToPath(new URL('.', import.meta.url))] })
try {
  // sales.summary(sales, 'region', 'revenue'): groupby + describe, as a table.
  const summary = await py.call('sales.summary', sales, 'region', 'revenue')

  console.log(`Revenue of ${sales.numRows} sales by region (pandas describe, computed in Python):`)
  printTable(summary)

  // Check pandas against a plain JS count and mean.
  let ok = true
  for (const row of summary) {
    const values = [...revenue].filter((_, i) => region[i] === row.region)
    const mean = values.reduce((a, b) => a + b, 0) / values.length
    if (row.count !== values.length || Math.abs(row.mean - mean) > 0.006) ok = false
  }
  if (!ok) {
    console.error('pandas and JS disagree on a count or a mean')
    process.exitCode = 1
  } else {
    console.log('Counts and means match the ones computed in JS.')
  }
} finally {
  await py.close()
}

// An Arrow table as aligned text columns.
function printTable(table) {
  const names = table.schema.fields.map((f) => f.name)
  const cells = [...table].map((row) => names.map((name) => String(row[name])))
  const widths = names.map((name, c) => Math.max(name.length, ...cells.map((r) => r[c].length)))
  const line = (values) => '  ' + values.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ')
  console.log(line(names))
  for (const row of cells) console.log(line(row))
}
