// VectorMathTests.swift - The vectorized exp and erf of CKernels against libm, special values included.

import CKernels
import Foundation
import Testing

struct VectorMathTests {
  /// -110...110 in small steps plus the special values, with a length that leaves a tail.
  static let inputs: [Float] = stride(from: Float(-110), through: 110, by: 0.0371).map { $0 }
    + [0, -0, .infinity, -.infinity, .nan, 88.7, 88.8, -87.5, -103.9, 1e-8, -1e-8]

  @Test func expMatchesLibm() {
    var out = [Float](repeating: 0, count: Self.inputs.count)
    graphc_vexp_f32(Self.inputs, &out, Self.inputs.count)
    for (x, y) in zip(Self.inputs, out) {
      let r = Foundation.exp(Double(x))
      if x.isNaN { #expect(y.isNaN); continue }
      if r > Double(Float.greatestFiniteMagnitude) { #expect(y == .infinity, "exp(\(x)) = \(y)"); continue }
      // Relative error about 1 ulp; below the normal range, within one denormal step.
      let tolerance = max(2.5e-7 * r, Double(Float.leastNonzeroMagnitude))
      #expect(abs(Double(y) - r) <= tolerance, "exp(\(x)) = \(y), libm \(r)")
    }
  }

  @Test func erfMatchesLibm() {
    var out = [Float](repeating: 0, count: Self.inputs.count)
    graphc_verf_f32(Self.inputs, &out, Self.inputs.count)
    for (x, y) in zip(Self.inputs, out) {
      if x.isNaN { #expect(y.isNaN); continue }
      let r = Foundation.erf(Double(x))
      #expect(abs(Double(y) - r) <= 5e-7, "erf(\(x)) = \(y), libm \(r)")
    }
  }

  @Test func inPlaceCallsGiveTheSameValues() {
    var values = Array(Self.inputs.prefix(101))
    var separate = [Float](repeating: 0, count: values.count)
    graphc_vexp_f32(values, &separate, values.count)
    values.withUnsafeMutableBufferPointer { graphc_vexp_f32($0.baseAddress, $0.baseAddress, $0.count) }
    #expect(values == separate)
  }
}
