// Graph.swift - The SSA graph: values with use-lists, nodes, and the rewrite primitives.

/// Where a value comes from. Every value has exactly one definition.
public enum Definition {
  case input(Int)
  case constant(Tensor)
  case result(Node, Int)
}

/// One use of a value: operand `operandIndex` of `node`.
public struct Use {
  public unowned let node: Node
  public let operandIndex: Int
}

/// An SSA value. Its `uses` list is kept exact by the graph's rewrite primitives.
public final class Value {
  /// Stable identity inside its graph, increasing in creation order.
  public let id: Int
  /// The source name (the ONNX value name), used in diagnostics.
  public var name: String
  public var type: TensorType
  public internal(set) var definition: Definition
  public internal(set) var uses: [Use] = []

  init(id: Int, name: String, type: TensorType, definition: Definition) {
    self.id = id
    self.name = name
    self.type = type
    self.definition = definition
  }

  /// The producing node, when the value is a node result.
  public var producer: Node? { if case .result(let n, _) = definition { n } else { nil } }
  /// The producing node if it has the given op.
  public func producer(ofKind op: String) -> Node? { producer.flatMap { $0.op == op ? $0 : nil } }
  /// The constant payload, when the value is a constant.
  public var constant: Tensor? { if case .constant(let t) = definition { t } else { nil } }
  public var isGraphInput: Bool { if case .input = definition { true } else { false } }
  public var users: [Node] { uses.map(\.node) }
  public var hasSingleUse: Bool { uses.count == 1 }
  public var singleUser: Node? { uses.count == 1 ? uses[0].node : nil }
  public func users(ofKind op: String) -> [Node] { users.filter { $0.op == op } }
}

/// An operation. Operands may be absent (`nil`) where the op schema allows optional inputs.
public final class Node {
  /// Qualified op name: `onnx.Conv`, `graphc.FusedConv`.
  public let op: String
  /// The source node name, kept through rewrites for diagnostics.
  public var name: String
  public internal(set) var operands: [Value?]
  public internal(set) var results: [Value] = []
  public internal(set) var attributes: AttributeMap
  /// False once the node has been erased from its graph.
  public internal(set) var isLive = true

  init(op: String, name: String, operands: [Value?], attributes: AttributeMap) {
    self.op = op
    self.name = name
    self.operands = operands
    self.attributes = attributes
  }

  public var result: Value { results[0] }
  public func operand(_ i: Int) -> Value? { i < operands.count ? operands[i] : nil }
  /// True when `value` is among the operands.
  public func isUsing(_ value: Value) -> Bool { operands.contains { $0 === value } }
}

/// A dataflow graph in SSA form. `nodes` is always in a valid topological order.
public final class Graph {
  public var name: String
  public internal(set) var inputs: [Value] = []
  /// Graph results with their public names.
  public internal(set) var outputs: [(name: String, value: Value)] = []
  public internal(set) var nodes: [Node] = []
  public internal(set) var constants: [Value] = []
  /// Free-form provenance (source model digest, producer, opset) carried into the `.gcb`.
  public var metadata: [String: String] = [:]
  private var nextID = 0
  /// Nodes erased from the schedule. Kept until the graph dies, so a pass may still read an
  /// erased node's results; see `deinit`.
  private var erased: [Node] = []

  public init(name: String) { self.name = name }

  /// A node and its results reference each other (`results`, `Definition.result`). Breaking
  /// that cycle here lets every node, value and constant tensor be freed with the graph;
  /// values that outlive it keep their producer, which then has no results.
  deinit {
    for n in nodes { n.results.removeAll() }
    for n in erased { n.results.removeAll() }
  }

  private func makeValue(name: String, type: TensorType, definition: Definition) -> Value {
    defer { nextID += 1 }
    return Value(id: nextID, name: name, type: type, definition: definition)
  }

  // MARK: Building

  @discardableResult
  public func addInput(name: String, type: TensorType) -> Value {
    let v = makeValue(name: name, type: type, definition: .input(inputs.count))
    inputs.append(v)
    return v
  }

  /// Adds a constant; `quant` marks it quantized (the tensor holds the integer values).
  @discardableResult
  public func addConstant(_ tensor: Tensor, name: String = "", quant: Quantization? = nil) -> Value {
    var type = tensor.type
    type.quant = quant
    let v = makeValue(name: name, type: type, definition: .constant(tensor))
    constants.append(v)
    return v
  }

  public func setOutputs(_ outs: [(name: String, value: Value)]) { outputs = outs }

