// FuseConvAdd.swift - Fuse a residual Add (and the activation after it) into the Conv that
// produces one of its operands.

import GraphIR
import PassKit

/// Fuses `Add(conv(x), z)` into `graphc.FusedConv(x, w, b, z)` when the conv's result has no
/// other user and `z` has exactly the conv's result type (no broadcasting). When the conv had
/// no activation, an activation that is the Add's only user is fused too, applied after the add
/// (the ResNet `relu(conv + shortcut)`); when it had one, the add comes after the activation
/// (`residual_after_activation = 1`).
///
///     %y = onnx.Conv(%x, %w, %b)            %r = graphc.FusedConv(%x, %w, %b, %z) {activation = "relu"}
///     %s = onnx.Add(%y, %z)           ->
///     %r = onnx.Relu(%s)
///
/// When both operands come from convs, the later one takes the Add. Limits: a FusedConv that
/// already has a residual takes no second one; depthwise+pointwise pairs get their residual
/// through this pass first, then `fuse-depthwise-pointwise` carries it over.
public let fuseConvAdd = GraphPass(
  name: "fuse-conv-add",
  summary: "Fuse a residual Add (and a following activation) into the Conv producing one operand",
  options: [PassOptionSpec("activation", .bool, default: "true", help: "Also fuse an activation that follows the Add")],
  requires: [.shapesInferred, .convActivationsFused], establishes: [.convResidualsFused],
  statistics: ["residual-adds-fused", "activations-after-add-fused"]
) { graph, context in
  let withActivation = context.options.bool("activation")
  // Schedule positions at the start; the rewrites below keep the order of the nodes they keep.
  let position = Dictionary(uniqueKeysWithValues: graph.nodes.enumerated().map { (ObjectIdentifier($1), $0) })
  for add in graph.nodes(ofKind: "onnx.Add") where add.isLive {
    let candidates = [0, 1].compactMap { i -> (EpilogueConv, Value)? in
      guard let y = add.operand(i), let z = add.operand(1 - i), y !== z, y.type == add.result.type,
            z.type == y.type, y.type.staticShape != nil, y.hasSingleUse(in: graph),
            let ec = EpilogueConv(y.producer), ec.residual == nil else { return nil }
      return (ec, z)
    }
    guard let (ec, z) = candidates.max(by: { position[ObjectIdentifier($0.0.node)] ?? 0 < position[ObjectIdentifier($1.0.node)] ?? 0 })
    else { continue }
    var activation = ec.activation, last = add
    if activation.kind == .none, withActivation, !graph.isOutput(add.result),
       let (act, node) = add.result.followingActivation(in: graph) {
      activation = act
      last = node
      context.count("activations-after-add-fused")
    }
    try ec.fuse(activation: activation, residual: z, residualAfterActivation: ec.activation.kind != .none,
                replacing: last.result, before: add, context: context)
    context.count("residual-adds-fused")
  }
}
