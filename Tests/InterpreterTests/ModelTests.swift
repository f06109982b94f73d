// ModelTests.swift - The runtime: load a .gcb, run it, reuse the arena, resolve run-time shapes, report errors.

import Foundation
import GraphIR
import PackedFormat
import Testing
@testable import Interpreter

/// Tiny ops registered once per process for these tests (the real op families live on other
/// branches). Registration tolerates a second attempt from another suite.
enum TestOps {
  static let registered: Void = {
    func unary(_ name: String, _ f: @escaping (Float) -> Float) {
      try? OpRegistry.shared.register(OpSchema(name, inputs: 1...1) { ctx in [try ctx.type(0)] })
      try? KernelRegistry.shared.register(name, Kernel { ctx in
        guard try ctx.dtype(0) == .float32 else { throw GraphError("expects f32") }
        return { inputs, outputs in
          let x = inputs[0]!, y = outputs[0]  // safe: arity checked by the schema
          let p = x.pointer(as: Float.self), q = y.pointer(as: Float.self)
          for i in 0..<x.count { q[i] = f(p[i]) }
        }
      })
    }
    unary("test.AddOne") { $0 + 1 }
    unary("test.Double") { $0 * 2 }
    // Elementwise sum of two same-shaped f32 tensors.
    try? OpRegistry.shared.register(OpSchema("test.Add", inputs: 2...2) { ctx in
      let a = try ctx.type(0), b = try ctx.type(1)
      if let x = a.staticShape, let y = b.staticShape, x != y { throw GraphError("shapes \(x) and \(y) differ") }
      return [a.staticShape != nil ? a : b]
    })
    try? KernelRegistry.shared.register("test.Add", Kernel { _ in
      { inputs, outputs in
        let a = inputs[0]!.pointer(as: Float.self), b = inputs[1]!.pointer(as: Float.self)  // safe: arity checked
        let c = outputs[0].pointer(as: Float.self)
        for i in 0..<outputs[0].count { c[i] = a[i] + b[i] }
      }
    })
    // Repeat(x: f32[n], times: i64[]) -> f32[n * times]: the result shape depends on a value.
    try? OpRegistry.shared.register(OpSchema("test.Repeat", inputs: 2...2) { ctx in
      let x = try ctx.type(0)
      guard let n = x.staticShape?.first, let times = try ctx.intValues(1)?.first else { return [TensorType(.float32, [.symbol("?")])] }
      guard times >= 0 && times <= 16 else { throw GraphError("times must be in 0...16") }
      return [TensorType(.float32, shape: [n * times])]
    })
    try? KernelRegistry.shared.register("test.Repeat", Kernel { _ in
      { inputs, outputs in
        let x = inputs[0]!, y = outputs[0]  // safe: arity checked
        let p = x.pointer(as: Float.self), q = y.pointer(as: Float.self)
        for i in 0..<y.count { q[i] = p[i % x.count] }
      }
    })
    // Fails at run time when its input contains a negative number.
    try? OpRegistry.shared.register(OpSchema("test.CheckPositive", inputs: 1...1) { ctx in [try ctx.type(0)] })
    try? KernelRegistry.shared.register("test.CheckPositive", Kernel { _ in
      { inputs, outputs in
        let x = inputs[0]!  // safe: arity checked
        for i in 0..<x.count where x.pointer(as: Float.self)[i] < 0 { throw GraphError("negative value at \(i)") }
        outputs[0].rawPointer.copyMemory(from: x.rawPointer, byteCount: x.byteCount)
      }
    })
  }()
}

private func load(_ g: Graph) throws -> Model {
  _ = TestOps.registered
  return try Model(packed: PackedModel(bytes: try writeGCB(graph: g, metadata: ["producer": "test"])))
}

/// y = AddOne(AddOne(x)) + w, z = Double(y): four nodes, two outputs.
private func chain() -> Graph {
  let g = Graph(name: "chain")
  let t = TensorType(.float32, shape: [2, 3])
  let x = g.addInput(name: "x", type: t)
  let w = g.addConstant(.float32([2, 3], [10, 20, 30, 40, 50, 60]), name: "w")
  let a = g.addNode("test.AddOne", name: "one", operands: [x], resultTypes: [t]).result
  let b = g.addNode("test.AddOne", name: "two", operands: [a], resultTypes: [t]).result
  let y = g.addNode("test.Add", name: "add", operands: [b, w], resultTypes: [t]).result
  let z = g.addNode("test.Double", name: "double", operands: [y], resultTypes: [t]).result
  g.setOutputs([("y", y), ("z", z)])
  return g
}

struct ModelTests {
  @Test func runsAChainAndReusesTheArena() throws {
    let m = try load(chain())
    #expect(m.inputs.map(\.name) == ["x"] && m.outputs.map(\.name) == ["y", "z"])
    #expect(m.arenaSize > 0 && m.arenaSize < 4 * 64)  // four 24-byte results share fewer than four slots
    let first = try m.run(["x": .float32([2, 3], [0, 1, 2, 3, 4, 5])])
    #expect(first["y"]?.scalars(as: Float.self) == [12, 23, 34, 45, 56, 67])
    #expect(first["z"]?.scalars(as: Float.self) == [24, 46, 68, 90, 112, 134])
    let second = try m.run(["x": .float32([2, 3], [1, 1, 1, 1, 1, 1])])
    #expect(second["y"]?.scalars(as: Float.self) == [13, 23, 33, 43, 53, 63])
    // The first results are copies, untouched by the second run.
    #expect(first["y"]?.scalars(as: Float.self) == [12, 23, 34, 45, 56, 67])
  }

