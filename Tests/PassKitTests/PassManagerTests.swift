// PassManagerTests.swift - Contracts, diagnostics, instruments and --check-each in the pass manager.

import Testing
import GraphIR
@testable import PassKit

private let text = """
  graph @g(%x: f32[4]) {
    %c = const f32[4] dense<[1.0, 2.0, 3.0, 4.0]>
    %0 = onnx.Add(%x, %c) : f32[4] @"add"
    %1 = onnx.Relu(%0) : f32[4] @"relu"
    return %1 as "y"
  }
  """

private func graph(_ source: String = text) throws -> Graph {
  let g = try parseGraph(source)
  try g.inferTypes()
  return g
}

/// Replaces the Add's constant by `values` (a corruption unless they are the same numbers).
private func replaceConstant(_ name: String, _ values: [Float]) -> GraphPass {
  GraphPass(name: name, summary: "test") { graph, context in
    guard let add = graph.nodes(ofKind: "onnx.Add").first,
          let index = add.operands.firstIndex(where: { $0?.constant != nil }) else { return }
    context.setOperand(add, index, to: context.makeConstant(.float32([values.count], values)))
  }
}

private func testRegistry() throws -> PassRegistry {
  let r = try makeRegistry()
  try r.register(GraphPass(name: "noop", summary: "test") { _, _ in })
  try r.register(GraphPass(name: "swap", summary: "test: Add(a, b) -> Add(b, a)") { graph, context in
    for add in graph.nodes(ofKind: "onnx.Add") {
      let (a, b) = (add.operand(0), add.operand(1))
      context.setOperand(add, 0, to: b)
      context.setOperand(add, 1, to: a)
    }
  })
  try r.register(replaceConstant("corrupt", [1, 2, 3, 5]))
  try r.register(replaceConstant("nudge", [1, 2, 3, 4.0000005]))
  try r.register(GraphPass(name: "complain", summary: "test", establishes: [.canonical]) { graph, context in
    for n in graph.nodes { context.diagnose(.warning, "looked at it", at: n) }
    context.diagnose(.error, "cannot handle this Relu", at: graph.nodes(ofKind: "onnx.Relu").first)
    context.diagnose(.remark, "after the error, still reported")
  })
  try r.register(GraphPass(name: "needs-canonical", summary: "test", requires: [.canonical]) { _, _ in })
  try r.register(GraphPass(name: "make-canonical", summary: "test", establishes: [.canonical]) { _, _ in })
  try r.register(GraphPass(name: "needs-attention", summary: "test", requires: [.attentionFused]) { _, _ in })
  return r
}

private func run(_ pipeline: String, _ g: Graph, _ instrumentation: PassInstrumentation = .init()) throws -> [PassReport] {
  try PassManager(instrumentation: instrumentation).run(Pipeline(parsing: pipeline, registry: testRegistry()), on: g)
}

