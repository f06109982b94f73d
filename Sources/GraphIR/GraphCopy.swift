// GraphCopy.swift - A structural copy of a graph (new nodes and values, shared constant storage).

extension Graph {
  /// A copy with its own inputs, nodes, values and outputs, in the same schedule, with the same
  /// names, types (quantization included), attributes and metadata. Constants share their
  /// `Tensor` storage with this graph: tensors in a graph are never written in place (rewrites
  /// make new constants), so the copy cannot see later changes to this graph, and vice versa.
  /// Dead constants are not copied.
  public func copy() -> Graph {
    let g = Graph(name: name)
    g.metadata = metadata
    var map: [ObjectIdentifier: Value] = [:]
    for v in inputs {
      map[ObjectIdentifier(v)] = g.addInput(name: v.name, type: v.type)
    }
    for c in constants where !c.uses.isEmpty || isOutput(c) {
      guard let t = c.constant else { continue }
      map[ObjectIdentifier(c)] = g.addConstant(t, name: c.name, quant: c.type.quant)
    }
    for n in nodes {
      let operands = n.operands.map { $0.flatMap { map[ObjectIdentifier($0)] } }
      let m = g.addNode(n.op, name: n.name, operands: operands, attributes: n.attributes,
                        resultTypes: n.results.map(\.type), resultNames: n.results.map(\.name))
      for (r, s) in zip(n.results, m.results) { map[ObjectIdentifier(r)] = s }
    }
    g.setOutputs(outputs.compactMap { o in map[ObjectIdentifier(o.value)].map { (o.name, $0) } })
    return g
  }
}
