// AttentionOps.swift - Schemas of fused attention: graphc.Attention and ONNX's Attention (opset 23).

/// The mask kinds of `graphc.Attention`: `causal` keeps key j for query i when j <= i (upper-left
/// aligned, as ONNX's `is_causal`); `additive` adds operand 3 to the scaled scores.
public enum AttentionMaskKind: String, CaseIterable, Sendable {
  case none, causal, additive
  case causalAdditive = "causal+additive"

  public var isCausal: Bool { self == .causal || self == .causalAdditive }
  public var hasOperand: Bool { self == .additive || self == .causalAdditive }
}

/// The per-head sparse patterns `graphc.Attention` can run (PASSES.md §5, §6). Each head has
/// two sizes, whose meaning depends on the kind:
/// - `dense`: unused (0, 0);
/// - `a-shape`: (initial keys, local window), both in tokens;
/// - `vertical-slash`: (vertical columns, slash diagonals), chosen per input by the online index;
/// - `block-sparse`: (key blocks of 64 kept per query block, 0);
/// - `strided`: (local window in blocks of 64, stride V in blocks).
public enum AttentionPatternKind: String, CaseIterable, Sendable {
  case dense
  case aShape = "a-shape"
  case verticalSlash = "vertical-slash"
  case blockSparse = "block-sparse"
  case strided
}

/// Attribute names of `graphc.Attention`, shared by the fusion pass, the sparse assignment pass,
/// the kernels and `graphc inspect`.
public enum AttentionAttr {
  public static let heads = "heads"
  public static let kvHeads = "kv_heads"
  public static let headSize = "head_size"
  public static let scale = "scale"
  public static let mask = "mask"
  /// Scores become `softcap * tanh(scores / softcap)` before the mask when > 0.
  public static let softcap = "softcap"
  /// Per head: pattern kind names (absent means all dense).
  public static let pattern = "pattern"
  /// Per head: two sizes each (see `AttentionPatternKind`).
  public static let patternSizes = "pattern_sizes"
  /// Per head: the calibration score of the chosen pattern (output relative error or recall).
  public static let patternScore = "pattern_score"
  /// The sequence length the patterns were chosen at.
  public static let calibrationLength = "calibration_length"
}

/// The node attribute naming a linear layer's role in a transformer block, written by
/// `fuse-attention` on MatMul/Gemm nodes: `q-proj`, `k-proj`, `v-proj`, `qkv-proj`, `o-proj`,
/// `mlp-up`, `mlp-down`. Later passes (quantization) select layers by it.
public let linearRoleAttribute = "graphc.role"

/// One head's sparse pattern as stored on a `graphc.Attention` node.
public struct AttentionHeadPattern: Equatable, Sendable {
  public var kind: AttentionPatternKind
  public var sizes: (Int, Int)
  public var score: Float
  public init(kind: AttentionPatternKind, sizes: (Int, Int) = (0, 0), score: Float = 0) {
    self.kind = kind; self.sizes = sizes; self.score = score
  }
  public static func == (a: Self, b: Self) -> Bool {
    a.kind == b.kind && a.sizes == b.sizes && a.score.bitPattern == b.score.bitPattern
  }
}

