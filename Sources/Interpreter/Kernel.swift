// Kernel.swift - The kernel interface and registry, and one-off evaluation of a single op.

import GraphIR
import PackedFormat

/// What a kernel's `prepare` sees: the node's attributes and its operand and result types as
/// known at load time (dims may be unknown when shapes depend on run-time values).
public struct KernelContext {
  public let op: String
  public let nodeName: String
  public let attributes: AttributeMap
  public let inputTypes: [TensorType?]
  public let outputTypes: [TensorType]
  /// The operands that are constants of the model, by position (nil otherwise, and empty when
  /// the caller does not know): kernels may prepare them once (e.g. pack weights), but must
  /// still check at run time that the operand they get is that constant.
  public let constantInputs: [Tensor?]

  public init(op: String, nodeName: String, attributes: AttributeMap, inputTypes: [TensorType?], outputTypes: [TensorType],
              constantInputs: [Tensor?] = []) {
    self.op = op
    self.nodeName = nodeName
    self.attributes = attributes
    self.inputTypes = inputTypes
    self.outputTypes = outputTypes
    self.constantInputs = constantInputs
  }

  /// Operand `i` when it is a model constant.
  public func constant(_ i: Int) -> Tensor? { i < constantInputs.count ? constantInputs[i] : nil }

  /// The element type of input `i` (which must be present).
  public func dtype(_ i: Int) throws -> DType {
    guard i < inputTypes.count, let t = inputTypes[i] else { throw GraphError("missing required input \(i)") }
    return t.dtype
  }
}

/// Runs one node. `inputs` are the operands (nil when absent); `outputs` are allocated by the
/// runtime with the shapes that inference computed, and the kernel fills them. Eval trusts
/// what prepare validated and checks only data-dependent values (indices, divisors).
public typealias KernelEval = (_ inputs: [Tensor?], _ outputs: [Tensor]) throws -> Void

/// A kernel: validates attributes and types once at load, and returns the function that runs.
public struct Kernel {
  public let prepare: (KernelContext) throws -> KernelEval
  public init(prepare: @escaping (KernelContext) throws -> KernelEval) { self.prepare = prepare }
}

/// Kernels by op name. Resolution happens at load time, so an unknown op is a load error that
/// names the node, never a failure in the middle of a run.
public final class KernelRegistry: @unchecked Sendable {
  public static let shared = KernelRegistry()
  private var kernels: [String: Kernel] = [:]
  private var aliasKinds: [String: ArenaAlias] = [:]
  private let lock = NSLock()

  private init() {
    for table in [elementwiseKernels, tensorKernels, nnKernels, quantizedKernels] {
      for (name, k) in table { kernels[name] = k }
    }
    for op in inPlaceOps { aliasKinds[op] = .inPlace }
    for op in viewOps { aliasKinds[op] = .view }
  }

  /// How the op's kernel may share arena bytes between its result and an operand: `.inPlace`
  /// (element-wise: reads element i before writing element i) or `.view` (copies nothing when
  /// the result already is the operand's bytes); nil when it needs its own buffer. The
  /// compiler plans aliases with this, and loading checks every planned alias against it.
  public func aliasing(for op: String) -> ArenaAlias? {
    lock.lock(); defer { lock.unlock() }
    return aliasKinds[op]
  }

  /// Adds a kernel for a custom op; a name can be registered only once.
  public func register(_ op: String, _ kernel: Kernel) throws {
    lock.lock(); defer { lock.unlock() }
    guard kernels[op] == nil else { throw GraphError("a kernel for '\(op)' is already registered") }
    kernels[op] = kernel
  }

  public func kernel(for op: String) -> Kernel? {
    lock.lock(); defer { lock.unlock() }
    return kernels[op]
  }

  public var allNames: [String] {
    lock.lock(); defer { lock.unlock() }
    return kernels.keys.sorted()
  }
}

import Foundation

/// Evaluates one op on concrete tensors: infers result shapes with the op's schema, allocates
/// the results, prepares and runs the kernel. Constant folding uses this, so folding and
/// execution share one implementation of every op.
public func evaluate(
  op: String, attributes: AttributeMap, inputs: [Tensor?], resultCount: Int = 1,
  nodeName: String = "", ops: OpRegistry = .shared, kernels: KernelRegistry = .shared
) throws -> [Tensor] {
  guard let schema = ops.schema(op) else { throw GraphError("unknown op", node: nodeName, op: op) }
  guard let kernel = kernels.kernel(for: op) else { throw GraphError("no kernel for this op", node: nodeName, op: op) }
  let operands = inputs.map { $0.map { OperandInfo(type: $0.type, value: $0) } }
  let types = try schema.check(
    InferenceContext(op: op, operands: operands, attributes: attributes, resultCount: resultCount), node: nodeName)
  var outputs: [Tensor] = []
  for t in types {
    guard let shape = t.staticShape else { throw GraphError("result shape \(t) is not known", node: nodeName, op: op) }
    guard let n = checkedElementCount(shape), n <= Int(Int32.max) * 16 else {
      throw GraphError("result shape \(shape) is too large", node: nodeName, op: op)
    }
    outputs.append(Tensor(zeros: t.dtype, shape: shape))
  }
  do {
    let ctx = KernelContext(op: op, nodeName: nodeName, attributes: attributes,
                            inputTypes: inputs.map { $0?.type }, outputTypes: types)
    let eval = try kernel.prepare(ctx)
    try eval(inputs, outputs)
  } catch let e as GraphError {
    throw e.at(node: nodeName, op: op)
  }
  return outputs
}
