// Inspect.swift - Loading either file kind as a graph, and summarizing it for `graphc inspect`.

import Foundation
import GraphIR
import ONNXImport
import PackedFormat

/// Rebuilds an IR graph from a validated `.gcb`, for printing and inspection.
public func graphFromPacked(_ packed: PackedModel, name: String) throws -> Graph {
  let graph = Graph(name: name)
  var values: [Int: Value] = [:]
  for (inputName, index) in packed.inputs {
    values[index] = graph.addInput(name: inputName, type: packed.tensors[index].type)
  }
  for (i, t) in packed.tensors.enumerated() {
    if let c = t.constant, values[i] == nil { values[i] = graph.addConstant(c, name: t.name) }
  }
  for node in packed.nodes {
    let operands: [Value?] = try node.operands.map { index in
      guard let index else { return nil }
      guard let v = values[index] else { throw DriverError("\(packed.fileName): node '\(node.name)' uses tensor \(index) before it is defined") }
      return v
    }
    let n = graph.addNode(node.op, name: node.name, operands: operands, attributes: node.attributes,
                          resultTypes: node.results.map { packed.tensors[$0].type },
                          resultNames: node.results.map { packed.tensors[$0].name })
    for (index, v) in zip(node.results, n.results) { values[index] = v }
  }
  graph.setOutputs(try packed.outputs.map { name, index in
    guard let v = values[index] else { throw DriverError("\(packed.fileName): output '\(name)' has no producer") }
    return (name, v)
  })
  graph.metadata = packed.metadata
  return graph
}

/// A model file summarized: what `graphc inspect` prints.
public struct ModelSummary {
  public let path: String
  public let format: String
  public let fileBytes: Int
  public let inputs: [(name: String, type: TensorType)]
  public let outputs: [(name: String, type: TensorType)]
  public let ops: [String: Int]
  public let constantCount: Int
  public let parameterBytes: Int
  public let arenaBytes: Int
  /// Bytes the planned tensors would take without sharing space.
  public let unsharedBytes: Int
  public let metadata: [String: String]
  /// The sparse attention record of every graphc.Attention, in graph order.
  public let attention: [AttentionLayerSummary]
}

/// One graphc.Attention's per-head pattern record (all dense when it has none), and the
/// temperature (alpha per head) and output balance (beta of its o-proj) folded into it, if any.
public struct AttentionLayerSummary {
  public let layer: Int
  public let node: String
  public let calibrationLength: Int
  public let heads: [AttentionHeadPattern]
  /// `atm_alpha`, one per head, when `match-attention-temperature` ran.
  public var alpha: [Float]? = nil
  /// `ohb_beta` of the layer's o-proj, when `balance-output-heads` ran.
  public var beta: Float? = nil
}

/// The pattern records of the graph's attention nodes.
public func attentionSummary(_ graph: Graph) throws -> [AttentionLayerSummary] {
  try graph.nodes(ofKind: "graphc.Attention").enumerated().map { i, node in
    let heads = try node.attributes.int(AttentionAttr.heads, default: 0)
    let patterns = try attentionPatterns(node.attributes, heads: heads)
      ?? .init(repeating: AttentionHeadPattern(kind: .dense), count: heads)
    let alpha = try node.attributes.floats(AttentionScalingAttr.alpha)
    guard alpha == nil || alpha?.count == heads else {
      throw DriverError("attention '\(node.name)': \(AttentionScalingAttr.alpha) has \(alpha?.count ?? 0) values for \(heads) heads")
    }
    return AttentionLayerSummary(layer: i, node: node.name, calibrationLength: try node.attributes.int(AttentionAttr.calibrationLength, default: 0),
                                 heads: patterns, alpha: alpha,
                                 beta: try node.attentionOutputProjection?.attributes.float(AttentionScalingAttr.beta))
  }
}

/// Loads `.onnx` (imported, no passes) or `.gcb` as a graph plus its packed form.
public func loadModelFile(_ path: String, shapes: [String: [Int]] = [:]) throws -> (graph: Graph, packed: PackedModel) {
  let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
  if path.hasSuffix(".onnx") {
    var options = ImportOptions()
    options.shapes = shapes
    let graph = try importONNX(path: path, options: options)
    let packed = try PackedModel(image: try packGCB(graph: graph, metadata: graph.metadata), name: path)
    return (graph, packed)
  }
  let packed = try PackedModel(path: path)
  return (try graphFromPacked(packed, name: name), packed)
}

/// Summarizes a model file.
public func summarizeModel(_ path: String, shapes: [String: [Int]] = [:]) throws -> ModelSummary {
  let (graph, packed) = try loadModelFile(path, shapes: shapes)
  let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
  let planned = packed.tensors.compactMap { t -> Int? in
    guard t.arenaOffset != nil, let s = t.type.staticShape, let n = checkedElementCount(s) else { return nil }
    return (n * t.type.dtype.byteSize + packed.arenaAlignment - 1) / packed.arenaAlignment * packed.arenaAlignment
  }.reduce(0, +)
  return ModelSummary(
    path: path, format: path.hasSuffix(".onnx") ? "onnx" : "gcb", fileBytes: size,
    inputs: graph.inputs.map { ($0.name, $0.type) }, outputs: graph.outputs.map { ($0.name, $0.value.type) },
    ops: opHistogram(graph), constantCount: graph.constants.count,
    parameterBytes: graph.constants.reduce(0) { $0 + ($1.constant?.byteCount ?? 0) },
    arenaBytes: packed.arenaSize, unsharedBytes: planned, metadata: graph.metadata, attention: try attentionSummary(graph))
}
