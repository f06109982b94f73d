// Gemm.swift - The shared fp32 GEMM (sgemm), a generic GEMM for other types, and the MatMul,
// Gemm and MatMulInteger kernels built on them.

import CKernels
import Foundation
import GraphIR

// MARK: sgemm

/// Single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`, all row-major.
///
/// Layout contract (kept stable for MatMul, Gemm and the conv kernels):
/// - op(A) is m x k: `A[i][p] = a[i * lda + p]`, or `a[p * lda + i]` when `transA`.
/// - op(B) is k x n: `B[p][j] = b[p * ldb + j]`, or `b[j * ldb + p]` when `transB`.
/// - C is m x n: `C[i][j] = c[i * ldc + j]`. With `beta == 0`, C is not read (NaNs in it vanish).
/// - C must not overlap A or B.
///
/// Implementation: the packed, cache-blocked C GEMM of `CKernels` (an AVX2+FMA 6 x 16
/// micro-kernel picked at run time, a portable one otherwise; see Docs/Benchmarks.md for the
/// comparison with Swift SIMD and OpenBLAS that chose it). Products big enough to pay for a
/// second thread are split into disjoint column (or row) ranges of C, one per thread, each a
/// serial GEMM; the split is aligned to the micro-tile so no tile is shared.
public func sgemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
        packedB: nil, beta: beta, c: c, ldc: ldc)
}

/// `sgemm` with op(B) optionally already packed (`SgemmPackedB`, e.g. a constant weight packed
/// at load). The packing is used only when it was made from this very B (`packedB.matches`);
/// otherwise B is packed per call as usual, so a stale or foreign packing never changes results.
public func sgemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, packedB: SgemmPackedB?,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  guard m > 0, n > 0 else { return }
  let ta: Int32 = transA ? 1 : 0, tb: Int32 = transB ? 1 : 0
  let packed = packedB.flatMap { $0.matches(transB: transB, k: k, n: n, b: b, ldb: ldb) ? UnsafePointer($0.panels) : nil }
  let mr = Int(GRAPHC_SGEMM_MR), nr = Int(GRAPHC_SGEMM_NR)
  let colTiles = (n + nr - 1) / nr, rowTiles = (m + mr - 1) / mr
  // Split along N unless M offers clearly more tiles: an N split shares nothing but A's packing.
  let splitRows = rowTiles > 2 * colTiles
  let tiles = splitRows ? rowTiles : colTiles
  let workPerTile = max(1, m * n * max(k, 1) / tiles)
  parallelChunks(tiles, minChunk: (GemmSplit.minWorkPerThread + workPerTile - 1) / workPerTile) { tiles in
    if splitRows {
      let i0 = tiles.lowerBound * mr, i1 = min(m, tiles.upperBound * mr)
      graphc_sgemm_serial_packed(ta, tb, i1 - i0, n, k, alpha, transA ? a + i0 : a + i0 * lda, lda, b, ldb, packed,
                                 beta, c + i0 * ldc, ldc)
    } else {
      let j0 = tiles.lowerBound * nr, j1 = min(n, tiles.upperBound * nr)
      graphc_sgemm_serial_packed(ta, tb, m, j1 - j0, k, alpha, a, lda, transB ? b + j0 * ldb : b + j0, ldb,
                                 packed.map { $0 + j0 * k }, beta, c + j0, ldc)
    }
  }
}

/// A k x n op(B) packed once into the C GEMM's column panels (`graphc_sgemm_pack_b`), with the
/// operand it came from (address, leading dimension, transposition) so `sgemm` uses it only for
/// that operand. Holds about k x n floats (n rounded up to 16); the source is not copied or kept
/// alive: the owner (a kernel holding a model constant) guarantees it outlives the packing.
public final class SgemmPackedB: @unchecked Sendable {
  let source: UnsafePointer<Float>
  let transB: Bool
  let k: Int, n: Int, ldb: Int
  let panels: UnsafeMutablePointer<Float>
  /// What keeps `source` alive, when the packing was made from a tensor.
  private let sourceOwner: AnyObject?

  /// Packs op(B) (k x n, `b` as in `sgemm`); nil for an empty product.
  public convenience init?(transB: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) {
    self.init(transB: transB, k: k, n: n, b: b, ldb: ldb, owner: nil)
  }

