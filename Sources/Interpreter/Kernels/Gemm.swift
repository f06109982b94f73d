// Gemm.swift - The shared fp32 GEMM (sgemm), a generic GEMM for other types, and the MatMul,
// Gemm and MatMulInteger kernels built on them.

import Dispatch
import Foundation
import GraphIR

// MARK: sgemm

/// Single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`, all row-major.
///
/// Layout contract (kept stable so a faster implementation, such as a C micro-kernel or a system
/// BLAS `cblas_sgemm(CblasRowMajor, ...)`, can be swapped in behind it):
/// - op(A) is m x k: `A[i][p] = a[i * lda + p]`, or `a[p * lda + i]` when `transA`.
/// - op(B) is k x n: `B[p][j] = b[p * ldb + j]`, or `b[j * ldb + p]` when `transB`.
/// - C is m x n: `C[i][j] = c[i * ldc + j]`. With `beta == 0`, C is not read (NaNs in it vanish).
/// - C must not overlap A or B.
///
/// Implementation: Goto/BLIS blocking. B is packed per (KC x NC) block into NR-wide column
/// panels, A per (MC x KC) block into MR-tall row panels, and an MR x NR micro-kernel of
/// SIMD8<Float> accumulators runs over each panel pair. Large products split the NR panels
/// of a block across threads.
public func sgemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  guard m > 0, n > 0 else { return }
  if beta != 1 {
    for i in 0..<m {
      let row = c + i * ldc
      if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
    }
  }
  guard k > 0, alpha != 0 else { return }

  let kcMax = min(k, GemmBlocking.kc), ncMax = min(n, GemmBlocking.nc), mcMax = min(m, GemmBlocking.mc)
  let packedB = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * roundUp(ncMax, GemmBlocking.nr))
  defer { packedB.deallocate() }
  let threads = (m * n * k >= 1 << 21) ? InterpreterThreads.count : 1
  // One packed-A buffer per thread count is not needed: A is packed once per block and shared.
  let packedA = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * roundUp(mcMax, GemmBlocking.mr))
  defer { packedA.deallocate() }

  var jc = 0
  while jc < n {
    let nc = min(GemmBlocking.nc, n - jc)
    var pc = 0
    while pc < k {
      let kc = min(GemmBlocking.kc, k - pc)
      packB(transB: transB, b: b, ldb: ldb, row: pc, col: jc, kc: kc, nc: nc, into: packedB)
      var ic = 0
      while ic < m {
        let mc = min(GemmBlocking.mc, m - ic)
        packA(transA: transA, a: a, lda: lda, row: ic, col: pc, mc: mc, kc: kc, into: packedA)
        let panels = (nc + GemmBlocking.nr - 1) / GemmBlocking.nr
        let cBlock = c + ic * ldc + jc
        let work = min(threads, panels)
        if work <= 1 {
          macroKernel(mc: mc, kc: kc, nc: nc, panels: 0..<panels, a: packedA, b: packedB, c: cBlock, ldc: ldc, alpha: alpha)
        } else {
          let pa = UnsafePointer(packedA), pb = UnsafePointer(packedB)
          DispatchQueue.concurrentPerform(iterations: work) { t in
            let lo = panels * t / work, hi = panels * (t + 1) / work
            macroKernel(mc: mc, kc: kc, nc: nc, panels: lo..<hi, a: pa, b: pb, c: cBlock, ldc: ldc, alpha: alpha)
          }
        }
        ic += mc
      }
      pc += kc
    }
    jc += nc
  }
}

/// Block sizes: an NR-wide B micro-panel (KC x NR) stays in L1, a packed A block (MC x KC) in
/// L2, and a packed B block (KC x NC) in L3.
enum GemmBlocking {
  static let mr = 6
  static let nr = 8
  static let kc = 256
  static let mc = 96
  static let nc = 2048
}

@inline(__always) private func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

