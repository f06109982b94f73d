// PoolTests.swift - MaxPool, AveragePool, LpPool and global pooling, with values from the ONNX
// node tests (padding, ceil_mode and storage_order corner cases).

import GraphIR
@testable import Interpreter
import Testing

struct PoolTests {
  let x5 = iota([1, 1, 5, 5], from: 1)
  let x4 = iota([1, 1, 4, 4], from: 1)

  @Test func maxPoolPrecomputedPads() throws {
    // onnx test_maxpool_2d_precomputed_pads.
    let y = try run("MaxPool", ["kernel_shape": .ints([5, 5]), "pads": .ints([2, 2, 2, 2])], [x5])[0]
    expectClose(y, [1, 1, 5, 5], [13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25,
                                  23, 24, 25, 25, 25, 23, 24, 25, 25, 25])
  }

  @Test func maxPoolIndicesColumnMajor() throws {
    // onnx test_maxpool_with_argmax_2d_precomputed_strides (storage_order = 1).
    let r = try run("MaxPool", ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "storage_order": .int(1)], [x5], results: 2)
    expectClose(r[0], [1, 1, 2, 2], [7, 9, 17, 19])
    #expect(r[1].dtype == .int64)
    #expect(r[1].scalars(as: Int64.self) == [6, 16, 8, 18])
    // Row-major indices, offset by the plane: second plane of a [1,2,2,2] input.
    let r2 = try run("MaxPool", ["kernel_shape": .ints([2, 2])], [f32([1, 2, 2, 2], [1, 5, 2, 3, 9, 0, 4, 8])], results: 2)
    #expect(r2[1].scalars(as: Int64.self) == [1, 4])
  }

  @Test func ceilMode() throws {
    // onnx test_maxpool_2d_ceil and test_averagepool_2d_ceil.
    let attrs: AttributeMap = ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]
    expectClose(try run("MaxPool", attrs, [x4])[0], [1, 1, 2, 2], [11, 12, 15, 16])
    expectClose(try run("AveragePool", attrs, [x4])[0], [1, 1, 2, 2], [6, 7.5, 12, 13.5])
  }

  @Test func averagePoolCountIncludePad() throws {
    // onnx test_averagepool_2d_precomputed_pads_count_include_pad.
    let y = try run("AveragePool", ["kernel_shape": .ints([5, 5]), "pads": .ints([2, 2, 2, 2]), "count_include_pad": .int(1)], [x5])[0]
    expectClose(y, [1, 1, 5, 5], [2.52, 3.6, 4.8, 4.08, 3.24, 4.56, 6.4, 8.4, 7.04, 5.52, 7.2, 10, 13, 10.8, 8.4,
                                  6.96, 9.6, 12.4, 10.24, 7.92, 6.12, 8.4, 10.8, 8.88, 6.84])
    // Without count_include_pad the corner averages only the 3x3 real cells: mean(1,2,3,6,7,8,11,12,13) = 7.
    let y2 = try run("AveragePool", ["kernel_shape": .ints([5, 5]), "pads": .ints([2, 2, 2, 2])], [x5])[0]
    #expect(y2.scalars(as: Float.self)[0] == 7)
  }

  @Test func ceilModeLastWindowStartsOnPad() throws {
    // onnx test_averagepool_2d_ceil_last_window_starts_on_pad: the window starting in the end
    // padding is dropped, so the output is 1x1 and divides by the 9 padded cells.
    let x = f32([1, 3, 2, 2], [0.858, 0.0786, 0.2692, 0.1537, 0.8816, 0.4353, 0.5772, 0.6623, 0.9067, 0.9483, 0.597, 0.763])
    let y = try run("AveragePool", ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1]), "strides": .ints([3, 3]),
                                    "ceil_mode": .int(1), "count_include_pad": .int(1)], [x])[0]
    expectClose(y, [1, 3, 1, 1], [0.1511, 0.2841, 0.3572])
  }

  @Test func sameUpperAndDilations1D() throws {
    // SAME_UPPER on 5 with kernel 2: one pad at the end; windows (1,2),(3,4),(5,pad).
    let y = try run("MaxPool", ["kernel_shape": .ints([2]), "strides": .ints([2]), "auto_pad": .string("SAME_UPPER")],
                    [f32([1, 1, 5], [1, 2, 3, 4, 5])])[0]
    expectClose(y, [1, 1, 3], [2, 4, 5])
    // Dilation 2, kernel 2: windows {x0,x2},{x1,x3},{x2,x4}.
    let d = try run("AveragePool", ["kernel_shape": .ints([2]), "dilations": .ints([2])], [f32([1, 1, 5], [1, 2, 3, 4, 5])])[0]
    expectClose(d, [1, 1, 3], [2, 3, 4])
  }

  @Test func lpPoolAndGlobalPools() throws {
    let x = f32([1, 1, 2, 2], [3, -4, 0, 0])
    expectClose(try run("LpPool", ["kernel_shape": .ints([2, 2])], [x])[0], [1, 1, 1, 1], [5])
    expectClose(try run("LpPool", ["kernel_shape": .ints([2, 2]), "p": .int(1)], [x])[0], [1, 1, 1, 1], [7])
    let g = iota([1, 2, 3])
    expectClose(try run("GlobalAveragePool", [:], [g])[0], [1, 2, 1], [1, 4])
    expectClose(try run("GlobalMaxPool", [:], [g])[0], [1, 2, 1], [2, 5])
  }

  @Test func maxPoolUInt8And3D() throws {
    let u = Tensor(.uint8, shape: [1, 1, 2, 2], values: [UInt8](arrayLiteral: 1, 200, 3, 4))
    #expect(try run("MaxPool", ["kernel_shape": .ints([2, 2])], [u])[0].scalars(as: UInt8.self) == [200])
    let y = try run("MaxPool", ["kernel_shape": .ints([2, 2, 2])], [iota([1, 1, 2, 3, 2])])[0]
    expectClose(y, [1, 1, 1, 2, 1], [9, 11])
  }

  @Test func rejectsBadAttributes() {
    #expect(throws: GraphError.self) { try run("MaxPool", [:], [x4]) }
    #expect(throws: GraphError.self) { try run("MaxPool", ["kernel_shape": .ints([5, 5])], [x4]) }
    #expect(throws: GraphError.self) { try run("AveragePool", ["kernel_shape": .ints([2, 2]), "pads": .ints([-1, 0, 0, 0])], [x4]) }
    #expect(throws: GraphError.self) { try run("MaxPool", ["kernel_shape": .ints([2, 2]), "storage_order": .int(2)], [x4]) }
    #expect(throws: GraphError.self) { try run("MaxPool", ["kernel_shape": .ints([2, 2]), "auto_pad": .string("BOGUS")], [x4]) }
  }
}
