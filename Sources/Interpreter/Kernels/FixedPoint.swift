// FixedPoint.swift - gemmlowp/TFLite fixed-point requantization of int32 accumulators.

/// `round(a * b / 2^31)` with gemmlowp's rounding (half away from zero), saturating the one
/// overflowing case `Int32.min * Int32.min`.
@inline(__always)
public func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
  if a == .min && b == .min { return .max }
  let ab = Int64(a) * Int64(b)
  let nudge: Int64 = ab >= 0 ? 1 << 30 : 1 - (1 << 30)
  return Int32(truncatingIfNeeded: (ab + nudge) / (1 << 31))  // Swift's `/` truncates, as C++
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp's RoundingDivideByPOT);
/// `exponent` is in 0...31.
@inline(__always)
public func roundingDivideByPOT(_ x: Int32, _ exponent: Int) -> Int32 {
  let mask = Int32(truncatingIfNeeded: (Int64(1) << exponent) - 1)
  let remainder = x & mask
  let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
  return (x >> Int32(exponent)) + (remainder > threshold ? 1 : 0)
}

/// A real multiplier `m` held as `m = M0 * 2^(shift - 31)` with `M0` a Q31 value in
/// [2^30, 2^31), as TFLite's `QuantizeMultiplier`. `shift > 0` is a left shift.
public struct QuantizedMultiplier: Sendable, Equatable {
  public var m0: Int32
  public var shift: Int

  /// `m` must be finite and non-negative; multipliers below 2^-31 round to zero (they cannot
  /// move an int32 accumulator by half a step).
  public init(_ m: Double) {
    guard m > 0, m.isFinite else { m0 = 0; shift = 0; return }
    let e = m.exponent + 1  // m = f * 2^e with f in [0.5, 1)
    var q = (m * Double(sign: .plus, exponent: 31 - e, significand: 1)).rounded()
    var s = e
    if q == Double(1 << 31) { q /= 2; s += 1 }
    if s < -31 { m0 = 0; shift = 0; return }
    m0 = Int32(q)
    shift = min(s, 30)
  }

  /// `round(x * m)` in gemmlowp's fixed-point arithmetic (TFLite's
  /// `MultiplyByQuantizedMultiplier`); a left shift saturates instead of overflowing.
  @inline(__always)
  public func apply(_ x: Int32) -> Int32 {
    if shift > 0 {
      let shifted = Int32(clamping: Int64(x) << shift)
      return saturatingRoundingDoublingHighMul(shifted, m0)
    }
    return roundingDivideByPOT(saturatingRoundingDoublingHighMul(x, m0), -shift)
  }
}
