// TestSupport.swift - Fixture paths, a private op registry with tiny test schemas, error checks.

import Foundation
import GraphIR
import ONNXImport
import Testing

/// `fixtures/import/` in this package.
let importFixtures: String = {
  let file = URL(fileURLWithPath: #filePath)
  return file.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures/import").path
}()

func fixture(_ relative: String) -> String { importFixtures + "/" + relative }

/// A registry independent of the (still growing) shared one: each op returns its first
/// operand's element type with unknown dims, except the few whose exact shapes tests check.
let testOps: OpRegistry = {
  let r = OpRegistry.makeEmpty()
  func sameType(_ op: String, _ inputs: ClosedRange<Int>) -> OpSchema {
    OpSchema("onnx." + op, inputs: inputs) { ctx in [try ctx.type(0)] }
  }
  func looseType(_ op: String, _ inputs: ClosedRange<Int>, outputs: ClosedRange<Int> = 1...1) -> OpSchema {
    OpSchema("onnx." + op, inputs: inputs, outputs: outputs) { ctx in
      Array(repeating: TensorType(try ctx.type(0).dtype, nil), count: ctx.resultCount)
    }
  }
  let schemas: [OpSchema] = [
    sameType("Relu", 1...1), sameType("Identity", 1...1),
    OpSchema("onnx.Add", inputs: 2...2) { ctx in
      [try broadcastTypes([ctx.type(0), ctx.type(1)], dtype: ctx.type(0).dtype)]
    },
    OpSchema("onnx.Shape", inputs: 1...1) { ctx in
      [TensorType(.int64, try ctx.type(0).rank.map { [.fixed($0)] })]
    },
    OpSchema("onnx.TopK", inputs: 2...2, outputs: 2...2) { ctx in
      [TensorType(try ctx.type(0).dtype, nil), TensorType(.int64, nil)]
    },
    looseType("Softmax", 1...1), looseType("LogSoftmax", 1...1), looseType("Hardmax", 1...1),
    looseType("Flatten", 1...1), looseType("Reshape", 2...2), looseType("Slice", 3...5),
    looseType("Clip", 1...3), looseType("Split", 1...2, outputs: 1...64), looseType("ReduceSum", 1...2),
    looseType("ReduceMean", 1...2), looseType("Resize", 1...4), looseType("Pad", 2...4),
    looseType("Squeeze", 1...2), looseType("Unsqueeze", 2...2), looseType("Dropout", 1...3, outputs: 1...2),
    looseType("BatchNormalization", 5...5),
  ]
  for s in schemas { _ = try? r.register(s) }  // distinct names: cannot fail
  return r
}()

/// Imports a fixture with the test registry.
func importFixture(_ relative: String, options: ImportOptions = .init(), ops: OpRegistry = testOps) throws -> Graph {
  try importONNX(path: fixture(relative), options: options, ops: ops)
}

/// Expects importing `relative` to fail with `code`, and the one-line message to contain
/// each of `fragments` (the node name, the op type, the reason).
func expectImportError(
  _ relative: String, code: ImportError.Code, _ fragments: [String], options: ImportOptions = .init(),
  ops: OpRegistry = testOps, sourceLocation: SourceLocation = #_sourceLocation
) {
  do {
    let g = try importONNX(path: fixture(relative), options: options, ops: ops)
    Issue.record("\(relative) imported (\(g.nodes.count) nodes) but should fail", sourceLocation: sourceLocation)
  } catch let e as ImportError {
    let text = e.description
    #expect(e.code == code, "code \(e.code) for: \(text)", sourceLocation: sourceLocation)
    #expect(!text.contains("\n"), "message spans lines: \(text)", sourceLocation: sourceLocation)
    for f in fragments {
      #expect(text.contains(f), "'\(f)' missing from: \(text)", sourceLocation: sourceLocation)
    }
  } catch {
    Issue.record("\(relative): unexpected error type \(type(of: error)): \(error)", sourceLocation: sourceLocation)
  }
}

extension Graph {
  func node(named name: String) -> Node? { nodes.first { $0.name == name } }
  func output(_ name: String) -> Value? { outputs.first { $0.name == name }?.value }
}

/// The integer contents of a constant operand.
func constInts(_ v: Value?) -> [Int]? { v?.constant?.intValues() }
/// The float contents of a constant operand.
func constDoubles(_ v: Value?) -> [Double]? {
  guard let t = v?.constant else { return nil }
  return (0..<t.count).map { t.double(at: $0) }
}
