// GirTests.swift - Runs the conv-fusion pass tests in fixtures/passes/conv-fusion.

import Foundation
import Testing
import GraphcDriver
import GraphcTestSupport

private let passTests = packageRoot + "/fixtures/passes/conv-fusion"

@Suite struct ConvFusionGirTests {
  static let files = girFiles(under: passTests)

  @Test func everyPassHasTests() {
    for pass in ["fold-batchnorm", "fold-conv-affine", "fold-pad", "fuse-conv-activation", "fuse-conv-add",
                 "fuse-depthwise-pointwise", "npu-lint"] {
      #expect(Self.files.contains("\(passTests)/\(pass).gir"), "missing fixtures/passes/conv-fusion/\(pass).gir")
    }
  }

  @Test(arguments: files)
  func girFile(_ path: String) {
    let failures = runGirFile(path, registry: builtinRegistry)
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }
}
