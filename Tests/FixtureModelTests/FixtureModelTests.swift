// FixtureModelTests.swift - Each bundled model through each preset: golden IR and outputs
// against onnxruntime's reference outputs stored beside the model.
//
// Golden IR lives in fixtures/golden/<model>.<preset>.gir. GRAPHC_UPDATE_GOLDEN=1 rewrites it;
// review the diff before committing.

import Foundation
import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import Interpreter
import Calibration


@Suite struct FixtureModelTests {
  // resnet and mobilenetv2 run at 224x224 in the benchmark only (seconds each in debug); the
  // suite runs their 64x64 variants.
  static let models = ["convnet", "mlp", "transformer", "transposes", "resnet_64", "mobilenetv2_64"]
  static let presets = ["none", "default"]

  /// The quantizing presets, with the least cosine similarity to onnxruntime's float outputs
  /// each must keep (W8A8 and W4A8 bars). Calibration is the fixture's own input, so this is an
  /// in-sample check of the whole chain; `scripts/quant-eval` measures held-out accuracy.
  static let quantizedPresets: [(String, Double)] = [("npu-int8", 0.99), ("npu-int4", 0.9)]

  @Test(arguments: models, presets)
  func matchesOnnxRuntime(model: String, preset: String) throws {
    var options = OptimizeOptions()
    options.preset = preset
    options.verifyEach = true
    try compileAndCompare(model, preset: preset, options: options) { got, want, name in
      let mismatch = compareTensors(got, want, rtol: 1e-4, atol: 1e-4)
      #expect(mismatch == nil, "\(model) [\(preset)] output \(name): \(mismatch ?? "")")
    }
  }

  @Test(arguments: models, quantizedPresets)
  func quantizedPresetsStayCloseToOnnxRuntime(model: String, preset: (name: String, minCosine: Double)) throws {
    var options = OptimizeOptions()
    options.preset = preset.name
    options.verifyEach = true
    let calibration = try makeTemporaryDirectory(prefix: "graphc-fixture-calibration")
    defer { try? FileManager.default.removeItem(atPath: calibration) }
    try FileManager.default.copyItem(atPath: "\(packageRoot)/fixtures/models/\(model)/inputs", toPath: calibration + "/sample0")
    options.calibrationDirectory = calibration
    try compileAndCompare(model, preset: preset.name, options: options) { got, want, name in
      let cosine = cosineSimilarity(got, want)
      #expect(cosine >= preset.minCosine, "\(model) [\(preset.name)] output \(name): cosine \(cosine)")
    }
  }

  /// Compiles the fixture `model` with `options`, checks the golden IR of `preset`, runs the
  /// fixture's inputs and hands each output with onnxruntime's reference to `compare`.
  private func compileAndCompare(
    _ model: String, preset: String, options: OptimizeOptions, compare: (Tensor, Tensor, String) -> Void
  ) throws {
    let dir = "\(packageRoot)/fixtures/models/\(model)"
    let result = try optimize(modelPath: dir + "/model.onnx", options: options)
    try expectGolden(printGraph(result.graph), path: "\(packageRoot)/fixtures/golden/\(model).\(preset).gir")

    let runtime = try Model(bytes: result.packed, name: model)
    var inputs: [String: Tensor] = [:]
    for input in runtime.inputs {
      inputs[input.name] = try readNPY(path: "\(dir)/inputs/\(sanitizedFileName(input.name)).npy")
    }
    let outputs = try runtime.run(inputs)
    for output in runtime.outputs {
      let want = try readNPY(path: "\(dir)/outputs/\(sanitizedFileName(output.name)).npy")
      compare(try #require(outputs[output.name]), want, output.name)
    }
  }

  /// After the default preset the CNNs have no BatchNormalization and no stand-alone
  /// activation left, and the report says what was fused.
  @Test(arguments: ["convnet", "resnet_64", "mobilenetv2_64"])
  func convFusionLeavesNoBatchNormOrActivation(model: String) throws {
    var options = OptimizeOptions()
    options.preset = "default"
    let result = try optimize(modelPath: "\(packageRoot)/fixtures/models/\(model)/model.onnx", options: options)
    for op in ["onnx.BatchNormalization", "onnx.Relu", "onnx.Clip", "onnx.Pad"] {
      #expect(result.opsAfter[op, default: 0] == 0, "\(model): \(op) left after the default preset")
    }
    let stats = result.reports.reduce(into: [String: Int]()) { acc, r in acc.merge(r.statistics, uniquingKeysWith: +) }
    #expect(stats["batchnorms-folded", default: 0] == result.opsBefore["onnx.BatchNormalization", default: 0])
    #expect(stats["fused-relu", default: 0] + stats["fused-clip", default: 0] + stats["activations-after-add-fused", default: 0] > 0)
    if model.hasPrefix("mobilenetv2") { #expect(stats["depthwise-pointwise-fused", default: 0] == 7) }
    if model.hasPrefix("resnet") { #expect(stats["residual-adds-fused", default: 0] == 5 && stats["pads-folded-conv", default: 0] == 1) }
  }

  @Test func canonicalizeShrinksTheGraphs() throws {
    // mlp has an Identity and a Dropout; transformer has a Shape->Gather->Concat chain.
    for (model, removed) in [("mlp", ["onnx.Identity", "onnx.Dropout"]), ("transformer", ["onnx.Shape", "onnx.Gather", "onnx.Concat"])] {
      var options = OptimizeOptions()
      options.preset = "default"
      let result = try optimize(modelPath: "\(packageRoot)/fixtures/models/\(model)/model.onnx", options: options)
      for op in removed {
        #expect(result.opsBefore[op, default: 0] > 0, "\(model) should start with \(op)")
        #expect(result.opsAfter[op, default: 0] == 0, "\(model): canonicalize left \(op)")
      }
    }
  }
}

/// Compares `text` with the golden file at `path`; rewrites it when GRAPHC_UPDATE_GOLDEN is set
/// or the file is missing (and then records an issue, so a new baseline is always reviewed).
func expectGolden(_ text: String, path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
  let update = ProcessInfo.processInfo.environment["GRAPHC_UPDATE_GOLDEN"] != nil
  guard !update, let golden = try? String(contentsOfFile: path, encoding: .utf8) else {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    if !update { Issue.record("golden file \(path) was missing and has been written; review it", sourceLocation: sourceLocation) }
    return
  }
  #expect(text == golden, "IR differs from \(path); run with GRAPHC_UPDATE_GOLDEN=1 and review the diff", sourceLocation: sourceLocation)
}
