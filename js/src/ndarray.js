// Value classes with no JS built-in equivalent: NDArray (numpy's n-d arrays) and Complex.

// numpy's time units in the order of their wire code (1 for 'Y' ... 13 for 'as').
export const TIME_UNITS = ['Y', 'M', 'W', 'D', 'h', 'm', 's', 'ms', 'us', 'ns', 'ps', 'fs', 'as']

// dtype name -> [TypedArray class, elements of that class per array element]
export const DTYPES = {
  bool: [Uint8Array, 1],
  int8: [Int8Array, 1],
  uint8: [Uint8Array, 1],
  int16: [Int16Array, 1],
  uint16: [Uint16Array, 1],
  int32: [Int32Array, 1],
  uint32: [Uint32Array, 1],
  int64: [BigInt64Array, 1],
  uint64: [BigUint64Array, 1],
  float32: [Float32Array, 1],
  float64: [Float64Array, 1],
  complex64: [Float32Array, 2],
  complex128: [Float64Array, 2],
}
// datetime64[unit] and timedelta64[unit]: int64 counts of the unit (since 1970 for
// datetime64), NaT being -(2n ** 63n), e.g. 'datetime64[ms]', 'timedelta64[ns]'.
for (const kind of ['datetime64', 'timedelta64']) {
  for (const unit of TIME_UNITS) DTYPES[`${kind}[${unit}]`] = [BigInt64Array, 1]
}

// dtypes whose 1-d arrays travel as a bare TypedArray (bool, uint8 and complex need NDArray).
export const STANDALONE = new Set([
  'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64',
])

// The dtype a TypedArray stands for when it is sent without an NDArray around it
// (a Buffer counts as uint8 here; on its own it is sent as bytes).
export function dtypeOf(data) {
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8'
  if (data instanceof Float64Array) return 'float64'
  if (data instanceof Float32Array) return 'float32'
  if (data instanceof Int32Array) return 'int32'
  if (data instanceof BigInt64Array) return 'int64'
  if (data instanceof Int8Array) return 'int8'
  if (data instanceof Int16Array) return 'int16'
  if (data instanceof Uint16Array) return 'uint16'
  if (data instanceof Uint32Array) return 'uint32'
  if (data instanceof BigUint64Array) return 'uint64'
  return undefined
}

// Whether `data` can hold the elements of `dtype` (Uint8ClampedArray counts as Uint8Array).
function fits(data, Type) {
  return data instanceof Type || (Type === Uint8Array && data instanceof Uint8ClampedArray)
}

// A complex number (Python `complex`, numpy complex scalars).
export class Complex {
  constructor(re, im = 0) {
    this.re = re
    this.im = im
  }

  toString() {
    return `(${this.re}${this.im < 0 || Object.is(this.im, -0) ? '-' : '+'}${Math.abs(this.im)}j)`
  }
}

// An n-dimensional array: a flat, C-ordered TypedArray `data` plus `shape` and `dtype`.
export class NDArray {
  constructor(data, shape, dtype) {
    if (!ArrayBuffer.isView(data) || data instanceof DataView) {
      throw new TypeError('NDArray data must be a TypedArray')
    }
    dtype ??= dtypeOf(data)
    const entry = DTYPES[dtype]
    if (entry === undefined) {
      const plain = Object.keys(DTYPES).filter((name) => !name.includes('['))
      throw new TypeError(`unknown dtype ${JSON.stringify(dtype)}; one of: ${plain.join(', ')}, ` +
        `datetime64[unit], timedelta64[unit] (unit: ${TIME_UNITS.join(', ')})`)
    }
    if (!fits(data, entry[0])) {
      throw new TypeError(`dtype ${dtype} needs a ${entry[0].name}, got ${data.constructor.name}`)
    }
    const count = data.length / entry[1]
    shape ??= [count]
    if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new TypeError('NDArray shape must be an array of non-negative integers')
    }
    const size = shape.reduce((a, b) => a * b, 1)
    if (size !== count) {
      throw new RangeError(`shape [${shape}] holds ${size} elements, data holds ${count}`)
    }
    this.data = data
    this.shape = Object.freeze([...shape])
    this.dtype = dtype
  }

  get ndim() {
    return this.shape.length
  }

  // Number of elements (the product of the shape).
  get size() {
    return this.data.length / DTYPES[this.dtype][1]
  }

  // Element at a full index, e.g. `a.get(1, 2)`; negative indices count from the end.
  get(...index) {
    if (index.length !== this.shape.length) {
      throw new RangeError(`index has ${index.length} dimensions, array has ${this.shape.length}`)
    }
    let flat = 0
    for (let d = 0; d < index.length; d++) {
      flat = flat * this.shape[d] + this.#axisIndex(index[d], d)
    }
    return this.#element(flat)
  }

  // The i-th sub-array along the first axis, sharing memory: a TypedArray for a
  // 2-d numeric array, an NDArray otherwise, an element for a 1-d array.
  row(i) {
    if (this.shape.length === 0) throw new RangeError('a 0-d array has no rows')
    i = this.#axisIndex(i, 0)
    if (this.shape.length === 1) return this.#element(i)
    const rest = this.shape.slice(1)
    const per = rest.reduce((a, b) => a * b, 1) * DTYPES[this.dtype][1]
    const data = this.data.subarray(i * per, (i + 1) * per)
    // Same rule as arriving arrays: a bare TypedArray only where it maps back to this dtype.
    if (rest.length === 1 && STANDALONE.has(this.dtype)) return data
    return new NDArray(data, rest, this.dtype)
  }

  // Nested plain arrays of numbers, BigInts, booleans or Complex values.
  toArray() {
    const build = (dim, offset) => {
      if (dim === this.shape.length) return this.#element(offset)
      const out = new Array(this.shape[dim])
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1)
      for (let i = 0; i < out.length; i++) out[i] = build(dim + 1, offset + i * stride)
      return out
    }
    return build(0, 0)
  }

  #axisIndex(i, d) {
    const n = this.shape[d]
    if (!Number.isInteger(i) || i < -n || i >= n) {
      throw new RangeError(`index ${i} is out of bounds for axis ${d} with size ${n}`)
    }
    return i < 0 ? i + n : i
  }

  #element(flat) {
    if (this.dtype === 'bool') return this.data[flat] !== 0
    if (DTYPES[this.dtype][1] === 2) return new Complex(this.data[2 * flat], this.data[2 * flat + 1])
    return this.data[flat]
  }
}
