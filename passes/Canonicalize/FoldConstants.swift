// FoldConstants.swift - Evaluate nodes whose operands are all constant.

import GraphIR
import PassKit

/// Replaces a node whose present operands are all constants by its results, computed with the
/// interpreter's own kernels through `PassContext.evaluate`, so folding can never disagree with
/// execution.
///
///     %c = const i64[2] dense<[2, 3]>
///     %1 = onnx.Mul(%c, %c)      ->   %1 = const i64[2] dense<[4, 9]>
///
/// Limits: a result larger than `max(grow-limit, bytes of its constant operands)` is left
/// unfolded so that folding never bloats the model (a ConstantOfShape of a huge shape, say).
public let foldConstants = GraphPass(
  name: "fold-constants",
  summary: "Evaluate nodes whose operands are all constants",
  options: [PassOptionSpec("grow-limit", .int, default: "65536",
                           help: "Fold a node whose results exceed its constant inputs by at most this many bytes")],
  statistics: ["nodes-folded"]
) { graph, context in
  let growLimit = context.options.int("grow-limit")
  for node in graph.nodes where node.isFoldable && !node.results.contains(where: graph.isOutput) {
    let inputBytes = node.operands.reduce(0) { $0 + ($1?.constant?.byteCount ?? 0) }
    // Unknown or overflowing result sizes count as too large.
    let resultBytes = node.results.reduce(0) { acc, r in
      guard let n = r.type.staticShape.flatMap(checkedElementCount),
            case let (b, false) = n.multipliedReportingOverflow(by: r.type.dtype.byteSize) else { return Int.max }
      return acc > Int.max - b ? Int.max : acc + b
    }
    guard resultBytes <= max(growLimit, inputBytes) else { continue }
    let values = try context.evaluate(node)
    let constants = zip(node.results, values).map { r, t in context.makeConstant(t, name: r.name) }
    context.replace(node, with: constants)
    context.count("nodes-folded")
  }
}

private extension Node {
  /// All present operands constant and at least one of them there.
  var isFoldable: Bool {
    !operands.isEmpty && operands.allSatisfy { $0 == nil || $0?.constant != nil }
      && operands.contains { $0 != nil }
  }
}