/// Reads the per-head pattern record of a `graphc.Attention` node's attributes: nil when the
/// node carries none (all heads dense); throws when the lists are inconsistent.
public func attentionPatterns(_ attrs: AttributeMap, heads: Int) throws -> [AttentionHeadPattern]? {
  guard let kinds = try attrs.strings(AttentionAttr.pattern) else { return nil }
  let sizes = try attrs.ints(AttentionAttr.patternSizes) ?? [Int](repeating: 0, count: 2 * kinds.count)
  let scores = try attrs.floats(AttentionAttr.patternScore) ?? [Float](repeating: 0, count: kinds.count)
  guard kinds.count == heads, sizes.count == 2 * heads, scores.count == heads else {
    throw GraphError("the pattern record must have one kind, two sizes and one score per head (\(heads) heads); got \(kinds.count), \(sizes.count), \(scores.count)")
  }
  return try kinds.enumerated().map { h, name in
    guard let kind = AttentionPatternKind(rawValue: name) else {
      throw GraphError("unknown attention pattern '\(name)'; kinds: \(AttentionPatternKind.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let s = (sizes[2 * h], sizes[2 * h + 1])
    guard s.0 >= 0, s.1 >= 0, s.0 <= Int(Int32.max), s.1 <= Int(Int32.max) else {
      throw GraphError("pattern sizes of head \(h) out of range: \(s)")
    }
    return AttentionHeadPattern(kind: kind, sizes: s, score: scores[h])
  }
}

/// The attributes that store `patterns` on a `graphc.Attention` node.
public func attentionPatternAttributes(_ patterns: [AttentionHeadPattern], calibrationLength: Int) -> AttributeMap {
  [
    AttentionAttr.pattern: .strings(patterns.map(\.kind.rawValue)),
    AttentionAttr.patternSizes: .ints(patterns.flatMap { [$0.sizes.0, $0.sizes.1] }),
    AttentionAttr.patternScore: .floats(patterns.map(\.score)),
    AttentionAttr.calibrationLength: .int(calibrationLength),
  ]
}

let attentionOpSchemas: [OpSchema] = [
  OpSchema("graphc.Attention", inputs: 3...4) { ctx in [try inferFusedAttention(ctx)] },
  OpSchema("onnx.Attention", inputs: 3...7, outputs: 1...4) { ctx in try inferONNXAttention(ctx) },
]

/// `graphc.Attention(q [B,H,Sq,D], k [B,Hkv,Skv,D], v [B,Hkv,Skv,Dv], mask?) -> [B,H,Sq,Dv]`.
/// H must be a multiple of Hkv (grouped-query attention); the mask broadcasts to [B,H,Sq,Skv].
private func inferFusedAttention(_ ctx: InferenceContext) throws -> TensorType {
  let q = try ctx.type(0), k = try ctx.type(1), v = try ctx.type(2)
  try nnRequireDType(q, [.float32], "Q")
  try nnRequireSameDType(k, as: q, "K", "Q")
  try nnRequireSameDType(v, as: q, "V", "Q")
  let a = ctx.attributes
  let heads = try a.int(AttentionAttr.heads) ?? 0, kvHeads = try a.int(AttentionAttr.kvHeads) ?? heads
  guard heads > 0, kvHeads > 0, heads % kvHeads == 0, heads <= 1 << 20 else {
    throw GraphError("heads (\(heads)) must be positive and a multiple of kv_heads (\(kvHeads))")
  }
  let maskName = try a.string(AttentionAttr.mask, default: "none")
  guard let mask = AttentionMaskKind(rawValue: maskName) else {
    throw GraphError("unknown mask kind '\(maskName)'; kinds: \(AttentionMaskKind.allCases.map(\.rawValue).joined(separator: ", "))")
  }
  let hasMask = ctx.optional(3) != nil
  guard hasMask == mask.hasOperand else {
    throw GraphError(mask.hasOperand ? "mask '\(maskName)' needs the mask operand" : "mask '\(maskName)' takes no mask operand")
  }
  if let s = try a.float(AttentionAttr.scale), !s.isFinite { throw GraphError("scale must be finite, got \(s)") }
  if let c = try a.float(AttentionAttr.softcap), !(c >= 0 && c.isFinite) { throw GraphError("softcap must be >= 0, got \(c)") }
  if try a.int(AttentionAttr.calibrationLength, default: 0) < 0 { throw GraphError("calibration_length must be >= 0") }
  _ = try attentionPatterns(a, heads: heads)
  for (t, name) in [(q, "Q"), (k, "K"), (v, "V")] {
    if let r = t.rank, r != 4 { throw GraphError("\(name) must be 4-D [batch, heads, seq, size], got rank \(r)") }
  }
  guard let qd = q.dims, let kd = k.dims, let vd = v.dims else { return TensorType(q.dtype, nil) }
  try nnRequireDim(qd[1], equals: heads, "Q's head dim")
  try nnRequireDim(kd[1], equals: kvHeads, "K's head dim")
  try nnRequireDim(vd[1], equals: kvHeads, "V's head dim")
  if let hs = try a.int(AttentionAttr.headSize) { try nnRequireDim(qd[3], equals: hs, "Q's head size") }
  try requireSameDim(qd[3], kd[3], "Q's and K's head sizes")
  try requireSameDim(kd[2], vd[2], "K's and V's sequence lengths")
  for (x, name) in [(kd[0], "K"), (vd[0], "V")] { try requireSameDim(qd[0], x, "Q's and \(name)'s batch") }
  if hasMask, let m = try ctx.type(3).dims {
    try nnRequireDType(try ctx.type(3), [.float32], "the mask")
    guard m.count <= 4 else { throw GraphError("the mask must have rank <= 4, got \(m.count)") }
    let target = [qd[0], qd[1], qd[2], kd[2]]
    for (md, td) in zip(m.reversed(), target.reversed()) {
      if let x = md.value, x != 1, let y = td.value, x != y {
        throw GraphError("the mask of shape \(m) does not broadcast to [batch, heads, \(qd[2]), \(kd[2])]")
      }
    }
  }
  return TensorType(q.dtype, [qd[0], qd[1], qd[2], vd[3]])
}

private func requireSameDim(_ a: Dim, _ b: Dim, _ what: String) throws {
  if let x = a.value, let y = b.value, x != y { throw GraphError("\(what) differ: \(x) and \(y)") }
}

/// ONNX `Attention` (opset 23/24): Q, K, V as 4-D [B, heads, S, size] or 3-D [B, S, heads*size]
/// with `q_num_heads`/`kv_num_heads`; optional attn_mask, past_key, past_value (and opset 24's
/// nonpad_kv_seqlen). Results: Y, present_key, present_value, qk_matmul_output.
private func inferONNXAttention(_ ctx: InferenceContext) throws -> [TensorType] {
  let q = try ctx.type(0), k = try ctx.type(1), v = try ctx.type(2)
  try nnRequireDType(q, nnFloatDTypes, "Q")
  try nnRequireSameDType(k, as: q, "K", "Q")
  try nnRequireSameDType(v, as: q, "V", "Q")
  let unknown = TensorType(q.dtype, nil)
  guard let qd = q.dims, let kd = k.dims, let vd = v.dims else {
    return [TensorType](repeating: unknown, count: ctx.resultCount)
  }
  guard qd.count == kd.count, kd.count == vd.count, qd.count == 3 || qd.count == 4 else {
    throw GraphError("Q, K and V must all be 3-D or all 4-D, got ranks \(qd.count), \(kd.count), \(vd.count)")
  }
  let batch = qd[0], sq = qd[qd.count == 4 ? 2 : 1], skv = kd[kd.count == 4 ? 2 : 1]
  var heads = nnUnknownDim, kvHeads = nnUnknownDim, vSize = nnUnknownDim, y = [Dim]()
  if qd.count == 4 {
    heads = qd[1]; kvHeads = kd[1]; vSize = vd[3]
    y = [batch, heads, sq, vSize]
  } else {
    guard let qh = try ctx.attributes.int("q_num_heads"), let kh = try ctx.attributes.int("kv_num_heads"), qh > 0, kh > 0 else {
      throw GraphError("3-D inputs need positive q_num_heads and kv_num_heads")
    }
    heads = .fixed(qh); kvHeads = .fixed(kh)
    if let vh = vd[2].value {
      guard vh % kh == 0 else { throw GraphError("V's hidden size \(vh) is not a multiple of kv_num_heads \(kh)") }
      vSize = .fixed(vh / kh)
    }
    y = [batch, sq, vd[2].value.map { .fixed($0 / kh * qh) } ?? nnUnknownDim]
  }
  if let h = heads.value, let g = kvHeads.value, g <= 0 || h % g != 0 {
    throw GraphError("the query head count \(h) is not a multiple of the key/value head count \(g)")
  }
  var total = skv
  if let past = ctx.optional(4)?.type.dims, past.count == 4, let p = past[2].value, let s = skv.value { total = .fixed(p + s) }
  else if ctx.optional(4) != nil { total = nnUnknownDim }
  let kSize = kd.count == 4 ? kd[3] : nnUnknownDim
  var out = [TensorType(q.dtype, y)]
  if ctx.resultCount > 1 { out.append(TensorType(q.dtype, [batch, kvHeads, total, kSize])) }
  if ctx.resultCount > 2 { out.append(TensorType(q.dtype, [batch, kvHeads, total, vSize])) }
  if ctx.resultCount > 3 { out.append(TensorType(q.dtype, [batch, heads, sq, total])) }
  return out
}