  /// Appends a node at the end of the schedule. Result types start as `resultTypes`; the
  /// caller (usually `inferTypes`) refines them.
  @discardableResult
  public func addNode(
    _ op: String, name: String = "", operands: [Value?], attributes: AttributeMap = [:],
    resultTypes: [TensorType], resultNames: [String]? = nil
  ) -> Node {
    let n = Node(op: op, name: name, operands: operands, attributes: attributes)
    wire(n, resultTypes: resultTypes, resultNames: resultNames)
    nodes.append(n)
    return n
  }

  /// Inserts a node immediately before `anchor` in the schedule.
  @discardableResult
  public func insertNode(
    _ op: String, before anchor: Node, name: String, operands: [Value?], attributes: AttributeMap = [:],
    resultTypes: [TensorType]
  ) -> Node {
    let n = Node(op: op, name: name, operands: operands, attributes: attributes)
    wire(n, resultTypes: resultTypes, resultNames: nil)
    let i = nodes.firstIndex { $0 === anchor } ?? nodes.count
    nodes.insert(n, at: i)
    return n
  }

  private func wire(_ n: Node, resultTypes: [TensorType], resultNames: [String]?) {
    for (i, v) in n.operands.enumerated() { v?.uses.append(Use(node: n, operandIndex: i)) }
    n.results = resultTypes.enumerated().map { i, t in
      makeValue(name: resultNames?[i] ?? "", type: t, definition: .result(n, i))
    }
  }

  // MARK: Rewriting

  /// Points every use of `old` (operands and graph outputs) at `new`.
  public func replaceAllUses(of old: Value, with new: Value) {
    guard old !== new else { return }
    for u in old.uses {
      u.node.operands[u.operandIndex] = new
      new.uses.append(u)
    }
    old.uses.removeAll()
    for i in outputs.indices where outputs[i].value === old { outputs[i].value = new }
  }

  /// Sets operand `index` of `node` to `value`, keeping use-lists exact.
  public func setOperand(_ node: Node, _ index: Int, to value: Value?) {
    if let old = node.operands[index] {
      old.uses.removeAll { $0.node === node && $0.operandIndex == index }
    }
    node.operands[index] = value
    value?.uses.append(Use(node: node, operandIndex: index))
  }

  public func setAttribute(_ node: Node, _ name: String, _ value: Attribute?) {
    node.attributes[name] = value
  }

  /// Removes `node`. Its results must have no remaining uses and must not be graph outputs.
  public func erase(_ node: Node) {
    precondition(node.results.allSatisfy { r in r.uses.isEmpty && !outputs.contains { $0.value === r } },
                 "erasing node '\(node.name)' whose results are still used")
    for (i, v) in node.operands.enumerated() {
      v?.uses.removeAll { $0.node === node && $0.operandIndex == i }
    }
    node.isLive = false
    nodes.removeAll { $0 === node }
    erased.append(node)
  }

  /// Drops constants that nothing uses any more.
  public func removeDeadConstants() {
    constants.removeAll { c in c.uses.isEmpty && !outputs.contains { $0.value === c } }
  }

  /// Nodes with the given op, in schedule order (a snapshot: safe to rewrite while iterating).
  public func nodes(ofKind op: String) -> [Node] { nodes.filter { $0.op == op } }

  /// Is `value` a graph output?
  public func isOutput(_ value: Value) -> Bool { outputs.contains { $0.value === value } }

  /// Re-sorts `nodes` topologically, keeping the current order where it is already valid.
  /// Throws when the graph has a cycle, naming a node on it.
  public func sortTopologically() throws {
    var indegree: [ObjectIdentifier: Int] = [:]
    for n in nodes {
      indegree[ObjectIdentifier(n)] = n.operands.reduce(0) { $0 + (($1?.producer) != nil ? 1 : 0) }
    }
    var ready = nodes.filter { indegree[ObjectIdentifier($0)] == 0 }.reversed() as [Node]
    var order: [Node] = []
    order.reserveCapacity(nodes.count)
    var position: [ObjectIdentifier: Int] = [:]
    for (i, n) in nodes.enumerated() { position[ObjectIdentifier(n)] = i }
    while let n = ready.popLast() {
      order.append(n)
      var newlyReady: [Node] = []
      for r in n.results {
        for u in r.uses {
          let k = ObjectIdentifier(u.node)
          indegree[k]! -= 1  // safe: every user was counted above
          if indegree[k] == 0 { newlyReady.append(u.node) }
        }
      }
      ready.append(contentsOf: newlyReady)
      ready.sort { position[ObjectIdentifier($0)]! > position[ObjectIdentifier($1)]! }  // safe: all nodes indexed
    }
    if order.count != nodes.count {
      let stuck = nodes.first { indegree[ObjectIdentifier($0)]! > 0 }!  // safe: count mismatch implies one
      throw GraphError("the graph has a cycle through this node", node: stuck.name, op: stuck.op)
    }
    nodes = order
  }
}
