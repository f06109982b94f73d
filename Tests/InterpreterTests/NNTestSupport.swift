// NNTestSupport.swift - Helpers shared by the NN kernel tests: one-op evaluation, tolerant
// comparison and a seeded random source.

import GraphIR
import Interpreter
import Testing

/// Evaluates one op and returns its results.
func run(_ op: String, _ attrs: AttributeMap = [:], _ inputs: [Tensor?], results: Int = 1) throws -> [Tensor] {
  try evaluate(op: "onnx." + op, attributes: attrs, inputs: inputs, resultCount: results)
}

/// Expects `t` to have `shape` and values within `tol` (absolute plus relative) of `expected`.
func expectClose(_ t: Tensor, _ shape: [Int], _ expected: [Double], tol: Double = 1e-4,
                 sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(t.shape == shape, "shape \(t.shape), expected \(shape)", sourceLocation: sourceLocation)
  guard t.count == expected.count else {
    Issue.record("\(t.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    return
  }
  for i in 0..<expected.count {
    let a = t.double(at: i), e = expected[i]
    if a == e || (a.isNaN && e.isNaN) { continue }
    if abs(a - e) > tol * (1 + abs(e)) {
      Issue.record("element \(i): got \(a), expected \(e)", sourceLocation: sourceLocation)
      return
    }
  }
}

/// A deterministic xorshift generator, so randomized tests are reproducible.
struct SeededRandom {
  var state: UInt64
  init(seed: UInt64) { state = seed | 1 }
  mutating func next() -> UInt64 {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17
    return state
  }
  /// Uniform in [-1, 1).
  mutating func float() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
  mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in float() } }
  mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
}

func f32(_ shape: [Int], _ values: [Float]) -> Tensor { .float32(shape, values) }
/// The float32 tensor 0, 1, 2, ... of a shape.
func iota(_ shape: [Int], from start: Float = 0) -> Tensor {
  let n = shape.reduce(1, *)
  return .float32(shape, (0..<n).map { start + Float($0) })
}
