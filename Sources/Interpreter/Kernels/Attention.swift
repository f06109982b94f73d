// Attention.swift - The fused attention kernel: tiled, streaming (online) softmax, GQA, masks.

import CKernels
import GraphIR

let attentionKernels: [String: Kernel] = [
  "graphc.Attention": Kernel { ctx in try prepareAttention(ctx) },
]

/// Sizes of one attention call: Q [batch, heads, sq, d], K [batch, kvHeads, skv, d],
/// V [batch, kvHeads, skv, dv], output [batch, heads, sq, dv], all contiguous.
struct AttentionGeometry {
  var batch: Int, heads: Int, kvHeads: Int, sq: Int, skv: Int, d: Int, dv: Int

  /// Query head `h` reads key/value head `h / (heads / kvHeads)` (grouped-query attention).
  @inline(__always) func kvHead(_ h: Int) -> Int { h / (heads / kvHeads) }
}

/// An additive mask broadcast to [batch, heads, sq, skv] by strides (0 on broadcast dims).
struct AttentionMaskView {
  var base: UnsafePointer<Float>
  var strides: (b: Int, h: Int, i: Int, j: Int)

  init(_ t: Tensor, target: [Int]) {
    base = UnsafePointer(t.pointer(as: Float.self))
    let shape = Array(repeating: 1, count: 4 - t.rank) + t.shape
    var s = [0, 0, 0, 0], step = 1
    for d in (0..<4).reversed() {
      s[d] = shape[d] == 1 ? 0 : step
      step *= shape[d]
    }
    strides = (s[0], s[1], s[2], s[3])
  }
}

/// What every query row of one call shares.
struct AttentionParams {
  var geometry: AttentionGeometry
  var scale: Float
  var softcap: Float
  var causal: Bool
  var mask: AttentionMaskView?
}

/// Query and key tile sizes: a 64-row query block streams over key blocks; the score tile
/// (64 x 128 floats) and the output accumulator stay in L1/L2.
enum AttentionTiling {
  static let queryBlock = 64
  static let keyBlock = 128
}

private func prepareAttention(_ ctx: KernelContext) throws -> KernelEval {
  guard try ctx.dtype(0) == .float32 else { throw unsupported("Attention", try ctx.dtype(0)) }
  let a = ctx.attributes
  let mask = AttentionMaskKind(rawValue: try a.string(AttentionAttr.mask, default: "none")) ?? .none
  let heads = try a.int(AttentionAttr.heads, default: 0)
  let calibrationLength = try a.int(AttentionAttr.calibrationLength, default: 0)
  var patterns = try attentionPatterns(a, heads: heads)
  if let p = patterns, p.allSatisfy({ $0.kind == .dense }) { patterns = nil }
  if let p = patterns {
    guard mask.isCausal else { throw GraphError("sparse attention patterns need a causal mask, got '\(mask.rawValue)'") }
    if let h = p.firstIndex(where: { $0.kind == .strided }) { throw GraphError("head \(h): the strided pattern has no kernel") }
  }
  return { inputs, outputs in
    guard let q = inputs[0], let k = inputs[1], let v = inputs[2] else { throw GraphError("missing required input") }
    let params = try attentionParams(attributes: a, q: q, k: k, v: v, mask: mask.hasOperand ? inputs[3] : nil)
    let qp = UnsafePointer(q.pointer(as: Float.self)), kp = UnsafePointer(k.pointer(as: Float.self))
    let vp = UnsafePointer(v.pointer(as: Float.self)), op = outputs[0].pointer(as: Float.self)
    if let patterns {
      let resolved = resolvedPatterns(patterns, calibrationLength: calibrationLength, skv: params.geometry.skv)
      sparseAttention(params, resolved, q: qp, k: kp, v: vp, out: op)
    } else {
      denseAttention(params, q: qp, k: kp, v: vp, out: op)
    }
  }
}

/// The parameters of one call from the node's attributes and its operands' shapes.
func attentionParams(attributes a: AttributeMap, q: Tensor, k: Tensor, v: Tensor, mask: Tensor?) throws -> AttentionParams {
  let kind = AttentionMaskKind(rawValue: try a.string(AttentionAttr.mask, default: "none")) ?? .none
  let g = AttentionGeometry(batch: q.shape[0], heads: q.shape[1], kvHeads: k.shape[1], sq: q.shape[2],
                            skv: k.shape[2], d: q.shape[3], dv: v.shape[3])
  let maskView = kind.hasOperand ? mask.map { AttentionMaskView($0, target: [g.batch, g.heads, g.sq, g.skv]) } : nil
  return AttentionParams(geometry: g, scale: try a.float(AttentionAttr.scale) ?? 1 / Float(g.d).squareRoot(),
                         softcap: try a.float(AttentionAttr.softcap, default: 0), causal: kind.isCausal, mask: maskView)
}

