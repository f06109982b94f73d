// FuseDepthwisePointwise.swift - Fuse a depthwise conv and the 1x1 conv it feeds into one op.

import GraphIR
import PassKit

/// Fuses a depthwise conv (group = channels, multiplier 1, with its fused activation) whose
/// only user is a 1x1, stride-1, unpadded, group-1 conv into `graphc.DepthwisePointwise`, whose
/// kernel computes the depthwise result one cache-sized tile of rows at a time and multiplies it
/// by the pointwise weights at once, so the intermediate tensor never goes to memory. The
/// pointwise conv's activation and residual come along.
///
///     %d = graphc.FusedConv(%x, %wd, %bd) {group = 32, activation = "clip", ...}
///     %y = graphc.FusedConv(%d, %wp, %bp, %z)                          ->
///     %y = graphc.DepthwisePointwise(%x, %wd, %bd, %wp, %bp, %z) {dw_activation = "clip", ...}
///
/// Limits: 1-D and 2-D convs only; the depthwise conv must not have a residual.
public let fuseDepthwisePointwise = GraphPass(
  name: "fuse-depthwise-pointwise",
  summary: "Fuse a depthwise Conv and the following 1x1 Conv into one tiled op",
  options: [PassOptionSpec("with-residual", .bool, default: "true", help: "Also fuse when the 1x1 conv has a residual operand")],
  requires: [.shapesInferred, .convActivationsFused],
  statistics: ["depthwise-pointwise-fused"]
) { graph, context in
  let withResidual = context.options.bool("with-residual")
  for node in graph.nodes where node.isLive {
    guard let pw = EpilogueConv(node), pw.isPointwise, withResidual || pw.residual == nil,
          let d = node.operand(0), d.hasSingleUse(in: graph), let dw = EpilogueConv(d.producer),
          dw.isDepthwise, dw.residual == nil, let rank = d.type.rank, rank == 3 || rank == 4,
          let wp = node.operand(1) else { continue }
    var attrs = dw.windowAttributes.merging(dw.activation.attributes(prefix: "dw_")) { _, new in new }
    attrs["group"] = nil
    attrs.merge(pw.activation.attributes()) { _, new in new }
    if pw.residual != nil && pw.residualAfterActivation { attrs["residual_after_activation"] = .int(1) }
    var operands: [Value?] = [dw.node.operand(0), dw.node.operand(1), dw.node.operand(2), wp, node.operand(2)]
    if let z = pw.residual { operands.append(z) }
    let fused = try context.insert("graphc.DepthwisePointwise", before: node, name: dw.node.baseName + "+" + node.baseName,
                                   operands: operands, attributes: attrs)
    fused.result.name = node.result.name
    context.replaceAllUses(of: node.result, with: fused.result)
    eraseChain(from: node, to: dw.node, context: context)
    context.count("depthwise-pointwise-fused")
  }
}

private extension EpilogueConv {
  /// A group-1 conv with a 1x1 kernel, unit strides and no padding.
  var isPointwise: Bool {
    guard let w = node.operand(1)?.type.staticShape, w.count >= 3, w.dropFirst(2).allSatisfy({ $0 == 1 }) else { return false }
    let attrs = node.attributes
    let group = (try? attrs.int("group", default: 1)) ?? 0
    let autoPad = (try? attrs.string("auto_pad", default: "NOTSET")) ?? "?"
    return group == 1 && (autoPad == "NOTSET" || autoPad == "VALID")
      && (node.intsAttribute("strides") ?? []).allSatisfy { $0 == 1 }
      && (node.intsAttribute("pads") ?? []).allSatisfy { $0 == 0 }
  }
}
