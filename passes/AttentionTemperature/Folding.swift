// Folding.swift - Where a per-output-column factor folds into a linear layer with no new op,
// and which layer feeds an attention's Q as a per-head linear function.

import GraphIR
import PassKit

/// A linear layer whose float output can be scaled per output column by rewriting constants
/// only (PASSES.md §4, "Folding"):
/// - `float`: `onnx.MatMul` / `onnx.Gemm` with a constant 2-D f32 weight, plus the bias `Add`
///   of a constant `[N]` that is its single user: the weight's columns and the bias scale;
/// - `integer`: `graphc.QLinear` whose result only feeds one `DequantizeLinear` with constant
///   parameters: the dequantization scale becomes per column (`s[n] *= f[n]`, `axis = -1`), so
///   the integers, and their calibrated range, do not change;
/// - `dequantizing`: `graphc.QLinear` with `dequantize = 1` (f32 result `s_x s_w[n] acc`): the
///   weight scales become `s_w[n] *= f[n]` (per column), the integer weights unchanged.
enum FoldSite {
  case float(linear: Node, bias: Node?)
  case integer(linear: Node, dequantize: Node)
  case dequantizing(linear: Node)

  /// The layer node (what carries `graphc.role` and the `ohb_beta` record).
  var linear: Node {
    switch self {
    case .float(let l, _), .integer(let l, _), .dequantizing(let l): return l
    }
  }

  /// The float value the layer's users read.
  var output: Value {
    switch self {
    case .float(let l, let b): return (b ?? l).result
    case .integer(_, let d): return d.result
    case .dequantizing(let l): return l.result
    }
  }

  /// Output columns N.
  var columns: Int? { output.type.dims?.last?.value }

  /// The site of a layer node: a float MatMul/Gemm (with its bias Add) or a QLinear.
  init?(layer node: Node) {
    if node.op == "graphc.QLinear", node.result.type.dtype == .float32 {
      guard (try? node.attributes.int("dequantize", default: 0)) == 1, node.operand(1)?.constant != nil else { return nil }
      self = .dequantizing(linear: node)
      return
    }
    if node.op == "graphc.QLinear" {
      guard let d = node.result.singleUser, d.op == "onnx.DequantizeLinear", d.operand(0) === node.result,
            d.operand(1)?.constant?.dtype == .float32, d.operand(2).map({ $0.constant != nil }) ?? true else { return nil }
      self = .integer(linear: node, dequantize: d)
      return
    }
    guard let w = Self.floatWeight(node) else { return nil }
    let n = Self.isTransposed(node) ? w.shape[0] : w.shape[1]
    var bias: Node? = nil
    if node.op == "onnx.MatMul", let add = node.result.singleUser, add.op == "onnx.Add",
       let other = add.operands.first(where: { $0 !== node.result }) ?? nil, let c = other.constant,
       c.dtype == .float32, c.count == n, c.shape.last == n, add.result.type == node.result.type {
      bias = add
    }
    self = .float(linear: node, bias: bias)
  }

  /// The site whose output is `value`, if any.
  init?(output value: Value) {
    guard let p = value.producer else { return nil }
    let layer: Node?
    switch p.op {
    case "onnx.DequantizeLinear": layer = p.operand(0)?.producer(ofKind: "graphc.QLinear")
    case "onnx.Add": layer = p.operands.lazy.compactMap { $0?.producer }.first { $0.op == "onnx.MatMul" }
    default: layer = p
    }
    guard let layer, let site = FoldSite(layer: layer), site.output === value else { return nil }
    self = site
  }

