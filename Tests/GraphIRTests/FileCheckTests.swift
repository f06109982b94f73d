// FileCheckTests.swift - FileCheck-lite directives (passing and failing) and .gir test files.

import Testing
import GraphIR
import GraphcTestSupport

private let output = """
  graph @g(%x: f32[2]) {
    %w = const f32[2] dense<[1.0, 2.0]>
    %0 = onnx.Add(%x, %w) : f32[2] @"add"
    %1 = onnx.Relu(%0) : f32[2]

    return %1 as "y"
  }
  graph @h(%x: f32[2]) {
    %0 = onnx.Sigmoid(%x) : f32[2]
    return %0 as "z"
  }
  """

/// Expects failures at exactly these check lines, with messages containing these texts.
private func expectFailures(
  _ checks: String, lines: [Int], messages: [String],
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let failures = fileCheck(input: output, checks: checks)
  #expect(failures.map(\.checkLine) == lines, "\(failures)", sourceLocation: sourceLocation)
  for (f, m) in zip(failures, messages) {
    #expect(f.message.contains(m), "message '\(f.message)' lacks '\(m)'", sourceLocation: sourceLocation)
  }
}

@Suite struct FileCheckPassingTests {
  static let passing: [String] = [
    "CHECK: onnx.Add",
    // Directives inside comments, in order, on the same line and on later lines.
    "// CHECK: %0 = onnx.Add\n// CHECK-SAME: @\"add\"\n// CHECK-NEXT: onnx.Relu\n// CHECK-EMPTY:\n// CHECK-NEXT: return",
    // Blank runs match any run of blanks; patterns are trimmed.
    "CHECK:    onnx.Add(%x,     %w)   ",
    // Regex and captures, used later as literal text.
    "CHECK: [[SUM:%[0-9]+]] = onnx.Add\nCHECK: onnx.Relu([[SUM]])\nCHECK: return {{%[0-9]}} as",
    // A capture used later in the same pattern is a back-reference.
    "CHECK: %[[N:[0-9]]] = onnx.Add(%x, %w) : f32[2]\nCHECK-NOT: onnx.Sub\nCHECK: %[[M:[0-9]]] = onnx.Relu(%[[N]])",
    // CHECK-NOT between two matches and at the end.
    "CHECK: onnx.Add\nCHECK-NOT: onnx.Sigmoid\nCHECK: onnx.Relu\nCHECK-NOT: onnx.Mul",
    // Labels split the input: each block is searched on its own.
    "CHECK-LABEL: graph @g\nCHECK: onnx.Relu\nCHECK-NOT: onnx.Sigmoid\nCHECK-LABEL: graph @h\nCHECK-NEXT: onnx.Sigmoid",
    // Regex metacharacters in literal text are literal.
    "CHECK: f32[2] @\"add\"\nCHECK: (%0)",
  ]

  @Test(arguments: passing)
  func passes(_ checks: String) {
    let failures = fileCheck(input: output, checks: checks)
    #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
  }

  @Test func throwingVariantPassesAndThrows() throws {
    try checkFileCheck(input: output, checks: "CHECK: onnx.Relu")
    #expect(throws: FileCheckError.self) { try checkFileCheck(input: output, checks: "CHECK: onnx.Conv") }
  }

  @Test func customPrefix() {
    #expect(fileCheck(input: output, checks: "OPT: onnx.Relu\nCHECK: nothing-like-this", prefix: "OPT").isEmpty)
  }
}

@Suite struct FileCheckFailingTests {
  @Test func missingPatternReportsWhereScanningStarted() throws {
    let failures = fileCheck(input: output, checks: "// CHECK: onnx.Add\n\n// CHECK: onnx.Conv")
    let f = try #require(failures.first)
    #expect(failures.count == 1)
    #expect(f.checkLine == 3 && f.directive == "CHECK" && f.pattern == "onnx.Conv")
    #expect(f.message == "pattern not found in input")
    // Scanning resumed on the line of the Add match (input line 3).
    #expect(f.inputLine == 3)
    #expect(f.scanned.first == "  %0 = onnx.Add(%x, %w) : f32[2] @\"add\"")
    #expect(f.description.contains("check line 3: CHECK: onnx.Conv"))
  }

