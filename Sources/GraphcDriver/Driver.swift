// Driver.swift - The compile flow shared by the CLI and the tests: import, optimize, emit.

import Foundation
import GraphIR
import Interpreter
import ONNXImport
import PassKit
import PackedFormat
import Calibration

/// The version written into every `.gcb` as its producer.
public let graphcVersion = "0.1.0"

/// What `graphc optimize` takes.
public struct OptimizeOptions: Sendable {
  /// Pipeline text; when nil, `preset` names the pipeline.
  public var pipeline: String?
  public var preset: String = "default"
  /// Concrete dims for symbolic input dims, by input name.
  public var shapes: [String: [Int]] = [:]
  public var verifyEach = false
  /// `--print-ir-before`, `--print-ir-after`, `--print-ir-after-all`, `--print-ir-after-change`.
  public var printBefore: Set<String> = []
  public var printAfter: Set<String> = []
  public var printAfterAll = false
  /// `--calibration DIR`: one subfolder of .npy files or one .npz per sample (see `CalibrationSet`).
  public var calibrationDirectory: String?
  /// `--calibration-random N`: N synthetic samples.
  public var calibrationRandom: Int?
  public var printAfterChange = false
  /// `--report FILE.json`: written atomically, also when the pipeline fails.
  public var reportPath: String?
  /// `--check-each DIR`: a folder of `<input name>.npy` files (see `loadInputFolder`), or the
  /// tensors themselves by graph input name; and `--tolerance`.
  public var checkEachDir: String?
  public var checkEachInputs: [String: Tensor]?
  public var tolerance = Tolerance(1e-4)
  /// Ceilings on the model file, tensors, node count and the compiled arena.
  public var limits = ResourceLimits.default
  /// `--sensitivity-budget B`: sets `sensitivity-budget=B` on every `quantize` in the pipeline.
  public var sensitivityBudget: Double?
  /// Receives progress of long pass work (calibration); the CLI draws a `ProgressLine`.
  public var progress: (@Sendable (PassProgress) -> Void)?

  public init() {}

  /// The instruments these options ask for; none when everything is off, so the pass manager
  /// does no extra work.
  public func makeInstrumentation(checkEachInputs: [String: Tensor]?, sink: @escaping (String) -> Void) -> PassInstrumentation {
    var instruments: [any PassInstrument] = []
    if !printBefore.isEmpty || !printAfter.isEmpty || printAfterAll || printAfterChange {
      instruments.append(IRPrinterInstrument(before: printBefore, after: printAfter, afterAll: printAfterAll,
                                             afterChange: printAfterChange, sink: sink))
    }
    if reportPath != nil { instruments.append(OpHistogramInstrument()) }
    if let inputs = checkEachInputs { instruments.append(CheckEachInstrument(inputs: inputs, tolerance: tolerance)) }
    return PassInstrumentation(verifyEach: verifyEach, instruments: instruments)
  }
}

/// The result of compiling one model.
public struct OptimizeResult {
  public let graph: Graph
  public let pipelineText: String
  public let reports: [PassReport]
  public let opsBefore: [String: Int]
  public let opsAfter: [String: Int]
  /// The `.gcb` file, laid out; its weights are the graph's constants, not a copy.
  public let image: GCBImage
  /// The whole `.gcb` file in memory (built on each access; `image.write(to:)` streams instead).
  public var packed: [UInt8] { image.bytes() }
}

/// Operator histogram of a graph.
public func opHistogram(_ graph: Graph) -> [String: Int] {
  graph.nodes.reduce(into: [:]) { $0[$1.op, default: 0] += 1 }
}

/// Resolves `--pipeline` / `--preset` into a parsed pipeline.
public func resolvePipeline(_ options: OptimizeOptions, registry: PassRegistry = builtinRegistry) throws -> Pipeline {
  var text = options.pipeline ?? ""
  if options.pipeline == nil {
    guard let preset = registry.preset(named: options.preset) else {
      let names = registry.allPresets.map(\.name)
      throw PipelineError("unknown preset '\(options.preset)'; presets: \(names.joined(separator: ", "))")
    }
    text = preset
  }
  let pipeline = try Pipeline(parsing: text, registry: registry)
  guard let budget = options.sensitivityBudget else { return pipeline }
  return try settingOption("sensitivity-budget", to: "\(budget)", ofPass: "quantize", in: pipeline, flag: "--sensitivity-budget")
}

