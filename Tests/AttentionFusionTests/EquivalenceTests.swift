// EquivalenceTests.swift - Fused attention computes what the decomposed graph computes.

import Foundation
import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import Interpreter
import ONNXImport
import PassKit


/// Compiles `graph` text-copies with and without fusion and runs both on the same seeded inputs.
private func runBoth(_ makeGraph: () throws -> Graph, seed: UInt64) throws -> (fused: [String: Tensor], unfused: [String: Tensor], fusedOps: [String: Int]) {
  var state = seed | 1
  func next() -> Float {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17
    return Float(state >> 40) / Float(1 << 23) - 1
  }
  var results: [[String: Tensor]] = []
  var ops: [String: Int] = [:]
  var inputs: [String: Tensor]?
  for pipelineText in ["canonicalize", "canonicalize,fuse-attention"] {
    let graph = try makeGraph()
    var options = OptimizeOptions()
    options.verifyEach = true
    let result = try optimize(graph: graph, pipeline: try Pipeline(parsing: pipelineText, registry: builtinRegistry), options: options)
    let model = try Model(bytes: result.packed, name: pipelineText)
    if inputs == nil {
      inputs = Dictionary(uniqueKeysWithValues: model.inputs.map { input in
        let shape = input.type.staticShape ?? []
        return (input.name, Tensor.float32(shape, (0..<shape.reduce(1, *)).map { _ in next() }))
      })
    }
    results.append(try model.run(inputs ?? [:]))
    ops = result.opsAfter
  }
  return (results[1], results[0], ops)
}

@Suite struct AttentionFusionEquivalenceTests {
  @Test func fixtureTransformer() throws {
    let path = packageRoot + "/fixtures/models/transformer/model.onnx"
    let (fused, unfused, ops) = try runBoth({ try importONNX(path: path) }, seed: 11)
    #expect(ops["graphc.Attention"] == 1, "fused ops: \(ops)")
    #expect(ops["onnx.Softmax"] == nil)
    for (name, want) in unfused {
      let got = try #require(fused[name])
      let mismatch = compareTensors(got, want, rtol: 1e-5, atol: 1e-5)
      #expect(mismatch == nil, "output \(name): \(mismatch ?? "")")
    }
  }

  /// Every case of the fusion .gir tests that fuses also runs to the same numbers.
  @Test(arguments: ["decomposed.gir", "gqa-packed.gir"])
  func girCases(_ file: String) throws {
    let test = try GirTestFile(contentsOf: URL(fileURLWithPath: packageRoot + "/fixtures/passes/attention-fusion/" + file))
    for c in test.cases {
      let (fused, unfused, ops) = try runBoth({ let g = try c.parseInput(); try g.inferTypes(); return g }, seed: 5)
      #expect(ops["graphc.Attention", default: 0] >= 1, "case at line \(c.startLine) did not fuse")
      for (name, want) in unfused {
        let got = try #require(fused[name])
        let mismatch = compareTensors(got, want, rtol: 1e-5, atol: 1e-5)
        #expect(mismatch == nil, "line \(c.startLine) output \(name): \(mismatch ?? "")")
      }
    }
  }
}
