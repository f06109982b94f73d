// AttentionTests.swift - The fused graphc.Attention kernel against a naive float64 reference.

import CKernels
import GraphIR
import Interpreter
import Testing

/// A naive attention in Double: full score matrix, exact softmax. The definition the kernel
/// must match (upper-left causal: key j is visible to query i when j <= i).
func referenceAttention(
  q: Tensor, k: Tensor, v: Tensor, mask: Tensor?, scale: Double, causal: Bool, softcap: Double = 0,
  keep: ((Int, Int, Int) -> Bool)? = nil
) -> [Double] {
  let (b, h, sq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (hkv, skv, dv) = (k.shape[1], k.shape[2], v.shape[3])
  let mvals: [Double]? = mask.map { m in
    let shape = Array(repeating: 1, count: 4 - m.rank) + m.shape
    var out = [Double]()
    for bi in 0..<b { for hi in 0..<h { for i in 0..<sq { for j in 0..<skv {
      let idx = [bi, hi, i, j].enumerated().reduce(0) { acc, e in acc * shape[e.offset] + (shape[e.offset] == 1 ? 0 : e.element) }
      out.append(m.double(at: idx))
    } } } }
    return out
  }
  var out = [Double](repeating: 0, count: b * h * sq * dv)
  for bi in 0..<b { for hi in 0..<h {
    let g = hi / (h / hkv)
    for i in 0..<sq {
      var s = [Double](repeating: -.infinity, count: skv)
      for j in 0..<skv where !(causal && j > i) && (keep?(hi, i, j) ?? true) {
        var dot = 0.0
        for x in 0..<d {
          dot += q.double(at: ((bi * h + hi) * sq + i) * d + x) * k.double(at: ((bi * hkv + g) * skv + j) * d + x)
        }
        var t = dot * scale
        if softcap > 0 { t = softcap * Foundation.tanh(t / softcap) }
        if let mvals { t += mvals[((bi * h + hi) * sq + i) * skv + j] }
        s[j] = t
      }
      let m = s.max() ?? 0
      let e = s.map { Foundation.exp($0 - m) }
      let sum = e.reduce(0, +)
      for x in 0..<dv {
        var acc = 0.0
        for j in 0..<skv where e[j] > 0 { acc += e[j] * v.double(at: ((bi * hkv + g) * skv + j) * dv + x) }
        out[((bi * h + hi) * sq + i) * dv + x] = acc / sum
      }
    }
  } }
  return out
}

struct AttentionCase: CustomStringConvertible, Sendable {
  var b = 1, h = 2, hkv = 2, sq = 5, skv = 5, d = 4, dv = 4
  var mask: AttentionMaskKind = .none
  var maskShape: [Int] = []
  var softcap: Float = 0
  var description: String { "b\(b) h\(h)/\(hkv) sq\(sq) skv\(skv) d\(d)/\(dv) \(mask.rawValue) \(maskShape) cap\(softcap)" }
}

@Suite struct AttentionKernelTests {
  static let cases: [AttentionCase] = [
    AttentionCase(),
    AttentionCase(mask: .causal),
    // Crosses query blocks (64) and key blocks (128), with ragged ends.
    AttentionCase(b: 1, h: 1, hkv: 1, sq: 70, skv: 150, d: 8, dv: 8),
    AttentionCase(b: 1, h: 2, hkv: 2, sq: 150, skv: 150, d: 8, dv: 8, mask: .causal),
    // Grouped-query attention, different value size, batch 2.
    AttentionCase(b: 2, h: 4, hkv: 2, sq: 9, skv: 13, d: 6, dv: 3, mask: .causal),
    AttentionCase(b: 2, h: 4, hkv: 1, sq: 7, skv: 7, d: 5, dv: 5),
    // Additive masks, full and broadcast, with and without causal.
    AttentionCase(b: 2, h: 2, hkv: 2, sq: 6, skv: 10, d: 4, dv: 4, mask: .additive, maskShape: [2, 1, 6, 10]),
    AttentionCase(b: 2, h: 2, hkv: 2, sq: 6, skv: 10, d: 4, dv: 4, mask: .additive, maskShape: [2, 1, 1, 10]),
    AttentionCase(b: 1, h: 3, hkv: 3, sq: 130, skv: 130, d: 4, dv: 4, mask: .causalAdditive, maskShape: [130, 130]),
    AttentionCase(b: 1, h: 2, hkv: 2, sq: 8, skv: 8, d: 4, dv: 4, softcap: 2),
    // The C tile steps' register paths: 4-row and single-row tiles, 16- and 8-wide value columns.
    AttentionCase(b: 1, h: 2, hkv: 2, sq: 71, skv: 71, d: 16, dv: 24, mask: .causal),
    AttentionCase(b: 1, h: 1, hkv: 1, sq: 6, skv: 140, d: 17, dv: 16),
  ]

  /// Each case with the AVX2 tile steps (on machines that have them) and the portable C ones.
  @Test(arguments: cases, [false, true])
  func matchesReference(_ c: AttentionCase, portable: Bool) throws {
    graphc_sgemm_force_portable(portable ? 1 : 0)
    defer { graphc_sgemm_force_portable(0) }
    var rng = SeededRandom(seed: 7)
    let q = f32([c.b, c.h, c.sq, c.d], rng.floats(c.b * c.h * c.sq * c.d).map { $0 * 2 })
    let k = f32([c.b, c.hkv, c.skv, c.d], rng.floats(c.b * c.hkv * c.skv * c.d).map { $0 * 2 })
    let v = f32([c.b, c.hkv, c.skv, c.dv], rng.floats(c.b * c.hkv * c.skv * c.dv))
    let mask: Tensor? = c.mask.hasOperand ? f32(c.maskShape, rng.floats(c.maskShape.reduce(1, *)).map { $0 > 0.6 ? -1e9 : $0 }) : nil
    var attrs: AttributeMap = ["heads": .int(c.h), "kv_heads": .int(c.hkv), "mask": .string(c.mask.rawValue)]
    if c.softcap > 0 { attrs["softcap"] = .float(c.softcap) }
    let got = try evaluate(op: "graphc.Attention", attributes: attrs, inputs: [q, k, v, mask])[0]
    let want = referenceAttention(q: q, k: k, v: v, mask: mask, scale: 1 / Double(c.d).squareRoot(),
                                  causal: c.mask.isCausal, softcap: Double(c.softcap))
    expectClose(got, [c.b, c.h, c.sq, c.dv], want, tol: 1e-5)
  }

  @Test func explicitScale() throws {
    var rng = SeededRandom(seed: 3)
    let q = f32([1, 1, 3, 2], rng.floats(6)), k = f32([1, 1, 4, 2], rng.floats(8)), v = f32([1, 1, 4, 2], rng.floats(8))
    let got = try evaluate(op: "graphc.Attention", attributes: ["heads": .int(1), "scale": .float(0.25)], inputs: [q, k, v])[0]
    expectClose(got, [1, 1, 3, 2], referenceAttention(q: q, k: k, v: v, mask: nil, scale: 0.25, causal: false), tol: 1e-5)
  }

  @Test(arguments: [
    (["heads": .int(3), "kv_heads": .int(2)] as AttributeMap, "multiple of kv_heads"),
    (["heads": .int(2), "mask": .string("triangle")], "unknown mask kind"),
    (["heads": .int(2), "mask": .string("additive")], "needs the mask operand"),
    (["heads": .int(4)], "Q's head dim is 2, expected 4"),
    (["heads": .int(2), "pattern": .strings(["dense"])], "one kind, two sizes and one score per head"),
    (["heads": .int(2), "pattern": .strings(["dense", "zigzag"]), "pattern_sizes": .ints([0, 0, 0, 0]),
      "pattern_score": .floats([0, 0])], "unknown attention pattern 'zigzag'"),
  ])
  func rejectsBadAttributes(_ attrs: AttributeMap, _ message: String) {
    let q = Tensor(zeros: .float32, shape: [1, 2, 3, 4])
    #expect {
      _ = try evaluate(op: "graphc.Attention", attributes: attrs, inputs: [q, q, q])
    } throws: { "\($0)".contains(message) }
  }

  @Test func attentionExpIsAccurate() {
    var worst = 0.0
    for i in 0...2000 {
      let x = Float(i) * -0.04
      let want = Foundation.exp(Double(x))
      worst = max(worst, abs(Double(attentionExp(x)) - want) / want)
    }
    #expect(worst < 3e-7, "worst relative error \(worst)")
    #expect(attentionExp(-.infinity) == 0)
  }
}

import Foundation
