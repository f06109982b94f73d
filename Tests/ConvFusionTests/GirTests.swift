// GirTests.swift - Runs the conv-fusion pass tests in fixtures/passes/conv-fusion.

import Foundation
import Testing
import GraphcDriver
import GraphcTestSupport

private let passTests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().path + "/fixtures/passes/conv-fusion"

@Suite struct ConvFusionGirTests {
  static let files = girFiles(in: passTests)

  @Test func everyPassHasTests() {
    for pass in ["fold-batchnorm", "fold-conv-affine", "fold-pad", "fuse-conv-activation", "fuse-conv-add",
                 "fuse-depthwise-pointwise", "npu-lint"] {
      #expect(Self.files.contains("\(pass).gir"), "missing fixtures/passes/conv-fusion/\(pass).gir")
    }
  }

  @Test(arguments: files)
  func girFile(_ name: String) {
    let failures = runGirFile("\(passTests)/\(name)", registry: builtinRegistry)
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }
}
