// Model.swift - The public runtime: load a .gcb, prepare every kernel once, run on named tensors.

import Foundation
import GraphIR
import PackedFormat

/// A loaded, validated model ready to run.
///
/// Loading validates the file (`PackedModel`), checks every node against its op schema,
/// resolves and prepares its kernel, and allocates one arena for the planned tensors. `run`
/// is serialized by a lock, because every run reuses that arena.
public final class Model {
  public let packed: PackedModel
  /// The graph inputs and outputs with their public names, in file order.
  public let inputs: [(name: String, type: TensorType)]
  public let outputs: [(name: String, type: TensorType)]
  /// Bytes of the arena allocated at load.
  public var arenaSize: Int { arena.byteCount }
  public var metadata: [String: String] { packed.metadata }
  /// Threads the kernels of this model's runs may use; nil (the default) uses
  /// `InterpreterThreads.count`. `run(_:threads:)` overrides it for one run.
  public var threads: Int? {
    get { lock.lock(); defer { lock.unlock() }; return defaultThreads }
    set { lock.lock(); defer { lock.unlock() }; defaultThreads = newValue }
  }
  private var defaultThreads: Int?

  private let steps: [Step]
  private let arena: TensorStorage
  /// Per tensor: constants and planned arena views; nil for inputs and dynamic tensors.
  private let template: [Tensor?]
  private let lock = NSLock()
  private let limits: ResourceLimits

  /// One scheduled node with its prepared kernel.
  private struct Step {
    let node: PackedModel.NodeInfo
    let schema: OpSchema
    let eval: KernelEval
    /// True when result shapes must be inferred on the concrete operands: some operand or
    /// result shape is only known at run time, or a result has no arena offset.
    let inferAtRunTime: Bool
  }

  /// Maps and loads a `.gcb`, refusing it when it breaks a ceiling of `limits`.
  /// `verifyWeightChecksum: false` skips the CRC of the weights section (see
  /// `PackedModel(path:verifyChecksums:verifyWeightChecksum:maxBytes:)`).
  public convenience init(path: String, verifyWeightChecksum: Bool = true, limits: ResourceLimits = .default) throws {
    try self.init(packed: PackedModel(path: path, verifyWeightChecksum: verifyWeightChecksum, maxBytes: limits.modelBytes),
                  limits: limits)
  }

  /// Prepares a validated file. Fails when the file exceeds `limits`: its node count, its
  /// arena, or the declared size of any tensor; the tensor-bytes ceiling also bounds every
  /// allocation made while running.
  public init(packed: PackedModel, limits: ResourceLimits = .default, ops: OpRegistry = .shared,
              kernels: KernelRegistry = .shared) throws {
    self.packed = packed
    self.limits = limits
    inputs = packed.inputs.map { ($0.name, packed.tensors[$0.tensor].type) }
    outputs = packed.outputs.map { ($0.name, packed.tensors[$0.tensor].type) }
    try limits.check(.nodes, packed.nodes.count, what: "the model")
    for t in packed.tensors {
      guard let shape = t.type.staticShape else { continue }
      try limits.check(.tensorBytes, checkedByteCount(shape, t.type.dtype), what: "tensor '\(t.name)' of shape \(shape)")
    }
    try limits.check(.arenaBytes, packed.arenaSize, what: "the arena")
    try checkAllocation(bytes: packed.arenaSize, what: "the arena")
    arena = TensorStorage(byteCount: packed.arenaSize)

    var template = [Tensor?](repeating: nil, count: packed.tensors.count)
    for (i, t) in packed.tensors.enumerated() {
      if let c = t.constant {
        template[i] = c
      } else if let off = t.arenaOffset, let shape = t.type.staticShape {
        // The reader checked that the range lies inside the arena.
        template[i] = Tensor(dtype: t.type.dtype, shape: shape, storage: arena, byteOffset: off)
      }
    }
    self.template = template

    for a in packed.aliases where kernels.aliasing(for: packed.nodes[a.node].op) != a.kind {
      let node = packed.nodes[a.node]
      throw GraphError("the plan shares the result's bytes with an operand (\(a.kind)), which this op's kernel does not allow", node: node.name, op: node.op)
    }
    var steps: [Step] = []
    for node in packed.nodes {
      steps.append(try Self.prepare(node, packed: packed, ops: ops, kernels: kernels))
    }
    self.steps = steps
  }

