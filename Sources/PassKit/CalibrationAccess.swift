// CalibrationAccess.swift - Calibration samples as passes see them, running the graph on them,
// and the activation ranges measured that way.

import Calibration
import GraphIR
import Interpreter
import PackedFormat

/// How a pass asks for activation ranges (min-max, percentile, entropy); see `Calibration`.
public typealias RangeMethod = Calibration.RangeMethod

/// Calibration inputs for a pipeline run (`graphc optimize --calibration DIR` or
/// `--calibration-random N`): `Calibration.CalibrationSet` conforms, and tests may supply
/// `CalibrationSampleList`. Samples are produced one at a time, so a large set is never all in
/// memory.
public protocol CalibrationSamples: AnyObject, Sendable {
  var count: Int { get }
  /// True for generated data: statistics from it describe noise, and passes should say so.
  var isSynthetic: Bool { get }
  var summary: String { get }
  /// The model inputs of sample `index`, by input name. Throws a one-line error naming the sample.
  func sample(_ index: Int) throws -> [String: Tensor]
}

extension CalibrationSet: CalibrationSamples {}

/// Samples held in memory (tests, small hand-made sets).
public final class CalibrationSampleList: CalibrationSamples, @unchecked Sendable {
  public let samples: [[String: Tensor]]
  public let isSynthetic: Bool

  public init(_ samples: [[String: Tensor]], synthetic: Bool = false) {
    self.samples = samples
    isSynthetic = synthetic
  }

  public var count: Int { samples.count }
  public var summary: String { "\(samples.count) in-memory sample(s)" }
  public func sample(_ index: Int) throws -> [String: Tensor] {
    guard samples.indices.contains(index) else { throw GraphError("calibration sample \(index) out of range 0..<\(count)") }
    return samples[index]
  }
}

extension PassContext {
  /// Runs the graph as it is now on every calibration sample, one sample at a time, and hands
  /// `body` the sample index and the values of `values` for that sample: node results, graph
  /// inputs (taken from the sample) or constants.
  ///
  /// The graph is packed once with the node results among `values` as extra outputs and run by
  /// the interpreter (the same kernels as deployment); the graph itself is left as it was.
  /// `samples` overrides the pipeline's samples (a pass's own synthetic fallback). Throws when
  /// there are no samples, naming the pass, or when a sample does not fit the inputs, naming it.
  public func forEachCalibrationSample(
    capturing values: [Value], samples: CalibrationSamples? = nil, _ body: (Int, [Tensor]) throws -> Void
  ) throws {
    try forEachCalibrationSample(of: graph, capturing: values, samples: samples, body)
  }

  /// The same for another graph than the one the pass works on (a snapshot, such as the float
  /// teacher `quantize` saves): `values` must belong to `other`.
  public func forEachCalibrationSample(
    of other: Graph, capturing values: [Value], samples: CalibrationSamples? = nil, _ body: (Int, [Tensor]) throws -> Void
  ) throws {
    guard let samples = samples ?? calibration, samples.count > 0 else {
      throw GraphError("pass '\(passName)' needs calibration data: give --calibration DIR or --calibration-random N")
    }
    let model = try captureModel(other, values)
    reportProgress("calibration", done: 0, total: samples.count)
    for i in 0..<samples.count {
      let inputs: [String: Tensor], outputs: [String: Tensor]
      do {
        inputs = try samples.sample(i)
        outputs = try model.run(inputs)
      } catch {
        throw GraphError("calibration sample \(i): \(error)")
      }
      var captured: [Tensor] = []
      for (k, v) in values.enumerated() {
        guard let t = v.constant ?? (v.isGraphInput ? inputs[v.name] : outputs[captureName(k)]) else {
          throw GraphError("calibration sample \(i): no tensor for '\(v.name)'")
        }
        captured.append(t)
      }
      try body(i, captured)
      reportProgress("calibration", done: i + 1, total: samples.count)
    }
  }

  /// Per value, the range `method` chooses over every calibration sample (nil for a value that
  /// never held a finite float32). Values stream through collectors one sample at a time; no
  /// activation outlives its sample.
  public func activationRanges(
    for values: [Value], method: RangeMethod, samples: CalibrationSamples? = nil
  ) throws -> [(lo: Float, hi: Float)?] {
    var collectors = values.map { _ in RangeCollector(method: method) }
    try forEachCalibrationSample(capturing: values, samples: samples) { _, tensors in
      for (k, t) in tensors.enumerated() where t.dtype == .float32 {
        collectors[k].observe(UnsafeBufferPointer(start: t.pointer(as: Float.self), count: t.count))
      }
    }
    return collectors.map { $0.range() }
  }

  /// `graph` packed with `values` appended to its outputs, loaded by the interpreter.
  private func captureModel(_ graph: Graph, _ values: [Value]) throws -> Model {
    let saved = graph.outputs
    graph.setOutputs(saved + values.enumerated().filter { $0.element.producer != nil }.map { (captureName($0.offset), $0.element) })
    defer { graph.setOutputs(saved) }
    return try loadInMemory(graph, name: "calibration capture", ops: ops)
  }

  private func captureName(_ k: Int) -> String { "graphc.capture.\(k)" }
}