  @Test func orderMatters() {
    expectFailures("CHECK: onnx.Relu\nCHECK: onnx.Add", lines: [2], messages: ["not found"])
  }

  @Test func checkNextOnWrongLine() {
    expectFailures("CHECK: onnx.Add\nCHECK-NEXT: return", lines: [2], messages: ["3 lines after the previous match"])
    expectFailures("CHECK: onnx.Add\nCHECK-NEXT: f32[2]", lines: [2], messages: ["same line"])
    expectFailures("CHECK-NEXT: graph", lines: [1], messages: ["needs a previous match"])
  }

  @Test func checkSameMustStayOnTheLine() {
    expectFailures("CHECK: onnx.Relu\nCHECK-SAME: @\"add\"", lines: [2], messages: ["same line"])
    // After the match, not before it.
    expectFailures("CHECK: onnx.Add\nCHECK-SAME: %0", lines: [2], messages: ["same line"])
  }

  @Test func checkEmptyNeedsAnEmptyLine() {
    expectFailures("CHECK: onnx.Add\nCHECK-EMPTY:", lines: [2], messages: ["not empty"])
  }

  @Test func checkNotFindsExcludedText() throws {
    expectFailures("CHECK: onnx.Add\nCHECK-NOT: onnx.Relu\nCHECK: return", lines: [2], messages: ["excluded pattern found"])
    let f = try #require(fileCheck(input: output, checks: "CHECK-NOT: Sigmoid").first)
    #expect(f.inputLine == 9)
    // Only the region between the surrounding matches counts.
    #expect(fileCheck(input: output, checks: "CHECK: onnx.Relu\nCHECK-NOT: onnx.Add").isEmpty)
  }

  @Test func capturedValueMustMatchExactly() {
    expectFailures("CHECK: [[V:%[0-9]+]] = onnx.Relu\nCHECK: onnx.Sigmoid([[V]])", lines: [2], messages: ["not found"])
    expectFailures("CHECK: onnx.Relu([[NOPE]])", lines: [1], messages: ["undefined variable 'NOPE'"])
  }

  @Test func labelsIsolateBlocks() {
    // The Relu lives in @g's block, so it is not found after @h's label; @g's block still passes.
    expectFailures(
      "CHECK-LABEL: graph @g\nCHECK: onnx.Add\nCHECK-LABEL: graph @h\nCHECK: onnx.Relu",
      lines: [4], messages: ["not found"])
    // A check in @g's block cannot match text of @h's block.
    expectFailures(
      "CHECK-LABEL: graph @g\nCHECK: onnx.Sigmoid\nCHECK-LABEL: graph @h\nCHECK: onnx.Sigmoid",
      lines: [2], messages: ["not found"])
    // A missing label fails, and the other blocks are still checked.
    expectFailures(
      "CHECK-LABEL: graph @missing\nCHECK: anything\nCHECK-LABEL: graph @h\nCHECK: onnx.Conv",
      lines: [1, 4], messages: ["label not found", "not found"])
  }

  @Test func malformedChecksAreFailures() {
    expectFailures("no directives here", lines: [0], messages: ["no CHECK: directives found"])
    expectFailures("CHECK-NXT: onnx.Add", lines: [1], messages: ["unknown directive 'CHECK-NXT'"])
    expectFailures("CHECK:   ", lines: [1], messages: ["empty pattern"])
    expectFailures("CHECK: {{[unclosed}}", lines: [1], messages: ["invalid regular expression"])
    expectFailures("CHECK: {{oops", lines: [1], messages: ["unterminated '{{'"])
    expectFailures("CHECK-NOT: [[X:%0]]", lines: [1], messages: ["cannot be defined"])
  }