/// Dense attention: `softmax(scale * Q Kᵀ + mask) V` per head, one query block per work item,
/// streaming over key blocks with the online softmax, so no [sq, skv] matrix is ever built.
func denseAttention(
  _ p: AttentionParams, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
  out: UnsafeMutablePointer<Float>
) {
  forEachQueryBlock(p, q: q, k: k, v: v, out: out) { state, block in
    let end = p.causal ? min(p.geometry.skv, block.i0 + block.rows) : p.geometry.skv
    var j0 = 0
    while j0 < end {
      let n = min(AttentionTiling.keyBlock, end - j0)
      state.accumulate(block, keys: block.k + j0 * p.geometry.d, values: block.v + j0 * p.geometry.dv,
                       count: n, index: .contiguous(j0))
      j0 += n
    }
  }
}

/// One query block of one head: its rows, and the pointers of its head's Q, K and V.
struct QueryBlock {
  var batch: Int, head: Int, i0: Int, rows: Int
  var q: UnsafePointer<Float>
  var k: UnsafePointer<Float>
  var v: UnsafePointer<Float>
}

/// Runs `body` on every query block of every head, in parallel through `parallelChunks`; each
/// worker owns one `AttentionState`. `body` feeds key blocks into the state; the driver starts
/// and finishes each block (normalizing into `out`).
func forEachQueryBlock(
  _ p: AttentionParams, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
  out: UnsafeMutablePointer<Float>, intervalCapacity: Int = 0, _ body: (inout AttentionState, QueryBlock) -> Void
) {
  let g = p.geometry, bq = AttentionTiling.queryBlock
  let qBlocks = (g.sq + bq - 1) / bq
  parallelChunks(g.batch * g.heads * qBlocks) { items in
    var state = AttentionState(p, queryBlock: bq, keyBlock: max(AttentionTiling.keyBlock, 64), intervals: intervalCapacity)
    defer { state.deallocate() }
    for item in items {
      let bh = item / qBlocks, b = bh / g.heads, h = bh % g.heads
      let i0 = (item % qBlocks) * bq
      let kvh = b * g.kvHeads + g.kvHead(h)
      let block = QueryBlock(batch: b, head: h, i0: i0, rows: min(bq, g.sq - i0),
                             q: q + (bh * g.sq + i0) * g.d, k: k + kvh * g.skv * g.d, v: v + kvh * g.skv * g.dv)
      state.begin(rows: block.rows)
      body(&state, block)
      state.finish(rows: block.rows, into: out + (bh * g.sq + i0) * g.dv)
    }
  }
}

/// Where the keys of a tile sit in the sequence: a contiguous run from a start index, or a
/// gathered list of positions (vertical columns).
enum KeyIndex {
  case contiguous(Int)
  case gathered(UnsafePointer<Int32>)

  @inline(__always) func position(_ c: Int) -> Int {
    switch self {
    case .contiguous(let j0): j0 + c
    case .gathered(let list): Int(list[c])
    }
  }
}

/// The online-softmax state of one query block: running row maxima and sums, the unnormalized
/// output accumulator, and the score tile. Invariant after each `accumulate`:
/// `acc[r] = sum_j exp(s[r][j] - rowMax[r]) v[j]` and `rowSum[r] = sum_j exp(s[r][j] - rowMax[r])`
/// over the keys seen so far. Sparse kernels also use its scratch: a tile of gathered keys and
/// values with their positions, and `intervals` (pairs of key bounds).
struct AttentionState {
  let params: AttentionParams
  let keyBlock: Int
  let scores: UnsafeMutablePointer<Float>
  let acc: UnsafeMutablePointer<Float>
  let rowMax: UnsafeMutablePointer<Float>
  let rowSum: UnsafeMutablePointer<Float>
  let gatherKeys: UnsafeMutablePointer<Float>
  let gatherValues: UnsafeMutablePointer<Float>
  let gatherIndex: UnsafeMutablePointer<Int32>
  let intervals: UnsafeMutablePointer<Int>
  /// A key tile transposed to [d, keyBlock] for the score micro-kernel (graphc_attn_scores).
  let keysT: UnsafeMutablePointer<Float>

  init(_ p: AttentionParams, queryBlock: Int, keyBlock: Int, intervals: Int = 0) {
    params = p
    self.keyBlock = keyBlock
    scores = .allocate(capacity: queryBlock * keyBlock)
    acc = .allocate(capacity: queryBlock * max(p.geometry.dv, 1))
    rowMax = .allocate(capacity: queryBlock)
    rowSum = .allocate(capacity: queryBlock)
    let gather = intervals > 0 ? keyBlock : 1
    gatherKeys = .allocate(capacity: gather * max(p.geometry.d, 1))
    gatherValues = .allocate(capacity: gather * max(p.geometry.dv, 1))
    gatherIndex = .allocate(capacity: gather)
    self.intervals = .allocate(capacity: max(intervals, 1))
    keysT = .allocate(capacity: keyBlock * max(p.geometry.d, 1))
  }

