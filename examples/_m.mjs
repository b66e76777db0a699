import { Python } from 'pyferry'
const py = new Python()
await py.start()
const seed = [1,2,3,4,5,6,7,8,9]
for (let i = 0; i < 500; i++) await py.call('numpy.sum', seed)
const lat = []
for (let r = 0; r < 5; r++) {
  const t = []
  for (let i = 0; i < 2000; i++) { const s = process.hrtime.bigint(); await py.call('numpy.sum', seed); t.push(Number(process.hrtime.bigint() - s) / 1e3) }
  t.sort((a, b) => a - b); lat.push(t[t.length >> 1])
}
console.log('seed p50 us per run', lat.map(x => x.toFixed(1)).join(' '))
const x = new Float64Array(1e6).map(() => Math.random())
const rt = []
for (let r = 0; r < 15; r++) { const s = process.hrtime.bigint(); const y = await py.call('numpy.copy', x); rt.push(Number(process.hrtime.bigint() - s) / 1e6); if (y[5] !== x[5]) throw 1 }
rt.sort((a,b)=>a-b); console.log('1e6 f64 round trip ms median', rt[rt.length>>1].toFixed(2), 'min', rt[0].toFixed(2), 'max', rt.at(-1).toFixed(2))
await py.close()
