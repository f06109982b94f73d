// TensorSchemaTests.swift - Shape inference of data-movement ops with unknown and constant operands.

import GraphIR
import Testing

private let q = Dim.symbol("?")
private let batch = Dim.symbol("batch")

/// An operand whose value is unknown (a graph input at compile time).
private func unknown(_ dtype: DType, _ dims: [Dim]?) -> OperandInfo? { OperandInfo(type: TensorType(dtype, dims)) }
/// A constant int64 vector operand.
private func ints(_ v: [Int64]) -> OperandInfo? {
  let t = Tensor.int64([v.count], v)
  return OperandInfo(type: t.type, value: t)
}
private func floats(_ v: [Float]) -> OperandInfo? {
  let t = Tensor.float32([v.count], v)
  return OperandInfo(type: t.type, value: t)
}

private func infer(_ op: String, _ operands: [OperandInfo?], _ attrs: AttributeMap = [:], results: Int = 1) throws -> [TensorType] {
  guard let schema = OpRegistry.shared.schema("onnx." + op) else { throw GraphError("no schema for \(op)") }
  return try schema.check(InferenceContext(op: "onnx." + op, operands: operands, attributes: attrs, resultCount: results), node: "n")
}
private func infer1(_ op: String, _ operands: [OperandInfo?], _ attrs: AttributeMap = [:]) throws -> TensorType {
  try infer(op, operands, attrs)[0]
}
private func message(_ body: () throws -> Any) -> String? {
  do { _ = try body(); return nil } catch let e as GraphError { return e.message } catch { return "\(error)" }
}

@Suite struct TensorSchemaTests {
  @Test func reshape() throws {
    let x = unknown(.float32, [batch, .fixed(3), .fixed(4)])
    // 0 copies a symbolic dim; -1 cannot be inferred while batch is unknown.
    #expect(try infer1("Reshape", [x, ints([0, -1])]) == TensorType(.float32, [batch, q]))
    #expect(try infer1("Reshape", [x, ints([0, 12])]) == TensorType(.float32, [batch, .fixed(12)]))
    // Unknown shape values: rank from the shape operand's length.
    #expect(try infer1("Reshape", [x, unknown(.int64, [.fixed(2)])]) == TensorType(.float32, [q, q]))
    #expect(try infer1("Reshape", [x, unknown(.int64, [q])]) == TensorType(.float32, nil))
    let s = unknown(.float32, [.fixed(2), .fixed(6)])
    #expect(try infer1("Reshape", [s, ints([-1, 4])]) == TensorType(.float32, shape: [3, 4]))
    #expect(message { try infer1("Reshape", [s, ints([5, -1])]) }?.contains("cannot reshape") == true)
    #expect(message { try infer1("Reshape", [s, ints([3, 5])]) }?.contains("cannot reshape") == true)
    #expect(message { try infer1("Reshape", [s, unknown(.float32, [.fixed(2)])]) }?.contains("int32 or int64") == true)
  }

  @Test func transposeAndConcat() throws {
    let x = unknown(.float16, [batch, .fixed(3), .fixed(5)])
    #expect(try infer1("Transpose", [x]) == TensorType(.float16, [.fixed(5), .fixed(3), batch]))
    #expect(try infer1("Transpose", [unknown(.float16, nil)], ["perm": .ints([1, 0])]) == TensorType(.float16, [q, q]))
    #expect(message { try infer1("Transpose", [x], ["perm": .ints([0, 2, 2])]) }?.contains("permutation") == true)
    let y = unknown(.float16, [.fixed(2), .fixed(3), q])
    #expect(try infer1("Concat", [x, y], ["axis": .int(0)]) == TensorType(.float16, [q, .fixed(3), .fixed(5)]))
    let z = unknown(.float16, [.fixed(1), .fixed(4), .fixed(5)])
    #expect(message { try infer1("Concat", [x, z], ["axis": .int(0)]) } != nil)
    #expect(message { try infer1("Concat", [x, unknown(.float32, nil)], ["axis": .int(0)]) }?.contains("element types") == true)
  }

