// GirRunnerTests.swift - The .gir runner's CHECK-ERROR, INPUT and EXPECT directives, passing and
// failing, and what a failure shows.

import Foundation
import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import PassKit

/// Built-ins plus passes that misbehave on purpose.
private let registry: PassRegistry = {
  let r = PassRegistry()
  do {
    try registerBuiltins(into: r)
    try r.register(GraphPass(name: "warn-abs", summary: "test") { graph, context in
      for n in graph.nodes(ofKind: "onnx.Abs") { context.diagnose(.warning, "Abs seen", at: n) }
    })
    try r.register(GraphPass(name: "reject-neg", summary: "test") { graph, context in
      for n in graph.nodes(ofKind: "onnx.Neg") { context.diagnose(.error, "Neg is not supported", at: n) }
    })
    // Turns Abs into Neg: structurally fine, numerically wrong.
    try r.register(GraphPass(name: "abs-to-neg", summary: "test") { graph, context in
      for n in graph.nodes(ofKind: "onnx.Abs") {
        let neg = try context.insert("onnx.Neg", before: n, operands: [n.operand(0)])
        context.replace(n, with: [neg.result])
      }
    })
    try r.register(GraphPass(name: "needs-attention", summary: "test", requires: [.attentionFused]) { _, _ in })
  } catch {
    preconditionFailure("test registry: \(error)")
  }
  return r
}()

private let graph = """
  graph @g(%x: f32[3]) {
    %0 = onnx.Abs(%x) : f32[3] @"abs"
    %1 = onnx.Neg(%0) : f32[3] @"neg"
    return %1 as "y"
  }
  """

/// Runs a one-case file made of a RUN line with `pipeline`, the graph and `directives`;
/// returns the failure message (nil when the case passed).
private func run(_ pipeline: String, _ directives: String, graph: String = graph) throws -> String? {
  let path = NSTemporaryDirectory() + "gir-\(UUID().uuidString).gir"
  try "// RUN: graphc opt %s --pipeline '\(pipeline)'\n\(graph)\n\(directives)\n".write(toFile: path, atomically: true, encoding: .utf8)
  defer { try? FileManager.default.removeItem(atPath: path) }
  let result = runGirTests(path, registry: registry)
  return result.failures.first?.message
}

