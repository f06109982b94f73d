// FoldBatchNorm.swift - Fold inference BatchNormalization into the Conv or ConvTranspose before it.

import GraphIR
import PassKit

/// Folds an inference-mode BatchNormalization into the Conv (or ConvTranspose) that feeds it,
/// when the conv's weights and bias are constant and the BN is its only user:
///
///     s_c = gamma_c / sqrt(var_c + eps)
///     W'[c,...] = s_c * W[c,...]     (ConvTranspose: along axis 1 of W, per group)
///     b'_c = s_c * (b_c - mean_c) + beta_c      (b = 0 when the conv has no bias)
///
///     %y = onnx.Conv(%x, %w, %b)                  %z = onnx.Conv(%x, %w', %b')
///     %z = onnx.BatchNormalization(%y, ...)  ->
///
/// Every other inference BatchNormalization with constant parameters becomes
/// `x * s + (beta - mean * s)` (an `onnx.Mul` and an `onnx.Add` by `[1, C, 1...]` constants),
/// which `fold-conv-affine` may fold further, so `no-batchnorm` holds afterwards.
/// Limits: a BN with non-constant parameters, training outputs or an input of unknown rank
/// stays (with a warning).
public let foldBatchNorm = GraphPass(
  name: "fold-batchnorm",
  summary: "Fold inference BatchNormalization into the preceding Conv/ConvTranspose, decompose the rest",
  options: [
    PassOptionSpec("conv-transpose", .bool, default: "true", help: "Also fold into ConvTranspose"),
    PassOptionSpec("decompose-rest", .bool, default: "true", help: "Turn BNs that cannot fold into Mul + Add"),
  ],
  requires: [.shapesInferred], establishes: [.noBatchNorm],
  statistics: ["batchnorms-folded", "batchnorms-decomposed"]
) { graph, context in
  let transposeToo = context.options.bool("conv-transpose")
  for bn in graph.nodes(ofKind: "onnx.BatchNormalization") where bn.isLive {
    guard bn.results.count == 1, let x = bn.operand(0), let rank = x.type.rank, rank >= 2,
          let channels = x.type.dims?[1].value, let scale = bn.batchNormScale(channels: channels) else {
      context.diagnose(.warning, "BatchNormalization left in place: parameters not constant or training outputs used", at: bn)
      continue
    }
    if let conv = FoldableConv(x.producer), x.hasSingleUse(in: graph), transposeToo || !conv.transposed,
       conv.outChannels == channels {
      let b = conv.biasOrZero
      let bias = (0..<channels).map { c in scale.s[c] * (b[c] - scale.mean[c]) + scale.beta[c] }
      try conv.rebuild(weights: conv.weightScaled(byOutput: scale.s), bias: bias, replacing: bn.result, before: bn, context: context)
      context.count("batchnorms-folded")
    } else if context.options.bool("decompose-rest") {
      let shape = [1, channels] + Array(repeating: 1, count: rank - 2)
      let shift = (0..<channels).map { c in scale.beta[c] - scale.mean[c] * scale.s[c] }
      let mul = try context.insert("onnx.Mul", before: bn, name: bn.baseName + ".scale",
                                   operands: [x, context.makeConstant(.float32(shape, scale.s), name: bn.baseName + ".s")])
      let add = try context.insert("onnx.Add", before: bn, name: bn.name,
                                   operands: [mul.result, context.makeConstant(.float32(shape, shift), name: bn.baseName + ".shift")])
      add.result.name = bn.result.name
      context.replace(bn, with: [add.result])
      context.count("batchnorms-decomposed")
    }
  }
}

private extension Node {
  /// `s = gamma / sqrt(var + eps)`, beta and mean of a BN whose parameters are float32
  /// constants of length `channels`, computed in double and rounded once.
  func batchNormScale(channels: Int) -> (s: [Float], beta: [Float], mean: [Float])? {
    guard operands.count >= 5, let eps = try? attributes.float("epsilon", default: 1e-5) else { return nil }
    let params = (1...4).compactMap { operand($0)?.floatConstant?.floats }
    guard params.count == 4, params.allSatisfy({ $0.count == channels }) else { return nil }
    let (gamma, beta, mean, variance) = (params[0], params[1], params[2], params[3])
    let s = (0..<channels).map { c in Float(Double(gamma[c]) / (Double(variance[c]) + Double(eps)).squareRoot()) }
    return (s, beta, mean)
  }
}
