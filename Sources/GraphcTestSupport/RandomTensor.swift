// RandomTensor.swift - Deterministic random tensors for benchmarks and `.gir` INPUT lines.

import GraphIR

/// A small deterministic generator, so benchmark inputs are the same on every run.
public struct SplitMix64 {
  public var state: UInt64
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

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
