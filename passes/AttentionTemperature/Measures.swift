// Measures.swift - Per-head logit spread and output RMS, streamed over calibration samples,
// and the clipped, neutral-banded matching factor (PASSES.md §4).

import Foundation
import GraphIR
import PassKit

/// The options both passes share: the clip range of a factor and its neutral band.
struct MatchingOptions {
  var low: Double, high: Double, band: Double

  init(_ o: PassOptions, pass: String) throws {
    low = o.double("clip-min"); high = o.double("clip-max"); band = o.double("neutral-band")
    guard low > 0, low <= 1, low.isFinite else { throw GraphError("\(pass): option 'clip-min' must be in (0, 1], not \(o.string("clip-min"))") }
    guard high >= 1, high.isFinite else { throw GraphError("\(pass): option 'clip-max' must be >= 1 and finite, not \(o.string("clip-max"))") }
    guard band >= 0, band < 1 else { throw GraphError("\(pass): option 'neutral-band' must be in [0, 1), not \(o.string("neutral-band"))") }
  }

  static let specs: [PassOptionSpec] = [
    PassOptionSpec("clip-min", .double, default: "0.7", help: "Smallest factor applied (the ratio is clipped to [clip-min, clip-max])"),
    PassOptionSpec("clip-max", .double, default: "1.4", help: "Largest factor applied"),
    PassOptionSpec("neutral-band", .double, default: "0.03", help: "A factor with |log factor| below this becomes exactly 1"),
  ]

  /// `clip(teacher / (student + 1e-6), low, high)`, then 1 when `|log| < band`; 1 when there
  /// was nothing to measure (a zero or missing measure). Also returns the unclipped ratio.
  func factor(teacher: Double, student: Double) -> (value: Float, clipped: Bool, raw: Float) {
    let raw = teacher / (student + 1e-6)
    guard raw.isFinite, raw > 0 else { return (1, false, 1) }
    let clipped = raw < low || raw > high
    let v = min(max(raw, low), high)
    return (abs(log(v)) < band ? 1 : Float(v), clipped, Float(raw))
  }
}

/// A mean over calls of one number per head (or per layer): the sum and the count of calls
/// that had something to measure.
struct MeanOverCalls {
  var sums: [Double], calls: [Int]
  init(_ n: Int) { sums = .init(repeating: 0, count: n); calls = .init(repeating: 0, count: n) }
  mutating func add(_ values: [Double?]) {
    for (i, v) in values.enumerated() { if let v { sums[i] += v; calls[i] += 1 } }
  }
  func mean(_ i: Int) -> Double? { calls[i] > 0 ? sums[i] / Double(calls[i]) : nil }
}

/// Per head, the population standard deviation of the logits `scale * q_i . k_j` of one call
/// over its valid entries: `j <= i` when causal, and an additive mask entry above -1e4 (the
/// threshold attention fusion uses for "masked"). Q `[B, H, Sq, D]`, K `[B, Hkv, Skv, D]`, the
/// mask broadcast to `[B, H, Sq, Skv]`. Nil for a head with no valid entry.
func headLogitStd(q: Tensor, k: Tensor, mask: Tensor?, scale: Float, causal: Bool) throws -> [Double?] {
  guard q.dtype == .float32, k.dtype == .float32, q.rank == 4, k.rank == 4, mask.map({ $0.dtype == .float32 && $0.rank <= 4 }) ?? true
  else { throw GraphError("attention operands must be f32 [batch, heads, seq, size]; got Q \(q.type), K \(k.type)") }
  let (b, h, sq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (hkv, skv) = (k.shape[1], k.shape[2])
  guard k.shape[0] == b, k.shape[3] == d, hkv > 0, h % hkv == 0 else {
    throw GraphError("attention Q \(q.shape) and K \(k.shape) do not match")
  }
  // Mask strides over [B, H, Sq, Skv], 0 on broadcast dims.
  var ms = [0, 0, 0, 0]
  if let mask {
    let shape = Array(repeating: 1, count: 4 - mask.rank) + mask.shape
    let target = [b, h, sq, skv]
    var step = 1
    for i in (0..<4).reversed() {
      guard shape[i] == 1 || shape[i] == target[i] else { throw GraphError("the mask \(mask.shape) does not broadcast to \(target)") }
      ms[i] = shape[i] == 1 ? 0 : step
      step *= shape[i]
    }
  }
  let qp = q.pointer(as: Float.self), kp = k.pointer(as: Float.self), mp = mask?.pointer(as: Float.self)
  let group = h / hkv
  var result: [Double?] = []
  for head in 0..<h {
    var sum = 0.0, sumSquares = 0.0, n = 0
    for batch in 0..<b {
      let qBase = qp + ((batch * h + head) * sq) * d
      let kBase = kp + ((batch * hkv + head / group) * skv) * d
      for i in 0..<sq {
        let qi = qBase + i * d
        let end = causal ? min(i + 1, skv) : skv
        for j in 0..<end {
          if let mp, !(mp[batch * ms[0] + head * ms[1] + i * ms[2] + j * ms[3]] > -1e4) { continue }
          let kj = kBase + j * d
          var dot: Float = 0
          for c in 0..<d { dot += qi[c] * kj[c] }
          let l = Double(dot * scale)
          sum += l
          sumSquares += l * l
          n += 1
        }
      }
    }
    guard n > 0 else { result.append(nil); continue }
    let mean = sum / Double(n)
    result.append(max(0, sumSquares / Double(n) - mean * mean).squareRoot())
  }
  return result
}

/// Sum of squares and count of an f32 tensor's elements (for an RMS over many calls).
func sumOfSquares(_ t: Tensor) throws -> (Double, Int) {
  guard t.dtype == .float32 else { throw GraphError("expected an f32 tensor, got \(t.type)") }
  let p = t.pointer(as: Float.self)
  var s = 0.0
  for i in 0..<t.count { s += Double(p[i]) * Double(p[i]) }
  return (s, t.count)
}
