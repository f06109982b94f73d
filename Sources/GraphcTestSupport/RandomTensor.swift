// RandomTensor.swift - Deterministic random tensors for benchmarks and `.gir` INPUT lines.

import GraphIR

/// Uniform values in [-1, 1) for floats, small non-negative integers otherwise.
public func randomTensor(_ dtype: DType, shape: [Int], rng: inout SplitMix64) -> Tensor {
  let t = Tensor(zeros: dtype, shape: shape)
  let n = t.count
  switch dtype {
  case .float32:
    let p = t.pointer(as: Float.self)
    for i in 0..<n { p[i] = Float(rng.unit() * 2 - 1) }
  case .float64:
    let p = t.pointer(as: Double.self)
    for i in 0..<n { p[i] = rng.unit() * 2 - 1 }
  case .int64:
    let p = t.pointer(as: Int64.self)
    for i in 0..<n { p[i] = Int64(rng.next() % 4) }
  case .int32:
    let p = t.pointer(as: Int32.self)
    for i in 0..<n { p[i] = Int32(rng.next() % 4) }
  default:
    break  // zeros are a valid input of every other type
  }
  return t
}
