// CalibrationAccess.swift - Calibration samples as passes see them, and running the graph on them.

import GraphIR
import Interpreter
import PackedFormat

/// Calibration inputs for a pipeline run (`graphc optimize --calibration DIR` or
/// `--calibration-random N`). The driver adapts `Calibration.CalibrationSet`; tests may supply
/// their own. Samples are produced one at a time, so a large set is never all in memory.
public protocol CalibrationSamples: AnyObject, Sendable {
  var count: Int { get }
  /// True for generated data: statistics from it describe noise, and passes should say so.
  var isSynthetic: Bool { get }
  var summary: String { get }
  /// The model inputs of sample `index`, by input name.
  func sample(_ index: Int) throws -> [String: Tensor]
}

extension PassContext {
  /// Runs the graph as it is now on every calibration sample, one sample at a time, and hands
  /// `body` the sample index and the values of `values` (node results) for that sample.
  ///
  /// The graph is packed once with `values` as extra outputs and run by the interpreter (the
  /// same kernels as deployment); the graph itself is left as it was. Throws when the pipeline
  /// has no calibration data, naming the pass.
  public func forEachCalibrationSample(capturing values: [Value], _ body: (Int, [Tensor]) throws -> Void) throws {
    guard let calibration else {
      throw GraphError("pass '\(passName)' needs calibration data: give --calibration DIR or --calibration-random N")
    }
    let model = try captureModel(values)
    for i in 0..<calibration.count {
      let outputs = try model.run(try calibration.sample(i))
      var captured: [Tensor] = []
      for k in values.indices {
        guard let t = outputs[captureName(k)] else { throw GraphError("captured value \(k) is missing (internal error)") }
        captured.append(t)
      }
      try body(i, captured)
    }
  }

  /// The graph packed with `values` appended to its outputs, loaded by the interpreter.
  private func captureModel(_ values: [Value]) throws -> Model {
    for v in values where v.producer == nil {
      throw GraphError("only node results can be captured, not '\(v.name)'")
    }
    let saved = graph.outputs
    graph.setOutputs(saved + values.enumerated().map { (captureName($0.offset), $0.element) })
    defer { graph.setOutputs(saved) }
    return try Model(bytes: try writeGCB(graph: graph, metadata: [:]), name: "calibration capture")
  }

  private func captureName(_ k: Int) -> String { "graphc.capture.\(k)" }
}
