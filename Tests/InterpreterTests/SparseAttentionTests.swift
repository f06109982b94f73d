// SparseAttentionTests.swift - Sparse attention kernels vs dense, vs a masked reference, and their indices.

import GraphIR
import Interpreter
import Testing

/// Attributes of a causal graphc.Attention with one pattern per head.
private func sparseAttributes(_ patterns: [AttentionHeadPattern], kvHeads: Int, calibrationLength: Int = 0) -> AttributeMap {
  var a = attentionPatternAttributes(patterns, calibrationLength: calibrationLength)
  a["heads"] = .int(patterns.count); a["kv_heads"] = .int(kvHeads); a["mask"] = .string("causal")
  return a
}

private struct Inputs {
  var q: Tensor, k: Tensor, v: Tensor
  init(heads: Int, kvHeads: Int, seq: Int, d: Int, seed: UInt64 = 11) {
    var rng = SeededRandom(seed: seed)
    q = f32([1, heads, seq, d], rng.floats(heads * seq * d).map { $0 * 2 })
    k = f32([1, kvHeads, seq, d], rng.floats(kvHeads * seq * d).map { $0 * 2 })
    v = f32([1, kvHeads, seq, d], rng.floats(kvHeads * seq * d))
  }
}

@Suite struct SparseAttentionKernelTests {
  /// Budgets that cover the whole sequence: every kind computes every causal key.
  @Test(arguments: [
    AttentionHeadPattern(kind: .aShape, sizes: (0, 200)),
    AttentionHeadPattern(kind: .aShape, sizes: (200, 1)),
    AttentionHeadPattern(kind: .verticalSlash, sizes: (200, 0)),
    AttentionHeadPattern(kind: .verticalSlash, sizes: (30, 200)),
    AttentionHeadPattern(kind: .blockSparse, sizes: (4, 0)),
  ])
  func fullBudgetEqualsDense(_ pattern: AttentionHeadPattern) throws {
    let x = Inputs(heads: 2, kvHeads: 1, seq: 200, d: 8)
    let dense = try evaluate(op: "graphc.Attention", attributes: ["heads": .int(2), "kv_heads": .int(1), "mask": .string("causal")],
                             inputs: [x.q, x.k, x.v])[0]
    let sparse = try evaluate(op: "graphc.Attention", attributes: sparseAttributes([pattern, pattern], kvHeads: 1),
                              inputs: [x.q, x.k, x.v])[0]
    let a = dense.scalars(as: Float.self), b = sparse.scalars(as: Float.self)
    let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= 2e-7, "worst difference \(worst)")
  }

  /// Any budget: the kernel equals naive attention under the keep mask of the same index.
  @Test(arguments: [
    [AttentionHeadPattern(kind: .aShape, sizes: (3, 40)), AttentionHeadPattern(kind: .aShape, sizes: (70, 9))],
    [AttentionHeadPattern(kind: .verticalSlash, sizes: (40, 110)), AttentionHeadPattern(kind: .verticalSlash, sizes: (3, 5))],
    [AttentionHeadPattern(kind: .blockSparse, sizes: (1, 0)), AttentionHeadPattern(kind: .blockSparse, sizes: (0, 0))],
    [AttentionHeadPattern(kind: .dense), AttentionHeadPattern(kind: .verticalSlash, sizes: (35, 120))],
  ])
  func matchesMaskedReference(_ patterns: [AttentionHeadPattern]) throws {
    let x = Inputs(heads: 2, kvHeads: 1, seq: 260, d: 8, seed: 5)
    let attrs = sparseAttributes(patterns, kvHeads: 1)
    let got = try evaluate(op: "graphc.Attention", attributes: attrs, inputs: [x.q, x.k, x.v])[0]
    let keep = try sparseAttentionKeepMask(attributes: attrs, q: x.q, k: x.k, mask: nil).scalars(as: Bool.self)
    let kept = keep.filter { $0 }.count
    #expect(kept < 2 * 260 * 261 / 2, "the patterns must drop keys")
    let want = referenceAttention(q: x.q, k: x.k, v: x.v, mask: nil, scale: 1 / 8.0.squareRoot(), causal: true) { h, i, j in
      keep[(h * 260 + i) * 260 + j]
    }
    expectClose(got, [1, 2, 260, 8], want, tol: 1e-5)
  }

  @Test func aShapeRuleAndScaling() throws {
    let x = Inputs(heads: 1, kvHeads: 1, seq: 100, d: 4)
    // Sizes (2, 10) chosen at length 50 run at 100 as (4, 20).
    let attrs = sparseAttributes([AttentionHeadPattern(kind: .aShape, sizes: (2, 10))], kvHeads: 1, calibrationLength: 50)
    let keep = try sparseAttentionKeepMask(attributes: attrs, q: x.q, k: x.k, mask: nil).scalars(as: Bool.self)
    for i in 0..<100 { for j in 0..<100 {
      #expect(keep[i * 100 + j] == (j <= i && (j < 4 || i - j < 20)), "(\(i), \(j))")
    } }
  }

  /// Keys 150 and 170 carry all of the last queries' attention; the index keeps columns
  /// 0..<30 (forced) plus those two, and offsets 0..<100 (forced).
  @Test func verticalSlashIndex() throws {
    let n = 200, d = 4
    var q = [Float](repeating: 0, count: n * d), k = [Float](repeating: 0, count: n * d)
    for i in 0..<n { q[i * d] = 1 }
    for j in [150, 170] { k[j * d] = 10 }
    let attrs = sparseAttributes([AttentionHeadPattern(kind: .verticalSlash, sizes: (32, 100))], kvHeads: 1)
    let keep = try sparseAttentionKeepMask(attributes: attrs, q: f32([1, 1, n, d], q), k: f32([1, 1, n, d], k), mask: nil)
      .scalars(as: Bool.self)
    for i in 0..<n { for j in 0..<n {
      let want = j <= i && (j < 30 || j == 150 || j == 170 || i - j < 100)
      #expect(keep[i * n + j] == want, "(\(i), \(j))")
    } }
  }

  /// Pooled keys of block 1 align with every pooled query: each query block keeps block 1
  /// and its diagonal block.
  @Test func blockSparseIndex() throws {
    let n = 256, d = 4
    var q = [Float](repeating: 0, count: n * d), k = [Float](repeating: 0, count: n * d)
    for i in 0..<n { q[i * d] = 1 }
    for j in 64..<128 { k[j * d] = 5 }
    for j in 0..<64 { k[j * d + 1] = 1 }  // block 0 orthogonal: score 0, as blocks 2 and 3
    let attrs = sparseAttributes([AttentionHeadPattern(kind: .blockSparse, sizes: (1, 0))], kvHeads: 1)
    let keep = try sparseAttentionKeepMask(attributes: attrs, q: f32([1, 1, n, d], q), k: f32([1, 1, n, d], k), mask: nil)
      .scalars(as: Bool.self)
    let blocks: [[Int]] = [[0], [0, 1], [1, 2], [1, 3]]
    for i in 0..<n { for j in 0..<n {
      #expect(keep[i * n + j] == (j <= i && blocks[i / 64].contains(j / 64)), "(\(i), \(j))")
    } }
  }

  @Test(arguments: [
    (["mask": .string("none")] as AttributeMap, "need a causal mask"),
    (["pattern": .strings(["strided"])], "strided pattern has no kernel"),
  ])
  func rejectsUnsupported(_ extra: AttributeMap, _ message: String) {
    var attrs = sparseAttributes([AttentionHeadPattern(kind: .aShape, sizes: (1, 2))], kvHeads: 1)
    for (key, value) in extra { attrs[key] = value }
    let t = Tensor(zeros: .float32, shape: [1, 1, 3, 4])
    #expect {
      _ = try evaluate(op: "graphc.Attention", attributes: attrs, inputs: [t, t, t])
    } throws: { "\($0)".contains(message) }
  }
}
