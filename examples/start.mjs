// The original job: Node sends [1..9], numpy sums it in a Python worker.
import { Python } from 'pyferry'

const py = new Python()
try {
  const sum = await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9])
  console.log('Sum of numbers=', sum)
} finally {
  await py.close()
}
