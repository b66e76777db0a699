// A JS function minimised by SciPy: `scipy.optimize.minimize` runs in a Python
// worker and calls the Rosenbrock function below, which runs here in Node, for
// every point it tries. Exits 1 if the minimum found is not the known one, (1, 1).
import { Python, kw } from 'pyferry'

let evaluations = 0

// f(x, y) = (1 - x)² + 100 (y - x²)², lowest (0) at (1, 1). SciPy passes x as a Float64Array.
function rosenbrock([x, y]) {
  evaluations++
  return (1 - x) ** 2 + 100 * (y - x * x) ** 2
}

const py = new Python({ workers: 1 })
try {
  const optimize = py.import('scipy.optimize')
  // The answer, a scipy OptimizeResult, is a dict: it crosses as a plain object.
  const { x: [x, y], fun, nfev } = await optimize.minimize(
    rosenbrock, new Float64Array([-1.2, 1]), kw({ method: 'Nelder-Mead', options: { xatol: 1e-8, fatol: 1e-12 } }))

  console.log(`scipy.optimize.minimize (Nelder-Mead) of a JS Rosenbrock function from (-1.2, 1):`)
  console.log(`  minimum at (${x.toFixed(6)}, ${y.toFixed(6)}), f = ${fun.toExponential(2)}`)
  console.log(`  ${nfev} evaluations reported by SciPy, ${evaluations} counted in JS`)
  if (Math.abs(x - 1) > 1e-4 || Math.abs(y - 1) > 1e-4 || nfev !== evaluations) {
    console.error('expected the minimum at (1, 1), with one JS call per evaluation')
    process.exitCode = 1
  }
} finally {
  await py.close()
}
