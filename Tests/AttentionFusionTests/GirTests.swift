// GirTests.swift - Runs the attention fusion pass tests in fixtures/passes/attention-fusion.

import Foundation
import Testing
import GraphcDriver
import GraphcTestSupport

private let passTests = packageRoot + "/fixtures/passes/attention-fusion"

@Suite struct AttentionFusionGirTests {
  static let files = girFiles(under: passTests)

  @Test func thereAreTests() { #expect(Self.files.count >= 4) }

  @Test(arguments: files)
  func girFile(_ path: String) {
    let failures = runGirFile(path, registry: builtinRegistry)
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }
}
