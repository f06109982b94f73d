// RemoveIdentity.swift - Forward the inputs of Identity and inference-mode Dropout.

import GraphIR
import PassKit

/// Replaces `onnx.Identity(%x)` and inference `onnx.Dropout(%x)` by `%x`.
///
///     %1 = onnx.Identity(%0)        (users of %1 now use %0)
///
/// Limits: a Dropout whose mask result is used or returned, or whose `training_mode` operand is not a
/// constant false, stays. A graph output may end up naming a graph input or a constant
/// directly; the packed format and the interpreter return those as they are.
public let removeIdentity = GraphPass(
  name: "remove-identity",
  summary: "Forward the input of Identity and inference-mode Dropout",
  statistics: ["identities-removed"]
) { graph, context in
  for node in graph.nodes where node.op == "onnx.Identity" || node.op == "onnx.Dropout" {
    guard let input = node.operand(0), node.isForwarding(in: graph) else { continue }
    context.replaceAllUses(of: node.result, with: input)
    context.erase(node)
    context.count("identities-removed")
  }
}

private extension Node {
  /// True when the node's first result is exactly its first operand and its other results
  /// (Dropout's mask) are neither used nor graph outputs.
  func isForwarding(in graph: Graph) -> Bool {
    if op == "onnx.Identity" { return true }
    if results.count > 1, !results[1].uses.isEmpty || graph.isOutput(results[1]) { return false }
    guard let mode = operand(2) else { return true }
    guard let t = mode.constant, t.count == 1 else { return false }
    return t.double(at: 0) == 0
  }
}
