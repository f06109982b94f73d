// Driver.swift - The compile flow shared by the CLI and the tests: import, optimize, emit.

import Foundation
import GraphIR
import ONNXImport
import PassKit
import PackedFormat

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
  public var printAfter: Set<String> = []
  public var printAfterAll = false
  /// Ceilings on the model file, tensors, node count and the compiled arena.
  public var limits = ResourceLimits.default

  public init() {}
}

/// The result of compiling one model.
public struct OptimizeResult {
  public let graph: Graph
  public let pipelineText: String
  public let reports: [PassReport]
  public let opsBefore: [String: Int]
  public let opsAfter: [String: Int]
  public let packed: [UInt8]
}

/// Operator histogram of a graph.
public func opHistogram(_ graph: Graph) -> [String: Int] {
  graph.nodes.reduce(into: [:]) { $0[$1.op, default: 0] += 1 }
}

/// Resolves `--pipeline` / `--preset` into a parsed pipeline.
public func resolvePipeline(_ options: OptimizeOptions) throws -> Pipeline {
  let registry = builtinRegistry
  if let text = options.pipeline { return try Pipeline(parsing: text, registry: registry) }
  guard let text = registry.preset(named: options.preset) else {
    let names = registry.allPresets.map(\.name)
    throw PipelineError("unknown preset '\(options.preset)'; presets: \(names.joined(separator: ", "))")
  }
  return try Pipeline(parsing: text, registry: registry)
}

/// Imports an ONNX model, runs the pipeline over it and packs the result (nothing is written).
public func optimize(
  modelPath: String, options: OptimizeOptions, printer: (@Sendable (String, Graph) -> Void)? = nil
) throws -> OptimizeResult {
  let pipeline = try resolvePipeline(options)
  var importOptions = ImportOptions()
  importOptions.shapes = options.shapes
  importOptions.limits = options.limits
  let graph = try importONNX(path: modelPath, options: importOptions)
  return try optimize(graph: graph, pipeline: pipeline, options: options, printer: printer)
}

/// Runs `pipeline` over an already imported graph and packs the result.
public func optimize(
  graph: Graph, pipeline: Pipeline, options: OptimizeOptions, printer: (@Sendable (String, Graph) -> Void)? = nil
) throws -> OptimizeResult {
  let before = opHistogram(graph)
  var instrumentation = PassInstrumentation(verifyEach: options.verifyEach)
  instrumentation.printAfter = options.printAfter
  instrumentation.printAfterAll = options.printAfterAll
  instrumentation.printer = printer
  let reports = try PassManager(instrumentation: instrumentation).run(pipeline, on: graph)
  try graph.verify()
  var metadata = graph.metadata
  metadata["producer"] = "graphc \(graphcVersion)"
  metadata["pipeline"] = pipeline.description
  metadata["pass-statistics"] = statisticsJSON(reports)
  let packed = try writeGCB(graph: graph, metadata: metadata, limits: options.limits)
  return OptimizeResult(graph: graph, pipelineText: pipeline.description, reports: reports,
                        opsBefore: before, opsAfter: opHistogram(graph), packed: packed)
}

/// Per-pass statistics as compact, key-sorted JSON, for the `.gcb` metadata.
func statisticsJSON(_ reports: [PassReport]) -> String {
  let entries = reports.map { r in
    let stats = r.statistics.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
    return "{\"pass\":\"\(r.pass)\",\"statistics\":{\(stats)}}"
  }
  return "[" + entries.joined(separator: ",") + "]"
}
