// NNSchemaTests.swift - Shape inference and validation of the NN op schemas, including
// symbolic dims and clear errors for invalid nodes.

@testable import GraphIR
import Testing

struct NNSchemaTests {
  func infer(_ op: String, _ types: [TensorType?], _ attrs: AttributeMap = [:], values: [Int: Tensor] = [:], results: Int = 1) throws -> [TensorType] {
    let schema = try #require(OpRegistry.shared.schema("onnx." + op), "no schema for \(op)")
    let operands = types.enumerated().map { i, t in t.map { OperandInfo(type: $0, value: values[i]) } }
    return try schema.check(InferenceContext(op: "onnx." + op, operands: operands, attributes: attrs, resultCount: results), node: "n")
  }
  func t(_ dims: [Dim]?, _ dtype: DType = .float32) -> TensorType { TensorType(dtype, dims) }
  func s(_ shape: Int...) -> TensorType { TensorType(.float32, shape: shape) }
  /// Expects a GraphError whose message contains `text`.
  func expectError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
      try body()
      Issue.record("expected an error containing '\(text)'", sourceLocation: sourceLocation)
    } catch let e as GraphError {
      #expect(e.description.contains(text), "\(e.description)", sourceLocation: sourceLocation)
    } catch {
      Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func convShapes() throws {
    #expect(try infer("Conv", [s(1, 3, 224, 224), s(64, 3, 7, 7), s(64)], ["strides": .ints([2, 2]), "pads": .ints([3, 3, 3, 3])]) == [s(1, 64, 112, 112)])
    #expect(try infer("Conv", [s(2, 8, 10), s(4, 4, 3)], ["group": .int(2), "auto_pad": .string("SAME_UPPER"), "strides": .ints([3])]) == [s(2, 4, 4)])
    #expect(try infer("Conv", [s(1, 2, 5, 6, 7), s(3, 2, 1, 2, 3)]) == [s(1, 3, 5, 5, 5)])
    // Symbolic batch and spatial dims stay unknown; known ones are computed.
    let sym = try infer("Conv", [t([.symbol("N"), .fixed(3), .symbol("H"), .fixed(32)]), s(8, 3, 3, 3)])
    #expect(sym == [t([.symbol("N"), .fixed(8), .symbol("?"), .fixed(30)])])
    #expect(try infer("Conv", [t(nil), s(8, 3, 3, 3)]) == [t([.symbol("?"), .fixed(8), .symbol("?"), .symbol("?")])])
  }

  @Test func convErrors() {
    expectError("channels") { _ = try infer("Conv", [s(1, 4, 5, 5), s(2, 3, 3, 3)]) }
    expectError("group 3 does not divide") { _ = try infer("Conv", [s(1, 4, 5, 5), s(3, 1, 3, 3)], ["group": .int(3)]) }
    expectError("kernel_shape") { _ = try infer("Conv", [s(1, 4, 5, 5), s(2, 4, 3, 3)], ["kernel_shape": .ints([2, 2])]) }
    expectError("positive") { _ = try infer("Conv", [s(1, 4, 5, 5), s(2, 4, 3, 3)], ["strides": .ints([1, 0])]) }
    expectError("negative") { _ = try infer("Conv", [s(1, 4, 5, 5), s(2, 4, 3, 3)], ["pads": .ints([0, 0, -1, 0])]) }
    expectError("larger than the padded input") { _ = try infer("Conv", [s(1, 4, 2, 2), s(2, 4, 3, 3)]) }
    expectError("B length") { _ = try infer("Conv", [s(1, 4, 5, 5), s(2, 4, 3, 3), s(3)]) }
    expectError("element type") { _ = try infer("Conv", [s(1, 4, 5, 5), TensorType(.float64, shape: [2, 4, 3, 3])]) }
    expectError("rank >= 3") { _ = try infer("Conv", [s(4, 5), s(2, 4, 3)]) }
    expectError("out of range") { _ = try infer("Conv", [s(1, 4, 5, 5), s(2, 4, 3, 3)], ["dilations": .ints([Int.max, 1])]) }
    expectError("unknown auto_pad") { _ = try infer("Conv", [s(1, 4, 5, 5), s(2, 4, 3, 3)], ["auto_pad": .string("SAME")]) }
  }

  @Test func convTransposeShapes() throws {
    #expect(try infer("ConvTranspose", [s(1, 1, 3, 3), s(1, 2, 3, 3)]) == [s(1, 2, 5, 5)])
    #expect(try infer("ConvTranspose", [s(1, 4, 3), s(4, 3, 3)], ["group": .int(2), "strides": .ints([2]), "output_padding": .ints([1])]) == [s(1, 6, 8)])
    #expect(try infer("ConvTranspose", [s(1, 1, 3, 3), s(1, 2, 3, 3)], ["strides": .ints([3, 2]), "output_shape": .ints([10, 8])]) == [s(1, 2, 10, 8)])
    #expect(try infer("ConvTranspose", [s(1, 1, 3, 3), s(1, 2, 3, 3)], ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])]) == [s(1, 2, 6, 6)])
    expectError("input channels") { _ = try infer("ConvTranspose", [s(1, 2, 3, 3), s(1, 2, 3, 3)]) }
  }

  @Test func poolShapes() throws {
    let x = s(1, 3, 32, 32)
    #expect(try infer("MaxPool", [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2])], results: 2)
            == [s(1, 3, 15, 15), TensorType(.int64, shape: [1, 3, 15, 15])])
    #expect(try infer("AveragePool", [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]) == [s(1, 3, 16, 16)])
    // ceil_mode drops a last window that would start in the end padding.
    #expect(try infer("AveragePool", [s(1, 1, 2, 2)], ["kernel_shape": .ints([3, 3]), "strides": .ints([3, 3]), "pads": .ints([1, 1, 1, 1]), "ceil_mode": .int(1)]) == [s(1, 1, 1, 1)])
    #expect(try infer("GlobalAveragePool", [s(2, 5, 7, 7, 7)]) == [s(2, 5, 1, 1, 1)])
    #expect(try infer("MaxPool", [t([.symbol("N"), .fixed(3), .symbol("H"), .fixed(8)])], ["kernel_shape": .ints([2, 2])])
            == [t([.symbol("N"), .fixed(3), .symbol("?"), .fixed(7)])])
    expectError("kernel_shape") { _ = try infer("MaxPool", [x]) }
    expectError("spatial dims") { _ = try infer("MaxPool", [x], ["kernel_shape": .ints([3])]) }
    expectError("element type") { _ = try infer("AveragePool", [TensorType(.int32, shape: [1, 1, 4, 4])], ["kernel_shape": .ints([2, 2])]) }
  }

  @Test func matmulAndGemmShapes() throws {
    #expect(try infer("MatMul", [s(2, 1, 3, 4), s(5, 4, 6)]) == [s(2, 5, 3, 6)])
    #expect(try infer("MatMul", [s(4), s(3, 4, 2)]) == [s(3, 2)])
    #expect(try infer("MatMul", [s(3, 4), s(4)]) == [s(3)])
    #expect(try infer("MatMul", [t([.symbol("B"), .symbol("S"), .fixed(8)]), s(8, 16)]) == [t([.symbol("B"), .symbol("S"), .fixed(16)])])
    expectError("inner dims differ") { _ = try infer("MatMul", [s(3, 4), s(5, 2)]) }
    expectError("cannot be broadcast") { _ = try infer("MatMul", [s(2, 3, 4), s(3, 4, 2)]) }
    #expect(try infer("Gemm", [s(4, 3), s(5, 4), s(5)], ["transA": .int(1), "transB": .int(1)]) == [s(3, 5)])
    expectError("cannot be broadcast") { _ = try infer("Gemm", [s(3, 4), s(4, 5), s(3)]) }
    expectError("must be 2-D") { _ = try infer("Gemm", [s(3), s(3, 5)]) }
    #expect(try infer("MatMulInteger", [TensorType(.uint8, shape: [2, 3]), TensorType(.int8, shape: [3, 4])]) == [TensorType(.int32, shape: [2, 4])])
  }

  @Test func normalizationShapes() throws {
    #expect(try infer("BatchNormalization", [s(2, 3, 4), s(3), s(3), s(3), s(3)]) == [s(2, 3, 4)])
    expectError("scale length") { _ = try infer("BatchNormalization", [s(2, 3, 4), s(4), s(3), s(3), s(3)]) }
    let ln = try infer("LayerNormalization", [s(2, 5, 8), s(8)], ["axis": .int(-1)], results: 3)
    #expect(ln == [s(2, 5, 8), s(2, 5, 1), s(2, 5, 1)])
    expectError("does not broadcast") { _ = try infer("LayerNormalization", [s(2, 5, 8), s(5)]) }
    expectError("num_groups 3") { _ = try infer("GroupNormalization", [s(1, 4, 2), s(4), s(4)], ["num_groups": .int(3)]) }
    expectError("size") { _ = try infer("LRN", [s(1, 4, 2)]) }
    expectError("out of range") { _ = try infer("Softmax", [s(2, 3)], ["axis": .int(2)]) }
    #expect(try infer("Hardmax", [s(2, 3)], ["axis": .int(-2)]) == [s(2, 3)])
  }

  @Test func reduceShapes() throws {
    let x = s(2, 3, 4)
    let axes = Tensor.int64([2], [0, -1])
    let at = TensorType(.int64, shape: [2])
    #expect(try infer("ReduceSum", [x, at], values: [1: axes]) == [s(1, 3, 1)])
    #expect(try infer("ReduceMean", [x, at], ["keepdims": .int(0)], values: [1: axes]) == [s(3)])
    #expect(try infer("ReduceMax", [x]) == [s(1, 1, 1)])
    #expect(try infer("ReduceMax", [x], ["keepdims": .int(0)]) == [s()])
    #expect(try infer("ReduceMin", [x, TensorType(.int64, shape: [0])], ["noop_with_empty_axes": .int(1)], values: [1: .int64([0], [])]) == [x])
    // Axes known only at run time: rank survives with keepdims, unknown without.
    #expect(try infer("ReduceL2", [x, at]) == [t([.symbol("?"), .symbol("?"), .symbol("?")])])
    #expect(try infer("ReduceL2", [x, at], ["keepdims": .int(0)]) == [t(nil)])
    expectError("repeat") { _ = try infer("ReduceSum", [x, at], values: [1: .int64([2], [1, -2])]) }
    expectError("out of range") { _ = try infer("ReduceSum", [x, at], values: [1: .int64([2], [0, 3])]) }
    expectError("element type") { _ = try infer("ReduceLogSumExp", [TensorType(.int32, shape: [2])]) }
    #expect(try infer("ArgMax", [x], ["axis": .int(1), "keepdims": .int(0)]) == [TensorType(.int64, shape: [2, 4])])
    #expect(try infer("CumSum", [x, TensorType(.int32, shape: [])], values: [1: Tensor(.int32, shape: [], values: [Int32(2)])]) == [x])
    expectError("out of range") { _ = try infer("CumSum", [x, TensorType(.int64, shape: [])], values: [1: .int64([], [3])]) }
  }
}
