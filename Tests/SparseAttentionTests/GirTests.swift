// GirTests.swift - Runs the sparse attention pass tests in fixtures/passes/sparse-attention.

import Calibration
import Foundation
import GraphIR
import GraphcDriver
import GraphcTestSupport
import Testing

private let passTests = packageRoot + "/fixtures/passes/sparse-attention"

@Suite struct SparseAttentionGirTests {
  static let files = girFiles(under: passTests)

  @Test func thereAreTests() { #expect(Self.files.count >= 2) }

  /// Each case is calibrated on two synthetic samples of its graph's inputs.
  @Test(arguments: files)
  func girFile(_ path: String) {
    let failures = runGirFile(path, registry: builtinRegistry, calibration: syntheticCalibration(count: 2))
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }
}
