// PropertyChecks.swift - IR properties the verifier can confirm on the graph itself.

import GraphIR

/// The checks every registry starts with. A check returns nil when the property holds, else a
/// short reason naming a node that breaks it.
let builtinPropertyChecks: [IRProperty: PassRegistry.PropertyCheck] = [
  .shapesInferred: { graph in
    for node in graph.nodes {
      do {
        let inferred = try graph.inferResultTypes(of: node)
        for (r, t) in zip(node.results, inferred) where r.type.dtype != t.dtype || (r.type.dims == nil && t.dims != nil) {
          return "node '\(node.name)' (\(node.op)) has result type \(r.type), inference gives \(t)"
        }
      } catch {
        return "\(error)"
      }
    }
    return nil
  },
  .noBatchNorm: { graph in
    let found = graph.nodes(ofKind: "onnx.BatchNormalization")
    guard let first = found.first else { return nil }
    return "the graph has \(found.count) onnx.BatchNormalization node(s), the first '\(first.name)'"
  },
]
