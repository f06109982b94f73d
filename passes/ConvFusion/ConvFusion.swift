// ConvFusion.swift - The conv-fusion family's pass list, IR properties and shared helpers.

import GraphIR
import PassKit

/// The passes of this module, in the order the `default` preset runs them.
public let convFusionPasses: [GraphPass] = [
  foldPad, foldBatchNorm, foldConvAffine, fuseConvActivation, fuseConvAdd, fuseDepthwisePointwise, npuLint,
]

extension IRProperty {
  /// No `onnx.BatchNormalization` is left (folded into convs or decomposed into Mul and Add).
  public static let noBatchNorm: IRProperty = "no-batchnorm"
  /// Activations that directly follow a conv are part of a `graphc.FusedConv`.
  public static let convActivationsFused: IRProperty = "conv-activations-fused"
  /// Residual Adds onto a conv's result are part of a `graphc.FusedConv`.
  public static let convResidualsFused: IRProperty = "conv-residuals-fused"
}

// MARK: - Shared helpers

extension Value {
  /// The payload when the value is a float32 constant.
  var floatConstant: Tensor? {
    guard let t = constant, t.dtype == .float32 else { return nil }
    return t
  }

  /// True when the value's only use is one operand of one node, and it is no graph output.
  func hasSingleUse(in graph: Graph) -> Bool { hasSingleUse && !graph.isOutput(self) }
}

extension Tensor {
  /// The elements of a float32 tensor.
  var floats: [Float] { scalars(as: Float.self) }
}

/// The per-channel values of a constant that broadcasts against a tensor of rank `rank` whose
/// channels are on axis 1: a scalar, or a shape whose right-aligned dims are all 1 except
/// `channels` on axis 1 (`[C,1,1]`, `[1,C,1,1]` for a 4-D tensor). Nil otherwise, and for
/// `[C]` alone, which numpy broadcasting lines up with the last axis, not the channels.
func channelValues(_ v: Value?, channels: Int, rank: Int) -> [Float]? {
  guard let t = v?.floatConstant, t.rank <= rank else { return nil }
  let values = t.floats
  if values.count == 1 && t.shape.allSatisfy({ $0 == 1 }) { return Array(repeating: values[0], count: channels) }
  let channelAxis = 1 - (rank - t.rank)
  for (i, d) in t.shape.enumerated() where d != 1 && !(i == channelAxis && d == channels) { return nil }
  guard channelAxis >= 0, t.shape[channelAxis] == channels else { return nil }
  return values
}

/// A float32 `onnx.Conv` or `onnx.ConvTranspose` with constant weights (and bias, if any), the
/// form the folding passes rewrite.
struct FoldableConv {
  let node: Node
  let w: Tensor
  let bias: [Float]?
  let transposed: Bool
  let group: Int

  init?(_ node: Node?) {
    guard let node, node.op == "onnx.Conv" || node.op == "onnx.ConvTranspose",
          node.result.type.dtype == .float32, let w = node.operand(1)?.floatConstant, w.rank >= 3,
          let group = try? node.attributes.int("group", default: 1), group > 0 else { return nil }
    if let b = node.operand(2) {
      guard let bt = b.floatConstant else { return nil }
      bias = bt.floats
    } else {
      bias = nil
    }
    self.node = node
    self.w = w
    self.transposed = node.op == "onnx.ConvTranspose"
    self.group = group
    guard w.shape[0] % group == 0, bias == nil || bias?.count == outChannels else { return nil }
  }

  var outChannels: Int { transposed ? w.shape[1] * group : w.shape[0] }
  var inChannels: Int { transposed ? w.shape[0] : w.shape[1] * group }
  var kernelSize: Int { w.shape.dropFirst(2).reduce(1, *) }
  var biasOrZero: [Float] { bias ?? Array(repeating: 0, count: outChannels) }

  /// The output channel each weight element contributes to (Conv: axis 0; ConvTranspose:
  /// axis 1 of its group).
  func outputChannel(ofWeight i: Int) -> Int {
    guard transposed else { return i / (w.count / w.shape[0]) }
    let perIn = w.shape[1] * kernelSize
    let ci = i / perIn, j = (i % perIn) / kernelSize
    return (ci / (w.shape[0] / group)) * w.shape[1] + j
  }

  /// W scaled per output channel: `W'[o, ...] = s[o] * W[o, ...]`.
  func weightScaled(byOutput s: [Float]) -> Tensor {
    var v = w.floats
    for i in v.indices { v[i] *= s[outputChannel(ofWeight: i)] }
    return Tensor.float32(w.shape, v)
  }