  /// Packs the last two dimensions of a float32 tensor of rank >= 2 whose other dimensions are
  /// all 1 (as MatMul's B, or Gemm's B with `transB`); nil for anything else. Then gives the
  /// tensor's pages back when they come from a file mapping (`releaseResidentPages`): runs read
  /// the panels, so the weight would otherwise be resident twice; the few calls that read B in
  /// place (at most 4 rows) map its pages again from the file.
  convenience init?(matrix t: Tensor, transB: Bool) {
    guard Self.isMatrix(t) else { return nil }
    let rows = t.shape[t.rank - 2], cols = t.shape[t.rank - 1]
    self.init(transB: transB, k: transB ? cols : rows, n: transB ? rows : cols, b: UnsafePointer(t.pointer(as: Float.self)),
              ldb: cols, owner: t.storage)
    t.storage.releaseResidentPages(byteOffset: t.byteOffset, byteCount: t.byteCount)
  }

  /// A float32 tensor of rank >= 2 whose leading dimensions are all 1: what `init(matrix:)` packs.
  static func isMatrix(_ t: Tensor) -> Bool {
    t.dtype == .float32 && t.rank >= 2 && t.shape.dropLast(2).allSatisfy { $0 == 1 }
  }

  private init?(transB: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int, owner: AnyObject?) {
    guard k > 0, n > 0, ldb >= (transB ? k : n) else { return nil }
    sourceOwner = owner
    source = b
    self.transB = transB
    self.k = k
    self.n = n
    self.ldb = ldb
    panels = .allocate(capacity: graphc_sgemm_packed_size(k, n))
    graphc_sgemm_pack_b(transB ? 1 : 0, k, n, b, ldb, panels)
  }

  deinit { panels.deallocate() }

  /// Bytes held by the packed panels.
  public var byteCount: Int { graphc_sgemm_packed_size(k, n) * MemoryLayout<Float>.stride }

  func matches(transB: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) -> Bool {
    b == source && transB == self.transB && k == self.k && n == self.n && ldb == self.ldb
  }
}

enum GemmSplit {
  /// Multiply-adds below which a second thread costs more (wake-up, packing A twice) than it saves.
  static let minWorkPerThread = 1 << 17
}

// MARK: Generic GEMM

/// `C = alpha * op(A) * op(B) + beta * C` for any NN element type, with the layout of
/// `sgemm`. Simple i-p-j loops: used for float64 and integers, where speed matters less.
func genericGemm<T: NNNumber>(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
  a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
  beta: T, c: UnsafeMutablePointer<T>, ldc: Int
) {
  for i in 0..<m {
    let row = c + i * ldc
    for j in 0..<n { row[j] = beta == T.nnZero ? T.nnZero : T.nnMul(beta, row[j]) }
    for p in 0..<k {
      let av = T.nnMul(alpha, transA ? a[p * lda + i] : a[i * lda + p])
      if transB {
        for j in 0..<n { row[j] = T.nnAdd(row[j], T.nnMul(av, b[j * ldb + p])) }
      } else {
        let brow = b + p * ldb
        for j in 0..<n { row[j] = T.nnAdd(row[j], T.nnMul(av, brow[j])) }
      }
    }
  }
}

// MARK: Kernels

