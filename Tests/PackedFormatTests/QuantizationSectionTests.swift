// QuantizationSectionTests.swift - Quantized tensor types and packed int4 weights in the .gcb.

import GraphIR
import Testing
@testable import PackedFormat

/// x (u8, per tensor) -> test.QOp(x, w4) -> y (i8, per tensor, same parameters as x's second
/// user would see); w4 is packed int4 with per-axis parameters.
private func quantizedGraph() -> Graph {
  let g = Graph(name: "q")
  let x = g.addInput(name: "x", type: TensorType(.uint8, shape: [2, 3], quant: Quantization(scale: 0.5, zeroPoint: 128)))
  let w = Tensor(zeros: .int4, shape: [3, 3])
  for (i, v) in [-8, 7, 0, 1, -1, 3, 2, -2, 5].enumerated() { storeInt4(Int8(v), at: i, in: w.rawPointer) }
  let wq = Quantization(axis: 1, scales: [0.25, 0.125, 1.5], zeroPoints: [0, -1, 2])
  let wv = g.addConstant(w, name: "w4", quant: wq)
  let y = g.addNode("test.QOp", name: "qop", operands: [x, wv],
                    resultTypes: [TensorType(.int8, shape: [2, 3], quant: Quantization(scale: 0.5, zeroPoint: -3))])
  let z = g.addNode("test.Op", name: "f", operands: [y.result], resultTypes: [TensorType(.float32, shape: [2, 3])])
  g.setOutputs([("y", y.result), ("z", z.result)])
  return g
}

struct QuantizationSectionTests {
  @Test func quantizedTypesAndPackedWeightsRoundTrip() throws {
    let g = quantizedGraph()
    let bytes = try writeGCB(graph: g, metadata: [:])
    let m = try PackedModel(bytes: bytes)
    for (i, v) in g.allValues.enumerated() { #expect(m.tensors[i].type == v.type, "tensor \(i)") }
    let w = try #require(m.tensors[1].constant)
    #expect(w.byteCount == 5)  // 9 nibbles
    #expect(Array(w.bytes) == [0x78, 0x10, 0x3f, 0xe2, 0x05])
  }

  @Test func floatModelsHaveNoQuantizationSection() throws {
    let bytes = try writeGCB(graph: sampleGraph(), metadata: [:])
    #expect(!rawSections(bytes).contains { $0.kind == SectionKind.quantization.rawValue })
  }

  @Test func recordsAreSharedAndLaidOutAsSpecified() throws {
    let g = quantizedGraph()
    // A second input with the same parameters as x shares x's record.
    _ = g.addInput(name: "x2", type: g.inputs[0].type)
    let bytes = try writeGCB(graph: g, metadata: [:])
    let s = section(bytes, .quantization)
    #expect(le(bytes, s.offset, UInt32.self) == 3)  // x (shared with x2), w4, y
    // First record: axis -1, one scale 0.5 (0x3f000000), zero point 128.
    let r = s.offset + 8
    #expect(le(bytes, r, UInt32.self) == 0xFFFF_FFFF)
    #expect(le(bytes, r + 4, UInt32.self) == 1)
    #expect(le(bytes, r + 8, UInt32.self) == 0x3f00_0000)
    #expect(le(bytes, r + 12, UInt32.self) == 128)
    #expect(s.length == 8 + 16 + (8 + 3 * 8) + 16)
  }

  @Test func damagedQuantizationRecordsAreRejected() throws {
    let bytes = try writeGCB(graph: quantizedGraph(), metadata: [:])
    let s = section(bytes, .quantization)
    let tensors = section(bytes, .tensors)

    var flipped = bytes
    flipped[s.offset + 9] ^= 0x5A
    #expect(loadError(flipped)?.contains("quantization section at offset 0x\(String(s.offset, radix: 16)): checksum mismatch") == true)

    var badScale = bytes
    put(&badScale, s.offset + 16, UInt32(0))  // scale 0
    resign(&badScale)
    #expect(loadError(badScale)?.contains("finite and positive") == true)

    var badRef = bytes
    put(&badRef, tensors.offset + 8 + 32, UInt32(9))  // tensor 0's record id
    resign(&badRef)
    #expect(loadError(badRef)?.contains("quantization record 9 out of range") == true)

    var badCount = bytes
    put(&badCount, s.offset + 12, UInt32(1 << 30))
    resign(&badCount)
    #expect(loadError(badCount)?.contains("do not fit the section") == true)

    var badAxis = bytes
    put(&badAxis, s.offset + 24, UInt32(5))  // second record (w4): axis 5 of a rank-2 tensor
    resign(&badAxis)
    #expect(loadError(badAxis)?.contains("axis 5 is out of range") == true)
  }
}