  /// Replaces the conv by a copy with new weights and bias, inserted before `anchor`, whose
  /// result takes over the uses of `replacing`. Erases `replacing`'s producer and the conv.
  func rebuild(weights: Tensor, bias: [Float], input: Value? = nil, replacing: Value, before anchor: Node, context: PassContext) throws {
    guard let x = input ?? node.operand(0) else { return }
    let wv = context.makeConstant(weights, name: node.operand(1)?.name ?? "")
    let bv = context.makeConstant(Tensor.float32([bias.count], bias), name: node.operand(2)?.name ?? node.baseName + ".bias")
    let fresh = try context.insert(node.op, before: anchor, name: node.name, operands: [x, wv, bv], attributes: node.attributes)
    fresh.result.name = replacing.name
    context.replaceAllUses(of: replacing, with: fresh.result)
    if let p = replacing.producer, p !== node { context.erase(p) }
    if node.results.allSatisfy({ $0.uses.isEmpty && !context.graph.isOutput($0) }) { context.erase(node) }
  }
}

/// A float32 conv that can take an epilogue: `onnx.Conv`, or a `graphc.FusedConv` (whose
/// activation and residual are read back from its attributes and operands).
struct EpilogueConv {
  let node: Node
  let activation: FusedActivation
  let residual: Value?
  let residualAfterActivation: Bool

  init?(_ node: Node?) {
    guard let node, node.op == "onnx.Conv" || node.op == "graphc.FusedConv",
          node.result.type.dtype == .float32,
          let act = try? FusedActivation(attributes: node.attributes) else { return nil }
    self.node = node
    activation = act
    residual = node.op == "graphc.FusedConv" ? node.operand(3) : nil
    residualAfterActivation = (try? node.attributes.int("residual_after_activation", default: 0)) == 1
  }

  /// The conv's own attributes, without the epilogue ones.
  var windowAttributes: AttributeMap {
    node.attributes.filter { !["activation", "activation_params", "residual_after_activation"].contains($0.key) }
  }

  var isDepthwise: Bool {
    guard let w = node.operand(1)?.type.staticShape, w.count >= 3, let x = node.operand(0)?.type.staticShape,
          let group = try? node.attributes.int("group", default: 1) else { return false }
    return w[1] == 1 && group == x[1] && w[0] == x[1]
  }

  /// Emits `graphc.FusedConv` with this conv's operands and the given epilogue before `anchor`,
  /// moves the uses of `replacing` onto it and erases the nodes from `replacing`'s producer back
  /// to this conv (each must have no other uses by then).
  func fuse(activation: FusedActivation, residual: Value?, residualAfterActivation: Bool,
            replacing: Value, before anchor: Node, context: PassContext) throws {
    var attrs = windowAttributes.merging(activation.attributes()) { _, new in new }
    if residual != nil && residualAfterActivation { attrs["residual_after_activation"] = .int(1) }
    var operands = Array(node.operands.prefix(3))
    while operands.count < 3 { operands.append(nil) }
    if let residual { operands.append(residual) } else if operands[2] == nil { operands.removeLast() }
    let fused = try context.insert("graphc.FusedConv", before: anchor, name: node.name, operands: operands, attributes: attrs)
    fused.result.name = replacing.name
    context.replaceAllUses(of: replacing, with: fused.result)
    eraseChain(from: replacing.producer, to: node, context: context)
  }
}

/// Erases `last` and walks up through its operands' producers to `first`, erasing each node
/// that no longer has uses.
func eraseChain(from last: Node?, to first: Node, context: PassContext) {
  var pending = [last].compactMap { $0 }
  while let n = pending.popLast() {
    guard n.isLive, n.results.allSatisfy({ $0.uses.isEmpty && !context.graph.isOutput($0) }) else { continue }
    let producers = n === first ? [] : n.operands.compactMap { $0?.producer }
    context.erase(n)
    pending.append(contentsOf: producers)
  }
}

extension Node {
  /// A name for values this node's rewrites create: the node's name, else its result's.
  var baseName: String {
    [name, results.first?.name ?? ""].first { !$0.isEmpty } ?? String(op.split(separator: ".").last ?? "")
  }

  /// An integer-list attribute, nil when absent or of another kind.
  func intsAttribute(_ name: String) -> [Int]? { (try? attributes.ints(name)) ?? nil }
}