  /// Scales output column n by `factors[n]` (one factor per column, or one for all).
  func fold(_ factors: [Float], _ context: PassContext) throws {
    guard let n = columns, factors.count == n || factors.count == 1 else {
      throw GraphError("cannot fold \(factors.count) factors into a layer of unknown or other width", node: linear.name, op: linear.op)
    }
    let f = { (c: Int) in factors.count == 1 ? factors[0] : factors[c] }
    switch self {
    case .float(let l, let bias):
      guard let w = Self.floatWeight(l), let wv = l.operand(1) else { return }
      let transposed = Self.isTransposed(l)
      let scaled = Self.scaled(w) { i in f(transposed ? i / w.shape[1] : i % w.shape[1]) }
      context.setOperand(l, 1, to: context.makeConstant(scaled, name: wv.name))
      if l.op == "onnx.Gemm", let cv = l.operand(2), let c = cv.constant {
        let full = c.count == 1 && n > 1 ? Tensor.float32([n], [Float](repeating: Float(c.double(at: 0)), count: n)) : c
        context.setOperand(l, 2, to: context.makeConstant(Self.scaled(full) { f($0 % n) }, name: cv.name))
      }
      if let bias, let k = bias.operands.firstIndex(where: { $0?.constant != nil }), let bv = bias.operand(k), let b = bv.constant {
        context.setOperand(bias, k, to: context.makeConstant(Self.scaled(b) { f($0 % n) }, name: bv.name))
      }
    case .integer(_, let d):
      guard let sv = d.operand(1), let s = sv.constant else { return }
      let perColumn = s.count == n && n > 1
      guard perColumn || s.count == 1 else {
        throw GraphError("the dequantization scale has \(s.count) values, not 1 or \(n)", node: d.name, op: d.op)
      }
      if factors.count == 1 || factors.allSatisfy({ $0 == factors[0] }) {
        context.setOperand(d, 1, to: context.makeConstant(Self.scaled(s) { _ in factors[0] }, name: sv.name))
        return
      }
      let base = (0..<n).map { Float(s.double(at: perColumn ? $0 : 0)) }
      context.setOperand(d, 1, to: context.makeConstant(.float32([n], (0..<n).map { base[$0] * f($0) }), name: sv.name))
      let zp = d.operand(2)?.constant
      let zdtype = zp?.dtype ?? d.operand(0)?.type.dtype ?? .int8
      let z = (0..<n).map { c in Int32(zp.map { $0.double(at: $0.count == n ? c : 0) } ?? 0) }
      context.setOperand(d, 2, to: context.makeConstant(Self.integers(zdtype, z), name: d.operand(2)?.name ?? ""))
      context.setAttribute(d, "axis", .int(-1))
    case .dequantizing(let l):
      guard let wv = l.operand(1), let w = wv.constant, let q = wv.type.quant, q.axis == nil || q.axis == 1,
            q.scales.count == n || q.scales.count == 1 else {
        throw GraphError("the weight needs per-tensor or per-column scales", node: l.name, op: l.op)
      }
      let scales = (0..<n).map { q.scales[q.scales.count == 1 ? 0 : $0] * f($0) }
      context.setOperand(l, 1, to: context.makeConstant(w, name: wv.name, quant: Quantization(axis: 1, scales: scales)))
    }
  }

  private static func floatWeight(_ node: Node) -> Tensor? {
    guard node.op == "onnx.MatMul" || node.op == "onnx.Gemm", let w = node.operand(1)?.constant,
          w.dtype == .float32, w.rank == 2 else { return nil }
    return w
  }

  private static func isTransposed(_ node: Node) -> Bool {
    node.op == "onnx.Gemm" && ((try? node.attributes.int("transB", default: 0)) ?? 0) != 0
  }

  /// A new f32 tensor of `t`'s shape with element i multiplied by `factor(i)`.
  private static func scaled(_ t: Tensor, _ factor: (Int) -> Float) -> Tensor {
    .float32(t.shape, (0..<t.count).map { Float(t.double(at: $0)) * factor($0) })
  }

  private static func integers(_ dtype: DType, _ v: [Int32]) -> Tensor {
    switch dtype {
    case .uint8: return Tensor(.uint8, shape: [v.count], values: v.map { UInt8(clamping: $0) })
    case .int32: return Tensor(.int32, shape: [v.count], values: v)
    default: return Tensor(.int8, shape: [v.count], values: v.map { Int8(clamping: $0) })
    }
  }
}

/// How a value depends on a fold site's output `y`: not at all, homogeneously of degree 1
/// (scaling y by c scales it by c), or otherwise.
private enum Dependence {
  case independent, homogeneous(FoldSite), other
}

/// Where an attention's Q takes a per-head factor: a fold site whose output column n belongs to
/// head `n / headSize`, and constants concatenated to it on Q's last axis (scaled per head too).
struct QuerySite {
  let site: FoldSite
  /// The site's columns per head (Q's head size less the concatenated constants' columns).
  let headSize: Int
  let constants: [(concat: Node, index: Int)]

  /// Scales Q's head h by `alphas[h]`: the site's columns of head h, and head h (axis 1) of
  /// each concatenated constant (a new constant; the old one may have other users).
  func fold(_ alphas: [Float], _ context: PassContext) throws {
    let heads = alphas.count
    try site.fold((0..<heads * headSize).map { alphas[$0 / headSize] }, context)
    for (concat, i) in constants {
      guard let v = concat.operand(i), let c = v.constant, c.rank == 4, c.shape[1] == heads else {
        throw GraphError("the concatenated constant is not [B, \(heads), S, c]", node: concat.name, op: concat.op)
      }
      let inner = c.shape[2] * c.shape[3]
      let scaled = (0..<c.count).map { Float(c.double(at: $0)) * alphas[($0 / inner) % heads] }
      context.setOperand(concat, i, to: context.makeConstant(.float32(c.shape, scaled), name: v.name))
    }
  }
}

