// Tolerance.swift - Comparing tensors: floats within |a-b| <= atol + rtol*|b|, others exactly.

import GraphIR

/// Compares `actual` with `expected`. Returns nil when they agree, else a message naming the
/// first few mismatching indices. NaN matches NaN; infinities must match exactly.
public func compareTensors(_ actual: Tensor, _ expected: Tensor, rtol: Double, atol: Double) -> String? {
  guard actual.shape == expected.shape else { return "shape \(actual.shape) != expected \(expected.shape)" }
  let floating = expected.dtype.isFloat
  guard actual.dtype == expected.dtype else { return "dtype \(actual.dtype.shortName) != expected \(expected.dtype.shortName)" }
  var bad: [String] = []
  var worst = 0.0
  var badCount = 0
  for i in 0..<expected.count {
    let a = actual.double(at: i), b = expected.double(at: i)
    let ok: Bool
    if floating {
      if a.isNaN || b.isNaN { ok = a.isNaN && b.isNaN }
      else if a.isInfinite || b.isInfinite { ok = a == b }
      else { ok = abs(a - b) <= atol + rtol * abs(b) }
    } else {
      ok = a == b
    }
    if !ok {
      badCount += 1
      worst = max(worst, abs(a - b))
      if bad.count < 4 { bad.append("[\(i)] \(a) vs \(b)") }
    }
  }
  guard badCount > 0 else { return nil }
  return "\(badCount) of \(expected.count) elements differ (max abs diff \(worst)): " + bad.joined(separator: ", ")
}
