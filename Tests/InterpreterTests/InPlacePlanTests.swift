// InPlacePlanTests.swift - Compile-time aliases: in-place element-wise results and reshape views.

import Foundation
import GraphIR
import PackedFormat
import Testing
@testable import Interpreter

/// a = Relu(x); b = Exp(a); c = Add(a, b); r = Reshape(c, [3, 2]); s = Sigmoid(r); n = Neg(b).
/// `a` is still used by Add when Exp runs, so Exp must not overwrite it; Add may write over `a`
/// (both operands die there), Reshape is a view of `c`, Sigmoid writes over the view, and the
/// graph output `s` keeps the whole group alive to the end.
private func aliasGraph() -> Graph {
  let g = Graph(name: "alias")
  let t = TensorType(.float32, shape: [2, 3]), t2 = TensorType(.float32, shape: [3, 2])
  let x = g.addInput(name: "x", type: t)
  let a = g.addNode("onnx.Relu", name: "relu", operands: [x], resultTypes: [t]).result
  let b = g.addNode("onnx.Exp", name: "exp", operands: [a], resultTypes: [t]).result
  let c = g.addNode("onnx.Add", name: "add", operands: [a, b], resultTypes: [t]).result
  let shape = g.addConstant(.int64([2], [3, 2]), name: "shape")
  let r = g.addNode("onnx.Reshape", name: "reshape", operands: [c, shape], resultTypes: [t2]).result
  let s = g.addNode("onnx.Sigmoid", name: "sigmoid", operands: [r], resultTypes: [t2]).result
  let n = g.addNode("onnx.Neg", name: "neg", operands: [b], resultTypes: [t]).result
  g.setOutputs([("s", s), ("n", n)])
  return g
}

private let kernelAliasing: (String) -> ArenaAlias? = { KernelRegistry.shared.aliasing(for: $0) }

struct InPlacePlanTests {
  @Test func plansInPlaceAndViewAliasesOnlyWhereSafe() throws {
    let m = try PackedModel(bytes: try writeGCB(graph: aliasGraph(), metadata: [:], aliasing: kernelAliasing))
    let result = { (node: String) in m.nodes.first { $0.name == node }?.results.first }
    let byNode = Dictionary(uniqueKeysWithValues: m.aliases.map { (m.nodes[$0.node].name, $0) })
    // exp reads `a` and add reads it again: no alias on exp; neg's operand `b` dies at neg.
    #expect(byNode["exp"] == nil)
    #expect(byNode["add"]?.kind == .inPlace && byNode["add"]?.operand == result("relu"))
    #expect(byNode["reshape"]?.kind == .view)
    #expect(byNode["sigmoid"]?.kind == .inPlace)
    #expect(byNode["neg"]?.kind == .inPlace && byNode["neg"]?.operand == result("exp"))
    for a in m.aliases { #expect(m.tensors[a.result].arenaOffset == m.tensors[a.operand].arenaOffset) }
    // Three buffers at most live at once (a, b and the Add result sharing a's bytes).
    let plain = try PackedModel(bytes: try writeGCB(graph: aliasGraph(), metadata: [:]))
    #expect(plain.aliases.isEmpty)
    #expect(m.arenaSize < plain.arenaSize, "aliased arena \(m.arenaSize) vs plain \(plain.arenaSize)")
  }

  @Test(arguments: [1, 2]) func aliasedPlanGivesTheSameResults(threads: Int) throws {
    let aliased = try Model(packed: PackedModel(bytes: try writeGCB(graph: aliasGraph(), metadata: [:], aliasing: kernelAliasing)))
    let plain = try Model(packed: PackedModel(bytes: try writeGCB(graph: aliasGraph(), metadata: [:])))
    let x = Tensor.float32([2, 3], [-1, 0.5, 2, -3, 1, 0])
    let got = try aliased.run(["x": x], threads: threads), want = try plain.run(["x": x], threads: threads)
    for name in ["s", "n"] {
      let g = try #require(got[name]), w = try #require(want[name])
      #expect(g.bitwiseEqual(w), "output \(name): \(g.scalars(as: Float.self)) vs \(w.scalars(as: Float.self))")
    }
    // Hand-derived: s = sigmoid(relu(x) + exp(relu(x))), n = -exp(relu(x)).
    let expected = [-1, 0.5, 2, -3, 1, 0].map { (v: Float) -> Float in let a = max(v, 0); return 1 / (1 + exp(-(a + exp(a)))) }
    let s = try #require(got["s"]).scalars(as: Float.self)
    for (g, e) in zip(s, expected) { #expect(abs(g - e) < 1e-6) }
  }

  @Test func loadRejectsAnAliasTheKernelDoesNotAllow() throws {
    var bytes = try writeGCB(graph: aliasGraph(), metadata: [:], aliasing: kernelAliasing)
    let m = try PackedModel(bytes: bytes)
    // Turn the first in-place record into a view: the reader accepts it (same offset, type and
    // size), the interpreter refuses because the op's kernel is element-wise, not a view.
    let index = try #require(m.aliases.firstIndex { $0.kind == .inPlace })
    let kindOffset = try aliasSectionOffset(bytes) + 8 + 12 * index + 8
    #expect(bytes[kindOffset] == ArenaAlias.inPlace.rawValue)
    bytes[kindOffset] = ArenaAlias.view.rawValue
    updateChecksums(&bytes)
    #expect(throws: GraphError.self) { try Model(packed: PackedModel(bytes: bytes)) }
  }
}

extension InPlacePlanTests {
  /// Damaged alias records are reader errors: an unknown kind, a tensor index out of range, an
  /// operand that is not the node's, and a record naming the same result twice.
  @Test(arguments: [(field: 8, value: UInt32(9)), (field: 0, value: UInt32(1_000)), (field: 4, value: UInt32(0))])
  func readerRejectsBrokenAliasRecords(patch: (field: Int, value: UInt32)) throws {
    var bytes = try writeGCB(graph: aliasGraph(), metadata: [:], aliasing: kernelAliasing)
    let record = try aliasSectionOffset(bytes) + 8
    let width = patch.field == 8 ? 1 : 4
    for i in 0..<width { bytes[record + patch.field + i] = UInt8(truncatingIfNeeded: patch.value >> (8 * i)) }
    updateChecksums(&bytes)
    #expect(throws: PackedFormatError.self) { try PackedModel(bytes: bytes) }
  }
}

/// File offset of the arena-aliases section, from the section table.
private func aliasSectionOffset(_ b: [UInt8]) throws -> Int {
  func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
  for i in 0..<Int(u32(16)) where u32(40 + 32 * i) == SectionKind.arenaAliases.rawValue {
    return Int(u32(40 + 32 * i + 8))
  }
  throw GraphError("no arena-aliases section")
}