/// Packs op(B)[row..<row+kc, col..<col+nc] into NR-wide panels, each kc rows of NR floats,
/// zero-filled past the last column.
private func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, row: Int, col: Int, kc: Int, nc: Int, into dst: UnsafeMutablePointer<Float>) {
  let nr = GemmBlocking.nr
  var j0 = 0
  var out = dst
  while j0 < nc {
    let w = min(nr, nc - j0)
    if !transB {
      var src = b + row * ldb + col + j0
      for _ in 0..<kc {
        if w == nr {
          for jj in 0..<nr { out[jj] = src[jj] }
        } else {
          for jj in 0..<w { out[jj] = src[jj] }
          for jj in w..<nr { out[jj] = 0 }
        }
        src += ldb
        out += nr
      }
    } else {
      for jj in 0..<nr {
        if jj < w {
          let src = b + (col + j0 + jj) * ldb + row
          for p in 0..<kc { out[p * nr + jj] = src[p] }
        } else {
          for p in 0..<kc { out[p * nr + jj] = 0 }
        }
      }
      out += kc * nr
    }
    j0 += nr
  }
}

/// Packs op(A)[row..<row+mc, col..<col+kc] into MR-tall panels, each kc columns of MR floats,
/// zero-filled past the last row.
private func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, row: Int, col: Int, mc: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
  let mr = GemmBlocking.mr
  var i0 = 0
  var out = dst
  while i0 < mc {
    let h = min(mr, mc - i0)
    if !transA {
      for ii in 0..<mr {
        if ii < h {
          let src = a + (row + i0 + ii) * lda + col
          for p in 0..<kc { out[p * mr + ii] = src[p] }
        } else {
          for p in 0..<kc { out[p * mr + ii] = 0 }
        }
      }
    } else {
      var src = a + col * lda + row + i0
      for p in 0..<kc {
        for ii in 0..<h { out[p * mr + ii] = src[ii] }
        for ii in h..<mr { out[p * mr + ii] = 0 }
        src += lda
      }
    }
    out += kc * mr
    i0 += mr
  }
}

/// Runs the micro-kernel over the given NR panels of a packed block pair.
private func macroKernel(
  mc: Int, kc: Int, nc: Int, panels: Range<Int>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float
) {
  let mr = GemmBlocking.mr, nr = GemmBlocking.nr
  for jp in panels {
    let j0 = jp * nr
    let w = min(nr, nc - j0)
    var i0 = 0
    while i0 < mc {
      let h = min(mr, mc - i0)
      microKernel(kc: kc, a: a + (i0 / mr) * kc * mr, b: b + jp * kc * nr, c: c + i0 * ldc + j0, ldc: ldc, alpha: alpha, rows: h, cols: w)
      i0 += mr
    }
  }
}

/// C[0..<rows][0..<cols] += alpha * (6 x kc packed A) * (kc x 8 packed B).
@inline(__always)
private func microKernel(
  kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
  alpha: Float, rows: Int, cols: Int
) {
  typealias V = SIMD8<Float>
  var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
  var pa = a
  var pb = UnsafeRawPointer(b)
  for _ in 0..<kc {
    let bv = pb.loadUnaligned(as: V.self)
    c0 += V(repeating: pa[0]) * bv
    c1 += V(repeating: pa[1]) * bv
    c2 += V(repeating: pa[2]) * bv
    c3 += V(repeating: pa[3]) * bv
    c4 += V(repeating: pa[4]) * bv
    c5 += V(repeating: pa[5]) * bv
    pa += 6
    pb += 32
  }
  let s = V(repeating: alpha)
  if cols == 8 {
    @inline(__always) func store(_ r: Int, _ v: V) {
      let p = UnsafeMutableRawPointer(c + r * ldc)
      p.storeBytes(of: p.loadUnaligned(as: V.self) + s * v, as: V.self)
    }
    store(0, c0)
    if rows > 1 { store(1, c1) }
    if rows > 2 { store(2, c2) }
    if rows > 3 { store(3, c3) }
    if rows > 4 { store(4, c4) }
    if rows > 5 { store(5, c5) }
  } else {
    // Edge tile: spill the accumulators to the stack (row r at float offset 8 * r).
    var acc = (c0, c1, c2, c3, c4, c5)
    withUnsafeBytes(of: &acc) { raw in
      let f = raw.bindMemory(to: Float.self)
      for r in 0..<rows {
        let row = c + r * ldc
        for j in 0..<cols { row[j] += alpha * f[r * 8 + j] }
      }
    }
  }
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
    case .float32: return matmulEval(Float.self, sgemm)
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
    case .float32: return gemmEval(Float(alpha), Float(beta), ta, tb, sgemm)
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
