// SensitivityTests.swift - quantize{sensitivity-budget=B}: the layer made sensitive stays float,
// the budget holds, and the output error is defined as documented.

import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import Interpreter
import PackedFormat
import PassKit
@testable import QuantizeLayout

/// `%name = const f32[shape] dense<[…]>`.
func constantLine(_ name: String, _ shape: [Int], _ values: [Float]) -> String {
  "  %\(name) = const f32[\(shape.map(String.init).joined(separator: ","))] dense<[\(values.map { "\($0)" }.joined(separator: ", "))]>\n"
}

/// Uniform samples in [-1, 1) for each named input of `shape`.
func uniformSamples(_ count: Int, _ inputs: [(String, [Int])], seed: UInt64) -> [[String: Tensor]] {
  var rng = SplitMix64(seed: seed)
  return (0..<count).map { _ in
    Dictionary(uniqueKeysWithValues: inputs.map { name, shape in
      (name, Tensor.float32(shape, (0..<shape.reduce(1, *)).map { _ in rng.uniform() }))
    })
  }
}

/// Runs `pipeline` over `text` with `samples` as calibration; the graph afterwards and the reports.
func runQuantize(_ text: String, _ pipeline: String, samples: [[String: Tensor]]) throws -> (Graph, [PassReport]) {
  let graph = try parseGraph(text)
  var manager = PassManager(instrumentation: PassInstrumentation(verifyEach: true))
  manager.calibration = CalibrationSampleList(samples)
  let reports = try manager.run(try Pipeline(parsing: pipeline, registry: builtinRegistry), on: graph)
  return (graph, reports)
}

func load(_ graph: Graph) throws -> Model { try Model(bytes: try writeGCB(graph: graph, metadata: [:]), name: graph.name) }

/// 1 - cos over every element, computed here (not with the pass's helper).
func oneMinusCosine(_ a: Tensor, _ b: Tensor) -> Double { 1 - cosineSimilarity(a, b) }

@Suite struct SensitivityTests {
  /// x[8,16] -> fc1 -> relu -> fc2 -> relu -> fc3 -> y. fc1's output channel 0 has zero
  /// weights, so relu makes it 0 for every input; fc2's input row 0 holds 1000 in every
  /// column. That row never contributes, but it sets each column's scale to 1000/qmax, so all of
  /// fc2's real weights (|w| < 0.5) round to 0 at int8 and int4: quantized alone, fc2 zeroes
  /// the output (1 - cos = 1), while fc1 and fc3 cost about 1e-5 (int8) or 1e-2 (int4) each.
  static let mlp: String = {
    var rng = SplitMix64(seed: 5)
    func weights(_ k: Int, _ n: Int) -> [Float] { (0..<k * n).map { _ in rng.uniform() / 2 } }
    var w1 = weights(16, 16), w2 = weights(16, 16)
    for k in 0..<16 { w1[k * 16] = 0 }
    for n in 0..<16 { w2[n] = 1000 }
    return "graph @sensitive(%x: f32[8,16]) {\n" + constantLine("w1", [16, 16], w1) + constantLine("w2", [16, 16], w2)
      + constantLine("w3", [16, 8], weights(16, 8)) + """
        %0 = onnx.MatMul(%x, %w1) : f32[8,16] @"fc1"
        %1 = onnx.Relu(%0) : f32[8,16] @"relu1"
        %2 = onnx.MatMul(%1, %w2) : f32[8,16] @"fc2"
        %3 = onnx.Relu(%2) : f32[8,16] @"relu2"
        %4 = onnx.MatMul(%3, %w3) : f32[8,8] @"fc3"
        return %4 as "y"
      }
      """
  }()
  static let samples = uniformSamples(16, [("x", [8, 16])], seed: 3)

  @Test(arguments: [("int8", 1e-3), ("int4", 0.05)])
  func keepsExactlyTheSensitiveLayerAndMeetsTheBudget(weights: String, budget: Double) throws {
    let (graph, reports) = try runQuantize(Self.mlp, "quantize{weights=\(weights),sensitivity-budget=\(budget)}", samples: Self.samples)
    let report = try #require(reports.last)
    #expect(report.statistics["layers-kept-sensitive"] == 1)
    #expect(report.statistics["layers-quantized"] == 2)
    let kept = report.diagnostics.filter { $0.message.hasPrefix("kept in float (sensitivity)") }
    #expect(kept.map(\.node) == ["fc2"])
    #expect(kept.first?.message.contains("output error 1.0e+00") == true, "\(kept)")
    #expect(graph.nodes.filter { $0.op == "onnx.MatMul" }.map(\.name) == ["fc2"])
    // The budget, measured here on the calibration samples against the unquantized graph.
    let float = try load(try parseGraph(Self.mlp)), quantized = try load(graph)
    var total = 0.0
    for s in Self.samples { total += oneMinusCosine(try #require(try float.run(s)["y"]), try #require(try quantized.run(s)["y"])) }
    let measured = total / Double(Self.samples.count)
    #expect(measured <= budget)
    #expect(measured > 0)
    // The pass reports the same figure (rounded to ppm).
    #expect(abs(Double(report.statistics["output-error-ppm"] ?? -1) - measured * 1e6) <= 1)
    // 1 reference + 3 layers alone + the chosen layout + fc2 quantized back (over budget).
    #expect(report.statistics["sensitivity-sweeps"] == 6)
  }

  @Test func aLooseBudgetQuantizesEverythingAndATightOneNothing() throws {
    let (loose, looseReports) = try runQuantize(Self.mlp, "quantize{sensitivity-budget=2.0}", samples: Self.samples)
    #expect(looseReports.last?.statistics["layers-quantized"] == 3)
    #expect(!loose.nodes.contains { $0.op == "onnx.MatMul" })
    let (tight, tightReports) = try runQuantize(Self.mlp, "quantize{sensitivity-budget=1e-12}", samples: Self.samples)
    #expect(tightReports.last?.statistics["layers-kept-sensitive"] == 3)
    #expect(!tight.nodes.contains { $0.op == "graphc.QLinear" })
  }

  @Test func outputErrorIsOneMinusCosine() {
    #expect(outputError([1, 0], [0, 1]) == 1)
    #expect(abs(outputError([1, 2], [2, 4])) < 1e-12)
    #expect(outputError([1, 0], [-1, 0]) == 2)
    #expect(outputError([0, 0], [0, 0]) == 0)
    #expect(outputError([1, 0], [0, 0]) == 1)
    #expect(outputError([1, 0], [.nan, 0]) == 2)
    #expect(abs(outputError([1, 1], [1, 0]) - (1 - 0.5.squareRoot())) < 1e-12)
  }

  @Test(arguments: ["sensitivity-budget=-0.1", "sensitivity-budget=3.0", "sensitivity-budget=nan"])
  func badBudgetsAreNamed(option: String) {
    #expect {
      _ = try runQuantize(Self.mlp, "quantize{\(option)}", samples: Self.samples)
    } throws: { "\($0)".contains("'sensitivity-budget' must be in [0, 2]") }
  }
}
