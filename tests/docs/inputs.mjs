// The inputs the documentation's examples take for granted, for tests/test_docs.py to run them.

import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'pyferry-docs-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
export const path = join(dir, 'rows.txt')
writeFileSync(path, 'a\nb\nc\nd\ne\n')
export const signal = Float64Array.from({ length: 1024 }, (_, i) => Math.sin(i / 8))
export const data = [1, 2, 3, 5, 8, 13]
export const x = [0.5, 1.5]
export const rows = [[1, 2], [3, 4], [5, 6]]
export const urls = ['https://example.org/a', 'https://example.org/b']
export const hash = createHash('sha256')
export const consumed = []
export const consume = (rows) => consumed.push(rows)
