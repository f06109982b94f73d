// FuseConvActivation.swift - Fuse the activation that follows a Conv into a graphc.FusedConv.

import GraphIR
import PassKit

/// Fuses an activation that is the only user of a float32 conv's result into the conv, so the
/// kernel applies it before storing:
///
///     %y = onnx.Conv(%x, %w, %b)            %z = graphc.FusedConv(%x, %w, %b) {activation = "clip",
///     %z = onnx.Clip(%y, %lo, %hi)    ->                                      activation_params = [0.0, 6.0]}
///
/// Relu, Clip with constant scalar bounds (Relu6), LeakyRelu, HardSigmoid, HardSwish, Sigmoid,
/// and SiLU written as `Mul(y, Sigmoid(y))` (the conv's two users are that Sigmoid and Mul).
/// Limits: a conv whose result has another user, or is a graph output, keeps its activation
/// separate; a FusedConv that already has an activation or a residual takes no second one.
public let fuseConvActivation = GraphPass(
  name: "fuse-conv-activation",
  summary: "Fuse Relu/Clip/LeakyRelu/HardSigmoid/HardSwish/Sigmoid/SiLU into the preceding Conv",
  options: [PassOptionSpec("activations", .list, default: FusedActivation.Kind.allCases.dropFirst().map(\.rawValue).joined(separator: ";"),
                           help: "Activation kinds to fuse (relu;clip;leaky_relu;hard_sigmoid;hard_swish;sigmoid;silu)")],
  requires: [.shapesInferred], establishes: [.convActivationsFused],
  statistics: FusedActivation.Kind.allCases.dropFirst().map { "fused-\($0.rawValue)" }
) { graph, context in
  let allowed = Set(context.options.list("activations"))
  for conv in graph.nodes where conv.isLive {
    guard let ec = EpilogueConv(conv), ec.activation.kind == .none, ec.residual == nil,
          !graph.isOutput(conv.result), let (activation, last) = conv.result.followingActivation(in: graph),
          allowed.contains(activation.kind.rawValue) else { continue }
    try ec.fuse(activation: activation, residual: nil, residualAfterActivation: false,
                replacing: last.result, before: last, context: context)
    context.count("fused-\(activation.kind.rawValue)")
  }
}

extension Value {
  /// The activation applied to this value by its only user (or, for SiLU, its Sigmoid and Mul
  /// users), with the node whose result is the activated value.
  func followingActivation(in graph: Graph) -> (FusedActivation, Node)? {
    if uses.count == 2, let silu = siluUser(in: graph), let act = try? FusedActivation(kind: .silu) { return (act, silu) }
    guard let user = singleUser, uses[0].operandIndex == 0, user.results.count == 1 else { return nil }
    return user.activation.map { ($0, user) }
  }

  /// The Mul of `x * Sigmoid(x)` when this value's two users are exactly that pair.
  private func siluUser(in graph: Graph) -> Node? {
    guard let sigmoid = users.first(where: { $0.op == "onnx.Sigmoid" }), let mul = users.first(where: { $0.op == "onnx.Mul" }),
          sigmoid.result.singleUser === mul, !graph.isOutput(sigmoid.result),
          (mul.operand(0) === self && mul.operand(1) === sigmoid.result) || (mul.operand(1) === self && mul.operand(0) === sigmoid.result)
    else { return nil }
    return mul
  }
}

extension Node {
  /// This node as a fusable activation of its first operand, if it is one.
  var activation: FusedActivation? {
    let a = attributes
    switch op {
    case "onnx.Relu": return try? FusedActivation(kind: .relu)
    case "onnx.Sigmoid": return try? FusedActivation(kind: .sigmoid)
    case "onnx.HardSwish": return try? FusedActivation(kind: .hardSwish)
    case "onnx.LeakyRelu": return try? FusedActivation(kind: .leakyRelu, params: [a.float("alpha", default: 0.01)])
    case "onnx.HardSigmoid":
      return try? FusedActivation(kind: .hardSigmoid, params: [a.float("alpha", default: 0.2), a.float("beta", default: 0.5)])
    case "onnx.Clip":
      func bound(_ i: Int, _ absent: Float) -> Float? {
        guard let v = operand(i) else { return absent }
        guard let t = v.floatConstant, t.count == 1 else { return nil }
        return t.floats[0]
      }
      guard let lo = bound(1, -.infinity), let hi = bound(2, .infinity) else { return nil }
      if lo == 0 && hi == .infinity { return try? FusedActivation(kind: .relu) }
      return try? FusedActivation(kind: .clip, params: [lo, hi])
    default: return nil
    }
  }
}
