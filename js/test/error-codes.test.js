// spec/error-codes.json against the JS side: every code, its class, what an ERROR becomes.
// tests/test_error_codes.py checks the same table against the Python side.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import * as pyferry from '../src/index.js'
import { PyferryError, fromErrorInfo } from '../src/errors.js'

const { codes } = JSON.parse(readFileSync(new URL('../../spec/error-codes.json', import.meta.url), 'utf8'))
const errorClasses = Object.entries(pyferry).filter(([, value]) =>
  typeof value === 'function' && (value === PyferryError || value.prototype instanceof Error) && 'code' in value.prototype)

describe('spec/error-codes.json', () => {
  test('each code once', () => {
    assert.equal(new Set(codes.map((row) => row.code)).size, codes.length)
  })

  for (const row of codes.filter((r) => r.js)) {
    test(`${row.code}: pyferry exports ${row.js} with that code`, () => {
      const Class = pyferry[row.js]
      assert.equal(typeof Class, 'function', `${row.js} is exported`)
      assert.equal(Class.prototype.code, row.code)
      assert.equal(Class.prototype.name, row.js)
    })
  }

  test('every exported error class is in the table, with its code', () => {
    const exported = Object.fromEntries(errorClasses.map(([name, Class]) => [Class.prototype.code, name]))
    const table = Object.fromEntries(codes.filter((r) => r.js).map((r) => [r.code, r.js]))
    assert.deepEqual(exported, table)
  })

  for (const row of codes.filter((r) => r.from_worker)) {
    test(`${row.code} in an ERROR from the worker is a ${row.from_worker}`, () => {
      const error = fromErrorInfo({ type: 'pkg.Error', message: 'm', traceback: '', chain: [], code: row.code })
      assert.equal(error.constructor, pyferry[row.from_worker])
    })
  }

  test('an ERROR with a code the table does not send from the worker is a PythonError', () => {
    for (const row of codes.filter((r) => !r.from_worker)) {
      const error = fromErrorInfo({ type: 'pkg.Error', message: 'm', traceback: '', chain: [], code: row.code })
      assert.equal(error.constructor, pyferry.PythonError, row.code)
    }
  })
})
