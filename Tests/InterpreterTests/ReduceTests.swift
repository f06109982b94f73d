// ReduceTests.swift - The Reduce family (axes input, keepdims, noop_with_empty_axes, empty
// sets, integer types), ArgMax/ArgMin and CumSum.

import Foundation
import GraphIR
@testable import Interpreter
import Testing

struct ReduceTests {
  let m = f32([2, 2], [1, 2, 3, 4])
  func axes(_ a: [Int64]) -> Tensor { .int64([a.count], a) }

  @Test func sumMeanAndKeepdims() throws {
    expectClose(try run("ReduceSum", ["keepdims": .int(0)], [m, axes([1])])[0], [2], [3, 7])
    expectClose(try run("ReduceMean", [:], [m])[0], [1, 1], [2.5])
    expectClose(try run("ReduceMean", [:], [m, axes([-2])])[0], [1, 2], [2, 3])
  }

  @Test func nonContiguousAxes() throws {
    // iota [2,3,2] summed over axes 0 and 2: b = 0, 1, 2 give 14, 22, 30.
    expectClose(try run("ReduceSum", [:], [iota([2, 3, 2]), axes([2, 0])])[0], [1, 3, 1], [14, 22, 30])
    expectClose(try run("ReduceMax", ["keepdims": .int(0)], [iota([2, 3, 2]), axes([0, 2])])[0], [3], [7, 9, 11])
  }

  @Test func logSumExpExample() throws {
    // onnx test_reduce_log_sum_exp_keepdims_example (axes [1]).
    let x = f32([3, 2, 2], [5, 1, 20, 2, 30, 1, 40, 2, 55, 1, 60, 2])
    expectClose(try run("ReduceLogSumExp", [:], [x, axes([1])])[0], [3, 1, 2],
                [20.000000305902272, 2.3132616875182226, 40.00004539889922, 2.3132616875182226, 60.00671534848912, 2.3132616875182226])
  }

  @Test func normsAndLogs() throws {
    let v = f32([2], [3, -4])
    expectClose(try run("ReduceL2", ["keepdims": .int(0)], [v])[0], [], [5])
    expectClose(try run("ReduceL1", ["keepdims": .int(0)], [v])[0], [], [7])
    expectClose(try run("ReduceSumSquare", ["keepdims": .int(0)], [v])[0], [], [25])
    expectClose(try run("ReduceLogSum", ["keepdims": .int(0)], [f32([2], [1, 2])])[0], [], [log(3.0)])
    expectClose(try run("ReduceProd", ["keepdims": .int(0)], [v])[0], [], [-12])
  }

  @Test func integerAndBoolTypes() throws {
    let i = Tensor.int64([2, 2], [1, 5, 7, 2])
    #expect(try run("ReduceMax", ["keepdims": .int(0)], [i, axes([-1])])[0].scalars(as: Int64.self) == [5, 7])
    #expect(try run("ReduceMin", ["keepdims": .int(0)], [i, axes([0])])[0].scalars(as: Int64.self) == [1, 2])
    let p = Tensor(.int32, shape: [3], values: [Int32(2), 3, 4])
    #expect(try run("ReduceProd", ["keepdims": .int(0)], [p])[0].scalars(as: Int32.self) == [24])
    #expect(try run("ReduceMean", ["keepdims": .int(0)], [p])[0].scalars(as: Int32.self) == [3])
    let b = Tensor(.bool, shape: [2, 2], values: [UInt8](arrayLiteral: 0, 1, 0, 0))
    let r = try run("ReduceMax", ["keepdims": .int(0)], [b, axes([1])])[0]
    #expect(r.dtype == .bool && r.scalars(as: UInt8.self) == [1, 0])
  }

  @Test func emptySetsAndNoop() throws {
    // Reducing an empty axis gives each op's identity (onnx test_reduce_*_empty_set).
    let e = Tensor(zeros: .float32, shape: [2, 0, 3])
    expectClose(try run("ReduceSum", [:], [e, axes([1])])[0], [2, 1, 3], Array(repeating: 0, count: 6))
    expectClose(try run("ReduceProd", [:], [e, axes([1])])[0], [2, 1, 3], Array(repeating: 1, count: 6))
    expectClose(try run("ReduceMax", [:], [e, axes([1])])[0], [2, 1, 3], Array(repeating: -.infinity, count: 6))
    expectClose(try run("ReduceLogSumExp", [:], [e, axes([1])])[0], [2, 1, 3], Array(repeating: -.infinity, count: 6))
    // Empty axes with noop_with_empty_axes leave the input unchanged; without, reduce all.
    expectClose(try run("ReduceSum", ["noop_with_empty_axes": .int(1)], [m, axes([])])[0], [2, 2], [1, 2, 3, 4])
    expectClose(try run("ReduceSum", [:], [m, axes([])])[0], [1, 1], [10])
  }

  @Test func rejectsBadAxes() {
    #expect(throws: GraphError.self) { try run("ReduceSum", [:], [m, axes([2])]) }
    #expect(throws: GraphError.self) { try run("ReduceSum", [:], [m, axes([1, -1])]) }
    #expect(throws: GraphError.self) { try run("ReduceL2", [:], [Tensor.int64([1], [1])]) }
  }

  @Test func argMaxArgMin() throws {
    // onnx test_argmax_keepdims_example(_select_last_index): [[2,2],[3,10]], axis 1.
    let x = f32([2, 2], [2, 2, 3, 10])
    #expect(try run("ArgMax", ["axis": .int(1)], [x])[0].scalars(as: Int64.self) == [0, 1])
    let last = try run("ArgMax", ["axis": .int(1), "select_last_index": .int(1)], [x])[0]
    #expect(last.shape == [2, 1] && last.scalars(as: Int64.self) == [1, 1])
    let mn = try run("ArgMin", ["axis": .int(0), "keepdims": .int(0)], [f32([2, 3], [4, 1, 6, 3, 5, 6])])[0]
    #expect(mn.shape == [3] && mn.scalars(as: Int64.self) == [1, 0, 0])
    let mnLast = try run("ArgMin", ["axis": .int(0), "keepdims": .int(0), "select_last_index": .int(1)], [f32([2, 3], [4, 1, 6, 3, 5, 6])])[0]
    #expect(mnLast.scalars(as: Int64.self) == [1, 0, 1])
  }

  @Test func cumSum() throws {
    let v = f32([5], [1, 2, 3, 4, 5]), axis0 = Tensor.int64([], [0])
    expectClose(try run("CumSum", [:], [v, axis0])[0], [5], [1, 3, 6, 10, 15])
    // onnx test_cumsum_1d_reverse_exclusive.
    expectClose(try run("CumSum", ["reverse": .int(1), "exclusive": .int(1)], [v, axis0])[0], [5], [14, 12, 9, 5, 0])
    expectClose(try run("CumSum", ["exclusive": .int(1)], [v, axis0])[0], [5], [0, 1, 3, 6, 10])
    let i = Tensor(.int32, shape: [2, 3], values: [Int32(1), 2, 3, 4, 5, 6])
    let r = try run("CumSum", [:], [i, Tensor(.int32, shape: [1], values: [Int32(-2)])])[0]
    #expect(r.scalars(as: Int32.self) == [1, 2, 3, 5, 7, 9])
  }
}
