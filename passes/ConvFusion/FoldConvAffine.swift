// FoldConvAffine.swift - Fold per-channel constant Mul/Add after a Conv, and per-input-channel
// Mul (and, without padding, Add) before it, into the Conv's weights and bias.

import GraphIR
import PassKit

/// Folds constant per-channel affine ops into a float32 `onnx.Conv` with constant weights.
///
/// After the conv (its only user; the constant is a scalar or `[1,C,1,1]`-like):
///
///     Mul: W'_o = m_o W_o, b'_o = m_o b_o         Add: b'_o = b_o + a_o     Sub(conv, a): b'_o = b_o - a_o
///
/// Before the conv (the constant per input channel):
///
///     Mul: W'[o, c] = m_c W[o, c]   (exact: zero padding stays zero)
///     Add: b'_o = b_o + sum_{c,k} W[o, c, k] a_c   (only when the conv has no padding, since a
///          padded border would see 0 instead of a_c)
///
///     %y = onnx.Conv(%x, %w, %b)                 %y = onnx.Conv(%x, %w', %b')
///     %z = onnx.Mul(%y, %m)              ->      (users of %z use %y)
///
/// Limits: ConvTranspose is not handled here (BN folds into it through `fold-batchnorm`); a
/// non-constant scale never folds.
public let foldConvAffine = GraphPass(
  name: "fold-conv-affine",
  summary: "Fold per-channel constant Mul/Add around a Conv into its weights and bias",
  options: [
    PassOptionSpec("after", .bool, default: "true", help: "Fold Mul/Add/Sub that follow a Conv"),
    PassOptionSpec("before", .bool, default: "true", help: "Fold Mul (and unpadded Add) that feed a Conv"),
  ],
  requires: [.shapesInferred, .noBatchNorm],
  statistics: ["muls-folded-after", "adds-folded-after", "muls-folded-before", "adds-folded-before"]
) { graph, context in
  for node in graph.nodes where node.isLive && ["onnx.Mul", "onnx.Add", "onnx.Sub"].contains(node.op) {
    guard context.options.bool("after") else { break }
    // The conv may be either operand of Mul/Add, only the first of Sub.
    for (convIndex, constIndex) in (node.op == "onnx.Sub" ? [(0, 1)] : [(0, 1), (1, 0)]) {
      guard let y = node.operand(convIndex), let conv = FoldableConv(y.producer), !conv.transposed,
            y.hasSingleUse(in: graph), node.result.type == y.type, let rank = y.type.rank,
            let k = channelValues(node.operand(constIndex), channels: conv.outChannels, rank: rank) else { continue }
      var w = conv.w, b = conv.biasOrZero
      if node.op == "onnx.Mul" {
        w = conv.weightScaled(byOutput: k)
        for o in b.indices { b[o] *= k[o] }
      } else {
        for o in b.indices { b[o] += node.op == "onnx.Add" ? k[o] : -k[o] }
      }
      try conv.rebuild(weights: w, bias: b, replacing: node.result, before: node, context: context)
      context.count(node.op == "onnx.Mul" ? "muls-folded-after" : "adds-folded-after")
      break
    }
  }
  guard context.options.bool("before") else { return }
  for node in graph.nodes(ofKind: "onnx.Conv") where node.isLive {
    guard let conv = FoldableConv(node), let pre = node.operand(0)?.producer,
          pre.op == "onnx.Mul" || pre.op == "onnx.Add", let rank = pre.result.type.rank else { continue }
    let inPerGroup = conv.w.shape[1]
    for (dataIndex, constIndex) in [(0, 1), (1, 0)] {
      guard let data = pre.operand(dataIndex), data.type == pre.result.type,
            let k = channelValues(pre.operand(constIndex), channels: conv.inChannels, rank: rank) else { continue }
      // Weight element i sits at input channel (group of its output) * inPerGroup + (i / kSize) % inPerGroup.
      let kSize = conv.kernelSize, perOut = inPerGroup * kSize, outPerGroup = conv.outChannels / conv.group
      let inChannel = { (i: Int) in (i / perOut / outPerGroup) * inPerGroup + (i / kSize) % inPerGroup }
      var w = conv.w.floats, b = conv.biasOrZero
      if pre.op == "onnx.Mul" {
        for i in w.indices { w[i] *= k[inChannel(i)] }
      } else {
        guard node.hasNoPadding else { break }
        var acc = [Double](repeating: 0, count: b.count)
        for i in w.indices { acc[i / perOut] += Double(w[i]) * Double(k[inChannel(i)]) }
        for o in b.indices { b[o] = Float(Double(b[o]) + acc[o]) }
      }
      try conv.rebuild(weights: .float32(conv.w.shape, w), bias: b, input: data, replacing: node.result, before: node, context: context)
      if pre.results.allSatisfy({ $0.uses.isEmpty && !graph.isOutput($0) }) { context.erase(pre) }
      context.count(pre.op == "onnx.Mul" ? "muls-folded-before" : "adds-folded-before")
      break
    }
  }
}

private extension Node {
  /// No explicit or automatic padding.
  var hasNoPadding: Bool {
    let autoPad = (try? attributes.string("auto_pad", default: "NOTSET")) ?? "?"
    let pads = intsAttribute("pads") ?? []
    return (autoPad == "NOTSET" || autoPad == "VALID") && pads.allSatisfy { $0 == 0 }
  }
}