/// The fold site whose output reaches `q` (an attention's Q) through ops that are linear and
/// homogeneous in it and keep each head's columns apart: head Reshape/Transpose, Slice, Split,
/// Concat, Neg, Squeeze/Unsqueeze, Mul/Div by a value that does not depend on it, and Add/Sub
/// of two values that both do (rotary embeddings). Also returns the nodes on the way; every
/// user of their results must be on the way too (or the attention), so that scaling the site
/// changes nothing else. Nil when Q is not such a function of one site (a QK-norm, for one).
///
/// Q may also be such a value concatenated on its last axis with constants `[B, heads, S, c]`
/// (an ALiBi model that writes its position bias as an extra Q/K column): scaling head h of Q
/// then scales head h of those constants too (`QuerySite.fold`), so the whole logit
/// `Q_h K_hᵀ` that ATM measures is scaled by alpha_h.
///
/// Limits: the site's output column n is assumed to belong to head n / head_size (the
/// `[..., heads, head_size]` reshape exporters write); the search visits at most 512 values.
func querySite(of attention: Node, in graph: Graph) -> QuerySite? {
  guard var q = attention.operand(0), let heads = try? attention.attributes.int(AttentionAttr.heads) else { return nil }
  // A last-axis Concat of one computed value and constants [B, heads, S, c]: fold through it.
  var constants: [(concat: Node, index: Int)] = []
  var concat: Node? = nil
  if let cat = q.producer, cat.op == "onnx.Concat", q.type.rank == 4,
     let axis = try? cat.attributes.int("axis"), axis == -1 || axis == 3 {
    let computed = cat.operands.indices.filter { cat.operands[$0]?.constant == nil }
    let parts = cat.operands.indices.filter { cat.operands[$0]?.constant != nil }
    if computed.count == 1, let v = cat.operands[computed[0]],
       parts.allSatisfy({ i in cat.operands[i]?.constant.map { $0.rank == 4 && $0.dtype == .float32 && $0.shape[1] == heads } ?? false }),
       q.users.allSatisfy({ $0 === attention }), !graph.isOutput(q) {
      constants = parts.map { (cat, $0) }
      concat = cat
      q = v
    }
  }
  var memo: [ObjectIdentifier: Dependence] = [:]
  var budget = 512
  var path: [Node] = []

  func classify(_ v: Value) -> Dependence {
    if let d = memo[ObjectIdentifier(v)] { return d }
    budget -= 1
    let d = budget < 0 ? .other : compute(v)
    memo[ObjectIdentifier(v)] = d
    if case .homogeneous = d, let p = v.producer, !path.contains(where: { $0 === p }) { path.append(p) }
    return d
  }

  func same(_ ds: [Dependence]) -> Dependence {
    var site: FoldSite? = nil
    for d in ds {
      guard case .homogeneous(let s) = d else { return .other }
      if let site, site.linear !== s.linear { return .other }
      site = s
    }
    return site.map { .homogeneous($0) } ?? .other
  }

  func compute(_ v: Value) -> Dependence {
    guard let p = v.producer else { return .independent }
    if let site = FoldSite(output: v) { return .homogeneous(site) }
    let data = p.operands.compactMap { $0 }
    let ds = data.map(classify)
    if ds.allSatisfy({ if case .independent = $0 { true } else { false } }) { return .independent }
    switch p.op {
    case "onnx.Reshape", "onnx.Transpose", "onnx.Slice", "onnx.Split", "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Neg", "onnx.Identity":
      // Data in operand 0; shapes, starts, axes must not depend on Q.
      guard ds.dropFirst().allSatisfy({ if case .independent = $0 { true } else { false } }) else { return .other }
      return same([ds[0]])
    case "onnx.Concat", "onnx.Add", "onnx.Sub":
      return same(ds)
    case "onnx.Mul":
      guard ds.count == 2 else { return .other }
      if case .independent = ds[0] { return same([ds[1]]) }
      if case .independent = ds[1] { return same([ds[0]]) }
      return .other
    case "onnx.Div":
      guard ds.count == 2, case .independent = ds[1] else { return .other }
      return same([ds[0]])
    default:
      return .other
    }
  }

  guard case .homogeneous(let site) = classify(q), let headSize = q.type.dims?.last?.value else { return nil }
  // The site's own nodes are its business; every other node on the way must feed only the way.
  let way = Set((path + [attention] + (concat.map { [$0] } ?? [])).map(ObjectIdentifier.init))
  let siteNodes: [Node] = {
    switch site {
    case .float(let l, let b): return [l] + (b.map { [$0] } ?? [])
    case .integer(let l, let d): return [l, d]
    case .dequantizing(let l): return [l]
    }
  }()
  for n in path where !siteNodes.contains(where: { $0 === n }) {
    for r in n.results where graph.isOutput(r) || r.users.contains(where: { !way.contains(ObjectIdentifier($0)) }) { return nil }
  }
  guard !graph.isOutput(site.output), site.output.users.allSatisfy({ way.contains(ObjectIdentifier($0)) }) else { return nil }
  return QuerySite(site: site, headSize: headSize, constants: constants)
}
