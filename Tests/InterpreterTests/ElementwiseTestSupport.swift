// ElementwiseTestSupport.swift - Running one op and comparing results in the element-wise kernel tests.

import GraphIR
import Interpreter
import Testing

/// Helpers for the element-wise kernel tests, namespaced so other suites in this target can
/// keep their own short names.
enum EW {
  /// Runs `onnx.<op>` on concrete tensors through the public one-op evaluator.
  static func run(_ op: String, _ attributes: AttributeMap = [:], _ inputs: [Tensor?]) throws -> Tensor {
    try evaluate(op: "onnx." + op, attributes: attributes, inputs: inputs)[0]
  }

  static func f32(_ shape: [Int], _ v: [Float]) -> Tensor { Tensor(.float32, shape: shape, values: v) }
  static func f64(_ shape: [Int], _ v: [Double]) -> Tensor { Tensor(.float64, shape: shape, values: v) }
  static func i8(_ shape: [Int], _ v: [Int8]) -> Tensor { Tensor(.int8, shape: shape, values: v) }
  static func u8(_ shape: [Int], _ v: [UInt8]) -> Tensor { Tensor(.uint8, shape: shape, values: v) }
  static func i16(_ shape: [Int], _ v: [Int16]) -> Tensor { Tensor(.int16, shape: shape, values: v) }
  static func i32(_ shape: [Int], _ v: [Int32]) -> Tensor { Tensor(.int32, shape: shape, values: v) }
  static func i64(_ shape: [Int], _ v: [Int64]) -> Tensor { Tensor(.int64, shape: shape, values: v) }
  static func bools(_ shape: [Int], _ v: [Bool]) -> Tensor { Tensor(.bool, shape: shape, values: v.map { UInt8($0 ? 1 : 0) }) }

  /// Expects dtype, shape and every element within `atol + rtol * |expected|` (NaN matches
  /// NaN), reporting the first few mismatches with their indices.
  static func expectClose(
    _ t: Tensor, _ expected: [Double], shape: [Int]? = nil, dtype: DType? = nil,
    atol: Double = 1e-6, rtol: Double = 1e-5, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    if let dtype { #expect(t.dtype == dtype, "dtype \(t.dtype) != \(dtype)", sourceLocation: sourceLocation) }
    if let shape { #expect(t.shape == shape, "shape \(t.shape) != \(shape)", sourceLocation: sourceLocation) }
    guard t.count == expected.count else {
      Issue.record("\(t.count) elements, expected \(expected.count)", sourceLocation: sourceLocation)
      return
    }
    var bad: [String] = []
    for i in 0..<t.count {
      let a = t.double(at: i), e = expected[i]
      let ok = a.isNaN ? e.isNaN : (a == e || abs(a - e) <= atol + rtol * abs(e))
      if !ok { bad.append("[\(i)] \(a) != \(e)") }
    }
    if !bad.isEmpty {
      Issue.record("\(bad.count) mismatches: \(bad.prefix(5).joined(separator: ", "))", sourceLocation: sourceLocation)
    }
  }

  /// Exact comparison for integer results (values up to 2^53).
  static func expectExact<T: BinaryInteger>(
    _ t: Tensor, _ expected: [T], shape: [Int]? = nil, dtype: DType? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    expectClose(t, expected.map { Double($0) }, shape: shape, dtype: dtype, atol: 0, rtol: 0, sourceLocation: sourceLocation)
  }

  static func expectBools(_ t: Tensor, _ expected: [Bool], shape: [Int]? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    expectExact(t, expected.map { $0 ? 1 : 0 }, shape: shape, dtype: .bool, sourceLocation: sourceLocation)
  }

  /// Expects a GraphError whose message contains `fragment`.
  static func expectError(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
      try body()
      Issue.record("expected an error containing '\(fragment)'", sourceLocation: sourceLocation)
    } catch let e as GraphError {
      #expect(e.message.contains(fragment), "error '\(e.message)' lacks '\(fragment)'", sourceLocation: sourceLocation)
    } catch {
      Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
  }
}
