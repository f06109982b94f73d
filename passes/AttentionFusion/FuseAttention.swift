// FuseAttention.swift - Fuse decomposed multi-head attention and onnx.Attention into graphc.Attention.

import GraphIR
import PassKit

/// Replaces scaled dot-product attention, as exporters write it, by one `graphc.Attention`,
/// then tags the linear layers around it with their role (`graphc.role`, see `tagLinearRoles`).
///
///     %s = onnx.MatMul(%q, %kt)               %k = onnx.Transpose(%kt') {perm=[0,2,1,3]}
///     %t = onnx.Div(%s, 8.0)             ->   %o = graphc.Attention(%q, %k, %v)
///     %u = onnx.Add(%t, %causal_mask)              {heads=4, kv_heads=4, head_size=16,
///     %p = onnx.Softmax(%u) {axis=-1}               mask="causal", scale=0.125}
///     %o = onnx.MatMul(%p, %v)
///
/// Accepted around the Softmax (over the last axis of rank-4 scores):
/// - scaling by a scalar constant Mul/Div after the QKᵀ MatMul, or on Q and/or Kᵀ before it;
/// - a mask as Add of any float tensor broadcastable to [B, H, Sq, Skv], or Where(cond, s, fill)
///   with a constant cond and fill <= -1e4; a constant mask that is exactly causal (0 on and
///   below the diagonal, <= -1e4 above) becomes `mask="causal"` with no operand;
/// - Kᵀ produced by a Transpose (composed into one new Transpose) or any [B, H, D, Skv] value;
/// - grouped-query K/V repeated by `Reshape(Expand(Unsqueeze(x, 2)))` (the repeat_kv idiom),
///   fused with the un-repeated x and `kv_heads` < `heads`.
/// `onnx.Attention` (opset 23) becomes `graphc.Attention`, with head Reshape/Transposes for
/// 3-D inputs and a Where for a boolean mask.
///
/// Limits: every intermediate (scores, scaled, masked, probabilities) must have one use; the
/// head counts and head size must be static; an onnx.Attention with past key/values, or whose
/// present_key/present_value/qk outputs are used, stays. Masked values that are finite but
/// > -1e4 stay additive (never turned into causal).
public let fuseAttention = GraphPass(
  name: "fuse-attention",
  summary: "Fuse decomposed and ONNX attention into graphc.Attention; tag q/k/v/o and MLP projections",
  establishes: ["attention-fused"],
  statistics: ["attention-fused", "onnx-attention-fused", "attention-gqa", "linear-roles-tagged"]
) { graph, context in
  for softmax in graph.nodes(ofKind: "onnx.Softmax") where softmax.isLive {
    guard let match = AttentionMatch(softmax: softmax, graph: graph) else { continue }
    try match.rewrite(context)
    context.count("attention-fused")
    if match.groups > 1 { context.count("attention-gqa") }
  }
  for node in graph.nodes(ofKind: "onnx.Attention") where node.isLive {
    guard let lowering = ONNXAttentionLowering(node, graph: graph) else { continue }
    try lowering.rewrite(context)
    context.count("onnx-attention-fused")
  }
  tagLinearRoles(graph, context)
}

/// A matched decomposed attention: the values the fused op takes and the nodes it replaces.
private struct AttentionMatch {
  let softmax: Node
  let output: Node            // MatMul(P, V)
  let q: Value                // [B, H, Sq, D]
  let key: KeySource
  let v: Value                // [B, Hkv, Skv, Dv]
  let scale: Float
  let mask: MaskSource
  let heads: Int, kvHeads: Int, headSize: Int
  var groups: Int { heads / kvHeads }

  /// How to obtain K as [B, Hkv, Skv, D].
  enum KeySource {
    case value(Value)                      // already in that layout
    case transpose(of: Value, perm: [Int]) // a new Transpose
  }
  enum MaskSource {
    case none, causal
    case additive(Value)
    case additiveConstant(Tensor)          // built from a Where's constant condition
  }

