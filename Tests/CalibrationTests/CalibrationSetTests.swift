// CalibrationSetTests.swift - Reading calibration samples (folders, stored and deflate .npz),
// errors on mismatches, synthetic samples, and capturing intermediate values through PassContext.

import Foundation
import Testing
import GraphIR
import Calibration
import GraphcDriver
import PassKit
import GraphcTestSupport

private let root = packageRoot + "/fixtures/calibration"

private let inputs = [
  CalibrationSet.Input(name: "x", type: TensorType(.float32, [.fixed(2), .symbol("n")])),
  CalibrationSet.Input(name: "a/b", type: TensorType(.int64, shape: [2])),
]

@Suite struct CalibrationSetTests {
  /// Both layouts give the values the fixture script wrote: x = arange(6) + 10 i, a/b = [i, i+1].
  @Test(arguments: ["folders", "npz"])
  func readsSamples(_ layout: String) throws {
    let set = try CalibrationSet.directory("\(root)/\(layout)", inputs: inputs)
    #expect(set.count == 2)
    #expect(!set.isSynthetic)
    for i in 0..<2 {
      let s = try set.sample(i)
      let x = try #require(s["x"]), ab = try #require(s["a/b"])
      #expect(x.shape == [2, 3])
      #expect(x.scalars(as: Float.self) == (0..<6).map { Float($0 + 10 * i) })
      #expect(ab.scalars(as: Int64.self) == [Int64(i), Int64(i + 1)])
    }
  }

  @Test func missingInputIsNamed() throws {
    let set = try CalibrationSet.directory("\(root)/missing", inputs: inputs)
    #expect { _ = try set.sample(0) } throws: { "\($0)".contains("sample 's0' has no file 'a_b.npy' for input 'a/b'") }
  }

  @Test func wrongTypeIsNamed() throws {
    let set = try CalibrationSet.directory("\(root)/wrongtype", inputs: inputs)
    #expect { _ = try set.sample(0) } throws: { "\($0)".contains("input 'x' has element type f64, the model expects f32") }
  }

  @Test func wrongShapeIsNamed() throws {
    let narrow = [CalibrationSet.Input(name: "x", type: TensorType(.float32, shape: [3, 2])), inputs[1]]
    let set = try CalibrationSet.directory("\(root)/folders", inputs: narrow)
    #expect { _ = try set.sample(1) } throws: { "\($0)".contains("input 'x' has shape [2, 3], the model expects f32[3,2]") }
  }

  @Test func emptyOrMissingDirectory() {
    #expect { _ = try CalibrationSet.directory("\(root)/nope", inputs: inputs) } throws: { "\($0)".contains("does not exist") }
    #expect { _ = try CalibrationSet.directory("\(root)/folders/s0", inputs: inputs) } throws: { "\($0)".contains("holds no sample") }
  }

  @Test func damagedNPZ() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graphc-npz-\(UInt32.random(in: 0...UInt32.max))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var bytes = [UInt8](try #require(FileManager.default.contents(atPath: "\(root)/npz/s1.npz")))
    bytes[60] ^= 0xff  // inside the first deflate stream
    _ = FileManager.default.createFile(atPath: dir + "/s.npz", contents: Data(bytes))
    let set = try CalibrationSet.directory(dir, inputs: inputs)
    #expect(throws: (any Error).self) { _ = try set.sample(0) }
  }

  @Test func syntheticSamples() throws {
    let fixed = [CalibrationSet.Input(name: "x", type: TensorType(.float32, shape: [2, 3]))]
    let set = try CalibrationSet.random(count: 3, inputs: fixed)
    #expect(set.isSynthetic && set.summary.contains("SYNTHETIC"))
    let a = try set.sample(0)["x"], b = try set.sample(1)["x"], a2 = try set.sample(0)["x"]
    #expect(a?.scalars(as: Float.self) == a2?.scalars(as: Float.self))
    #expect(a?.scalars(as: Float.self) != b?.scalars(as: Float.self))
    #expect(a?.scalars(as: Float.self).allSatisfy { $0 >= -1 && $0 < 1 } == true)
    #expect { _ = try CalibrationSet.random(count: 2, inputs: inputs) } throws: { "\($0)".contains("needs a static shape for input 'x'") }
  }

  /// A pass captures an intermediate value per sample: y = Relu(x) must come back as the
  /// clamped sample values, and the graph's own outputs are unchanged afterwards.
  @Test func passCapturesIntermediates() throws {
    let graph = try parseGraph("""
      graph @g(%x: f32[2,3]) {
        %0 = onnx.Relu(%x) : f32[2,3]
        %1 = onnx.Neg(%0) : f32[2,3]
        return %1 as "y"
      }
      """)
    try graph.inferTypes()
    let set = try CalibrationSet.random(count: 2, inputs: [CalibrationSet.Input(name: "x", type: TensorType(.float32, shape: [2, 3]))])
    let captured = CaptureBox()
    let pass = GraphPass(name: "capture-test", summary: "test") { g, context in
      let relu = g.nodes[0].result
      try context.forEachCalibrationSample(capturing: [relu]) { i, values in
        let x = try set.sample(i)["x"]?.scalars(as: Float.self) ?? []
        captured.ok = captured.ok && values[0].scalars(as: Float.self) == x.map { max($0, 0) }
        captured.count += 1
      }
    }
    var manager = PassManager()
    manager.calibration = set
    let registry = PassRegistry()
    try registry.register(pass)
    _ = try manager.run(Pipeline(parsing: "capture-test", registry: registry), on: graph)
    #expect(captured.count == 2 && captured.ok)
    #expect(graph.outputs.count == 1)
  }
}

private final class CaptureBox: @unchecked Sendable {
  var count = 0
  var ok = true
}
