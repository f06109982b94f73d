// StatisticsTests.swift - Streaming range collectors against hand-derived values.

import Foundation
import Testing
@testable import Calibration

private func observe(_ c: inout RangeCollector, _ v: [Float]) {
  v.withUnsafeBufferPointer { c.observe($0) }
}

struct StatisticsTests {
  @Test func minMaxIsTheObservedRangeAcrossBatches() throws {
    var c = RangeCollector(method: .minMax)
    #expect(c.range() == nil)
    observe(&c, [0.5, 2, .nan])
    observe(&c, [-1, 3, .infinity])
    let r = try #require(c.range())
    #expect(r.lo == -1 && r.hi == 3)
  }

  @Test func histogramDoublesItsLimitByMergingPairs() {
    var h = SymmetricHistogram(binsPerSide: 2)
    [Float(0.5)].withUnsafeBufferPointer { h.add($0) }  // limit 0.5000005, width ~0.25: bin 3
    #expect(h.counts == [0, 0, 0, 1])
    [Float(-0.1), 1.5].withUnsafeBufferPointer { h.add($0) }  // limit -> 1.0 -> 2.0 (two doublings)
    // Limit 2.0000020, width ~1: bins [-2,-1) [-1,0) [0,1) [1,2): 0.5 and -0.1 and 1.5.
    #expect(h.counts == [0, 1, 1, 1])
    #expect(abs(h.limit - 2.000002) < 1e-9)
    #expect(h.total == 3)
  }

  @Test func percentileClipsEachTail() throws {
    // 1, 2, ..., 1000: 0.2% of the values lie below ~2 and above ~998.
    var c = RangeCollector(method: .percentile(99.8))
    for start in stride(from: 1, through: 1000, by: 100) {
      observe(&c, (start..<(start + 100)).map(Float.init))
    }
    let r = try #require(c.range())
    #expect(abs(r.lo - 2) <= 1, "lo \(r.lo)")
    #expect(abs(r.hi - 998) <= 1, "hi \(r.hi)")
  }

  @Test func percentileOfNonNegativeValuesNeverGoesBelowTheMinimum() throws {
    var c = RangeCollector(method: .percentile(99.9))
    observe(&c, [Float](repeating: 0, count: 500) + (1...500).map(Float.init))
    let r = try #require(c.range())
    // The 0.1% quantile is 1 of the 500 zeros in bin [0, width): 1/500 of a bin, with
    // width = 500 * (1 + 1e-6) / 2048.
    #expect(abs(Double(r.lo) - 500.0 / 2048 / 500) < 1e-6, "lo \(r.lo)")
    #expect(abs(r.hi - 499.5) <= 1, "hi \(r.hi)")
  }

  @Test func entropyPicksTheSmallestExactQuantization() {
    // All mass in the first 128 bins: at i = 128 every group is one bin, Q = P, KL = 0.
    var hist = (0..<128).map { Double($0 + 1) }
    hist += [Double](repeating: 0, count: 384)
    #expect(entropyThreshold(hist, width: 0.5) == 64)
  }

  @Test func entropyClipsTheSparseTailOfAPeakedDistribution() throws {
    // Exponential quantiles -ln(1 - u): mean 1, maximum ln(20000) ~ 9.9, a sparse tail.
    var c = RangeCollector(method: .entropy, binsPerSide: 512)
    observe(&c, (0..<20000).map { Float(-log(1 - (Double($0) + 0.5) / 20000)) })
    let r = try #require(c.range())
    #expect(r.lo == c.minimum)
    // A NumPy transcription of the same algorithm (np.histogram, 512 bins) picks i = 435 of
    // 512: threshold 9.0030 of the maximum 10.5966. Allow one bin (0.0207).
    #expect(abs(r.hi - 9.0030) < 0.0207, "hi \(r.hi) of max \(c.maximum)")
  }
}
