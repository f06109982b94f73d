// CalibrationAccess.swift - Calibration samples for passes, and activation ranges measured on them.

import Calibration
import GraphIR
import Interpreter
import PackedFormat

/// How a pass asks for activation ranges (min-max, percentile, entropy); see `Calibration`.
public typealias RangeMethod = Calibration.RangeMethod

/// The calibration inputs a pass may run the graph on, one sample at a time, so that nothing
/// holds all of them. The driver's `--calibration DIR` reader conforms to this; tests use
/// `CalibrationSampleList`.
public protocol CalibrationSamples: AnyObject {
  /// How many samples there are.
  var count: Int { get }
  /// Sample `index` as graph input name to tensor. Throws a one-line error naming the sample.
  func sample(_ index: Int) throws -> [String: Tensor]
  /// True for generated data (`--calibration-random`): passes say so loudly in their reports.
  var isSynthetic: Bool { get }
}

/// Samples held in memory (tests, small synthetic sets).
public final class CalibrationSampleList: CalibrationSamples {
  public let samples: [[String: Tensor]]
  public let isSynthetic: Bool

  public init(_ samples: [[String: Tensor]], synthetic: Bool = false) {
    self.samples = samples
    isSynthetic = synthetic
  }

  public var count: Int { samples.count }
  public func sample(_ index: Int) throws -> [String: Tensor] { samples[index] }

  /// `count` samples of uniform values in [-1, 1) for every float32 input with a static shape
  /// (deterministic from `seed`). For smoke tests only: real ranges need real data.
  public static func random(for graph: Graph, count: Int, seed: UInt64 = 0x9e37_79b9) throws -> CalibrationSampleList {
    var state = seed | 1
    var samples: [[String: Tensor]] = []
    for _ in 0..<count {
      var feeds: [String: Tensor] = [:]
      for v in graph.inputs {
        guard v.type.dtype == .float32, let shape = v.type.staticShape else {
          throw GraphError("synthetic calibration needs float32 inputs with static shapes; '\(v.name)' is \(v.type)")
        }
        let t = Tensor(zeros: .float32, shape: shape)
        let p = t.pointer(as: Float.self)
        for i in 0..<t.count {
          state ^= state << 13; state ^= state >> 7; state ^= state << 17
          p[i] = Float(state >> 40) / Float(1 << 23) - 1
        }
        feeds[v.name] = t
      }
      samples.append(feeds)
    }
    return CalibrationSampleList(samples, synthetic: true)
  }
}

extension PassContext {
  /// Runs the current graph on every calibration sample and returns, per value, the range
  /// `method` chooses (nil for a value that never held a finite float). Values are observed
  /// through streaming collectors, one sample at a time; no activation outlives its sample.
  ///
  /// `samples` overrides the pipeline's samples (a pass's synthetic fallback). Throws when
  /// there are no samples or a sample does not fit the inputs.
  public func activationRanges(
    for values: [Value], method: RangeMethod, samples: CalibrationSamples? = nil
  ) throws -> [(lo: Float, hi: Float)?] {
    guard let samples = samples ?? calibration, samples.count > 0 else {
      throw GraphError("no calibration data: give calibration samples (--calibration DIR) or calibration-random=N")
    }
    // Expose the values as extra outputs of a compiled copy; the graph itself is restored.
    let saved = graph.outputs
    var probes = saved
    var names: [String] = []
    for (i, v) in values.enumerated() {
      let name = "__calibration.\(i)"
      names.append(name)
      probes.append((name, v))
    }
    graph.setOutputs(probes)
    let bytes: [UInt8]
    do {
      defer { graph.setOutputs(saved) }
      bytes = try writeGCB(graph: graph, metadata: [:])
    }
    let model = try Model(packed: PackedModel(bytes: bytes, name: "calibration"))
    var collectors = values.map { _ in RangeCollector(method: method) }
    for s in 0..<samples.count {
      let outputs: [String: Tensor]
      do { outputs = try model.run(try samples.sample(s)) } catch {
        throw GraphError("calibration sample \(s): \(error)")
      }
      for (k, name) in names.enumerated() {
        guard let t = outputs[name], t.dtype == .float32 else { continue }
        collectors[k].observe(UnsafeBufferPointer(start: t.pointer(as: Float.self), count: t.count))
      }
    }
    return collectors.map { $0.range() }
  }
}