/// The PassFailure `body` throws, or nil after recording an issue.
private func failure(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> PassFailure? {
  do {
    try body()
    Issue.record("expected a PassFailure", sourceLocation: sourceLocation)
  } catch let f as PassFailure {
    return f
  } catch {
    Issue.record("expected a PassFailure, got \(error)", sourceLocation: sourceLocation)
  }
  return nil
}

@Suite struct ContractTests {
  @Test func missingRequirementNamesTheEstablishingPass() throws {
    let g = try graph("""
      graph @bn(%x: f32[1,2,3,3]) {
        %s = const f32[2] dense<splat 1.0>
        %z = const f32[2] dense<splat 0.0>
        %0 = onnx.BatchNormalization(%x, %s, %z, %z, %s) : f32[1,2,3,3] @"bn"
        return %0 as "y"
      }
      """)
    let f = try #require(failure { _ = try run("quantize", g) })
    #expect(f.pass == "quantize")
    #expect("\(f)" == "pass 'quantize' failed: requires property 'no-batchnorm', which no earlier pass established "
            + "(the graph has 1 onnx.BatchNormalization node(s), the first 'bn'); run 'fold-batchnorm' before it")
    // Established by an earlier pass, it holds whatever the graph looks like.
    #expect(try run("fold-batchnorm,quantize", g).map(\.pass) == ["fold-batchnorm", "quantize"])
  }

  @Test func theVerifierConfirmsWhatItCan() throws {
    // No BatchNormalization in the graph: `no-batchnorm` holds without a pass establishing it.
    #expect(try run("quantize", graph()).map(\.pass) == ["quantize"])
  }

  @Test func propertiesNobodyEstablishesSaySo() throws {
    let f = try #require(failure { _ = try run("needs-attention", graph()) })
    #expect("\(f)".hasSuffix("requires property 'attention-fused', which no earlier pass established; no registered pass establishes it"))
  }

  @Test func aChangeDropsCanonical() throws {
    _ = try run("make-canonical,noop,needs-canonical", graph())
    let f = try #require(failure { _ = try run("make-canonical,swap,needs-canonical", graph()) })
    #expect(f.pass == "needs-canonical")
    #expect("\(f)".contains("run 'complain' or 'make-canonical' before it"))
    #expect(f.reports.map(\.pass) == ["make-canonical", "swap"])
  }

  @Test func wellKnownPropertiesAreSpelledOnce() {
    #expect([IRProperty.canonical, .noBatchNorm, .attentionFused, .calibrated, .quantized, .shapesInferred].map(\.name)
            == ["canonical", "no-batchnorm", "attention-fused", "calibrated", "quantized", "shapes-inferred"])
  }

  @Test func plugInPropertyChecks() throws {
    let r = try testRegistry()
    try r.registerPropertyCheck("no-relu") { g in g.nodes(ofKind: "onnx.Relu").isEmpty ? nil : "a Relu is left" }
    #expect(throws: PipelineError.self) { try r.registerPropertyCheck("no-relu") { _ in nil } }
    try r.register(GraphPass(name: "needs-no-relu", summary: "test", requires: ["no-relu"]) { _, _ in })
    let error = #expect(throws: PassFailure.self) { try PassManager().run(Pipeline(parsing: "needs-no-relu", registry: r), on: graph()) }
    #expect("\(error.map { "\($0)" } ?? "")".contains("(a Relu is left)"))
  }
}

@Suite struct DiagnosticTests {
  @Test func anErrorDiagnosticStopsThePipelineAfterThePass() throws {
    let f = try #require(failure { _ = try run("noop,complain,noop", graph()) })
    #expect(f.pass == "complain")
    let reports = f.reports
    #expect(reports.map(\.pass) == ["noop", "complain"], "the pass after the error does not run")
    let d = reports[1].diagnostics
    #expect(d.map(\.severity) == [.warning, .warning, .error, .remark])
    #expect(d[2].description == "complain: node 'relu' (onnx.Relu): error: cannot handle this Relu")
    #expect(d[3].description == "complain: remark: after the error, still reported")
    #expect("\(f)".contains("1 error diagnostic(s): complain: node 'relu' (onnx.Relu): error: cannot handle this Relu"))
  }

  @Test func reportsDeclaredStatistics() throws {
    let r = try makeRegistry()
    let reports = try PassManager().run(Pipeline(parsing: "count-nodes", registry: r), on: Graph(name: "g"))
    #expect(reports.map(\.pass) == ["count-nodes"])
    #expect(reports[0].statistics == ["seen": 0], "declared counters are reported even when zero")
    #expect(!reports[0].changed)
  }
}

/// Collects what an instrument prints.
private final class Collected: @unchecked Sendable {
  var dumps: [String] = []
  var headers: [String] { dumps.map { String($0.prefix { $0 != "\n" }) } }
}

@Suite struct InstrumentTests {
  @Test func printsBeforeAfterAndAll() throws {
    let out = Collected()
    let printer = IRPrinterInstrument(before: ["swap"], after: ["noop"], sink: { out.dumps.append($0) })
    _ = try run("noop,swap,noop", graph(), PassInstrumentation(instruments: [printer]))
    #expect(out.headers == ["// ----- IR after noop -----", "// ----- IR before swap -----", "// ----- IR after noop -----"])
    #expect(out.dumps[1].contains("onnx.Add(%x, %c)"))
    #expect(out.dumps[2].contains("onnx.Add(%c, %x)"))

    let all = Collected()
    _ = try run("noop,swap", graph(), PassInstrumentation(instruments: [IRPrinterInstrument(afterAll: true) { all.dumps.append($0) }]))
    #expect(all.headers == ["// ----- IR after noop -----", "// ----- IR after swap -----"])
  }