  @Test func wordsContainingThePrefixAreNotDirectives() {
    // `MYCHECK:` and `CHECKS:` are ordinary text; only the real directive fails.
    expectFailures("MYCHECK: nothing\nCHECKS: nothing\nCHECK: onnx.Conv", lines: [3], messages: ["not found"])
  }
}

@Suite struct GirTestFileTests {
  static let file = """
    // RUN: graphc opt %s --pipeline 'fold-batchnorm,canonicalize{max-iterations=2}' \\
    // RUN:   --verify-each | filecheck %s
    graph @first(%x: f32[2]) {
      %0 = onnx.Relu(%x) : f32[2]
      return %0 as "y"
    }
    // CHECK-LABEL: graph @first
    // CHECK: onnx.Relu

    // -----

    graph @second(%x: f32[2]) {
      %0 = onnx.Sigmoid(%x) : f32[2]
      return %0 as "y"
    }
    // CHECK-LABEL: graph @second
    // CHECK-NEXT: onnx.Tanh
    // -----
    """

  @Test func parsesRunLineAndSplitsCases() throws {
    let t = try GirTestFile(text: Self.file)
    #expect(t.pipeline == "fold-batchnorm,canonicalize{max-iterations=2}")
    #expect(t.arguments == ["graphc", "opt", "%s", "--pipeline", "fold-batchnorm,canonicalize{max-iterations=2}", "--verify-each"])
    #expect(t.cases.count == 2)
    #expect(t.cases.map(\.startLine) == [1, 11])
    #expect(t.cases.allSatisfy { $0.hasChecks() })
    #expect(try t.cases[1].parseInput().name == "second")
  }

  @Test func casesCheckWithFileLineNumbers() throws {
    let t = try GirTestFile(text: Self.file)
    // With no passes, the output is the printed input.
    let first = t.cases[0]
    #expect(first.check(output: printGraph(try first.parseInput())).isEmpty)
    let second = t.cases[1]
    let failures = second.check(output: printGraph(try second.parseInput()))
    #expect(failures.map(\.checkLine) == [17])
  }

  @Test func parseErrorsCarryFileLineNumbers() throws {
    let t = try GirTestFile(text: "// RUN: graphc opt %s --pipeline=canonicalize\n// -----\ngraph @g() {\n  %0 = x.Y(%q) : f32[]\n  return\n}")
    #expect(t.pipeline == "canonicalize")
    #expect(throws: GraphError.self) { try t.cases[1].parseInput() }
    do {
      _ = try t.cases[1].parseInput()
    } catch let e as GraphError {
      #expect(e.message == "4:12: unknown value '%q'")
    }
  }

  @Test(arguments: [
    ("graph @g() {\n  return\n}", "no RUN: line"),
    ("// RUN: graphc opt %s\n// RUN: graphc opt %s\n", "2 RUN: commands"),
    ("// RUN: graphc opt %s --pipeline 'unbalanced\n", "unbalanced '"),
  ])
  func badRunLinesAreErrors(_ text: String, _ message: String) {
    do {
      _ = try GirTestFile(text: text)
      Issue.record("accepted a bad test file")
    } catch let e as GraphError {
      #expect(e.message.contains(message), "\(e.message)")
    } catch {
      Issue.record("unexpected error \(error)")
    }
  }

  @Test func quotingRules() throws {
    let t = try GirTestFile(text: #"// RUN: graphc opt "%s" --pipeline "a{b=\"c d\"}" x\ y | other"#)
    #expect(t.arguments == ["graphc", "opt", "%s", "--pipeline", #"a{b="c d"}"#, "x y"])
    #expect(t.pipeline == #"a{b="c d"}"#)
    let plain = try GirTestFile(text: "// RUN: graphc opt %s\ngraph @g() {\n  return\n}  // CHECKS: not a directive")
    #expect(plain.pipeline == nil)
    #expect(!plain.cases[0].hasChecks())
  }
}
