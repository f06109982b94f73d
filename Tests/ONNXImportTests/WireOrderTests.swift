// WireOrderTests.swift - Initializers decoded from the wire format one at a time import like protobuf-c's full unpack.

import CONNXProto
import Foundation
import GraphIR
@testable import ONNXImport
import Testing

/// The graph as text with every constant in full, without the source's digest and name.
private func comparable(_ g: Graph) -> String {
  printGraph(g, options: PrintOptions(fullConstants: true, metadata: false))
    + g.metadata.filter { $0.key != "source.sha256" && $0.key != "source.name" }.sorted { $0.key < $1.key }
      .map { "\n\($0.key)=\($0.value)" }.joined()
}

private func bytes(_ relative: String) throws -> [UInt8] {
  Array(try Data(contentsOf: URL(fileURLWithPath: fixture(relative))))
}

/// protobuf-c's reading of `model`: unpacked whole, then written back in its canonical order.
private func protobufCRoundTrip(_ model: [UInt8]) throws -> [UInt8] {
  let proto = try #require(model.withUnsafeBufferPointer { onnx__model_proto__unpack(nil, $0.count, $0.baseAddress) })
  defer { onnx__model_proto__free_unpacked(proto, nil) }
  var out = [UInt8](repeating: 0, count: onnx__model_proto__get_packed_size(proto))
  let written = out.withUnsafeMutableBufferPointer { onnx__model_proto__pack(proto, $0.baseAddress) }
  #expect(written == out.count)
  return out
}

struct WireOrderTests {
  /// make_import_fixtures.py checks that protobuf parses both files to the same message.
  @Test func oddWireOrderImportsLikeTheCanonicalModel() throws {
    let odd = try importFixture("valid/wire_order_odd.onnx")
    let canonical = try importFixture("valid/wire_order_canonical.onnx")
    #expect(comparable(odd) == comparable(canonical))
    // The values make_import_fixtures.py wrote (the last raw_data, name and data_type won).
    let add1 = try #require(odd.node(named: "add1"))
    #expect(constDoubles(add1.operand(1)) == [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    #expect(add1.operand(1)?.constant?.shape == [2, 3])
    #expect(constDoubles(odd.node(named: "add2")?.operand(1)) == [1, -2, 3, -4, 5, -6])
    #expect(constDoubles(odd.node(named: "add3")?.operand(1)) == [0.25, 0.5, 0.75])
    #expect(constInts(odd.output("w4")) == [7, -8, 1 << 40])
    #expect(odd.output("w5")?.constant?.dtype == .float16)
    #expect(constDoubles(odd.output("w5")) == [0.5, -1, 2])
    #expect(odd.name == "g")
  }

  @Test(arguments: ["valid/wire_order_odd.onnx", "valid/wire_order_canonical.onnx", "valid/storage_forms.onnx",
                    "valid/constants.onnx", "valid/old_style_inputs.onnx"])
  func importsLikeProtobufCFullUnpack(path: String) throws {
    let original = try bytes(path)
    let roundTrip = try protobufCRoundTrip(original)
    let direct = try importONNX(bytes: original, baseDirectory: nil, sourceName: "m", ops: testOps)
    let viaProtobufC = try importONNX(bytes: roundTrip, baseDirectory: nil, sourceName: "m", ops: testOps)
    #expect(comparable(direct) == comparable(viaProtobufC))
  }

  @Test func splitFindsEveryTopLevelInitializerInWireOrder() throws {
    let model = try bytes("valid/wire_order_odd.onnx")
    try model.withUnsafeBytes { raw in
      let split = try #require(try splitInitializers(raw))
      let names = split.ranges.map { RawTensorRecord(raw, $0)?.name ?? "(protobuf-c)" }
      #expect(names == ["w1", "(protobuf-c)", "w4", "w5", "w3"])  // w2 holds float_data
      // The rest is a valid ModelProto whose graph has no initializer left.
      let rest = try #require(split.rest.withUnsafeBufferPointer { onnx__model_proto__unpack(nil, $0.count, $0.baseAddress) })
      defer { onnx__model_proto__free_unpacked(rest, nil) }
      #expect(rest.pointee.graph?.pointee.n_initializer == 0)
      #expect(rest.pointee.graph?.pointee.n_node == 3)
    }
  }

  /// A corrupt record is reported as a corrupt model (with the whole file's size), before the
  /// earlier record's own error, as protobuf-c's full unpack would.
  @Test func corruptLateInitializerIsACorruptModel() throws {
    let size = try bytes("malformed/corrupt_late_initializer.onnx").count
    expectImportError("malformed/corrupt_late_initializer.onnx", code: .malformed,
                      ["not a valid ONNX model protobuf (truncated or corrupt, \(size) bytes)"])
  }

  /// Framing protobuf-c reads differently (a 6-byte tag) is left to protobuf-c: no split.
  @Test func overlongTagIsLeftToProtobufC() throws {
    var model = try bytes("valid/wire_order_canonical.onnx")
    // Re-frame the top-level graph field with a 6-byte tag (field 7, wire type 2, padded).
    let tag: Range<Int>? = model.withUnsafeBytes { raw in
      var r = WireReader(raw, what: "model")
      while r.pos < raw.count, let f = try? r.field(raw.count) {
        if f.number == 7 { return f.start..<f.tagEnd }
      }
      return nil
    }
    model.replaceSubrange(try #require(tag), with: [0xba, 0x80, 0x80, 0x80, 0x80, 0x00])
    let split = try model.withUnsafeBytes { raw in try splitInitializers(raw) }
    #expect(split == nil)
    #expect(throws: ImportError.self) {
      try importONNX(bytes: model, baseDirectory: nil, sourceName: "m", ops: testOps)
    }
  }
}