@Suite struct CheckErrorTests {
  @Test func matchesDiagnosticsOfEverySeverity() throws {
    #expect(try run("warn-abs", "// CHECK-ERROR: node 'abs' (onnx.Abs): warning: Abs seen\n// CHECK: onnx.Neg") == nil)
    #expect(try run("warn-abs,reject-neg", """
      // CHECK-ERROR: warn-abs: node 'abs' (onnx.Abs): warning: Abs seen
      // CHECK-ERROR-NEXT: reject-neg: node 'neg' (onnx.Neg): error: Neg is not supported
      """) == nil)
  }

  @Test func failsWhenTheExpectedDiagnosticDiffersAndShowsTheActualOnes() throws {
    let m = try #require(try run("warn-abs,reject-neg", "// CHECK-ERROR: error: Abs is not supported"))
    #expect(m.contains("check line 7: CHECK-ERROR: error: Abs is not supported\n  error: pattern not found in input"), "\(m)")
    #expect(m.contains("--- actual diagnostics ---\nwarn-abs: node 'abs' (onnx.Abs): warning: Abs seen\nreject-neg: node 'neg' (onnx.Neg): error: Neg is not supported"))
  }

  @Test func failsWhenNoDiagnosticComes() throws {
    let m = try #require(try run("dce", "// CHECK-ERROR: error:"))
    #expect(m.contains("pattern not found") && m.contains("--- actual diagnostics ---\n(none)"), "\(m)")
  }

  @Test func checkErrorNotRejectsAnExcludedDiagnostic() throws {
    let m = try #require(try run("reject-neg", "// CHECK-ERROR-NOT: error:\n// CHECK: onnx.Neg"))
    #expect(m.contains("CHECK-ERROR-NOT: error:\n  error: excluded pattern found in input"), "\(m)")
  }

  @Test func anUnexpectedErrorFailsACaseWithoutCheckError() throws {
    let m = try #require(try run("reject-neg", "// CHECK: onnx.Neg"))
    #expect(m.hasPrefix("the pipeline failed (add CHECK-ERROR lines if that is expected):\nreject-neg: node 'neg'"), "\(m)")
  }

  @Test func aFailedPipelineLeavesNoIRToCheck() throws {
    let m = try #require(try run("reject-neg", "// CHECK-ERROR: error: Neg\n// CHECK: onnx.Neg"))
    #expect(m == "the pipeline failed, so there is no output IR to check")
  }

  @Test func contractFailuresAreDiagnosticsToo() throws {
    #expect(try run("needs-attention", "// CHECK-ERROR: error: pass 'needs-attention' failed: requires property 'attention-fused'") == nil)
  }
}

@Suite struct NumericDirectiveTests {
  @Test func literalAndOriginalExpectationsPass() throws {
    #expect(try run("dce", """
      // CHECK: onnx.Abs
      // INPUT: %x = [-1.0, 2.0, -3.5]
      // EXPECT: "y" = [-1.0, -2.0, -3.5]
      // EXPECT: "y" = original
      // EXPECT: "y" = f32[3] [-1.0001, -2.0, -3.5] tolerance 1e-3
      // EXPECT: "y" = [-1.0, -2.0, -3.6] tolerance atol=0.2
      """) == nil)
    #expect(try run("dce", "// INPUT: %x = splat 2.0\n// EXPECT: \"y\" = splat -2.0") == nil)
    #expect(try run("dce", "// INPUT: %x = random(seed=9)\n// EXPECT: \"y\" = original") == nil)
  }

  @Test func wrongNumbersFailWithExpectedAndActualValues() throws {
    let m = try #require(try run("dce", "// INPUT: %x = [-1.0, 2.0, -3.5]\n// EXPECT: \"y\" = [-1.0, -2.0, 3.5] tolerance 1e-6"))
    #expect(m == """
      line 8: EXPECT "y" (tolerance 1e-06): 1 of 3 elements differ (max abs diff 7.0): [2] -3.5 vs 3.5
        expected f32[3] [-1.0, -2.0, 3.5]
        actual   f32[3] [-1.0, -2.0, -3.5]
      """, "\(m)")
  }

  @Test func originalCatchesAPassThatChangesTheNumbers() throws {
    let m = try #require(try run("abs-to-neg", "// CHECK: onnx.Neg\n// INPUT: %x = [-1.0, 2.0, -3.5]\n// EXPECT: \"y\" = original"))
    #expect(m.contains("EXPECT \"y\" (tolerance exact): 1 of 3 elements differ (max abs diff 4.0): [1] 2.0 vs -2.0"), "\(m)")
    // The structure alone would not have caught it.
    #expect(try run("abs-to-neg", "// CHECK: onnx.Neg") == nil)
  }

  @Test(arguments: [
    ("// INPUT: %z = [1.0, 2.0, 3.0]\n// EXPECT: \"y\" = original", "INPUT names '%z', but the graph's inputs are %x"),
    ("// EXPECT: \"y\" = original", "no INPUT line for '%x'"),
    ("// INPUT: %x = [1.0]\n// EXPECT: \"y\" = original", "bad value '[1.0]' for f32[3]"),
    ("// INPUT: %x = splat 1.0\n// EXPECT: \"out\" = original", "the graph has no output \"out\"; outputs: \"y\""),
    ("// INPUT: %x = splat 1.0\n// EXPECT: \"y\" = original tolerance loose", "tolerance takes a number or 'atol=A rtol=R'"),
    ("// INPUT: %x = splat 1.0\n// EXPECT: y = original", "EXPECT needs '\"output name\" = value'"),
    ("// INPUT: %x = splat 1.0\n// EXPECT: \"y\" = random", "random values are for INPUT lines only"),
    ("// INPUT: %x = splat 1.0", "the case has no CHECK, CHECK-ERROR or EXPECT lines"),
  ])
  func malformedDirectivesAreFailures(_ directives: String, _ message: String) throws {
    let m = try #require(try run("dce", directives))
    #expect(m.contains(message), "\(m)")
  }

  @Test func symbolicInputsNeedAType() throws {
    let symbolic = graph.replacingOccurrences(of: "%x: f32[3]", with: "%x: f32[n]").replacingOccurrences(of: "f32[3]", with: "f32[n]")
    #expect(try run("dce", "// INPUT: %x = f32[2] [1.0, -1.0]\n// EXPECT: \"y\" = [-1.0, -1.0]", graph: symbolic) == nil)
    let m = try #require(try run("dce", "// INPUT: %x = [1.0, -1.0]\n// EXPECT: \"y\" = original", graph: symbolic))
    #expect(m.contains("has symbolic dims; write the type before the value"), "\(m)")
  }
}

@Suite struct CheckFailureOutputTests {
  @Test func aFailedCheckShowsTheActualOutput() throws {
    let m = try #require(try run("dce", "// CHECK: onnx.Abs\n// CHECK-NEXT: onnx.Relu"))
    #expect(m.contains("check line 8: CHECK-NEXT: onnx.Relu\n  error: pattern not found in input"), "\(m)")
    #expect(m.contains("--- actual output ---\ngraph @g(%x: f32[3]) {\n  %0 = onnx.Abs(%x) : f32[3] @\"abs\""), "\(m)")
  }
}
