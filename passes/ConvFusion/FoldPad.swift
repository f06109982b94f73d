// FoldPad.swift - Fold a constant zero Pad into the Conv or pooling op that reads it.

import GraphIR
import PassKit

/// Adds the spatial amounts of a zero `onnx.Pad` to the `pads` of the Conv, MaxPool or
/// AveragePool that reads it. Conditions: constant mode, value 0, constant non-negative pads,
/// none on N or C, and the consumer has `auto_pad = NOTSET`. Pools need more:
/// - MaxPool: only when the Pad's input is provably non-negative (a Relu, a Clip with a
///   non-negative minimum, a Sigmoid, ...), since MaxPool's own padding never wins a max,
///   while a zero does over negative inputs; one output, no ceil mode, pads below the kernel.
/// - AveragePool: only with `count_include_pad = 1` and no ceil mode, so padded zeros count.
///
///     %p = onnx.Pad(%x, %pads)              %y = onnx.Conv(%x, %w) {pads = [1, 1, 1, 1]}
///     %y = onnx.Conv(%p, %w)         ->
///
/// Limits: quantized pads (value = zero point) are not handled; a Pad with other users stays
/// for them.
public let foldPad = GraphPass(
  name: "fold-pad",
  summary: "Fold a constant zero Pad into the following Conv, MaxPool or AveragePool",
  options: [PassOptionSpec("pools", .bool, default: "true", help: "Also fold into MaxPool and AveragePool")],
  requires: [.shapesInferred],
  statistics: ["pads-folded-conv", "pads-folded-pool"]
) { graph, context in
  let pools = context.options.bool("pools")
  for pad in graph.nodes(ofKind: "onnx.Pad") where pad.isLive {
    guard let x = pad.operand(0), let rank = x.type.rank, rank >= 3,
          let amounts = pad.zeroPadAmounts(rank: rank) else { continue }
    let spatial = rank - 2
    let extra = Array(amounts[2..<rank]) + Array(amounts[(rank + 2)...])
    for use in pad.result.uses where use.operandIndex == 0 {
      let user = use.node
      guard user.isFoldTarget(pools: pools, input: x, extra: extra, spatial: spatial) else { continue }
      let old = user.intsAttribute("pads") ?? Array(repeating: 0, count: 2 * spatial)
      guard old.count == 2 * spatial else { continue }
      context.setAttribute(user, "pads", .ints(zip(old, extra).map { $0 + $1 }))
      context.setOperand(user, 0, to: x)
      context.count(user.op == "onnx.Conv" ? "pads-folded-conv" : "pads-folded-pool")
    }
    if pad.result.uses.isEmpty && !graph.isOutput(pad.result) { context.erase(pad) }
  }
}

private extension Node {
  /// Begin pads then end pads over all `rank` axes, when this Pad is a constant-mode zero pad
  /// with constant non-negative amounts and none on N or C.
  func zeroPadAmounts(rank: Int) -> [Int]? {
    guard (try? attributes.string("mode", default: "constant")) == "constant",
          let raw = operand(1)?.constant?.intValues() else { return nil }
    if let v = operand(2) {
      guard let t = v.constant, t.count == 1, t.double(at: 0) == 0 else { return nil }
    }
    var amounts = [Int](repeating: 0, count: 2 * rank)
    if let axesValue = operand(3) {
      guard let axes = axesValue.constant?.intValues(), raw.count == 2 * axes.count else { return nil }
      for (i, a) in axes.enumerated() {
        let axis = a < 0 ? a + rank : a
        guard axis >= 0, axis < rank else { return nil }
        amounts[axis] = raw[i]
        amounts[axis + rank] = raw[i + axes.count]
      }
    } else {
      guard raw.count == 2 * rank else { return nil }
      amounts = raw
    }
    guard amounts.allSatisfy({ $0 >= 0 }), amounts[0] == 0, amounts[1] == 0, amounts[rank] == 0, amounts[rank + 1] == 0 else { return nil }
    return amounts
  }

  /// Can `extra` spatial pads of this node's input (the Pad's input `input`) move into it?
  func isFoldTarget(pools: Bool, input: Value, extra: [Int], spatial: Int) -> Bool {
    guard (try? attributes.string("auto_pad", default: "NOTSET")) == "NOTSET" else { return false }
    switch op {
    case "onnx.Conv": return true
    case "onnx.AveragePool":
      return pools && (try? attributes.int("count_include_pad", default: 0)) == 1
        && (try? attributes.int("ceil_mode", default: 0)) == 0
    case "onnx.MaxPool":
      guard pools, results.count == 1, (try? attributes.int("ceil_mode", default: 0)) == 0,
            input.isProvablyNonNegative, let kernel = intsAttribute("kernel_shape"),
            kernel.count == spatial else { return false }
      let dilations = intsAttribute("dilations") ?? Array(repeating: 1, count: spatial)
      let old = intsAttribute("pads") ?? Array(repeating: 0, count: 2 * spatial)
      guard dilations.count == spatial, old.count == 2 * spatial else { return false }
      // A window must keep at least one real element (else MaxPool sees only padding).
      return (0..<(2 * spatial)).allSatisfy { i in old[i] + extra[i] < (kernel[i % spatial] - 1) * dilations[i % spatial] + 1 }
    default: return false
    }
  }
}

extension Value {
  /// True when every element is known to be >= 0 from the op that produces it.
  var isProvablyNonNegative: Bool {
    guard let p = producer else { return constant.map { t in (0..<t.count).allSatisfy { t.double(at: $0) >= 0 } } ?? false }
    switch p.op {
    case "onnx.Relu", "onnx.Sigmoid", "onnx.HardSigmoid", "onnx.Abs", "onnx.Exp", "onnx.Softmax", "onnx.Softplus":
      return true
    case "onnx.Clip":
      return p.operand(1)?.constant.map { $0.count == 1 && $0.double(at: 0) >= 0 } ?? false
    case "onnx.MaxPool", "onnx.AveragePool", "onnx.GlobalMaxPool", "onnx.GlobalAveragePool":
      return p.operand(0)?.isProvablyNonNegative ?? false
    case "graphc.FusedConv", "graphc.DepthwisePointwise":
      guard p.operand(p.op == "graphc.FusedConv" ? 3 : 5) == nil,
            let act = try? FusedActivation(attributes: p.attributes) else { return false }
      switch act.kind {
      case .relu, .sigmoid, .hardSigmoid: return true
      case .clip: return act.params[0] >= 0
      default: return false
      }
    default: return false
    }
  }
}
