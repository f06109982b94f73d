// GraphCopyTests.swift - Graph.copy(): same text, independent structure, shared constant storage.

import Testing
@testable import GraphIR

@Suite struct GraphCopyTests {
  static let text = """
    graph @g(%x: f32[2,3]) {
      %q = const i8[3] q<scale=0.5, zp=0> dense<[1, 2, 3]>
      %w = const f32[3,2] dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>
      %0 = onnx.MatMul(%x, %w) {graphc.role = "mlp-up"} : f32[2,2] @"fc"
      %1 = onnx.Relu(%0) : f32[2,2] @"act"
      return %1 as "y", %0 as "pre", %q as "q"
    }
    """

  @Test func printsTheSameAndStaysIndependent() throws {
    let g = try parseGraph(Self.text)
    g.metadata["producer"] = "test"
    let original = printGraph(g)
    let c = g.copy()
    #expect(printGraph(c) == printGraph(g))
    #expect(c.metadata == g.metadata)
    #expect(c.nodes.map(\.name) == g.nodes.map(\.name))
    // Use-lists are the copy's own.
    #expect(c.nodes[0].result.uses.count == 1 && c.nodes[0].result.uses[0].node === c.nodes[1])
    // Rewriting the copy leaves the original alone.
    let relu = c.nodes[1]
    c.replaceAllUses(of: relu.result, with: c.nodes[0].result)
    c.erase(relu)
    #expect(c.nodes.count == 1 && g.nodes.count == 2)
    #expect(printGraph(g) == original)
    // Constant storage is shared, not duplicated.
    #expect(c.constants[1].constant?.rawPointer == g.constants[1].constant?.rawPointer)
  }
}
