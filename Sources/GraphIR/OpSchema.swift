// OpSchema.swift - Per-op schemas: arity, shape and type inference, verification.

/// What inference knows about one operand: its type, and its value when it is constant.
/// At compile time `value` is set for constants only; in the interpreter every operand has one,
/// so data-dependent shapes (Reshape, Expand, Range, ...) resolve there with the same code.
public struct OperandInfo {
  public var type: TensorType
  public var value: Tensor?
  public init(type: TensorType, value: Tensor? = nil) { self.type = type; self.value = value }
}

/// The input of a shape-inference function.
public struct InferenceContext {
  public let op: String
  public let operands: [OperandInfo?]
  public let attributes: AttributeMap
  /// How many results the node has (some ops, like Split, depend on it).
  public let resultCount: Int

  public init(op: String, operands: [OperandInfo?], attributes: AttributeMap, resultCount: Int) {
    self.op = op
    self.operands = operands
    self.attributes = attributes
    self.resultCount = resultCount
  }

  /// Operand `i`, which must be present.
  public func operand(_ i: Int) throws -> OperandInfo {
    guard i < operands.count, let o = operands[i] else { throw GraphError("missing required input \(i)") }
    return o
  }
  /// Operand `i` if present.
  public func optional(_ i: Int) -> OperandInfo? { i < operands.count ? operands[i] : nil }
  public func type(_ i: Int) throws -> TensorType { try operand(i).type }
  /// The static shape of operand `i`, or nil when some dim is unknown.
  public func shape(_ i: Int) throws -> [Int]? { try operand(i).type.staticShape }
  /// Integer contents of a constant operand, or nil when not known yet.
  public func intValues(_ i: Int) throws -> [Int]? {
    guard let o = optional(i), let v = o.value else { return nil }
    guard let ints = v.intValues() else { throw GraphError("input \(i) must hold integers, not \(v.dtype.shortName)") }
    return ints
  }
}

/// Shape and type inference for one op: returns one type per result (dims may be unknown) or
/// throws a `GraphError` explaining why the operands are invalid.
public typealias InferFunction = (InferenceContext) throws -> [TensorType]

/// The registered description of an op.
public struct OpSchema {
  public let name: String
  public let inputs: ClosedRange<Int>
  public let outputs: ClosedRange<Int>
  public let infer: InferFunction
  /// Whether operands may have a packed element type (int4 weights). Generic ops never see
  /// packed tensors: the verifier and the interpreter's loader reject them elsewhere.
  public let acceptsPackedOperands: Bool

  public init(_ name: String, inputs: ClosedRange<Int>, outputs: ClosedRange<Int> = 1...1,
              acceptsPackedOperands: Bool = false, infer: @escaping InferFunction) {
    self.name = name
    self.inputs = inputs
    self.outputs = outputs
    self.acceptsPackedOperands = acceptsPackedOperands
    self.infer = infer
  }

  /// Checks arity, then runs inference with the node's name attached to any error.
  public func check(_ ctx: InferenceContext, node: String) throws -> [TensorType] {
    do {
      guard inputs.contains(ctx.operands.count) || (ctx.operands.count > inputs.upperBound
            && ctx.operands[inputs.upperBound...].allSatisfy { $0 == nil }) else {
        throw GraphError("expects \(Self.describe(inputs)) inputs, got \(ctx.operands.count)")
      }
      guard outputs.contains(ctx.resultCount) else {
        throw GraphError("expects \(Self.describe(outputs)) outputs, got \(ctx.resultCount)")
      }
      let types = try infer(ctx)
      return types
    } catch let e as GraphError {
      throw e.at(node: node, op: name)
    }
  }

  static func describe(_ r: ClosedRange<Int>) -> String {
    r.lowerBound == r.upperBound ? "\(r.lowerBound)" : r.upperBound >= 1_000 ? "at least \(r.lowerBound)" : "\(r.lowerBound) to \(r.upperBound)"
  }
}

/// All known op schemas. Built-in families register at first use; plugins add custom ops with
/// `register`, which refuses a name that is already taken.
public final class OpRegistry: @unchecked Sendable {
  public static let shared = OpRegistry()
  private var schemas: [String: OpSchema] = [:]
  private let lock = NSLock()

  private init() {
    for s in builtinOpSchemas { schemas[s.name] = s }
  }

  /// A separate registry holding a snapshot of `other`'s schemas (tests, sandboxed tools).
  public init(copying other: OpRegistry) {
    schemas = other.lock.withLock { other.schemas }
  }

  /// A separate registry with no schemas at all.
  public static func makeEmpty() -> OpRegistry { OpRegistry(schemas: [:]) }

  private init(schemas: [String: OpSchema]) { self.schemas = schemas }

  public func register(_ schema: OpSchema) throws {
    lock.lock(); defer { lock.unlock() }
    guard schemas[schema.name] == nil else { throw GraphError("op '\(schema.name)' is already registered") }
    schemas[schema.name] = schema
  }

  public func schema(_ op: String) -> OpSchema? {
    lock.lock(); defer { lock.unlock() }
    return schemas[op]
  }

  public var allNames: [String] {
    lock.lock(); defer { lock.unlock() }
    return schemas.keys.sorted()
  }
}

import Foundation

/// The built-in schemas, one list per op family (see `Ops/`).
let builtinOpSchemas: [OpSchema] =
  elementwiseOpSchemas + tensorOpSchemas + nnOpSchemas + attentionOpSchemas + fusedConvOpSchemas + quantizedOpSchemas
