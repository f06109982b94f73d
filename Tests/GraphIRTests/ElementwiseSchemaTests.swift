// ElementwiseSchemaTests.swift - Shape and type inference of the element-wise op schemas.

import GraphIR
import Testing

private func infer(
  _ op: String, _ types: [TensorType?], _ attributes: AttributeMap = [:], sourceLocation: SourceLocation = #_sourceLocation
) throws -> TensorType {
  let schema = try #require(OpRegistry.shared.schema("onnx." + op), sourceLocation: sourceLocation)
  let ctx = InferenceContext(op: "onnx." + op, operands: types.map { $0.map { OperandInfo(type: $0) } },
                             attributes: attributes, resultCount: 1)
  return try schema.check(ctx, node: "n")[0]
}

private func t(_ dtype: DType, _ dims: [Dim]?) -> TensorType { TensorType(dtype, dims) }

private func expectError(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
  do {
    try body()
    Issue.record("expected an error containing '\(fragment)'", sourceLocation: sourceLocation)
  } catch let e as GraphError {
    #expect(e.message.contains(fragment), "error '\(e.message)' lacks '\(fragment)'", sourceLocation: sourceLocation)
    #expect(e.node == "n", sourceLocation: sourceLocation)
  } catch {
    Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
  }
}

struct ElementwiseSchemaTests {
  @Test func binaryBroadcastsStaticAndSymbolicDims() throws {
    let y = try infer("Add", [t(.float32, [.symbol("N"), .fixed(1), .fixed(4)]), t(.float32, [.fixed(3), .fixed(1)])])
    #expect(y == t(.float32, [.symbol("N"), .fixed(3), .fixed(4)]))
    #expect(try infer("Mul", [t(.int64, []), t(.int64, [.fixed(0), .fixed(2)])]) == t(.int64, [.fixed(0), .fixed(2)]))
    #expect(try infer("Sub", [t(.float32, [.symbol("N")]), t(.float32, nil)]) == t(.float32, nil))
  }

  @Test func comparisonsAndPredicatesGiveBool() throws {
    #expect(try infer("Less", [t(.int32, [.fixed(2), .fixed(3)]), t(.int32, [.fixed(3)])]) == t(.bool, [.fixed(2), .fixed(3)]))
    #expect(try infer("Equal", [t(.bool, [.fixed(2)]), t(.bool, [])]) == t(.bool, [.fixed(2)]))
    #expect(try infer("IsNaN", [t(.float16, [.symbol("B")])]) == t(.bool, [.symbol("B")]))
    #expect(try infer("And", [t(.bool, [.fixed(1)]), t(.bool, [.fixed(5)])]) == t(.bool, [.fixed(5)]))
  }

  @Test func variadicWhereAndPow() throws {
    let s = try infer("Sum", [t(.float32, [.fixed(2), .fixed(1)]), t(.float32, [.fixed(3)]), t(.float32, [])])
    #expect(s == t(.float32, [.fixed(2), .fixed(3)]))
    #expect(try infer("Max", [t(.uint8, [.fixed(4)])]) == t(.uint8, [.fixed(4)]))
    let w = try infer("Where", [t(.bool, [.fixed(2), .fixed(1)]), t(.int64, [.fixed(3)]), t(.int64, [])])
    #expect(w == t(.int64, [.fixed(2), .fixed(3)]))
    #expect(try infer("Pow", [t(.int32, [.fixed(3)]), t(.float32, [])]) == t(.int32, [.fixed(3)]))
  }

  @Test func castAndQuantizationTypes() throws {
    #expect(try infer("Cast", [t(.float32, [.symbol("N")])], ["to": .int(7)]) == t(.int64, [.symbol("N")]))
    #expect(try infer("CastLike", [t(.float32, [.fixed(2)]), t(.float16, [])]) == t(.float16, [.fixed(2)]))
    #expect(try infer("QuantizeLinear", [t(.float32, [.fixed(2)]), t(.float32, [])]) == t(.uint8, [.fixed(2)]))
    #expect(try infer("QuantizeLinear", [t(.float32, [.fixed(2)]), t(.float32, []), t(.int8, [])]) == t(.int8, [.fixed(2)]))
    #expect(try infer("QuantizeLinear", [t(.float32, [.fixed(2)]), t(.float32, []), nil], ["output_dtype": .int(5)]) == t(.int16, [.fixed(2)]))
    #expect(try infer("DequantizeLinear", [t(.int8, [.fixed(2)]), t(.float32, []), t(.int8, [])]) == t(.float32, [.fixed(2)]))
    #expect(try infer("Clip", [t(.int8, [.fixed(2)]), nil, t(.int8, [])]) == t(.int8, [.fixed(2)]))
  }

  @Test func rejectsInvalidOperands() {
    expectError("type mismatch") { _ = try infer("Add", [t(.float32, [.fixed(2)]), t(.int32, [.fixed(2)])]) }
    expectError("type mismatch") { _ = try infer("Where", [t(.bool, []), t(.float32, []), t(.float64, [])]) }
    expectError("type mismatch") { _ = try infer("Clip", [t(.float32, []), t(.float64, [])]) }
    expectError("cannot be broadcast") { _ = try infer("Add", [t(.float32, [.fixed(2)]), t(.float32, [.fixed(3)])]) }
    expectError("expects 2 inputs") { _ = try infer("Mul", [t(.float32, [])]) }
    expectError("expects 1 to 3 inputs") { _ = try infer("Clip", [t(.float32, []), nil, nil, t(.float32, [])]) }
    expectError("expected a float type") { _ = try infer("Sigmoid", [t(.int32, [])]) }
    expectError("expected bool") { _ = try infer("Or", [t(.int32, []), t(.int32, [])]) }
    expectError("unsigned") { _ = try infer("BitShift", [t(.int32, []), t(.int32, [])]) }
    expectError("'to'") { _ = try infer("Cast", [t(.float32, [])]) }
    expectError("scalar") { _ = try infer("Clip", [t(.float32, [.fixed(3)]), t(.float32, [.fixed(2)])]) }
    expectError("missing required input") { _ = try infer("Sum", [t(.float32, []), nil]) }
  }
}