  /// Checks a node against its schema at load time and prepares its kernel.
  private static func prepare(
    _ node: PackedModel.NodeInfo, packed: PackedModel, ops: OpRegistry, kernels: KernelRegistry
  ) throws -> Step {
    guard let schema = ops.schema(node.op) else { throw GraphError("unknown op (no schema is registered)", node: node.name, op: node.op) }
    guard let kernel = kernels.kernel(for: node.op) else { throw GraphError("no kernel is registered for this op", node: node.name, op: node.op) }
    let tensors = packed.tensors
    let operandTypes = node.operands.map { $0.map { tensors[$0].type } }
    // Generic kernels copy whole bytes per element; packed int4 reaches only ops built for it.
    if operandTypes.contains(where: { $0?.dtype.isPacked == true }) && !schema.acceptsPackedOperands {
      throw GraphError("this op cannot take packed int4 operands", node: node.name, op: node.op)
    }
    let infos = node.operands.map { $0.map { OperandInfo(type: tensors[$0].type, value: tensors[$0].constant) } }
    let inferred = try schema.check(
      InferenceContext(op: node.op, operands: infos, attributes: node.attributes, resultCount: node.results.count),
      node: node.name)
    guard inferred.count == node.results.count else {
      throw GraphError("the op infers \(inferred.count) results but the node has \(node.results.count)", node: node.name, op: node.op)
    }
    var proven = operandTypes.allSatisfy { $0.map { $0.staticShape != nil } ?? true }
    var resultTypes: [TensorType] = []
    for (r, t) in zip(node.results, inferred) {
      let declared = tensors[r].type
      guard compatible(declared, t) else {
        throw GraphError("result '\(tensors[r].name)' is declared \(declared) but the op infers \(t)", node: node.name, op: node.op)
      }
      proven = proven && t.staticShape != nil && tensors[r].arenaOffset != nil
      // A dynamic result keeps its declared quantization (integer ops' output parameters).
      resultTypes.append(declared.staticShape != nil ? declared : TensorType(t.dtype, t.dims, quant: t.quant ?? declared.quant))
    }
    do {
      let ctx = KernelContext(op: node.op, nodeName: node.name, attributes: node.attributes,
                              inputTypes: operandTypes, outputTypes: resultTypes,
                              constantInputs: node.operands.map { $0.flatMap { tensors[$0].constant } })
      return Step(node: node, schema: schema, eval: try kernel.prepare(ctx), inferAtRunTime: !proven)
    } catch let e as GraphError {
      throw e.at(node: node.name, op: node.op)
    }
  }

  /// Runs the model. Every model input must be given with its dtype (float16 is accepted for a
  /// float32 input and converted) and a shape matching its declared dims. Returns fresh copies
  /// of the outputs, which stay valid across later runs. `threads` bounds the threads the
  /// kernels use for this run (default: `self.threads`, else `InterpreterThreads.count`).
  public func run(_ feeds: [String: Tensor], threads: Int? = nil) throws -> [String: Tensor] {
    try run(feeds, threads: threads, timing: false).outputs
  }

  /// The wall time of one node in one run.
  public struct NodeTime: Sendable {
    public let node: String
    public let op: String
    public let nanoseconds: UInt64
  }

  /// `run`, also giving the wall time of each node, in schedule order, for per-op profiles
  /// such as `graphc bench --profile`. Timing costs two clock reads per node.
  public func profile(_ feeds: [String: Tensor], threads: Int? = nil) throws -> (outputs: [String: Tensor], times: [NodeTime]) {
    try run(feeds, threads: threads, timing: true)
  }

  private func run(_ feeds: [String: Tensor], threads: Int?, timing: Bool) throws -> (outputs: [String: Tensor], times: [NodeTime]) {
    if let threads, threads < 1 { throw GraphError("threads must be at least 1, got \(threads)") }
    lock.lock(); defer { lock.unlock() }
    return try InterpreterThreads.with(threads ?? defaultThreads) { try runLocked(feeds, timing: timing) }
  }

  private func runLocked(_ feeds: [String: Tensor], timing: Bool) throws -> (outputs: [String: Tensor], times: [NodeTime]) {
    var values = template
    for name in feeds.keys where !packed.inputs.contains(where: { $0.name == name }) {
      throw GraphError("unknown input '\(name)' (the model's inputs are \(inputNameList))")
    }
    for (name, t) in packed.inputs {
      guard let given = feeds[name] else { throw GraphError("missing input '\(name)' (the model's inputs are \(inputNameList))") }
      values[t] = try conform(given, to: packed.tensors[t].type, what: "input '\(name)'")
    }
    var times: [NodeTime] = []
    for step in steps {
      let start = timing ? DispatchTime.now().uptimeNanoseconds : 0
      try execute(step, &values)
      if timing {
        times.append(NodeTime(node: step.node.name, op: step.node.op, nanoseconds: DispatchTime.now().uptimeNanoseconds - start))
      }
    }
    var out: [String: Tensor] = [:]
    for (name, t) in packed.outputs {
      guard let v = values[t] else { throw GraphError("output '\(name)' was not computed") }
      out[name] = v.copy()
    }
    return (out, times)
  }

