// NormalizationTests.swift - BatchNormalization, InstanceNormalization, GroupNormalization,
// LayerNormalization, LRN and the softmax family, against hand-derived values.

import Foundation
import GraphIR
@testable import Interpreter
import Testing

struct NormalizationTests {
  let noEps: AttributeMap = ["epsilon": .float(0)]

  @Test func batchNormalization() throws {
    // ch0: (x - 1) / 2; ch1: (x - 3) / 1 * 2 + 1.
    let y = try run("BatchNormalization", noEps, [f32([1, 2, 1, 2], [1, 2, 3, 4]), f32([2], [1, 2]), f32([2], [0, 1]),
                                                  f32([2], [1, 3]), f32([2], [4, 1])])[0]
    expectClose(y, [1, 2, 1, 2], [0, 0.5, 1, 3])
    #expect(throws: GraphError.self) {
      try run("BatchNormalization", ["training_mode": .int(1)], [iota([1, 2]), iota([2]), iota([2]), iota([2]), iota([2])])
    }
    #expect(throws: GraphError.self) {
      try run("BatchNormalization", [:], [iota([1, 2]), iota([3]), iota([2]), iota([2]), iota([2])])
    }
  }

  @Test func instanceAndGroupNormalization() throws {
    // mean 2.5, variance 1.25; y = 2 (x - 2.5) / sqrt(1.25) + 1.
    let y = try run("InstanceNormalization", noEps, [f32([1, 1, 4], [1, 2, 3, 4]), f32([1], [2]), f32([1], [1])])[0]
    expectClose(y, [1, 1, 4], [1, 2, 3, 4].map { 2 * ($0 - 2.5) / 1.25.squareRoot() + 1 })
    // Two groups of two channels: {1,3} and {2,6} normalize to {-1,1} each.
    let g = try run("GroupNormalization", noEps.merging(["num_groups": .int(2)]) { $1 },
                    [f32([1, 4, 1], [1, 3, 2, 6]), f32([4], [1, 2, 1, 2]), f32([4], [0, 1, 0, 1])])[0]
    expectClose(g, [1, 4, 1], [-1, 3, -1, 3])
    #expect(throws: GraphError.self) {
      try run("GroupNormalization", ["num_groups": .int(3)], [iota([1, 4, 1]), iota([4]), iota([4])])
    }
  }

  @Test func layerNormalizationWithStatistics() throws {
    // Rows {1,3} and {2,6}: means 2 and 4, inverse std 1 and 0.5.
    let r = try run("LayerNormalization", noEps, [f32([2, 2], [1, 3, 2, 6]), f32([2], [1, 2]), f32([2], [0, 1])], results: 3)
    expectClose(r[0], [2, 2], [-1, 3, -1, 3])
    expectClose(r[1], [2, 1], [2, 4])
    expectClose(r[2], [2, 1], [1, 0.5])
    // axis 0 normalizes over everything; Scale broadcasts from [2] to the normalized [2, 2].
    let all = try run("LayerNormalization", noEps.merging(["axis": .int(0)]) { $1 },
                      [f32([2, 2], [0, 0, 2, 2]), f32([2], [1, 3])])[0]
    expectClose(all, [2, 2], [-1, -3, 1, 3])
  }

  @Test func lrn() throws {
    // alpha / size = 1, beta = 1, bias = 1: y_c = x_c / (1 + sum of squares in the window).
    let y = try run("LRN", ["size": .int(3), "alpha": .float(3), "beta": .float(1), "bias": .float(1)], [f32([1, 3, 1, 1], [1, 2, 3])])[0]
    expectClose(y, [1, 3, 1, 1], [1.0 / 6, 2.0 / 15, 3.0 / 14])
  }

  @Test func softmaxFamilyIsStable() throws {
    let x = f32([1, 3], [1000, 1001, 1002])
    let s = 1 + exp(-1.0) + exp(-2.0)
    expectClose(try run("Softmax", [:], [x])[0], [1, 3], [exp(-2.0) / s, exp(-1.0) / s, 1 / s])
    expectClose(try run("LogSoftmax", [:], [x])[0], [1, 3], [-2 - log(s), -1 - log(s), -log(s)])
    expectClose(try run("Hardmax", [:], [f32([2, 3], [1, 3, 3, 0, -1, -5])])[0], [2, 3], [0, 1, 0, 1, 0, 0])
  }

  @Test func softmaxOverInnerAxis() throws {
    // Axis 0 of [[1,2],[3,4]]: each column is softmax(a, a + 2).
    let lo = 1 / (1 + exp(2.0)), hi = 1 - lo
    expectClose(try run("Softmax", ["axis": .int(0)], [f32([2, 2], [1, 2, 3, 4])])[0], [2, 2], [lo, lo, hi, hi])
    let d = Tensor(.float64, shape: [2, 1], values: [0.0, 0.0])
    expectClose(try run("Softmax", ["axis": .int(-2)], [d])[0], [2, 1], [0.5, 0.5])
    #expect(throws: GraphError.self) { try run("Softmax", ["axis": .int(2)], [iota([2, 2])]) }
  }
}
