// GirTests.swift - Runs the attention fusion pass tests in fixtures/passes/attention-fusion.

import Foundation
import Testing
import GraphcDriver
import GraphcTestSupport

private let passTests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().path + "/fixtures/passes/attention-fusion"

@Suite struct AttentionFusionGirTests {
  static let files = girFiles(in: passTests)

  @Test func thereAreTests() { #expect(Self.files.count >= 4) }

  @Test(arguments: files)
  func girFile(_ name: String) {
    let failures = runGirFile("\(passTests)/\(name)", registry: builtinRegistry)
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }
}
