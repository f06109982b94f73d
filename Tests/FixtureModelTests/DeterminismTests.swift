// DeterminismTests.swift - The same model, pipeline and options give a byte-identical .gcb, on
// every run and at every interpreter thread count; the .gcb records the source digest and pipeline.

import Foundation
import GraphcDriver
import Interpreter
import PackedFormat
import Testing

private let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("fixtures/models").path

@Suite(.serialized) struct DeterminismTests {
  private func compile(_ model: String, threads: Int) throws -> [UInt8] {
    let saved = InterpreterThreads.count
    InterpreterThreads.count = threads
    defer { InterpreterThreads.count = saved }
    var options = OptimizeOptions()
    options.preset = "default"
    return try optimize(modelPath: "\(models)/\(model)/model.onnx", options: options).packed
  }

  @Test(arguments: ["convnet", "mlp", "transformer"])
  func sameBytesAcrossRunsAndThreadCounts(model: String) throws {
    let first = try compile(model, threads: 1)
    #expect(try compile(model, threads: 1) == first, "a second run differs")
    #expect(try compile(model, threads: 4) == first, "4 threads differ from 1")
    #expect(try compile(model, threads: 2) == first, "2 threads differ from 1")
  }

  @Test func theGCBRecordsTheSourceDigestAndPipeline() throws {
    let packed = try PackedModel(bytes: try compile("mlp", threads: 1))
    // python3 -c "import hashlib; print(hashlib.sha256(open('fixtures/models/mlp/model.onnx','rb').read()).hexdigest())"
    #expect(packed.metadata["source.sha256"] == "57e67c780ca08f6b63da1ce3aedf6dfe4588df67589874ce007be9c3293359f7")
    let pipeline = try #require(packed.metadata["pipeline"])
    #expect(pipeline == (try resolvePipeline(OptimizeOptions())).description)
    #expect(!pipeline.isEmpty)
  }
}