  @Test func sliceSplitGather() throws {
    let x = unknown(.float32, [batch, .fixed(10)])
    #expect(try infer1("Slice", [x, ints([2]), ints([-1]), ints([1])]) == TensorType(.float32, [batch, .fixed(7)]))
    #expect(try infer1("Slice", [x, ints([0]), ints([5]), ints([0])]) == TensorType(.float32, [q, .fixed(10)]))
    #expect(try infer1("Slice", [x, unknown(.int64, [.fixed(1)]), ints([5])]) == TensorType(.float32, [q, q]))
    #expect(message { try infer1("Slice", [x, ints([0]), ints([5]), ints([2])]) }?.contains("out of range") == true)
    let parts = try infer("Split", [x], ["axis": .int(1)], results: 3)
    #expect(parts.map(\.dims) == [[batch, .fixed(4)], [batch, .fixed(4)], [batch, .fixed(2)]])
    let unknownSplit = try infer("Split", [x, unknown(.int64, [.fixed(2)])], ["axis": .int(1)], results: 2)
    #expect(unknownSplit.map(\.dims) == [[batch, q], [batch, q]])
    #expect(try infer1("Gather", [x, unknown(.int32, [.fixed(2), .fixed(3)])], ["axis": .int(1)])
            == TensorType(.float32, [batch, .fixed(2), .fixed(3)]))
    #expect(message { try infer1("Gather", [x, ints([10])], ["axis": .int(1)]) }?.contains("out of range") == true)
    #expect(message { try infer1("Gather", [x, unknown(.float32, [.fixed(1)])]) } != nil)
  }

  @Test func valueShapedOps() throws {
    #expect(try infer1("ConstantOfShape", [unknown(.int64, [.fixed(3)])]) == TensorType(.float32, [q, q, q]))
    let seven = Tensor(.int32, shape: [1], values: [Int32(7)])
    #expect(try infer1("ConstantOfShape", [ints([2, 3])], ["value": .tensor(seven)]) == TensorType(.int32, shape: [2, 3]))
    #expect(message { try infer1("ConstantOfShape", [ints([1 << 30, 1 << 30])]) }?.contains("too large") == true)
    let x = unknown(.float32, [batch, .fixed(1)])
    #expect(try infer1("Expand", [x, ints([1, 4])]) == TensorType(.float32, [batch, .fixed(4)]))
    #expect(try infer1("Expand", [x, unknown(.int64, [.fixed(3)])]) == TensorType(.float32, [q, q, q]))
    #expect(try infer1("Tile", [x, ints([1, 3])]) == TensorType(.float32, [batch, .fixed(3)]))
    #expect(message { try infer1("Tile", [x, ints([1, -3])]) }?.contains("negative") == true)
    #expect(try infer1("Shape", [x], ["start": .int(1)]) == TensorType(.int64, shape: [1]))
    #expect(try infer1("Shape", [unknown(.float32, nil)]) == TensorType(.int64, [q]))
    #expect(try infer1("Size", [x]) == TensorType(.int64, shape: []))
  }

  @Test func range() throws {
    let s = Tensor.int64([], [1]), l = Tensor.int64([], [10]), d = Tensor.int64([], [4])
    let c = { (t: Tensor) in OperandInfo(type: t.type, value: t) }
    #expect(try infer1("Range", [c(s), c(l), c(d)]) == TensorType(.int64, shape: [3]))
    #expect(try infer1("Range", [c(s), unknown(.int64, []), c(d)]) == TensorType(.int64, [q]))
    #expect(message { try infer1("Range", [c(s), c(l), c(.scalar(1))]) }?.contains("element types") == true)
    #expect(message { try infer1("Range", [c(.scalar(0)), c(.scalar(1e30)), c(.scalar(1e-30))]) } != nil)
  }

  @Test func squeezeUnsqueezeFlatten() throws {
    let x = unknown(.float32, [.fixed(1), batch, .fixed(1)])
    // Without axes, an unknown dim might be 1: the rank is unknown.
    #expect(try infer1("Squeeze", [x]) == TensorType(.float32, nil))
    #expect(try infer1("Squeeze", [x, ints([0, -1])]) == TensorType(.float32, [batch]))
    #expect(message { try infer1("Squeeze", [x, ints([0, 0])]) }?.contains("twice") == true)
    #expect(try infer1("Unsqueeze", [x, ints([0, 4])]) == TensorType(.float32, [.fixed(1), .fixed(1), batch, .fixed(1), .fixed(1)]))
    #expect(try infer1("Unsqueeze", [x, unknown(.int64, [.fixed(2)])]) == TensorType(.float32, [q, q, q, q, q]))
    #expect(message { try infer1("Unsqueeze", [x, ints([5])]) }?.contains("out of range") == true)
    #expect(try infer1("Flatten", [x], ["axis": .int(2)]) == TensorType(.float32, [q, .fixed(1)]))
    #expect(try infer1("Flatten", [unknown(.float32, [.fixed(2), .fixed(3), .fixed(4)])]) == TensorType(.float32, shape: [2, 12]))
  }

  @Test func padAndResize() throws {
    let x = unknown(.float32, [batch, .fixed(3), .fixed(8), .fixed(8)])
    #expect(try infer1("Pad", [x, ints([1, 2, -3, 2]), nil, ints([2, 3])]) == TensorType(.float32, [batch, .fixed(3), .fixed(6), .fixed(12)]))
    #expect(try infer1("Pad", [x, unknown(.int64, [.fixed(8)])]) == TensorType(.float32, [q, q, q, q]))
    #expect(message { try infer1("Pad", [x, ints([1, 2])]) }?.contains("pads has 2") == true)
    #expect(message { try infer1("Pad", [x, ints([0, 0, -9, 0, 0, 0, 0, 0])]) }?.contains("negative") == true)
    // Scales leave batch alone (scale 1) and double the spatial dims.
    #expect(try infer1("Resize", [x, nil, floats([1, 1, 2, 2.5])]) == TensorType(.float32, [batch, .fixed(3), .fixed(16), .fixed(20)]))
    #expect(try infer1("Resize", [x, nil, nil, ints([5, 7])], ["axes": .ints([2, 3])])
            == TensorType(.float32, [batch, .fixed(3), .fixed(5), .fixed(7)]))
    #expect(try infer1("Resize", [x, nil, unknown(.float32, [.fixed(4)])]) == TensorType(.float32, [q, q, q, q]))
    let s = unknown(.float32, [.fixed(1), .fixed(1), .fixed(2), .fixed(4)])
    // keep_aspect_ratio_policy=not_larger: scale min(1/2, 3/4) = 0.5 -> [1, 2] (node test
    // test_resize_downsample_sizes_nearest_not_larger).
    #expect(try infer1("Resize", [s, nil, nil, ints([1, 3])], ["axes": .ints([2, 3]), "keep_aspect_ratio_policy": .string("not_larger")])
            == TensorType(.float32, shape: [1, 1, 1, 2]))
    #expect(message { try infer1("Resize", [s, nil, floats([1, 1, 2, 2]), ints([1, 1, 4, 8])]) }?.contains("one of") == true)
    #expect(message { try infer1("Resize", [s, nil, floats([1, 1, 2, 2])], ["mode": .string("bicubic")]) } != nil)
  }

  @Test func dropoutAndTrilu() throws {
    let x = unknown(.float32, [batch, .fixed(4)])
    let r = try infer("Dropout", [x], results: 2)
    #expect(r == [TensorType(.float32, [batch, .fixed(4)]), TensorType(.bool, [batch, .fixed(4)])])
    #expect(try infer1("Trilu", [x, ints([1])]) == TensorType(.float32, [batch, .fixed(4)]))
    #expect(message { try infer1("Trilu", [unknown(.float32, [.fixed(3)])]) } != nil)
  }
}
