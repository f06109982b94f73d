// GraphCopy.swift - A structural copy of a graph, for trying rewrites without touching the original.

extension Graph {
  /// A graph with the same inputs, constants, nodes (in the same schedule order), outputs,
  /// names, types and metadata. Constant tensors share their storage with the original (a
  /// graph never writes into a constant), so the copy costs the IR objects only. Node `i` of
  /// the copy corresponds to node `i` of the original.
  public func copy() -> Graph {
    let g = Graph(name: name)
    g.metadata = metadata
    var map: [ObjectIdentifier: Value] = [:]
    for v in inputs { map[ObjectIdentifier(v)] = g.addInput(name: v.name, type: v.type) }
    for c in constants {
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
