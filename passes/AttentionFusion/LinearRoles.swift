// LinearRoles.swift - Tag the linear layers around fused attention with their transformer role.

import GraphIR
import PassKit

/// Writes `graphc.role` (`linearRoleAttribute`) on linear layers (MatMul or Gemm with a
/// constant 2-D weight) once the graph has `graphc.Attention` nodes:
/// - `q-proj`, `k-proj`, `v-proj` (or `qkv-proj` for one packed projection): the linear layer
///   found walking back from the attention's Q/K/V through head Reshape/Transpose, bias Add,
///   scaling and Split/Slice;
/// - `o-proj`: the linear layer fed by the attention output through Transpose/Reshape;
/// - `mlp-up` / `mlp-down`: an untagged pair where the down layer maps the up layer's width
///   back (in > out), the up layers (gate included) being the untagged ones with the mirrored
///   shape since the previous tagged layer.
/// A role already present is kept. Searches are bounded (8 steps each way).
func tagLinearRoles(_ graph: Graph, _ context: PassContext) {
  let attentions = graph.nodes(ofKind: "graphc.Attention")
  guard !attentions.isEmpty else { return }
  func tag(_ node: Node?, _ role: String) {
    guard let node, node.attributes[linearRoleAttribute] == nil else { return }
    context.setAttribute(node, linearRoleAttribute, .string(role))
    context.count("linear-roles-tagged")
  }
  for att in attentions {
    let q = att.operand(0).flatMap(linearFeeding), k = att.operand(1).flatMap(linearFeeding)
    let v = att.operand(2).flatMap(linearFeeding)
    if let q, q === k || q === v { tag(q, "qkv-proj") } else { tag(q, "q-proj"); tag(k, "k-proj"); tag(v, "v-proj") }
    tag(linearFed(by: att.result), "o-proj")
  }
  let linears = graph.nodes.filter { $0.linearShape != nil }
  for (i, down) in linears.enumerated() where down.attributes[linearRoleAttribute] == nil {
    guard let (dIn, dOut) = down.linearShape, dIn > dOut else { continue }
    var ups: [Node] = []
    for up in linears[..<i].reversed() {
      if up.attributes[linearRoleAttribute] != nil { break }
      if let (uIn, uOut) = up.linearShape, uIn == dOut, uOut == dIn { ups.append(up) }
    }
    guard !ups.isEmpty else { continue }
    for up in ups { tag(up, "mlp-up") }
    tag(down, "mlp-down")
  }
}

/// The linear layer whose output reaches `value` through layout and bias ops, if any.
private func linearFeeding(_ value: Value) -> Node? {
  var x = value
  for _ in 0..<8 {
    guard let p = x.producer else { return nil }
    if p.linearShape != nil { return p }
    switch p.op {
    case "onnx.Transpose", "onnx.Reshape", "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Split", "onnx.Slice":
      guard let next = p.operand(0) else { return nil }
      x = next
    case "onnx.Add", "onnx.Mul", "onnx.Div":
      guard let a = p.operand(0), let b = p.operand(1) else { return nil }
      x = a.constant == nil ? a : b
    default: return nil
    }
  }
  return nil
}

/// The linear layer that consumes `value` (as its data operand) through Transpose/Reshape.
private func linearFed(by value: Value) -> Node? {
  var x = value
  for _ in 0..<8 {
    guard let user = x.singleUser else { return nil }
    if user.linearShape != nil { return user.operand(0) === x ? user : nil }
    guard user.op == "onnx.Transpose" || user.op == "onnx.Reshape" else { return nil }
    x = user.result
  }
  return nil
}

private extension Node {
  /// (in, out) features of a MatMul/Gemm with a constant 2-D weight; nil for anything else.
  var linearShape: (Int, Int)? {
    guard op == "onnx.MatMul" || op == "onnx.Gemm", let w = operand(1)?.constant, w.rank == 2 else { return nil }
    let transB = op == "onnx.Gemm" && ((try? attributes.int("transB", default: 0)) ?? 0) != 0
    return transB ? (w.shape[1], w.shape[0]) : (w.shape[0], w.shape[1])
  }
}
