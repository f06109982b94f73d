// Tolerance.swift - Comparing tensors: floats within |a-b| <= atol + rtol*|b|, others exactly.

import GraphIR
import PassKit

/// Compares `actual` with `expected`. Returns nil when they agree, else a message naming the
/// first few mismatching indices. NaN matches NaN; infinities must match exactly.
/// (The comparison is PassKit's `Tolerance`, the one `--check-each` uses.)
public func compareTensors(_ actual: Tensor, _ expected: Tensor, rtol: Double, atol: Double) -> String? {
  Tolerance(rtol: rtol, atol: atol).mismatch(actual, expected)
}

/// The cosine similarity of two tensors' elements as flat vectors (0 when one is all zeros).
public func cosineSimilarity(_ a: Tensor, _ b: Tensor) -> Double {
  var dot = 0.0, na = 0.0, nb = 0.0
  for i in 0..<min(a.count, b.count) {
    let x = a.double(at: i), y = b.double(at: i)
    dot += x * y; na += x * x; nb += y * y
  }
  return na > 0 && nb > 0 ? dot / (na * nb).squareRoot() : 0
}
