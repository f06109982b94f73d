// Verifier.swift - Graph-wide type inference and the structural verifier.

extension Graph {
  /// Runs each node's schema in schedule order and refines result types. A result whose
  /// recorded type is static and disagrees with the inferred one is a type/shape conflict.
  public func inferTypes(registry: OpRegistry = .shared) throws {
    for node in nodes {
      let inferred = try inferResultTypes(of: node, registry: registry)
      for (r, t) in zip(node.results, inferred) {
        r.type = try merge(recorded: r.type, inferred: t, node: node)
      }
    }
  }

  /// The types the node's schema infers for its results from its current operands.
  public func inferResultTypes(of node: Node, registry: OpRegistry = .shared) throws -> [TensorType] {
    guard let schema = registry.schema(node.op) else {
      throw GraphError("unknown op", node: node.name, op: node.op)
    }
    let operands = node.operands.map { $0.map { OperandInfo(type: $0.type, value: $0.constant) } }
    let ctx = InferenceContext(op: node.op, operands: operands, attributes: node.attributes,
                               resultCount: node.results.count)
    let types = try schema.check(ctx, node: node.name)
    guard types.count == node.results.count else {
      throw GraphError("inference produced \(types.count) results for \(node.results.count)", node: node.name, op: node.op)
    }
    return types
  }

  private func merge(recorded: TensorType, inferred: TensorType, node: Node) throws -> TensorType {
    // Inference decides the element type; recorded dims survive where inference knows none.
    // Quantization parameters come from inference when the op knows them (QuantizeLinear with
    // constant parameters), else they are the recorded ones: they are part of the type.
    let quant = inferred.quant ?? (recorded.dtype == inferred.dtype ? recorded.quant : nil)
    guard let rd = recorded.dims, let id = inferred.dims else {
      return inferred.dims == nil ? TensorType(inferred.dtype, recorded.dims, quant: quant)
                                  : TensorType(inferred.dtype, inferred.dims, quant: quant)
    }
    if rd.count != id.count {
      throw GraphError("type/shape conflict: inferred \(inferred), declared \(recorded)", node: node.name, op: node.op)
    }
    var dims: [Dim] = []
    for (r, i) in zip(rd, id) {
      switch (r, i) {
      case (.fixed(let a), .fixed(let b)) where a != b:
        throw GraphError("type/shape conflict: inferred \(inferred), declared \(recorded)", node: node.name, op: node.op)
      case (.fixed, _): dims.append(r)
      default: dims.append(i)
      }
    }
    if recorded.dtype != inferred.dtype {
      throw GraphError("type/shape conflict: inferred \(inferred), declared \(recorded)", node: node.name, op: node.op)
    }
    return TensorType(inferred.dtype, dims, quant: quant)
  }

  /// Checks SSA form, schedule order, use-list consistency and every op's schema. A failure is a
  /// bug in whoever last changed the graph; the message names the node.
  public func verify(registry: OpRegistry = .shared) throws {
    var defined = Set<ObjectIdentifier>()
    for v in inputs { defined.insert(ObjectIdentifier(v)) }
    for v in constants { defined.insert(ObjectIdentifier(v)) }
    for node in nodes {
      guard node.isLive else { throw GraphError("erased node still scheduled", node: node.name, op: node.op) }
      for (i, v) in node.operands.enumerated() {
        guard let v else { continue }
        guard defined.contains(ObjectIdentifier(v)) else {
          throw GraphError("operand \(i) ('\(v.name)') is used before it is defined", node: node.name, op: node.op)
        }
        guard v.uses.contains(where: { $0.node === node && $0.operandIndex == i }) else {
          throw GraphError("use-list of operand \(i) does not record this node", node: node.name, op: node.op)
        }
      }
      try checkPackedOperands(node, registry: registry)
      let inferred = try inferResultTypes(of: node, registry: registry)
      for (k, (r, t)) in zip(node.results, inferred).enumerated() {
        if r.type.dtype != t.dtype {
          throw GraphError("result \(k) has type \(r.type) but the op produces \(t)", node: node.name, op: node.op)
        }
        if let q = t.quant, r.type.quant != q {
          throw GraphError("result \(k) has type \(r.type) but the op produces \(t)", node: node.name, op: node.op)
        }
        if r.type.dtype.isPacked {
          throw GraphError("result \(k) has packed type \(r.type.dtype.shortName); only constants can be packed", node: node.name, op: node.op)
        }
        defined.insert(ObjectIdentifier(r))
      }
    }
    for (name, v) in outputs where !defined.contains(ObjectIdentifier(v)) {
      throw GraphError("graph output '\(name)' is not defined")
    }
    for v in allValues {
      do { try v.type.quant?.check(v.type) } catch let e as GraphError {
        throw GraphError("value '\(v.name)': \(e.message)")
      }
      for u in v.uses where !u.node.isLive || u.node.operand(u.operandIndex) !== v {
        throw GraphError("stale use of value '\(v.name)' by node '\(u.node.name)'")
      }
    }
  }

  /// Inputs, constants and node results.
  public var allValues: [Value] { inputs + constants + nodes.flatMap(\.results) }
}

extension Graph {
  /// Packed (int4) operands reach only ops whose schema declares support for them.
  func checkPackedOperands(_ node: Node, registry: OpRegistry) throws {
    guard node.operands.contains(where: { $0?.type.dtype.isPacked == true }),
          registry.schema(node.op)?.acceptsPackedOperands != true else { return }
    throw GraphError("this op cannot take packed int4 operands", node: node.name, op: node.op)
  }
}
