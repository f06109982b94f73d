// GemmTests.swift - The shared sgemm against a naive reference, MatMul broadcasting, Gemm.

import CKernels
import GraphIR
@testable import Interpreter
import Testing

struct GemmTests {
  /// Naive reference for the sgemm layout contract.
  func reference(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: [Float], _ lda: Int,
                 _ b: [Float], _ ldb: Int, _ beta: Float, _ c: [Float], _ ldc: Int) -> [Float] {
    var out = c
    for i in 0..<m {
      for j in 0..<n {
        var s: Double = 0
        for p in 0..<k {
          s += Double(ta ? a[p * lda + i] : a[i * lda + p]) * Double(tb ? b[j * ldb + p] : b[p * ldb + j])
        }
        out[i * ldc + j] = Float(Double(alpha) * s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
      }
    }
    return out
  }

  /// Shapes around the C GEMM's paths: edge tiles, several K blocks (KC 256), more rows than
  /// one A block (MC 144), more columns than one B block (NC 4080), the vector-matrix loops
  /// (m <= 4), B read in place (m <= 24) and A read in place (n <= 128), each with one and two
  /// threads and with both the AVX2 and the portable code.
  @Test(arguments: [(1, 1, 1), (7, 9, 5), (6, 8, 256), (13, 17, 300), (97, 33, 70), (130, 2100, 3), (5, 3, 0),
                    (20, 40, 300), (24, 33, 513), (150, 70, 260), (300, 20, 64), (2, 4097, 3), (3, 50, 37), (4, 19, 70),
                    (40, 130, 20)],
        [(threads: 1, portable: false), (threads: 2, portable: false), (threads: 1, portable: true), (threads: 2, portable: true)])
  func sgemmMatchesReference(size: (Int, Int, Int), config: (threads: Int, portable: Bool)) {
    graphc_sgemm_force_portable(config.portable ? 1 : 0)
    defer { graphc_sgemm_force_portable(0) }
    InterpreterThreads.with(config.threads) { checkSgemm(size) }
  }

  func checkSgemm(_ size: (Int, Int, Int)) {
    let (m, n, k) = size
    var rng = SeededRandom(seed: UInt64(m * 1000 + n * 10 + k))
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      // Leading dims larger than the matrices, to exercise the strides.
      let lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3
      let a = rng.floats((ta ? k : m) * lda), b = rng.floats((tb ? n : k) * ldb)
      var c = rng.floats(m * ldc)
      c[0] = .nan  // beta = 0 must not read C
      for (alpha, beta) in [(Float(1), Float(0)), (Float(0.5), Float(2))] {
        if beta != 0 { c[0] = 1 }
        let expected = reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        var got = c
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in got.withUnsafeMutableBufferPointer { pc in
          sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: pa.baseAddress!, lda: lda,
                b: pb.baseAddress!, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
        } } }
        for i in 0..<m { for j in 0..<n {
          let e = expected[i * ldc + j], g = got[i * ldc + j]
          #expect(abs(e - g) <= 1e-4 * (1 + abs(e)), "ta=\(ta) tb=\(tb) alpha=\(alpha) C[\(i)][\(j)] = \(g), expected \(e)")
        } }
      }
    }
  }

  /// B packed once (`SgemmPackedB`, as for constant weights) against the same product packed
  /// per call and the naive reference (not bit for bit: concurrent tests switch the kernel
  /// between AVX2 and portable with a process-wide flag, which may land between the two calls):
  /// odd sizes around the 6 x 16 tile, several K blocks, more columns than one B block, the
  /// vector-matrix rows (m <= 4, which read B in place), m <= 24 (where B would be read in
  /// place unpacked), both transpositions, alpha/beta, 1 and 2 threads, AVX2 and portable code.
  @Test(arguments: [(1, 7, 5), (4, 33, 70), (5, 17, 300), (13, 40, 9), (24, 33, 513), (97, 130, 260), (150, 4097, 3),
                    (7, 1, 1)],
        [(threads: 1, portable: false), (threads: 2, portable: false), (threads: 2, portable: true)])
  func prepackedSgemmMatchesUnpacked(size: (Int, Int, Int), config: (threads: Int, portable: Bool)) throws {
    graphc_sgemm_force_portable(config.portable ? 1 : 0)
    defer { graphc_sgemm_force_portable(0) }
    let (m, n, k) = size
    var rng = SeededRandom(seed: UInt64(m * 7919 + n * 31 + k))
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      let lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 1
      let a = rng.floats((ta ? k : m) * lda), b = rng.floats((tb ? n : k) * ldb), c0 = rng.floats(m * ldc)
      for (alpha, beta) in [(Float(1), Float(0)), (Float(-0.5), Float(1.5))] {
        let expected = reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc)
        var plain = c0, packed = c0
        try a.withUnsafeBufferPointer { pa in try b.withUnsafeBufferPointer { pb in
          let ap = try #require(pa.baseAddress), bp = try #require(pb.baseAddress)
          let panels = try #require(SgemmPackedB(transB: tb, k: k, n: n, b: bp, ldb: ldb))
          InterpreterThreads.with(config.threads) {
            plain.withUnsafeMutableBufferPointer { pc in
              sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: ap, lda: lda, b: bp, ldb: ldb,
                    beta: beta, c: pc.baseAddress!, ldc: ldc)
            }
            packed.withUnsafeMutableBufferPointer { pc in
              sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: ap, lda: lda, b: bp, ldb: ldb,
                    packedB: panels, beta: beta, c: pc.baseAddress!, ldc: ldc)
            }
          }
        } }
        for i in 0..<m { for j in 0..<n {
          let e = expected[i * ldc + j], g = packed[i * ldc + j], q = plain[i * ldc + j]
          #expect(abs(e - g) <= 1e-4 * (1 + abs(e)), "ta=\(ta) tb=\(tb) alpha=\(alpha) C[\(i)][\(j)] = \(g), expected \(e)")
          #expect(abs(q - g) <= 1e-5 * (1 + abs(q)), "ta=\(ta) tb=\(tb) alpha=\(alpha) C[\(i)][\(j)] = \(g), per call \(q)")
        } }
      }
    }
  }

  /// A packing is used only for the operand it was made from: another B of the same shape, or
  /// the same B read with another leading dimension, gets the right product.
  @Test func prepackedSgemmIgnoresOtherOperands() throws {
    var rng = SeededRandom(seed: 5)
    let (m, n, k) = (9, 20, 11)
    let a = rng.floats(m * k), b = rng.floats(k * n), other = rng.floats(k * n)
    let expected = reference(false, false, m, n, k, 1, a, k, other, n, 0, [Float](repeating: 0, count: m * n), n)
    var got = [Float](repeating: 0, count: m * n)
    try a.withUnsafeBufferPointer { pa in try b.withUnsafeBufferPointer { pb in try other.withUnsafeBufferPointer { po in
      let panels = try #require(SgemmPackedB(transB: false, k: k, n: n, b: pb.baseAddress!, ldb: n))
      got.withUnsafeMutableBufferPointer { pc in
        sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: k,
              b: po.baseAddress!, ldb: n, packedB: panels, beta: 0, c: pc.baseAddress!, ldc: n)
      }
    } } }
    for i in 0..<(m * n) { #expect(abs(got[i] - expected[i]) <= 1e-4 * (1 + abs(expected[i]))) }
  }

  /// MatMul and Gemm with B presented as a model constant (packed at prepare) match the naive
  /// reference, with a batch folded into M and with Gemm's transB; a constant B is not packed for
  /// an A of at most 4 rows (the vector-matrix loops read B in place) nor when B is not constant.
  @Test(arguments: [false, true])
  func constantWeightsArePrepacked(transB: Bool) throws {
    var rng = SeededRandom(seed: transB ? 3 : 4)
    let x = f32(transB ? [18, 24] : [2, 9, 24], rng.floats(18 * 24)), w = f32(transB ? [35, 24] : [24, 35], rng.floats(24 * 35))
    let op = transB ? "onnx.Gemm" : "onnx.MatMul"
    let attrs: AttributeMap = transB ? ["transB": .int(1)] : [:]
    let outShape = transB ? [18, 35] : [2, 9, 35]
    func context(_ a: TensorType, constant: Bool) -> KernelContext {
      KernelContext(op: op, nodeName: "n", attributes: attrs, inputTypes: [a, w.type],
                    outputTypes: [TensorType(.float32, shape: outShape)], constantInputs: constant ? [nil, w] : [])
    }
    let ctx = context(x.type, constant: true)
    #expect(try prepackedWeight(ctx)?.value != nil)
    #expect(try prepackedWeight(context(x.type, constant: false)) == nil)
    #expect(try prepackedWeight(context(TensorType(.float32, shape: [4, 24]), constant: true)) == nil)
    let packed = Tensor(zeros: .float32, shape: outShape)
    try #require(KernelRegistry.shared.kernel(for: op)).prepare(ctx)([x, w], [packed])
    let expected = reference(false, transB, 18, 35, 24, 1, x.scalars(as: Float.self), 24, w.scalars(as: Float.self),
                             transB ? 24 : 35, 0, [Float](repeating: 0, count: 18 * 35), 35)
    let got = packed.scalars(as: Float.self)
    for i in 0..<expected.count { #expect(abs(got[i] - expected[i]) <= 1e-4 * (1 + abs(expected[i]))) }
  }

  @Test func matmul2D() throws {
    // [[1,2,3],[4,5,6]] x [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
    let y = try run("MatMul", [:], [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3, 2], [1, 0, 0, 1, 1, 1])])[0]
    expectClose(y, [2, 2], [4, 5, 10, 11])
  }

  @Test func matmulVectorPromotion() throws {
    let m = f32([2, 3], [1, 2, 3, 4, 5, 6])
    // vector x matrix: [1,1] x m = [5,7,9]; matrix x vector: m x [1,0,1] = [4,10]; vector x vector = 14.
    expectClose(try run("MatMul", [:], [f32([2], [1, 1]), m])[0], [3], [5, 7, 9])
    expectClose(try run("MatMul", [:], [m, f32([3], [1, 0, 1])])[0], [2], [4, 10])
    expectClose(try run("MatMul", [:], [f32([3], [1, 2, 3]), f32([3], [1, 2, 3])])[0], [], [14])
  }

  @Test func matmulBatchBroadcast() throws {
    // A: [2,1,1,2] (two 1x2 rows), B: [3,2,1] (three 2x1 columns) -> [2,3,1,1].
    let a = f32([2, 1, 1, 2], [1, 2, 3, 4])
    let b = f32([3, 2, 1], [1, 0, 0, 1, 1, 1])
    let y = try run("MatMul", [:], [a, b])[0]
    expectClose(y, [2, 3, 1, 1], [1, 2, 3, 3, 4, 7])
    // Shared B folds the batch into M: [2,2,2] x [2,2].
    let y2 = try run("MatMul", [:], [iota([2, 2, 2]), f32([2, 2], [1, 2, 3, 4])])[0]
    expectClose(y2, [2, 2, 2], [3, 4, 11, 16, 19, 28, 27, 40])
  }

  @Test func matmulIntegerTypes() throws {
    let a = Tensor.int64([2, 2], [1, 2, 3, 4]), b = Tensor.int64([2, 2], [5, 6, 7, 8])
    expectClose(try run("MatMul", [:], [a, b])[0], [2, 2], [19, 22, 43, 50])
    let a32 = Tensor(.int32, shape: [1, 2], values: [Int32.max, 1]), b32 = Tensor(.int32, shape: [2, 1], values: [Int32(2), 1])
    // Overflow wraps instead of trapping.
    #expect(try run("MatMul", [:], [a32, b32])[0].scalars(as: Int32.self) == [Int32.max &* 2 &+ 1])
    let d = Tensor(.float64, shape: [1, 2], values: [1.5, 2.0]), e = Tensor(.float64, shape: [2, 1], values: [2.0, 4.0])
    expectClose(try run("MatMul", [:], [d, e])[0], [1, 1], [11])
  }

  @Test func matmulInteger() throws {
    // onnx test_matmulinteger: A uint8 [4,3], B uint8 [3,2], a_zero_point 12, b_zero_point 0.
    let a = Tensor(.uint8, shape: [4, 3], values: [UInt8](arrayLiteral: 11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0))
    let b = Tensor(.uint8, shape: [3, 2], values: [UInt8](arrayLiteral: 1, 4, 2, 5, 3, 6))
    let y = try run("MatMulInteger", [:], [a, b, Tensor(.uint8, shape: [], values: [UInt8(12)]), Tensor(.uint8, shape: [], values: [UInt8(0)])])[0]
    #expect(y.dtype == .int32)
    #expect(y.scalars(as: Int32.self) == [-38, -83, -44, -98, -50, -113, -56, -128])
  }

  @Test func gemmAttributesAndBias() throws {
    let a = f32([3, 2], [1, 4, 2, 5, 3, 6])  // transA gives [[1,2,3],[4,5,6]]
    let b = f32([2, 3], [1, 0, 1, 0, 1, 1])  // transB gives [[1,0],[0,1],[1,1]]
    let attrs: AttributeMap = ["transA": .int(1), "transB": .int(1), "alpha": .float(2), "beta": .float(0.5)]
    // 2 * [[4,5],[10,11]] + 0.5 * broadcast [10, 20]
    let y = try run("Gemm", attrs, [a, b, f32([2], [10, 20])])[0]
    expectClose(y, [2, 2], [13, 20, 25, 32])
    // Scalar and column biases broadcast; a missing C is zero.
    expectClose(try run("Gemm", [:], [f32([1, 2], [1, 2]), f32([2, 1], [3, 4]), f32([], [1])])[0], [1, 1], [12])
    expectClose(try run("Gemm", [:], [f32([2, 1], [1, 2]), f32([1, 2], [3, 4]), f32([2, 1], [1, -1])])[0], [2, 2], [4, 5, 5, 7])
    expectClose(try run("Gemm", [:], [f32([1, 1], [2]), f32([1, 1], [3])])[0], [1, 1], [6])
  }

  @Test func gemmRejectsBadBias() {
    #expect(throws: GraphError.self) {
      try run("Gemm", [:], [f32([2, 2], [1, 2, 3, 4]), f32([2, 2], [1, 2, 3, 4]), f32([3], [1, 2, 3])])
    }
  }
}
