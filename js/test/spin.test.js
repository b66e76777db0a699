// The client's spin (spin.js): while one call alone is out and answers come back quickly,
// the event loop polls for its answer. The rule with a clock and poll turns the test drives
// by hand; then real workers, with the spin on and off.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Spinner } from '../src/spin.js'
import { pool } from './helpers.js'

// A Spinner with a window of `windowUs`, a clock in ms and a queue of poll turns.
function spinner(windowUs = 100, cpus = 2) {
  const clock = { ms: 0 }
  const turns = []
  const spin = new Spinner(windowUs, { cpus, now: () => clock.ms, schedule: (fn) => turns.push(fn) })
  // Run the pending turn (each schedules the next while the window lasts).
  const turn = () => turns.shift()()
  return { spin, clock, turns, turn }
}

const alone = [{ pending: 1 }, { pending: 0 }]

describe('the client spin', () => {
  test('a lone call is polled for until its window ends', () => {
    const { spin, clock, turns, turn } = spinner(100)
    spin.dispatched('a', alone)
    assert.equal(turns.length, 1)
    clock.ms = 0.05
    turn()
    assert.equal(turns.length, 1, 'within the window: another turn')
    clock.ms = 0.1
    turn()
    assert.equal(turns.length, 0, 'the window is over')
    assert.equal(spin.polling, false)
  })

  test('an answer within the window keeps the next lone call spinning; a slow one stops it', () => {
    const { spin, clock, turns, turn } = spinner(100)
    spin.dispatched('a', alone)
    clock.ms = 0.04
    spin.answered('a')
    turn()
    assert.equal(turns.length, 0, 'answered: the poll ends at its next turn')
    spin.dispatched('b', alone)
    assert.equal(turns.length, 1, 'the last answer was quick: spin')
    clock.ms = 1
    while (turns.length) turn()
    spin.answered('b') // 0.96 ms: over the window
    spin.dispatched('c', alone)
    assert.equal(turns.length, 0, 'the last answer was slow: no spin')
    clock.ms = 1.15
    spin.answered('c') // 0.15 ms after a wait that slept: under twice the window
    spin.dispatched('d', alone)
    assert.equal(turns.length, 1, 'quick again: spin')
  })

  test('more than one call in flight, spin 0, or one CPU: no poll', () => {
    const { spin, turns } = spinner(100)
    spin.dispatched('a', [{ pending: 1 }, { pending: 1 }])
    spin.dispatched('b', [{ pending: 2 }])
    assert.equal(turns.length, 0)
    spin.dispatched(null, alone) // a dispatch that sent nothing (an answer came, say)
    assert.equal(turns.length, 0)
    const off = spinner(0)
    off.spin.dispatched('a', alone)
    assert.equal(off.turns.length, 0)
    const oneCpu = spinner(100, 1) // its polling would keep the worker from answering
    oneCpu.spin.dispatched('a', alone)
    assert.equal(oneCpu.turns.length, 0)
  })

  test('a call joined by another stops the wait: its answer does not count', () => {
    const { spin, clock, turns, turn } = spinner(100)
    spin.dispatched('a', alone)
    spin.dispatched('b', [{ pending: 2 }])
    clock.ms = 0.01
    turn()
    assert.equal(turns.length, 0, 'no longer alone: the poll ends')
    clock.ms = 5
    spin.answered('a') // slow, but not the lone call any more
    spin.dispatched('c', alone)
    assert.equal(turns.length, 1, 'the rule still says quick')
  })

  for (const spin of [100, 0]) {
    test(`sequential calls on real workers answer in order with spin ${spin}`, async (t) => {
      const py = pool(t, { workers: 1, spin })
      for (let i = 0; i < 300; i++) assert.equal(await py.call('builtins.abs', -i), i)
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => py.call('builtins.abs', -i)))
      assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => i))
    })
  }
})