  private var inputNameList: String { packed.inputs.map { "'\($0.name)'" }.joined(separator: ", ") }

  private func execute(_ step: Step, _ values: inout [Tensor?]) throws {
    let node = step.node
    do {
      var operands: [Tensor?] = []
      operands.reserveCapacity(node.operands.count)
      for o in node.operands {
        guard let o else { operands.append(nil); continue }
        guard let v = values[o] else { throw GraphError("operand tensor \(o) has no value (internal error)") }
        operands.append(v)
      }
      if step.inferAtRunTime {
        // Concrete shapes, with the declared quantization parameters (tensors carry none).
        let infos = zip(node.operands, operands).map { index, t in
          t.map { OperandInfo(type: TensorType($0.dtype, shape: $0.shape, quant: index.flatMap { packed.tensors[$0].type.quant }), value: $0) }
        }
        let types = try step.schema.check(
          InferenceContext(op: node.op, operands: infos, attributes: node.attributes, resultCount: node.results.count),
          node: node.name)
        guard types.count == node.results.count else { throw GraphError("the op inferred \(types.count) results") }
        for (r, t) in zip(node.results, types) {
          let info = packed.tensors[r]
          guard let shape = t.staticShape else { throw GraphError("the shape of result '\(info.name)' is still unknown at run time (\(t))") }
          guard t.dtype == info.type.dtype, compatible(info.type, TensorType(t.dtype, shape: shape)) else {
            throw GraphError("result '\(info.name)' has shape \(shape) at run time but is declared \(info.type)")
          }
          if let planned = template[r] {
            // Static declared dims equal the concrete shape (checked above), so the view fits.
            values[r] = planned
          } else {
            let what = "result '\(info.name)' of shape \(shape)"
            try limits.check(.tensorBytes, checkedByteCount(shape, t.dtype), what: what)
            try checkAllocation(bytes: shape.reduce(t.dtype.byteSize, *), what: what)
            values[r] = Tensor(zeros: t.dtype, shape: shape)
          }
        }
      }
      var results: [Tensor] = []
      results.reserveCapacity(node.results.count)
      for r in node.results {
        guard let v = values[r] else { throw GraphError("result tensor \(r) has no storage (internal error)") }
        results.append(v)
      }
      try step.eval(operands, results)
    } catch let e as GraphError {
      throw e.at(node: node.name, op: node.op)
    } catch {
      throw GraphError("\(error)", node: node.name, op: node.op)
    }
  }

  /// Checks a caller's tensor against a declared input type, converting float16 to float32.
  private func conform(_ t: Tensor, to type: TensorType, what: String) throws -> Tensor {
    var t = t
    if t.dtype != type.dtype {
      guard t.dtype == .float16 && type.dtype == .float32 else {
        throw GraphError("\(what) has element type \(t.dtype.shortName) but the model expects \(type.dtype.shortName)")
      }
      t = convertHalfToFloat(t)
    }
    guard compatible(type, t.type) else { throw GraphError("\(what) has shape \(t.shape) but the model expects \(type)") }
    return t
  }
}

/// Same dtype, and where both ranks are known, the same rank and equal fixed dims.
private func compatible(_ declared: TensorType, _ actual: TensorType) -> Bool {
  guard declared.dtype == actual.dtype else { return false }
  guard let a = declared.dims, let b = actual.dims else { return true }
  guard a.count == b.count else { return false }
  for (x, y) in zip(a, b) {
    if let p = x.value, let q = y.value, p != q { return false }
  }
  return true
}

private func convertHalfToFloat(_ t: Tensor) -> Tensor {
  let out = Tensor(zeros: .float32, shape: t.shape)
  let src = t.pointer(as: UInt16.self), dst = out.pointer(as: Float.self)
  for i in 0..<t.count { dst[i] = halfToFloat(src[i]) }
  return out
}

/// Refuses allocations the machine cannot hold, so that a bad model or input gives an error
/// instead of an allocation failure (which would abort the process).
private func checkAllocation(bytes: Int, what: String) throws {
  guard UInt64(bytes) <= ProcessInfo.processInfo.physicalMemory else {
    throw GraphError("\(what) needs \(bytes) bytes, more than this machine's memory")
  }
}

