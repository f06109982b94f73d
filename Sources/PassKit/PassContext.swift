// PassContext.swift - The pass's only door to the graph and the outside world.

import GraphIR
import Interpreter

/// Severity of a diagnostic.
public enum Severity: String, Sendable, Codable { case error, warning, remark }

/// A message from a pass about a node (or the whole graph).
public struct Diagnostic: Sendable, CustomStringConvertible, Codable {
  public let severity: Severity
  public let pass: String
  public let node: String?
  public let op: String?
  public let message: String

  public init(severity: Severity, pass: String, node: String?, op: String?, message: String) {
    self.severity = severity
    self.pass = pass
    self.node = node
    self.op = op
    self.message = message
  }

  /// `fold-transposes: node 't1' (onnx.Transpose): warning: …`, the form `CHECK-ERROR:` lines match.
  public var description: String {
    let at = node.map { "node '\($0)' (\(op ?? "?")): " } ?? ""
    return "\(pass): \(at)\(severity.rawValue): \(message)"
  }
}

/// A pass reported error diagnostics: the pipeline stops after it.
public struct DiagnosedErrors: Error, CustomStringConvertible, Sendable {
  public let diagnostics: [Diagnostic]
  public var description: String {
    let errors = diagnostics.filter { $0.severity == .error }
    return "\(errors.count) error diagnostic(s): " + errors.map(\.description).joined(separator: "; ")
  }
}

/// Everything a pass may do besides reading the graph: rewrite it, report diagnostics, count
/// statistics, and evaluate ops with the interpreter's kernels. Every mutation goes through
/// here, so the pass manager knows whether a pass changed anything.
public final class PassContext {
  public let passName: String
  public let options: PassOptions
  public let graph: Graph
  /// The pipeline's calibration inputs, if any (see `forEachCalibrationSample`).
  public let calibration: CalibrationSamples?
  public private(set) var diagnostics: [Diagnostic] = []
  public private(set) var statistics: [String: Int] = [:]
  /// True once any mutation went through this context.
  public var changed: Bool { changeCount > 0 }
  /// How many mutations went through this context; a composite pass compares it across rounds.
  public private(set) var changeCount = 0

  /// The host's op registry. A pass loaded at run time links its own copy of GraphIR, so it
  /// must reach the host's schemas (custom ops included) through here, never `OpRegistry.shared`.
  public let ops: OpRegistry
  /// The run's named graph copies (see `saveSnapshot(named:)`).
  let snapshots: SnapshotStore

  /// Where `reportProgress` goes (the driver's progress line); nil reports nothing.
  var progressSink: ((PassProgress) -> Void)?
  var progressStart: (task: String, nanos: UInt64)?

  init(passName: String, options: PassOptions, graph: Graph, statistics: [String], ops: OpRegistry = .shared,
       calibration: CalibrationSamples? = nil, snapshots: SnapshotStore = SnapshotStore()) {
    self.passName = passName
    self.snapshots = snapshots
    self.calibration = calibration
    self.options = options
    self.graph = graph
    self.ops = ops
    for s in statistics { self.statistics[s] = 0 }
  }

  /// True once the pass reported an error diagnostic; the pipeline stops after this pass.
  public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

  // MARK: Reporting

  public func count(_ statistic: String, by n: Int = 1) { statistics[statistic, default: 0] += n }

  /// Records a diagnostic about `node` (or the whole graph). An `.error` fails the pipeline
  /// once the pass returns, so a pass can report every problem it finds before stopping.
  public func diagnose(_ severity: Severity, _ message: String, at node: Node? = nil) {
    diagnostics.append(Diagnostic(severity: severity, pass: passName, node: node?.name, op: node?.op, message: message))
  }

  // MARK: Rewriting

  public func replaceAllUses(of old: Value, with new: Value) {
    changeCount += 1
    graph.replaceAllUses(of: old, with: new)
  }

  /// Rewires each result of `node` to the matching value, then erases the node.
  public func replace(_ node: Node, with values: [Value]) {
    precondition(values.count == node.results.count, "replace needs one value per result")
    for (r, v) in zip(node.results, values) { replaceAllUses(of: r, with: v) }
    erase(node)
  }

  /// Erases a node whose results are unused.
  public func erase(_ node: Node) {
    changeCount += 1
    graph.erase(node)
  }

  public func setOperand(_ node: Node, _ index: Int, to value: Value?) {
    changeCount += 1
    graph.setOperand(node, index, to: value)
  }

  public func setAttribute(_ node: Node, _ name: String, _ value: Attribute?) {
    changeCount += 1
    graph.setAttribute(node, name, value)
  }

  /// A new constant value (the graph drops it again if nothing comes to use it).
  public func makeConstant(_ tensor: Tensor, name: String = "", quant: Quantization? = nil) -> Value {
    changeCount += 1
    return graph.addConstant(tensor, name: name, quant: quant)
  }

  /// Sets the quantization parameters of a value's type (for results of integer ops, whose
  /// output parameters come from calibration, not from inference).
  public func setQuantization(of value: Value, _ quant: Quantization?) {
    changeCount += 1
    value.type.quant = quant
  }

  /// Inserts a node before `anchor`; its result types are inferred from the operands.
  @discardableResult
  public func insert(
    _ op: String, before anchor: Node, name: String? = nil, operands: [Value?],
    attributes: AttributeMap = [:], resultCount: Int = 1
  ) throws -> Node {
    changeCount += 1
    let placeholder = [TensorType](repeating: TensorType(.float32, nil), count: resultCount)
    let n = graph.insertNode(op, before: anchor, name: name ?? anchor.name, operands: operands,
                             attributes: attributes, resultTypes: placeholder)
    for (r, t) in zip(n.results, try graph.inferResultTypes(of: n, registry: ops)) { r.type = t }
    return n
  }

  /// Re-infers every value's type after rewrites that may have made shapes known.
  public func refreshTypes() throws { try graph.inferTypes(registry: ops) }

  // MARK: Evaluation

  /// Evaluates `node` on its constant operands with the interpreter's kernels (the same code
  /// that runs the model), returning one tensor per result.
  public func evaluate(_ node: Node) throws -> [Tensor] {
    let inputs: [Tensor?] = try node.operands.map { v in
      guard let v else { return nil }
      guard let c = v.constant else { throw GraphError("operand '\(v.name)' is not constant", node: node.name, op: node.op) }
      return c
    }
    return try evaluate(op: node.op, attributes: node.attributes, inputs: inputs,
                        resultCount: node.results.count, nodeName: node.name)
  }

  /// Evaluates one op on the given tensors with the interpreter's kernels.
  public func evaluate(
    op: String, attributes: AttributeMap, inputs: [Tensor?], resultCount: Int = 1, nodeName: String = ""
  ) throws -> [Tensor] {
    try Interpreter.evaluate(op: op, attributes: attributes, inputs: inputs, resultCount: resultCount,
                             nodeName: nodeName, ops: ops)
  }

  /// Runs a whole graph (a subgraph a pass built, or a copy of the one it works on) on the
  /// interpreter: packed in memory and loaded exactly as `graphc run` loads a `.gcb`.
  public func execute(_ graph: Graph, inputs: [String: Tensor]) throws -> [String: Tensor] {
    try executeGraph(graph, inputs: inputs, ops: ops)
  }
}
