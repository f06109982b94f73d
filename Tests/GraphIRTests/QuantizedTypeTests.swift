// QuantizedTypeTests.swift - Quantized tensor types and packed int4 in the textual IR and verifier.

import Testing
@testable import GraphIR

struct QuantizedTypeTests {
  /// Hand-written text: per-tensor activations, per-axis int8 and packed int4 weights.
  static let text = """
    graph @q(%x: u8[2,3] q<scale=0.5, zp=128>) {
      %w = const i8[3,2] q<axis=1, scales=[0.25, 0.125], zp=0> dense<[1, -2, 3, -4, 5, -6]>
      %w4 = const i4[3,2] q<axis=1, scales=[0.25, 0.125], zps=[-1, 2]> dense<[-8, 7, 0, 1, -1, 3]>
      %0 = test.Id(%x) : u8[2,3] q<scale=0.5, zp=128>
      return %0 as "y"
    }

    """

  @Test func printsAndParsesQuantizedTypesExactly() throws {
    let g = try parseGraph(Self.text)
    #expect(g.text == Self.text)
    let x = try #require(g.inputs.first)
    #expect(x.type.quant == Quantization(scale: 0.5, zeroPoint: 128))
    let w4 = try #require(g.constants.first { $0.name == "w4" })
    #expect(w4.type.quant == Quantization(axis: 1, scales: [0.25, 0.125], zeroPoints: [-1, 2]))
    let t = try #require(w4.constant)
    // Packed two per byte, low nibble first: [-8, 7] -> 0x78, [0, 1] -> 0x10, [-1, 3] -> 0x3f.
    #expect(t.byteCount == 3)
    #expect(Array(t.bytes) == [0x78, 0x10, 0x3f])
    #expect((0..<6).map { t.double(at: $0) } == [-8, 7, 0, 1, -1, 3])
  }

  @Test func oddInt4CountsRoundUpToWholeBytes() {
    #expect(DType.int4.byteCount(elements: 5) == 3)
    let t = Tensor(zeros: .int4, shape: [5])
    storeInt4(-3, at: 4, in: t.rawPointer)
    #expect(t.bytes.last == 0x0d)
    #expect(t.double(at: 4) == -3)
  }

  @Test func longParameterListsAreElidedUnlessFull() throws {
    let q = Quantization(axis: 0, scales: (1...20).map { Float($0) })
    let type = TensorType(.int8, shape: [20, 4], quant: q)
    #expect(type.description.hasPrefix("i8[20,4] q<axis=0, scales=elided 20 fnv=0x"))
    #expect(type.description.hasSuffix(", zp=0>"))
    let full = formatType(type, options: PrintOptions(fullConstants: true))
    #expect(full.contains("scales=[1.0, 2.0,"))
    let g = try parseGraph("graph @g(%x: \(full)) {\n  return %x as \"x\"\n}\n")
    #expect(g.inputs[0].type == type)
    // Elided lists parse as unit scales of the right count (only full text round-trips).
    let e = try parseGraph("graph @g(%x: \(type.description)) {\n  return %x as \"x\"\n}\n")
    #expect(e.inputs[0].type.quant?.scales == [Float](repeating: 1, count: 20))
  }

  @Test(arguments: [
    ("f32[2] q<scale=0.5, zp=0>", "cannot carry quantization"),
    ("i8[2] q<scale=0.0, zp=0>", "finite and positive"),
    ("i8[2] q<scale=0.5, zp=200>", "outside the range of i8"),
    ("i8[2,3] q<axis=1, scales=[0.5, 0.5], zp=0>", "axis 1 has 3 channels but 2 scales"),
    ("i8[2] q<axis=2, scales=[0.5], zp=0>", "axis 2 is out of range"),
    ("i8[2] q<scale=0.5, bits=4>", "unknown quantization key 'bits'"),
    ("i8[2] q<zp=1>", "need 'scale' or 'scales'"),
  ])
  func rejectsInvalidParameters(type: String, message: String) {
    let text = "graph @g(%x: \(type)) {\n  return %x as \"x\"\n}\n"
    #expect {
      try parseGraph(text)
    } throws: { e in
      "\(e)".contains(message)
    }
  }

  @Test func int4ElementsOutsideTheirRangeAreRejected() {
    #expect(throws: GraphError.self) {
      try parseGraph("graph @g() {\n  %w = const i4[2] dense<[8, 0]>\n  return %w as \"w\"\n}\n")
    }
  }

  @Test func verifierKeepsPackedTensorsAwayFromGenericOps() throws {
    let g = try parseGraph("""
      graph @g() {
        %w = const i4[4] q<scale=0.5, zp=0> dense<[1, 2, 3, 4]>
        %0 = onnx.Identity(%w) : i4[4]
        return %0 as "y"
      }
      """)
    #expect { try g.verify() } throws: { "\($0)".contains("cannot take packed int4 operands") }
  }

  @Test func quantizeLinearWithConstantParametersStatesThemInItsType() throws {
    let g = try parseGraph("""
      graph @g(%x: f32[2,3]) {
        %s = const f32[] dense<0.5>
        %z = const i8[] dense<-3>
        %0 = onnx.QuantizeLinear(%x, %s, %z) : i8[2,3]
        return %0 as "y"
      }
      """)
    try g.inferTypes()
    try g.verify()
    #expect(g.nodes[0].result.type.quant == Quantization(scale: 0.5, zeroPoint: -3))
  }

  @Test func cannotCastToInt4() throws {
    let g = try parseGraph("graph @g(%x: f32[2]) {\n  %0 = onnx.Cast(%x) {to = 22} : f32[2]\n  return %0 as \"y\"\n}\n")
    #expect { try g.inferTypes() } throws: { "\($0)".contains("not a supported element type") }
  }
}