  @Test func printsAfterChangeOnlyWhenTheTextChanged() throws {
    let out = Collected()
    let printer = IRPrinterInstrument(afterChange: true) { out.dumps.append($0) }
    _ = try run("noop,swap,noop,swap,swap", graph(), PassInstrumentation(instruments: [printer]))
    #expect(out.headers == Array(repeating: "// ----- IR after swap (changed) -----", count: 3))
  }

  @Test func opHistogramsAndInstrumentTimeGoIntoReports() throws {
    let reports = try run("swap", graph(), PassInstrumentation(verifyEach: true, instruments: [OpHistogramInstrument()]))
    #expect(reports[0].opsBefore == ["onnx.Add": 1, "onnx.Relu": 1])
    #expect(reports[0].opsAfter == ["onnx.Add": 1, "onnx.Relu": 1])
    #expect(reports[0].instrumentSeconds > 0)
    // Off: nothing is collected and no time is spent outside the pass.
    let plain = try run("swap", graph())
    #expect(plain[0].opsBefore == nil && plain[0].instrumentSeconds == 0)
  }

  @Test func checkEachNamesTheFirstPassThatBreaksTheOutputs() throws {
    let inputs = ["x": Tensor.float32([4], [-1, 0.5, -3, 2])]
    let check = CheckEachInstrument(inputs: inputs, tolerance: Tolerance(1e-5))
    let f = try #require(failure {
      _ = try run("noop,swap,nudge,corrupt,noop", graph(), PassInstrumentation(instruments: [check]))
    })
    #expect(f.pass == "corrupt")
    #expect(check.passesChecked == 3, "noop, swap and nudge (within 1e-5) kept the outputs")
    // y = relu(x + c): only element 3 changes, 2 + 4 = 6 becomes 2 + 5 = 7.
    #expect("\(f.underlying)" == "check-each: pass 'corrupt' is the first to change the outputs beyond tolerance 1e-05 "
            + "(3 earlier pass run(s) kept them): output 'y': 1 of 4 elements differ (max abs diff 1.0): [3] 7.0 vs 6.0")
    #expect(f.reports.map(\.pass) == ["noop", "swap", "nudge", "corrupt"])
  }

  @Test func checkEachAcceptsFaithfulPipelinesAndExactToleranceCatchesNudges() throws {
    let inputs = ["x": Tensor.float32([4], [-1, 0.5, -3, 2])]
    _ = try run("swap,noop,swap", graph(), PassInstrumentation(instruments: [CheckEachInstrument(inputs: inputs, tolerance: .exact)]))
    let f = try #require(failure {
      _ = try run("nudge", graph(), PassInstrumentation(instruments: [CheckEachInstrument(inputs: inputs, tolerance: .exact)]))
    })
    #expect(f.pass == "nudge")
  }

  @Test func checkEachNeedsRunnableInputs() throws {
    let check = CheckEachInstrument(inputs: [:], tolerance: .exact)
    let f = try #require(failure { _ = try run("noop", graph(), PassInstrumentation(instruments: [check])) })
    #expect("\(f)".contains("cannot run the graph before the first pass: missing input 'x'"))
  }
}

@Suite struct ExecutionTests {
  @Test func passesRunGraphsOnTheInterpreterThroughTheirContext() throws {
    let g = try graph()
    let context = PassContext(passName: "t", options: PassOptions(), graph: g, statistics: [])
    let out = try context.execute(g, inputs: ["x": Tensor.float32([4], [-2, -1, 0, 1])])
    let y = try #require(out["y"])
    #expect((0..<4).map { y.double(at: $0) } == [0, 1, 3, 5])
  }

  @Test func toleranceIsAbsolutePlusRelative() {
    let want = Tensor.float32([2], [100, 1])
    #expect(Tolerance(rtol: 0.01, atol: 0).mismatch(Tensor.float32([2], [100.9, 1.009]), want) == nil)
    #expect(Tolerance(rtol: 0.01, atol: 0).mismatch(Tensor.float32([2], [101.5, 1]), want) != nil)
    #expect(Tolerance(rtol: 0, atol: 0.5).mismatch(Tensor.float32([2], [100.4, 1.4]), want) == nil)
    #expect(Tolerance.exact.mismatch(Tensor.float32([2], [1, 2]), Tensor.float32([3], [1, 2, 3])) != nil)
  }
}
