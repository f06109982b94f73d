// Tolerance.swift - Comparing tensors: floats within |a-b| <= atol + rtol*|b|, others exactly.

import GraphIR
import PassKit

/// Compares `actual` with `expected`. Returns nil when they agree, else a message naming the
/// first few mismatching indices. NaN matches NaN; infinities must match exactly.
/// (The comparison is PassKit's `Tolerance`, the one `--check-each` uses.)
public func compareTensors(_ actual: Tensor, _ expected: Tensor, rtol: Double, atol: Double) -> String? {
  Tolerance(rtol: rtol, atol: atol).mismatch(actual, expected)
}
