// QuantizeTests.swift - The quantize pass: .gir cases, and W8A8/W4A8 accuracy and memory on the fixture MLP.

import Foundation
import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import Interpreter
import ONNXImport
import PackedFormat
import PassKit
@testable import QuantizeLayout

private let passTests = packageRoot + "/fixtures/passes/quantize"

/// Standard-normal samples of `shape` (Box-Muller over a seeded xorshift), like the fixture's
/// own input.
private func normalSamples(_ count: Int, shape: [Int], seed: UInt64) -> [[String: Tensor]] {
  var s = seed | 1
  func uniform() -> Double {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17
    return (Double(s >> 11) + 0.5) / Double(1 << 53)
  }
  return (0..<count).map { _ in
    let n = shape.reduce(1, *)
    let v = (0..<n).map { _ in Float((-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())) }
    return ["x": .float32(shape, v)]
  }
}

/// The fixture MLP compiled with `pipeline` over `calibration`, and its pass reports.
private func compileMLP(_ pipeline: String, calibration: [[String: Tensor]]) throws -> (Model, [PassReport], Graph) {
  let graph = try importONNX(path: packageRoot + "/fixtures/models/mlp/model.onnx")
  var manager = PassManager(instrumentation: PassInstrumentation(verifyEach: true))
  manager.calibration = CalibrationSampleList(calibration)
  let reports = try manager.run(try Pipeline(parsing: pipeline, registry: builtinRegistry), on: graph)
  return (try Model(bytes: try writeGCB(graph: graph, metadata: [:]), name: "mlp"), reports, graph)
}

@Suite struct QuantizeGirTests {
  static let files = ((try? FileManager.default.contentsOfDirectory(atPath: passTests)) ?? [])
    .filter { $0.hasSuffix(".gir") }.sorted()

  @Test func thereAreTests() { #expect(Self.files.count >= 1) }

  @Test(arguments: files)
  func girFile(_ name: String) {
    let failures = runGirFile("\(passTests)/\(name)", registry: builtinRegistry)
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }
}

@Suite struct QuantizeMLPTests {
  static let calibration = normalSamples(32, shape: [4, 64], seed: 11)
  static let heldOut = normalSamples(8, shape: [4, 64], seed: 99)

  /// (weights, minimum cosine on held-out inputs, minimum weight-memory saving)
  @Test(arguments: [("int8", 0.999, 0.70), ("int4", 0.95, 0.85)])
  func quantizedMLPStaysCloseToFloat(weights: String, minCosine: Double, minSaving: Double) throws {
    let (float, _, _) = try compileMLP("canonicalize", calibration: [])
    let (quant, reports, graph) = try compileMLP("canonicalize,quantize{weights=\(weights)}", calibration: Self.calibration)
    let ops = Set(graph.nodes.map(\.op))
    #expect(ops.contains("graphc.QLinear") && !ops.contains("onnx.MatMul") && !ops.contains("onnx.Gemm"))
    var worst = 1.0
    for sample in Self.heldOut {
      let a = try #require(try float.run(sample)["logits"]), b = try #require(try quant.run(sample)["logits"])
      worst = min(worst, cosineSimilarity(a, b))
    }
    #expect(worst >= minCosine, "W\(weights == "int8" ? 8 : 4)A8 worst cosine \(worst)")
    let stats = try #require(reports.first { $0.pass == "quantize" }).statistics
    let before = Double(stats["weight-bytes-before"] ?? 0), after = Double(stats["weight-bytes-after"] ?? 0)
    #expect(stats["layers-quantized"] == 3)
    #expect(before == Double(4 * (64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10)))
    #expect(1 - after / before >= minSaving, "saving \(1 - after / before)")
  }

  @Test func consecutiveLayersShareIntegersAndEachLayerIsReported() throws {
    let (_, reports, graph) = try compileMLP("canonicalize,quantize", calibration: Self.calibration)
    // fc1 (+bias, +relu) feeds fc2 directly: one QuantizeLinear at the input, one more after
    // the float Sigmoid; fc2 (before the Sigmoid) and fc3 (the output) dequantize in their
    // kernels, so no DequantizeLinear is left and only fc1's result is int8.
    #expect(graph.nodes.filter { $0.op == "onnx.QuantizeLinear" }.count == 2)
    #expect(!graph.nodes.contains { $0.op == "onnx.DequantizeLinear" })
    let qlinear = graph.nodes.filter { $0.op == "graphc.QLinear" }
    #expect(qlinear.first?.attributes["clip"] == .floats([0, .infinity]))
    #expect(qlinear.map(\.result.type.dtype) == [.int8, .float32, .float32])
    #expect(qlinear.map { $0.attributes["dequantize"] } == [nil, .int(1), .int(1)])
    let report = try #require(reports.first { $0.pass == "quantize" })
    let remarks = report.diagnostics.filter { $0.severity == .remark }
    #expect(remarks.filter { $0.message.hasPrefix("W8A8: weights") }.count == 3)
    #expect(remarks.contains { $0.node == nil && $0.message.contains("model constants") })
  }

  @Test func keepFloatByNameGlob() throws {
    let (_, reports, graph) = try compileMLP("canonicalize,quantize{keep-float=*}", calibration: Self.calibration)
    #expect(!graph.nodes.contains { $0.op == "graphc.QLinear" })
    #expect(reports.last?.statistics["layers-kept-float"] == 3)
  }

  @Test func missingCalibrationIsAClearError() throws {
    #expect {
      _ = try compileMLP("canonicalize,quantize", calibration: [])
    } throws: { "\($0)".contains("pass 'quantize' failed") }
  }

  @Test(arguments: [("weights=int2", "'weights' must be int8 or int4"), ("method=mse", "'method' must be minmax"),
                    ("method=percentile,percentile=20.0", "'percentile' must be in")])
  func badOptionsAreNamed(option: String, message: String) throws {
    #expect {
      _ = try compileMLP("quantize{\(option)}", calibration: Self.calibration)
    } throws: { "\($0)".contains(message) }
  }

  @Test func globs() {
    #expect(glob("fc*", "fc1") && glob("*proj", "q_proj") && glob("a?c", "abc") && glob("*", ""))
    #expect(!glob("fc?", "fc12") && !glob("b*", "abc"))
  }
}