  init?(softmax: Node, graph: Graph) {
    guard let x = softmax.operand(0), let rank = x.type.rank, rank == 4,
          let axis = try? softmax.attributes.int("axis", default: -1), axis == -1 || axis == 3,
          let p = softmax.results.first, let out = p.singleUser, out.op == "onnx.MatMul",
          out.operand(0) === p, !graph.isOutput(p), let vRepeated = out.operand(1), vRepeated.type.rank == 4 else { return nil }
    self.softmax = softmax
    output = out
    // Mask: Add(scores, mask) / Add(mask, scores) / Where(cond, scores, fill).
    var scores = x
    var mask = MaskSource.none
    if let add = x.producer(ofKind: "onnx.Add"), x.hasSingleUse, !graph.isOutput(x),
       let a = add.operand(0), let b = add.operand(1) {
      let (s, m) = Self.isScoreChain(a) || !Self.isScoreChain(b) ? (a, b) : (b, a)
      guard m.type.dtype == .float32, let mr = m.type.rank, mr <= 4 else { return nil }
      scores = s
      mask = m.constant.flatMap { Self.isCausal($0, sq: x.type.dims?[2].value, skv: x.type.dims?[3].value) == true ? .causal : nil } ?? .additive(m)
    } else if let w = x.producer(ofKind: "onnx.Where"), x.hasSingleUse, !graph.isOutput(x),
              let cond = w.operand(0)?.constant, let sq = x.type.dims?[2].value, let skv = x.type.dims?[3].value {
      if let s = w.operand(1), let fill = w.operand(2)?.constant, fill.count == 1, fill.double(at: 0) <= -1e4 {
        scores = s
        mask = Self.maskFromCondition(cond, keepWhen: true, sq: sq, skv: skv)
      } else if let s = w.operand(2), let fill = w.operand(1)?.constant, fill.count == 1, fill.double(at: 0) <= -1e4 {
        scores = s
        mask = Self.maskFromCondition(cond, keepWhen: false, sq: sq, skv: skv)
      } else { return nil }
      if case .none = mask { return nil }
    }
    self.mask = mask
    // Scale after the product.
    var scale: Float = 1
    guard let (product, post) = Self.peelScale(scores, graph: graph), let mm = product.producer(ofKind: "onnx.MatMul"),
          product.hasSingleUse, !graph.isOutput(product), let qScaled = mm.operand(0), let ktScaled = mm.operand(1) else { return nil }
    scale *= post
    guard let (qv, qs) = Self.peelScale(qScaled, graph: graph, singleUse: false),
          let (kt, ks) = Self.peelScale(ktScaled, graph: graph, singleUse: false) else { return nil }
    scale *= qs * ks
    guard let qd = qv.type.dims, qd.count == 4, let heads = qd[1].value, let d = qd[3].value,
          let kd = kt.type.dims, kd.count == 4, kd[2] == qd[3] else { return nil }
    // K as [B, H, Skv, D]; then undo a repeat_kv on K and V.
    var kFull: KeySource
    if let t = kt.producer(ofKind: "onnx.Transpose"), let src = t.operand(0), src.type.rank == 4,
       let perm = try? transposePermutation(t.attributes.ints("perm"), rank: 4) {
      let composed = [perm[0], perm[1], perm[3], perm[2]]
      kFull = composed == [0, 1, 2, 3] ? .value(src) : .transpose(of: src, perm: composed)
    } else {
      kFull = .transpose(of: kt, perm: [0, 1, 3, 2])
    }
    var kvHeads = heads
    var vSource = vRepeated
    if case .value(let kr) = kFull, let (k0, gk) = Self.unrepeatKV(kr), let (v0, gv) = Self.unrepeatKV(vRepeated), gk == gv {
      kFull = .value(k0)
      vSource = v0
      kvHeads = heads / gk
    }
    guard let vd = vSource.type.dims, vd[1].value == kvHeads, vd[0] == qd[0] else { return nil }
    if case .value(let k) = kFull, k.type.dims?[1].value != kvHeads { return nil }
    if case .transpose(let src, let perm) = kFull, src.type.dims?[perm[1]].value != kvHeads { return nil }
    guard scale.isFinite, scale != 0 else { return nil }
    q = qv; key = kFull; v = vSource
    self.scale = scale; self.heads = heads; self.kvHeads = kvHeads; headSize = d
  }

  func rewrite(_ context: PassContext) throws {
    let anchor = output
    let k: Value
    switch key {
    case .value(let v): k = v
    case .transpose(let src, let perm):
      k = try context.insert("onnx.Transpose", before: anchor, name: derivedName(anchor, ".k"), operands: [src],
                             attributes: ["perm": .ints(perm)]).result
    }
    var maskOperand: Value?
    var kind = AttentionMaskKind.none
    switch mask {
    case .none: break
    case .causal: kind = .causal
    case .additive(let m): kind = .additive; maskOperand = m
    case .additiveConstant(let t): kind = .additive; maskOperand = context.makeConstant(t, name: derivedName(anchor, ".mask"))
    }
    let fused = try context.insert(
      "graphc.Attention", before: anchor, name: anchor.name, operands: [q, k, v] + (maskOperand.map { [$0] } ?? []),
      attributes: [AttentionAttr.heads: .int(heads), AttentionAttr.kvHeads: .int(kvHeads),
                   AttentionAttr.headSize: .int(headSize), AttentionAttr.scale: .float(scale),
                   AttentionAttr.mask: .string(kind.rawValue)])
    fused.result.name = output.result.name
    context.replaceAllUses(of: output.result, with: fused.result)
    eraseDeadChain(from: output, context)
  }