let gemmKernels: [String: Kernel] = [
  "onnx.MatMul": Kernel { ctx in
    switch try ctx.dtype(0) {
    case .float32: return matmulEval(Float.self, packedSgemm(try prepackedWeight(ctx)))
    case .float64: return matmulEval(Double.self, genericGemm)
    case .int32: return matmulEval(Int32.self, genericGemm)
    case .int64: return matmulEval(Int64.self, genericGemm)
    case .uint32: return matmulEval(UInt32.self, genericGemm)
    case .uint64: return matmulEval(UInt64.self, genericGemm)
    case let t: throw unsupported("MatMul", t)
    }
  },
  "onnx.Gemm": Kernel { ctx in
    let alpha = try ctx.attributes.float("alpha", default: 1), beta = try ctx.attributes.float("beta", default: 1)
    let ta = try ctx.attributes.int("transA", default: 0) != 0, tb = try ctx.attributes.int("transB", default: 0) != 0
    switch try ctx.dtype(0) {
    case .float32: return gemmEval(Float(alpha), Float(beta), ta, tb, packedSgemm(try prepackedWeight(ctx)))
    case .float64: return gemmEval(Double(alpha), Double(beta), ta, tb, genericGemm)
    case .int32: return gemmEval(Int32(nnDouble: Double(alpha)), Int32(nnDouble: Double(beta)), ta, tb, genericGemm)
    case .int64: return gemmEval(Int64(nnDouble: Double(alpha)), Int64(nnDouble: Double(beta)), ta, tb, genericGemm)
    case .uint32: return gemmEval(UInt32(nnDouble: Double(alpha)), UInt32(nnDouble: Double(beta)), ta, tb, genericGemm)
    case .uint64: return gemmEval(UInt64(nnDouble: Double(alpha)), UInt64(nnDouble: Double(beta)), ta, tb, genericGemm)
    case let t: throw unsupported("Gemm", t)
    }
  },
  "onnx.MatMulInteger": Kernel { ctx in
    let signedA = try ctx.dtype(0) == .int8, signedB = try ctx.dtype(1) == .int8
    return { inputs, outputs in
      guard let a = inputs[0], let b = inputs[1] else { throw GraphError("missing required input") }
      let widen = { (t: Tensor, signed: Bool) -> [Int32] in
        signed ? t.scalars(as: Int8.self).map(Int32.init) : t.scalars(as: UInt8.self).map(Int32.init)
      }
      let za = try zeroPoints(inputs.count > 2 ? inputs[2] : nil, signed: signedA, rows: matrixRows(a.shape), name: "a_zero_point")
      let zb = try zeroPoints(inputs.count > 3 ? inputs[3] : nil, signed: signedB, rows: b.shape.last ?? 1, name: "b_zero_point")
      // Subtract zero points up front (a per row of A, b per column of B), then multiply in int32.
      var av = widen(a, signedA), bv = widen(b, signedB)
      let ka = a.shape.last ?? 1, nb = b.shape.last ?? 1
      let rowsA = matrixRows(a.shape)
      for i in 0..<av.count { av[i] &-= za.count == 1 ? za[0] : za[(i / ka) % rowsA] }
      for i in 0..<bv.count { bv[i] &-= zb.count == 1 ? zb[0] : zb[i % nb] }
      let at = Tensor(.int32, shape: a.shape, values: av), bt = Tensor(.int32, shape: b.shape, values: bv)
      try matmulEval(Int32.self, genericGemm)([at, bt], outputs)
    }
  },
]

/// The constant float32 B (input 1) of a MatMul or Gemm, to be packed once into the GEMM's
/// panels as onnxruntime prepacks the weights of linear layers; nil when B is not a constant
/// matrix or when A's static shape says the product has at most 4 rows (those run
/// vector-matrix loops that read B in place, so panels would go unused).
func prepackedWeight(_ ctx: KernelContext) throws -> LazyPackedB? {
  guard try ctx.dtype(0) == .float32, let w = ctx.constant(1) else { return nil }
  let gemm = ctx.op == "onnx.Gemm"
  let transA = gemm ? try ctx.attributes.int("transA", default: 0) != 0 : false
  let transB = gemm ? try ctx.attributes.int("transB", default: 0) != 0 : false
  if let shape = ctx.inputTypes[0]?.staticShape, !shape.isEmpty {
    // MatMul folds A's batch into M; Gemm's A is 2-D.
    let m = gemm ? (shape.count == 2 ? (transA ? shape[1] : shape[0]) : Int.max) : shape.dropLast().reduce(1, *)
    if m <= 4 { return nil }
  }
  guard SgemmPackedB.isMatrix(w) else { return nil }
  return LazyPackedB { SgemmPackedB(matrix: w, transB: transB) }
}

/// A weight's packing made by the first run that needs it, not at load: packing a large model
/// costs more than validating it (100-200 ms for 108 MiB here), and loading stays validation
/// and kernel resolution only. Later runs, from any thread, share the one packing.
final class LazyPackedB: @unchecked Sendable {
  private let lock = NSLock()
  private var make: (() -> SgemmPackedB?)?
  private var packed: SgemmPackedB?

  init(_ make: @escaping () -> SgemmPackedB?) { self.make = make }

  /// The packing, made on first use.
  var value: SgemmPackedB? {
    lock.lock(); defer { lock.unlock() }
    if let make {
      packed = make()
      self.make = nil
    }
    return packed
  }
}

/// `sgemm` bound to a packing of B (or plain `sgemm` without one).
private func packedSgemm(_ packed: LazyPackedB?) -> GemmFunction<Float> {
  guard let packed else { return sgemm }
  return { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
    sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, packedB: packed.value,
          beta: beta, c: c, ldc: ldc)
  }
}

/// Rows of the matrix part of a MatMul operand (1 for a vector).
private func matrixRows(_ shape: [Int]) -> Int { shape.count >= 2 ? shape[shape.count - 2] : 1 }

private func zeroPoints(_ t: Tensor?, signed: Bool, rows: Int, name: String) throws -> [Int32] {
  guard let t else { return [0] }
  let v = signed ? t.scalars(as: Int8.self).map(Int32.init) : t.scalars(as: UInt8.self).map(Int32.init)
  guard v.count == 1 || v.count == rows else { throw GraphError("\(name) has \(v.count) values, expected 1 or \(rows)") }
  return v.isEmpty ? [0] : v
}