  func deallocate() {
    scores.deallocate(); acc.deallocate(); rowMax.deallocate(); rowSum.deallocate()
    gatherKeys.deallocate(); gatherValues.deallocate(); gatherIndex.deallocate(); intervals.deallocate()
    keysT.deallocate()
  }

  func begin(rows: Int) {
    acc.update(repeating: 0, count: rows * params.geometry.dv)
    rowMax.update(repeating: -.infinity, count: rows)
    rowSum.update(repeating: 0, count: rows)
  }

  /// Adds `count` (<= keyBlock) keys to every row of `block`. Scores of keys that the causal
  /// mask hides, or that `keep` rejects (a sparse pattern's exact element mask), count as -inf.
  func accumulate(
    _ block: QueryBlock, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int, index: KeyIndex,
    keep: ((Int, Int) -> Bool)? = nil
  ) {
    let g = params.geometry, ld = keyBlock
    graphc_attn_scores(block.rows, count, g.d, params.scale, block.q, keys, keysT, scores, ld)
    for r in 0..<block.rows {
      let s = scores + r * ld, i = block.i0 + r
      if params.softcap > 0 {
        let c = params.softcap
        for x in 0..<count { s[x] = c * tanhf(s[x] / c) }
      }
      if let m = params.mask {
        let row = m.base + block.batch * m.strides.b + block.head * m.strides.h + i * m.strides.i
        for x in 0..<count { s[x] += row[index.position(x) * m.strides.j] }
      }
      if params.causal {
        if case .contiguous(let j0) = index {
          if i - j0 + 1 < count { (s + max(0, i - j0 + 1)).update(repeating: -.infinity, count: count - max(0, i - j0 + 1)) }
        } else {
          for x in 0..<count where index.position(x) > i { s[x] = -.infinity }
        }
      }
      if let keep {
        for x in 0..<count where !keep(i, index.position(x)) { s[x] = -.infinity }
      }
    }
    graphc_attn_softmax(block.rows, count, scores, ld, rowMax, rowSum, acc, g.dv)
    graphc_attn_accumulate(block.rows, count, g.dv, scores, ld, values, acc)
  }

  /// Writes `acc / rowSum`; a row that saw no visible key gets zeros (ONNX Attention's rule
  /// for fully masked rows).
  func finish(rows: Int, into out: UnsafeMutablePointer<Float>) {
    let dv = params.geometry.dv
    for r in 0..<rows {
      let inv = rowSum[r] > 0 ? 1 / rowSum[r] : 0
      let a = acc + r * dv, o = out + r * dv
      for x in 0..<dv { o[x] = a[x] * inv }
    }
  }
}

/// exp for attention weights (Cephes expf: range reduction by ln 2 (round to nearest) and a degree-6 polynomial,
/// within 2 ulp on [-87, 88]); exactly 0 below -87.3 (masked scores are -inf).
@inline(__always)
func attentionExp(_ v: SIMD8<Float>) -> SIMD8<Float> {
  typealias V = SIMD8<Float>
  let lo = V(repeating: -87.3), hi = V(repeating: 88.7)
  var x = v.replacing(with: lo, where: v .< lo)
  x = x.replacing(with: hi, where: x .> hi)
  // Round x·log2(e) to the nearest integer by adding 1.5·2^23: the sum's low mantissa bits are
  // then that integer (read below without the slow generic SIMD float-to-int conversion).
  let shifted = x * 1.44269504088896341 + 12582912
  let fx = shifted - 12582912
  var r = x - fx * 0.693359375
  r = r + fx * 2.12194440e-4
  let r2 = r * r
  var y = V(repeating: 1.9875691500e-4)
  y = y * r + 1.3981999507e-3
  y = y * r + 8.3334519073e-3
  y = y * r + 4.1665795894e-2
  y = y * r + 1.6666665459e-1
  y = y * r + 5.0000001201e-1
  y = y * r2 + r + 1
  let magic = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
  let pow2 = unsafeBitCast((magic &+ 127) &<< 23, to: V.self)  // same 32 bytes: the float 2^fx
  return (y * pow2).replacing(with: 0, where: v .< -87.3)
}

/// The scalar form of the kernel's exp (public for tests).
@inline(__always)
public func attentionExp(_ x: Float) -> Float { attentionExp(SIMD8<Float>(repeating: x))[0] }

import Foundation