  /// Does `v` lead (through scalar scaling) to a MatMul? Decides which Add operand is the mask.
  static func isScoreChain(_ v: Value) -> Bool {
    var x = v
    for _ in 0..<3 {
      guard let p = x.producer else { return false }
      if p.op == "onnx.MatMul" { return true }
      guard p.op == "onnx.Mul" || p.op == "onnx.Div", let next = p.operand(0) else { return false }
      x = next
    }
    return false
  }

  /// Strips Mul/Div by scalar constants off `v`: returns the unscaled value and the factor.
  static func peelScale(_ v: Value, graph: Graph, singleUse: Bool = true) -> (Value, Float)? {
    var x = v, factor: Float = 1
    for _ in 0..<4 {
      guard let p = x.producer, p.op == "onnx.Mul" || p.op == "onnx.Div",
            let a = p.operand(0), let b = p.operand(1) else { break }
      let (data, c) = b.constant != nil ? (a, b.constant) : (p.op == "onnx.Mul" ? (b, a.constant) : (a, nil))
      guard let c, c.count == 1, c.dtype.isFloat else { break }
      if singleUse && (!x.hasSingleUse || graph.isOutput(x)) { return nil }
      let f = Float(c.double(at: 0))
      factor = p.op == "onnx.Mul" ? factor * f : factor / f
      x = data
    }
    return (x, factor)
  }

  /// True when a constant mask is exactly causal for [sq, skv] scores: leading dims 1, 0 where
  /// j <= i and <= -1e4 where j > i.
  static func isCausal(_ t: Tensor, sq: Int?, skv: Int?) -> Bool? {
    guard let sq, let skv, t.rank >= 2, t.shape.dropLast(2).allSatisfy({ $0 == 1 }),
          t.shape[t.rank - 2] == sq, t.shape[t.rank - 1] == skv, sq * skv <= 1 << 24 else { return nil }
    for i in 0..<sq {
      for j in 0..<skv {
        let x = t.double(at: i * skv + j)
        if j <= i ? x != 0 : x > -1e4 { return false }
      }
    }
    return true
  }

  /// A Where condition as a mask: causal when it keeps exactly j <= i, else an additive
  /// constant (0 where kept, -inf elsewhere). `keepWhen` is the condition value that keeps.
  static func maskFromCondition(_ cond: Tensor, keepWhen: Bool, sq: Int, skv: Int) -> MaskSource {
    guard cond.dtype == .bool, cond.rank <= 4, cond.count <= 1 << 24 else { return .none }
    let keep = (0..<cond.count).map { (cond.double(at: $0) != 0) == keepWhen }
    let additive = Tensor.float32(cond.shape, keep.map { $0 ? 0 : -Float.infinity })
    return isCausal(additive, sq: sq, skv: skv) == true ? .causal : .additiveConstant(additive)
  }

  /// `Reshape(Expand(Unsqueeze(x, [2]), [B, Hkv, n, S, D]), [B, Hkv*n, S, D])`: x and n.
  static func unrepeatKV(_ v: Value) -> (Value, Int)? {
    guard let r = v.producer(ofKind: "onnx.Reshape"), let e = r.operand(0)?.producer(ofKind: "onnx.Expand"),
          let u = e.operand(0)?.producer(ofKind: "onnx.Unsqueeze"), let x = u.operand(0),
          u.operand(1)?.constant?.intValues() == [2], let xd = x.type.staticShape, xd.count == 4,
          let ed = e.result.type.staticShape, ed.count == 5, let vd = v.type.staticShape,
          ed[0] == xd[0], ed[1] == xd[1], ed[3] == xd[2], ed[4] == xd[3],
          vd == [xd[0], xd[1] * ed[2], xd[2], xd[3]] else { return nil }
    return (x, ed[2])
  }
}

/// Erases `node` if its results are dead, then its operands' producers the same way.
func eraseDeadChain(from node: Node, _ context: PassContext) {
  var work = [node]
  var budget = 64  // an attention chain has about a dozen nodes; the bound keeps this local
  while let n = work.popLast(), budget > 0 {
    budget -= 1
    guard n.isLive, n.results.allSatisfy({ $0.uses.isEmpty && !context.graph.isOutput($0) }) else { continue }
    let producers = n.operands.compactMap { $0?.producer }
    context.erase(n)
    work.append(contentsOf: producers)
  }
}

/// The name of a node the pass creates for `node`: its name plus a suffix, or empty when the
/// node has no name.
func derivedName(_ node: Node, _ suffix: String) -> String { node.name.isEmpty ? "" : node.name + suffix }
