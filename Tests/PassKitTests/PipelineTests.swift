// PipelineTests.swift - Pipeline text parsing, errors with suggestions, and contracts.

import Testing
import GraphIR
@testable import PassKit

func makeRegistry() throws -> PassRegistry {
  let r = PassRegistry()
  try r.register(GraphPass(name: "fold-batchnorm", summary: "test", establishes: ["no-batchnorm"]) { _, _ in })
  try r.register(GraphPass(
    name: "quantize", summary: "test",
    options: [PassOptionSpec("weights", .string, default: "int8", help: ""),
              PassOptionSpec("percentile", .double, default: "99.9", help: "")],
    requires: ["no-batchnorm"]) { _, _ in })
  try r.register(GraphPass(name: "count-nodes", summary: "test", statistics: ["seen"]) { graph, context in
    context.count("seen", by: graph.nodes.count)
  })
  return r
}

@Suite struct PipelineTests {
  @Test func parsesPassesOptionsAndFixpoint() throws {
    let r = try makeRegistry()
    let p = try Pipeline(parsing: " fold-batchnorm , fixpoint(quantize{weights=int4}, count-nodes)", registry: r)
    #expect(p.description == "fold-batchnorm,fixpoint(quantize{weights=int4},count-nodes)")
    guard case .fixpoint(let inner, _) = p.elements[1], case .pass(let q, let o) = inner[0] else {
      Issue.record("expected a fixpoint group holding quantize"); return
    }
    #expect(q.name == "quantize")
    #expect(o.string("weights") == "int4")
    #expect(o.double("percentile") == 99.9, "unset options take their defaults")
  }

  @Test func emptyTextIsTheEmptyPipeline() throws {
    #expect(try Pipeline(parsing: "  ", registry: makeRegistry()).elements.isEmpty)
  }

  @Test(arguments: [
    ("fold-batchnrom", "unknown pass 'fold-batchnrom' (did you mean 'fold-batchnorm'?)"),
    ("quantize{wieghts=int4}", "pass 'quantize' has no option 'wieghts' (did you mean 'weights'?); valid options: weights, percentile"),
    ("quantize{percentile=high}", "option 'percentile' of pass 'quantize' takes a double, not 'high'"),
    ("count-nodes{x=1}", "pass 'count-nodes' has no option 'x'; it takes no options"),
    ("fold-batchnorm,,", "pipeline text at column 16: expected a pass name, found ','"),
    ("fixpoint(count-nodes", "pipeline text at column 21: expected ')'"),
  ])
  func reportsErrorsWithSuggestions(text: String, message: String) throws {
    let r = try makeRegistry()
    #expect { try Pipeline(parsing: text, registry: r) } throws: { "\($0)" == message }
  }

  @Test func duplicateRegistrationIsRefused() throws {
    let r = try makeRegistry()
    #expect(throws: PipelineError.self) {
      try r.register(GraphPass(name: "quantize", summary: "again") { _, _ in })
    }
  }
}
