// Statistics.swift - Streaming activation-range collectors: min-max, percentile and entropy (KL).

/// How an activation's quantization range is chosen from calibration data (PASSES.md §2).
public enum RangeMethod: Sendable, Equatable {
  /// The observed minimum and maximum.
  case minMax
  /// Clips each tail at `100 - p` percent of the values (p = 99.9 keeps the middle 99.8%).
  case percentile(Double)
  /// TensorRT's entropy calibration: the |x| threshold whose 128-level quantization of the
  /// |x| histogram has the least KL divergence from it.
  case entropy
}

/// A fixed-size histogram over the symmetric range `[-limit, limit)` whose limit doubles
/// (merging pairs of bins) whenever a value falls outside, so it never grows and never holds
/// the values themselves.
///
/// Invariant: `counts.count == 2 * binsPerSide`, bin `i` covers
/// `[-limit + i * width, -limit + (i + 1) * width)` with `width = limit / binsPerSide`.
public struct SymmetricHistogram: Sendable {
  public let binsPerSide: Int
  public private(set) var limit: Double = 0
  public private(set) var counts: [Double]
  public private(set) var total: Double = 0

  /// `binsPerSide` must be even (doubling merges pairs); 2048 by default as in TensorRT.
  public init(binsPerSide: Int = 2048) {
    precondition(binsPerSide >= 2 && binsPerSide % 2 == 0, "binsPerSide must be even")
    self.binsPerSide = binsPerSide
    counts = [Double](repeating: 0, count: 2 * binsPerSide)
  }

  public var width: Double { limit / Double(binsPerSide) }

  public mutating func add(_ values: UnsafeBufferPointer<Float>) {
    var maxAbs = 0.0
    for v in values where v.isFinite { maxAbs = max(maxAbs, abs(Double(v))) }
    if limit == 0 { limit = maxAbs > 0 ? maxAbs * (1 + 1e-6) : 1e-6 }
    while maxAbs >= limit { doubleLimit() }
    let scale = Double(binsPerSide) / limit, top = counts.count - 1
    counts.withUnsafeMutableBufferPointer { c in
      for v in values where v.isFinite {
        c[min(top, Int((Double(v) + limit) * scale))] += 1
      }
    }
    total += Double(values.count)
  }

  /// The old range becomes the middle half: old bins (2j, 2j+1) merge into new bin B/2 + j.
  private mutating func doubleLimit() {
    var merged = [Double](repeating: 0, count: counts.count)
    let offset = binsPerSide / 2
    for j in 0..<binsPerSide { merged[offset + j] = counts[2 * j] + counts[2 * j + 1] }
    counts = merged
    limit *= 2
  }

  /// The value below which fraction `q` of the observations lie (linear inside a bin).
  public func quantile(_ q: Double) -> Double {
    guard total > 0 else { return 0 }
    let target = q * total
    var seen = 0.0
    for (i, c) in counts.enumerated() where c > 0 {
      if seen + c >= target {
        return -limit + (Double(i) + (target - seen) / c) * width
      }
      seen += c
    }
    return limit
  }

  /// Counts of |x|: bin j covers `[j * width, (j + 1) * width)`.
  public var magnitudes: [Double] {
    (0..<binsPerSide).map { counts[binsPerSide + $0] + counts[binsPerSide - 1 - $0] }
  }
}

/// Collects what one activation's range needs, batch by batch.
public struct RangeCollector: Sendable {
  public let method: RangeMethod
  public private(set) var minimum = Float.infinity
  public private(set) var maximum = -Float.infinity
  private var histogram: SymmetricHistogram?

  public init(method: RangeMethod, binsPerSide: Int = 2048) {
    self.method = method
    histogram = method == .minMax ? nil : SymmetricHistogram(binsPerSide: binsPerSide)
  }

  public mutating func observe(_ values: UnsafeBufferPointer<Float>) {
    for v in values where v.isFinite {
      minimum = min(minimum, v)
      maximum = max(maximum, v)
    }
    histogram?.add(values)
  }

  /// The chosen `[lo, hi]`, always inside the observed `[min, max]`; nil before any finite value.
  public func range() -> (lo: Float, hi: Float)? {
    guard minimum <= maximum else { return nil }
    switch method {
    case .minMax:
      return (minimum, maximum)
    case .percentile(let p):
      guard let h = histogram else { return (minimum, maximum) }
      let tail = max(0, min(1, 1 - p / 100))
      return (max(minimum, Float(h.quantile(tail))), min(maximum, Float(h.quantile(1 - tail))))
    case .entropy:
      guard let h = histogram else { return (minimum, maximum) }
      let t = Float(entropyThreshold(h.magnitudes, width: h.width))
      return (max(minimum, -t), min(maximum, t))
    }
  }
}

/// TensorRT-style KL calibration over an |x| histogram (PASSES.md §2): for each candidate `i`
/// from `levels` to the bin count, fold the tail into bin `i - 1`, quantize the first `i` bins
/// into `levels` groups (each group's mass spread evenly over its non-empty bins), and keep the
/// `i` with the least KL(P || Q). Returns the threshold `i * width`.
public func entropyThreshold(_ hist: [Double], width: Double, levels: Int = 128) -> Double {
  let n = hist.count
  guard n > levels else { return Double(n) * width }
  var best = (kl: Double.infinity, i: n)
  var tail = hist[levels...].reduce(0, +)
  for i in levels...n {
    if i > levels { tail -= hist[i - 1] }
    var p = Array(hist[0..<i])
    p[i - 1] += tail
    var q = [Double](repeating: 0, count: i)
    for g in 0..<levels {
      let start = g * i / levels, end = (g + 1) * i / levels
      let mass = hist[start..<end].reduce(0, +)
      let nonEmpty = hist[start..<end].filter { $0 > 0 }.count
      guard nonEmpty > 0 else { continue }
      for j in start..<end where hist[j] > 0 { q[j] = mass / Double(nonEmpty) }
    }
    let kl = klDivergence(p, q)
    if kl < best.kl { best = (kl, i) }
  }
  return Double(best.i) * width
}

/// KL(P || Q) of two unnormalized histograms; bins where P > 0 but Q = 0 get a small floor
/// (as TensorRT smooths), so the divergence stays finite and penalizes them.
private func klDivergence(_ p: [Double], _ q: [Double]) -> Double {
  let ps = p.reduce(0, +), qs = q.reduce(0, +)
  guard ps > 0, qs > 0 else { return .infinity }
  var kl = 0.0
  for (a, b) in zip(p, q) where a > 0 {
    let pa = a / ps, qb = max(b / qs, 1e-12)
    kl += pa * log(pa / qb)
  }
  return kl
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
