// TensorDecodingTests.swift - TensorProto storage forms, external data and node-test .pb files.

import Foundation
import GraphIR
import ONNXImport
import Testing

/// numpy's view of a tensor, as written by make_import_fixtures.py.
private struct NumpyView {
  var dtype: String
  var shape: [Int]
  var values: [Double]

  init?(_ any: Any?) {
    guard let d = any as? [String: Any], let dtype = d["dtype"] as? String,
          let shape = d["shape"] as? [Int], let values = d["values"] as? [Double] else { return nil }
    self.dtype = dtype
    self.shape = shape
    self.values = values
  }
}

private func loadJSON(_ path: String) throws -> Any {
  try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
}

private let numpyDTypes: [String: DType] = [
  "float32": .float32, "float16": .float16, "float64": .float64, "int8": .int8, "int16": .int16,
  "int32": .int32, "int64": .int64, "uint8": .uint8, "uint16": .uint16, "uint32": .uint32,
  "uint64": .uint64, "bool": .bool,
]

struct TensorDecodingTests {
  static let storageNames: [String] = {
    guard let d = try? loadJSON(fixture("valid/storage_forms.json")) as? [String: Any] else { return [] }
    return d.keys.sorted()
  }()

  @Test(arguments: storageNames)
  func storageFormMatchesNumpy(name: String) throws {
    let json = try #require(try loadJSON(fixture("valid/storage_forms.json")) as? [String: Any])
    let want = try #require(NumpyView(json[name]))
    let g = try importFixture("valid/storage_forms.onnx")
    let t = try #require(g.output(name)?.constant, "\(name) should be a constant output")
    #expect(t.shape == want.shape)
    // numpy shows bfloat16 widened to float32; the name says what the proto declared.
    let dtype = name.hasSuffix("bf16") ? DType.bfloat16 : try #require(numpyDTypes[want.dtype])
    #expect(t.dtype == dtype)
    #expect((0..<t.count).map { t.double(at: $0) } == want.values)
  }

  @Test func externalDataIsMappedInPlaceWhenAligned() throws {
    let g = try importFixture("external/good/model.onnx")
    let w = try #require(g.node(named: "id")?.operand(0)?.constant)
    #expect(w.shape == [3, 4])
    #expect(w.scalars(as: Float.self) == (0..<12).map(Float.init))
    #expect(constInts(g.output("b")) == [10, 20, 30])
  }

  @Test func externalDataAtUnalignedOffsetIsCopied() throws {
    let g = try importFixture("external/good_unaligned/model.onnx")
    #expect(constInts(g.output("b")) == [10, 20, 30])
    #expect(Int(bitPattern: g.output("b")?.constant?.rawPointer) % 8 == 0)
  }

  @Test(arguments: [
    ("external/absolute/model.onnx", "tensor 'w'", "is an absolute path"),
    ("external/dotdot/model.onnx", "tensor 'w'", "leaves the model's folder"),
    ("external/symlink/model.onnx", "tensor 'w'", "resolves outside the model's folder"),
    ("external/missing_file/model.onnx", "tensor 'w'", "not found"),
    ("external/out_of_range/model.onnx", "tensor 'b'", "exceeds"),
  ])
  func unsafeOrBadExternalDataIsRefused(path: String, tensor: String, reason: String) {
    expectImportError(path, code: .externalData, [tensor, reason])
  }

  @Test func externalDataNeedsABaseDirectory() throws {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture("external/good/model.onnx"))))
    #expect {
      _ = try importONNX(bytes: bytes, baseDirectory: nil, sourceName: "mem.onnx", ops: testOps)
    } throws: { e in
      (e as? ImportError)?.description.hasPrefix("mem.onnx: tensor 'w': external data") == true
    }
    let g = try importONNX(bytes: bytes, baseDirectory: fixture("external/good"), sourceName: "mem.onnx", ops: testOps)
    #expect(constInts(g.output("b")) == [10, 20, 30])
  }

  @Test func tensorElementLimitIsEnforced() {
    expectImportError("valid/storage_forms.onnx", code: .limitExceeded, ["tensor 'raw_f32'", "over the limit of 3"],
                      options: ImportOptions(maxTensorElements: 3))
  }

  /// The node tests' `.pb` files, compared with numpy's view of the same file.
  @Test func readsNodeTestTensorProto() throws {
    let root = ProcessInfo.processInfo.environment["GRAPHC_ONNX_NODE_TESTS"]
      ?? URL(fileURLWithPath: importFixtures).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/onnx-node-tests/node").standardized.path
    let pb = root + "/test_add/test_data_set_0/input_0.pb"
    guard FileManager.default.fileExists(atPath: pb) else {
      print("ONNX node tests not found at \(root) (set GRAPHC_ONNX_NODE_TESTS); skipping")
      return
    }
    let want = try #require(NumpyView(try loadJSON(fixture("node_test_add_input_0.json"))))
    let (name, t) = try readTensorProto(path: pb)
    #expect(name == "x")
    #expect(t.dtype == .float32 && t.shape == want.shape)
    // Foundation's JSON parser may be off in the last double bits; float32 rounding is exact.
    #expect(t.scalars(as: Float.self) == want.values.map { Float($0) })
  }

  @Test func readTensorProtoRejectsGarbage() {
    #expect {
      _ = try readTensorProto(path: fixture("malformed/random.onnx"))
    } throws: { e in
      (e as? ImportError)?.description.hasPrefix("random.onnx: ") == true
    }
  }
}
