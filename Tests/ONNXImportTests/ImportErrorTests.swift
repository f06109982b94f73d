// ImportErrorTests.swift - Malformed and unsupported models: each error is one line naming the node and reason.

import Foundation
import GraphIR
import GraphcTestSupport
import ONNXImport
import Testing

struct ImportErrorTests {
  @Test(arguments: [
    ("malformed/truncated.onnx", ImportError.Code.malformed, ["truncated.onnx: ", "not a valid ONNX model protobuf"]),
    ("malformed/unsupported_op.onnx", .unsupported, ["node 'nz' (NonZero)", "unsupported op 'onnx.NonZero'"]),
    ("malformed/custom_domain.onnx", .unsupported, ["node 'fancy' (FancyOp)", "domain 'com.example'"]),
    ("malformed/if_subgraph.onnx", .unsupported, ["node 'branch' (If)", "subgraph"]),
    ("malformed/cycle.onnx", .invalidModel, ["node 'loop_", "cycle"]),
    ("malformed/missing_initializer.onnx", .invalidModel, ["node 'add_w' (Add)", "input 'w' is not defined"]),
    ("malformed/opset6.onnx", .unsupported, ["opset6.onnx: opset 6 is not supported"]),
    ("malformed/opset25.onnx", .unsupported, ["opset 25 is newer than the supported 24"]),
    ("malformed/batchnorm_training.onnx", .unsupported, ["node 'bn_train' (BatchNormalization)", "training-mode"]),
    ("malformed/string_initializer.onnx", .unsupported, ["tensor 's': string tensors are not supported"]),
    ("malformed/bad_raw_length.onnx", .malformed, ["tensor 'w': raw_data has 20 bytes", "need 24"]),
    ("malformed/huge_dims.onnx", .limitExceeded, ["tensor 'w'", "over the tensor-bytes limit", "--max-tensor-bytes"]),
    ("malformed/claims_big_no_data.onnx", .malformed, ["tensor 'w': float_data holds 0 values", "need 2147483648"]),
    ("malformed/duplicate_output.onnx", .invalidModel, ["node 'r2' (Relu)", "value 'y' is defined twice"]),
    ("malformed/constant_string.onnx", .unsupported, ["node 'cs' (Constant)", "string constants"]),
    ("malformed/deep_nesting.onnx", .limitExceeded, ["deep_nesting.onnx: messages are nested more than 100 deep"]),
  ])
  func rejected(path: String, code: ImportError.Code, fragments: [String]) {
    expectImportError(path, code: code, fragments)
  }

  @Test func randomBytesAreRejected() {
    // Random bytes may or may not parse as a protobuf; either way there is no usable graph.
    do {
      _ = try importFixture("malformed/random.onnx")
      Issue.record("random bytes imported")
    } catch let e as ImportError {
      #expect(e.description.hasPrefix("random.onnx: "))
      #expect(e.node == nil)
    } catch {
      Issue.record("unexpected error \(error)")
    }
  }

  @Test func newerOpsetsCanBeAllowed() throws {
    let g = try importFixture("malformed/opset25.onnx", options: ImportOptions(acceptNewerOpsets: true))
    #expect(g.metadata["source.opset"] == "25")
  }

  @Test func missingFileIsAnIOError() {
    expectImportError("nope/missing.onnx", code: .io, ["missing.onnx: cannot open"])
  }

  @Test func messageCountLimit() {
    // storage_forms.onnx holds 19 initializers and 19 outputs: more than 16 messages per node allowed.
    expectImportError("valid/storage_forms.onnx", code: .limitExceeded, ["more than 16 protobuf messages"],
                      options: ImportOptions(maxNodes: 1))
  }

  @Test func modelSizeLimit() {
    expectImportError("valid/constants.onnx", code: .limitExceeded, ["is 430 bytes, over the model-bytes limit of 10 (raise it with --max-model-bytes)"],
                      options: ImportOptions(maxModelBytes: 10))
  }

  @Test func shapeConflictWithTestSchema() {
    // Add(x[2,3], x) infers [2,3]; the model declares the output [4,3].
    expectImportError("malformed/shape_conflict.onnx", code: .typeConflict,
                      ["node 'add_xx' (Add)", "type/shape conflict", "f32[2,3]", "f32[4,3]"])
  }

  @Test(.enabled(if: OpRegistry.shared.schema("onnx.Add") != nil, "needs the real onnx.Add schema"))
  func shapeConflictWithRealSchemas() {
    expectImportError("malformed/shape_conflict.onnx", code: .typeConflict,
                      ["node 'add_xx' (Add)", "type/shape conflict"], ops: .shared)
  }

  @Test func unsupportedOpWithEmptyRegistry() {
    expectImportError("valid/constants.onnx", code: .unsupported, ["node 'add' (Add): unsupported op 'onnx.Add'"],
                      ops: .makeEmpty())
  }

  @Test func errorDescriptionFormat() {
    let e = ImportError(.unsupported, "boom", source: "m.onnx", node: "conv_3", opType: "Conv")
    #expect(e.description == "m.onnx: node 'conv_3' (Conv): boom")
    #expect(ImportError(.io, "gone", source: "m.onnx").description == "m.onnx: gone")
    #expect(ImportError.Code.typeConflict.description == "type-conflict")
  }
}

/// Corrupted copies of valid fixtures: each import must succeed or throw, never crash.
struct ImportFuzzTests {
  private static let seeds = ["valid/constants.onnx", "valid/storage_forms.onnx", "valid/softmax_opset11.onnx",
                              "valid/split_opset11.onnx", "external/good/model.onnx"]

  @Test(arguments: seeds)
  func mutatedBytesNeverCrash(path: String) throws {
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture(path))))
    let base = fixture(path).split(separator: "/").dropLast().joined(separator: "/")
    var rng = SplitMix64(seed: 0x5eed)
    var accepted = 0
    // GRAPHC_FUZZ_ROUNDS raises the count for a longer local run.
    let rounds = Int(ProcessInfo.processInfo.environment["GRAPHC_FUZZ_ROUNDS"] ?? "") ?? 400
    for round in 0..<rounds {
      var bytes = original
      for _ in 0..<(1 + round % 4) {
        let i = Int(rng.next() % UInt64(bytes.count))
        switch rng.next() % 3 {
        case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
        case 1: bytes[i] ^= 0x80
        default: bytes[i] = 0xff
        }
      }
      if (try? importONNX(bytes: bytes, baseDirectory: "/" + base, sourceName: "fuzz", ops: testOps)) != nil {
        accepted += 1
      }
    }
    #expect(accepted < rounds, "some corruptions must be caught")
  }

  @Test func everyTruncationIsRejectedOrHarmless() throws {
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture("valid/constants.onnx"))))
    for n in 0..<original.count {
      _ = try? importONNX(bytes: Array(original.prefix(n)), baseDirectory: nil, sourceName: "cut", ops: testOps)
    }
  }
}

