// FoldTransposesTests.swift - The example plugin's .gir tests, with the pass linked statically.

import Foundation
import Testing
import GraphcDriver
import GraphcTestSupport
import PassKit
import ExamplePlugin

private let testDir = packageRoot + "/passes/ExamplePlugin/tests"

/// The built-ins plus the plugin's passes, in a registry of its own (the shared one belongs to
/// the driver and must not see a pass that `--load-pass-plugin` would register again).
private let registry: PassRegistry = {
  let r = PassRegistry()
  do {
    try registerBuiltins(into: r)
    for p in examplePluginPasses { try r.register(p) }
  } catch {
    preconditionFailure("test registry: \(error)")
  }
  return r
}()

@Suite struct FoldTransposesTests {
  static let files = girFiles(under: testDir)

  @Test func thereAreTests() { #expect(Self.files.count >= 2) }

  @Test(arguments: files)
  func girFile(_ path: String) {
    let result = runGirTests(path, registry: registry)
    #expect(result.passed, "\(result.failures.map(\.description).joined(separator: "\n\n"))")
  }
}