  @Test func loadsFromAFile() throws {
    _ = TestOps.registered
    let path = NSTemporaryDirectory() + "/model-\(UUID().uuidString).gcb"
    defer { unlink(path) }
    try writeFileAtomically(try writeGCB(graph: chain(), metadata: ["producer": "graphc test"]), to: path)
    let m = try Model(path: path)
    #expect(m.metadata["producer"] == "graphc test")
    #expect(try m.run(["x": .float32([2, 3], [0, 0, 0, 0, 0, 0])])["z"]?.scalars(as: Float.self) == [24, 44, 64, 84, 104, 124])
  }

  @Test func resolvesShapesThatDependOnRunTimeValues() throws {
    let g = Graph(name: "repeat")
    let x = g.addInput(name: "x", type: TensorType(.float32, [.symbol("N")]))
    let times = g.addInput(name: "times", type: TensorType(.int64, shape: []))
    let one = g.addNode("test.AddOne", name: "one", operands: [x], resultTypes: [TensorType(.float32, [.symbol("N")])])
    let rep = g.addNode("test.Repeat", name: "rep", operands: [one.result, times],
                        resultTypes: [TensorType(.float32, [.symbol("M")])])
    g.setOutputs([("y", rep.result)])
    let m = try load(g)
    #expect(m.arenaSize == 0)
    let a = try m.run(["x": .float32([2], [1, 2]), "times": .int64([], [3])])
    #expect(a["y"]?.shape == [6])
    #expect(a["y"]?.scalars(as: Float.self) == [2, 3, 2, 3, 2, 3])
    let b = try m.run(["x": .float32([3], [0, 5, 7]), "times": .int64([], [1])])
    #expect(b["y"]?.scalars(as: Float.self) == [1, 6, 8])
  }

  @Test func convertsFloat16InputsToFloat32() throws {
    let m = try load(chain())
    let half = Tensor(.float16, shape: [2, 3], values: [Float](repeating: 0.5, count: 6).map(floatToHalf))
    #expect(try m.run(["x": half])["y"]?.scalars(as: Float.self) == [12.5, 22.5, 32.5, 42.5, 52.5, 62.5])
  }

  @Test func rejectsBadInputs() throws {
    let m = try load(chain())
    let good = Tensor.float32([2, 3], [0, 0, 0, 0, 0, 0])
    #expect(message { try m.run([:]) } == "missing input 'x' (the model's inputs are 'x')")
    #expect(message { try m.run(["x": good, "q": good]) } == "unknown input 'q' (the model's inputs are 'x')")
    #expect(message { try m.run(["x": .float32([3, 2], [0, 0, 0, 0, 0, 0])]) } == "input 'x' has shape [3, 2] but the model expects f32[2,3]")
    #expect(message { try m.run(["x": .int64([2, 3], [0, 0, 0, 0, 0, 0])]) } == "input 'x' has element type i64 but the model expects f32")
  }

  @Test func kernelErrorsNameTheNode() throws {
    let g = Graph(name: "check")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [2]))
    let c = g.addNode("test.CheckPositive", name: "guard_1", operands: [x], resultTypes: [TensorType(.float32, shape: [2])])
    g.setOutputs([("y", c.result)])
    let m = try load(g)
    #expect(message { try m.run(["x": .float32([2], [1, -1])]) } == "node 'guard_1' (test.CheckPositive): negative value at 1")
    #expect(try m.run(["x": .float32([2], [1, 2])])["y"]?.scalars(as: Float.self) == [1, 2])
  }

  @Test func unknownOpIsALoadErrorNamingTheNode() throws {
    let g = Graph(name: "unknown")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [2]))
    let n = g.addNode("test.NoSuchOp", name: "mystery", operands: [x], resultTypes: [TensorType(.float32, shape: [2])])
    g.setOutputs([("y", n.result)])
    #expect(message { try load(g) } == "node 'mystery' (test.NoSuchOp): unknown op (no schema is registered)")
  }

  @Test func declaredShapesThatContradictTheSchemaAreALoadError() throws {
    let g = Graph(name: "liar")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [2]))
    let n = g.addNode("test.AddOne", name: "liar", operands: [x], resultTypes: [TensorType(.float32, shape: [1000])], resultNames: ["big"])
    g.setOutputs([("y", n.result)])
    #expect(message { try load(g) } == "node 'liar' (test.AddOne): result 'big' is declared f32[1000] but the op infers f32[2]")
  }
}

struct DamagedModelTests {
  /// Patches every byte of a runnable model (re-signing the checksums, so the damage reaches
  /// the structural checks and the runtime). Loading and running may fail, never crash.
  @Test(arguments: [0x01, 0x80, 0xFF]) func damagedModelsLoadAndRunWithoutCrashing(pattern: Int) throws {
    _ = TestOps.registered
    let g = chain()
    let d = g.addNode("test.Repeat", name: "rep", operands: [g.inputs[0], g.addConstant(.int64([], [2]))],
                      resultTypes: [TensorType(.float32, [.symbol("?")])])
    g.setOutputs(g.outputs + [("r", d.result)])
    let good = try writeGCB(graph: g, metadata: [:])
    let x = Tensor.float32([2, 3], [0, 1, 2, 3, 4, 5])
    var ran = 0
    for i in good.indices {
      var b = good
      b[i] ^= UInt8(pattern)
      updateChecksums(&b)
      guard let m = try? Model(packed: PackedModel(bytes: b)) else { continue }
      if let out = try? m.run(["x": x]) {
        ran += 1
        for t in out.values { _ = t.digest }
      }
    }
    #expect(ran > 0 && ran < good.count)
  }
}

private func message(_ body: () throws -> Any) -> String? {
  do {
    _ = try body()
    return nil
  } catch {
    return "\(error)"
  }
}