/// `pipeline` with `key=value` set on every run of `pass` (re-parsed from its canonical text, so
/// the value is checked like any pipeline option). Fails when the pipeline never runs `pass`.
func settingOption(_ key: String, to value: String, ofPass pass: String, in pipeline: Pipeline, flag: String) throws -> Pipeline {
  var found = false
  func set(_ e: PipelineElement) -> PipelineElement {
    switch e {
    case .pass(let p, let o) where p.name == pass:
      found = true
      var values = o.values
      values[key] = value
      return .pass(p, PassOptions(values: values))
    case .pass: return e
    case .fixpoint(let inner, let limit): return .fixpoint(inner.map(set), limit: limit)
    }
  }
  let text = pipeline.elements.map { set($0).description }.joined(separator: ",")
  guard found else { throw PipelineError("\(flag) needs a '\(pass)' pass in the pipeline ('\(pipeline)' has none)") }
  return try Pipeline(parsing: text, registry: pipeline.registry)
}

/// Imports an ONNX model, runs the pipeline over it and packs the result (nothing is written
/// but the `--report` file). IR dumps from the print options go to `sink`.
public func optimize(
  modelPath: String, options: OptimizeOptions, registry: PassRegistry = builtinRegistry,
  sink: @escaping (String) -> Void = { _ in }
) throws -> OptimizeResult {
  let pipeline = try resolvePipeline(options, registry: registry)
  var importOptions = ImportOptions()
  importOptions.shapes = options.shapes
  importOptions.limits = options.limits
  let graph = try importONNX(path: modelPath, options: importOptions)
  return try optimize(graph: graph, pipeline: pipeline, options: options, input: modelPath, sink: sink)
}

/// Runs `pipeline` over an already imported graph and packs the result.
public func optimize(
  graph: Graph, pipeline: Pipeline, options: OptimizeOptions, input: String? = nil,
  sink: @escaping (String) -> Void = { _ in }
) throws -> OptimizeResult {
  let run = runPipeline(pipeline, on: graph, options: options, sink: sink)
  if let path = options.reportPath {
    try writeReport(PipelineReport(tool: "graphc optimize", input: input ?? graph.name, runs: [run.record]), to: path)
  }
  if let error = run.error { throw error }
  try graph.verify()
  var metadata = graph.metadata
  metadata["producer"] = "graphc \(graphcVersion)"
  metadata["pipeline"] = pipeline.description
  metadata["pass-statistics"] = statisticsJSON(run.record.passes)
  let image = try packGCB(graph: graph, metadata: metadata, limits: options.limits, aliasing: { KernelRegistry.shared.aliasing(for: $0) })
  return OptimizeResult(graph: graph, pipelineText: pipeline.description, reports: run.record.passes,
                        opsBefore: run.record.opsBefore, opsAfter: opHistogram(graph), image: image)
}

/// Per-pass statistics as compact, key-sorted JSON, for the `.gcb` metadata.
func statisticsJSON(_ reports: [PassReport]) -> String {
  let entries = reports.map { r in
    let stats = r.statistics.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
    return "{\"pass\":\"\(r.pass)\",\"statistics\":{\(stats)}}"
  }
  return "[" + entries.joined(separator: ",") + "]"
}


/// The calibration set the options ask for, checked against the graph's inputs; nil for none.
public func calibrationSamples(for graph: Graph, _ options: OptimizeOptions) throws -> CalibrationSet? {
  let inputs = graph.inputs.map { CalibrationSet.Input(name: $0.name, type: $0.type) }
  switch (options.calibrationDirectory, options.calibrationRandom) {
  case (nil, nil): return nil
  case (let dir?, nil): return try CalibrationSet.directory(dir, inputs: inputs)
  case (nil, let n?): return try CalibrationSet.random(count: n, inputs: inputs)
  case (_?, _?): throw CalibrationError("give either --calibration DIR or --calibration-random N, not both")
  }
}