typealias GemmFunction<T> = (
  _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: T,
  _ a: UnsafePointer<T>, _ lda: Int, _ b: UnsafePointer<T>, _ ldb: Int,
  _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) -> Void

/// numpy matmul: 1-D operands promoted, batch dims broadcast. When B has no batch dims and A
/// is contiguous, the batch folds into M and one GEMM runs.
private func matmulEval<T: NNNumber>(_: T.Type, _ gemm: @escaping GemmFunction<T>) -> KernelEval {
  return { inputs, outputs in
    guard let at = inputs[0], let bt = inputs[1] else { throw GraphError("missing required input") }
    guard at.rank >= 1, bt.rank >= 1 else { throw GraphError("MatMul operands must have rank >= 1") }
    let y = outputs[0]
    let aShape = at.rank == 1 ? [1] + at.shape : at.shape
    let bShape = bt.rank == 1 ? bt.shape + [1] : bt.shape
    let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1], n = bShape[bShape.count - 1]
    guard bShape[bShape.count - 2] == k else { throw GraphError("inner dims differ: \(at.shape) x \(bt.shape)") }
    let a = UnsafePointer(at.pointer(as: T.self)), b = UnsafePointer(bt.pointer(as: T.self))
    let c = y.pointer(as: T.self)
    let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
    if product(bBatch[...]) == 1 {
      gemm(false, false, product(aBatch[...]) * m, n, k, T.nnOne, a, k, b, n, T.nnZero, c, n)
      return
    }
    let batch = try broadcastShapes(aBatch, bBatch)
    let r = batch.count
    func strides(_ s: [Int], _ matrix: Int) -> [Int] {
      let padded = Array(repeating: 1, count: r - s.count) + s
      return zip(contiguousStrides(padded), padded).map { $1 == 1 ? 0 : $0 * matrix }
    }
    let sa = strides(aBatch, m * k), sb = strides(bBatch, k * n)
    var index = [Int](repeating: 0, count: r)
    for bi in 0..<product(batch[...]) {
      var oa = 0, ob = 0
      for d in 0..<r { oa += index[d] * sa[d]; ob += index[d] * sb[d] }
      gemm(false, false, m, n, k, T.nnOne, a + oa, k, b + ob, n, T.nnZero, c + bi * m * n, n)
      var d = r - 1
      while d >= 0 {
        index[d] += 1
        if index[d] < batch[d] { break }
        index[d] = 0
        d -= 1
      }
    }
  }
}

/// Gemm: Y = alpha * op(A) * op(B) + beta * C, with C broadcast to [M, N].
private func gemmEval<T: NNNumber>(_ alpha: T, _ beta: T, _ ta: Bool, _ tb: Bool, _ gemm: @escaping GemmFunction<T>) -> KernelEval {
  return { inputs, outputs in
    guard let at = inputs[0], let bt = inputs[1] else { throw GraphError("missing required input") }
    guard at.rank == 2, bt.rank == 2 else { throw GraphError("A and B must be 2-D") }
    let y = outputs[0]
    let m = ta ? at.shape[1] : at.shape[0], k = ta ? at.shape[0] : at.shape[1]
    let n = tb ? bt.shape[0] : bt.shape[1]
    guard (tb ? bt.shape[1] : bt.shape[0]) == k else { throw GraphError("inner dims differ: \(at.shape) x \(bt.shape)") }
    let c = y.pointer(as: T.self)
    var betaUsed = T.nnZero
    if let ct = inputs.count > 2 ? inputs[2] : nil, beta != T.nnZero {
      guard ct.rank <= 2 else { throw GraphError("C must have rank <= 2") }
      // Unidirectional broadcast of C into Y, then accumulate with beta.
      let cs = Array(repeating: 1, count: 2 - ct.rank) + ct.shape
      guard (cs[0] == 1 || cs[0] == m) && (cs[1] == 1 || cs[1] == n) else {
        throw GraphError("C shape \(ct.shape) cannot be broadcast to [\(m), \(n)]")
      }
      let src = ct.pointer(as: T.self)
      let rs = cs[0] == 1 ? 0 : cs[1], cst = cs[1] == 1 ? 0 : 1
      for i in 0..<m { for j in 0..<n { c[i * n + j] = src[i * rs + j * cst] } }
      betaUsed = beta
    }
    gemm(ta, tb, m, n, k, alpha, at.pointer(as: T.self), at.shape[1], bt.pointer(as: T.self), bt.shape[1], betaUsed, c, n)
  }
}
