// GCBTestSupport.swift - Sample graphs and raw-layout helpers shared by the .gcb tests.

import GraphIR
@testable import PackedFormat

/// A small graph that exercises every record kind: static and symbolic inputs, constants of two
/// dtypes, an absent operand, a two-result node, every attribute kind, planned and dynamic
/// results, and an output that is not the last node.
func sampleGraph() -> Graph {
  let g = Graph(name: "sample")
  let x = g.addInput(name: "x", type: TensorType(.float32, shape: [2, 3]))
  let y = g.addInput(name: "y", type: TensorType(.float32, [.symbol("N"), .fixed(3)]))
  let w = g.addConstant(.float32([2, 3], [1, 2, 3, 4, 5, 6]), name: "w")
  let s = g.addConstant(.int64([2], [3, 2]), name: "shape")
  let a = g.addNode("test.Add", name: "add", operands: [x, w], resultTypes: [TensorType(.float32, shape: [2, 3])],
                    resultNames: ["a"])
  let attrs: AttributeMap = [
    "alpha": .float(0.25), "axis": .int(-1), "mode": .string("constant"), "pads": .ints([0, 1, -2]),
    "scales": .floats([1.5, -0.0]), "names": .strings(["p", "q", ""]), "table": .tensor(.float32([2], [7, 8])),
  ]
  let b = g.addNode("test.Relu", name: "relu", operands: [a.result, nil, s], attributes: attrs,
                    resultTypes: [TensorType(.float32, shape: [3, 2]), TensorType(.int64, shape: [4])],
                    resultNames: ["b", "b_aux"])
  let c = g.addNode("test.Dyn", name: "dyn", operands: [y], resultTypes: [TensorType(.float32, [.symbol("N"), .fixed(3)])],
                    resultNames: ["c"])
  let d = g.addNode("test.Add", name: "add2", operands: [b.results[0], b.results[0]],
                    resultTypes: [TensorType(.float32, shape: [3, 2])], resultNames: ["d"])
  g.setOutputs([("out", d.result), ("dyn", c.result), ("early", b.results[0])])
  return g
}

/// A chain of unary nodes on an f32 input; result i has `sizes[i]` elements and is used only
/// by the next node.
func chainGraph(_ sizes: [Int]) -> Graph {
  let g = Graph(name: "chain")
  var v = g.addInput(name: "x", type: TensorType(.float32, shape: [sizes[0]]))
  for (i, n) in sizes.enumerated() {
    v = g.addNode("test.Op", name: "n\(i)", operands: [v], resultTypes: [TensorType(.float32, shape: [n])],
                  resultNames: ["v\(i)"]).result
  }
  g.setOutputs([("y", v)])
  return g
}

func le<T: FixedWidthInteger>(_ b: [UInt8], _ at: Int, _: T.Type) -> T {
  var v: T = 0
  for i in 0..<MemoryLayout<T>.size { v |= T(b[at + i]) << (8 * i) }
  return v
}

func put<T: FixedWidthInteger>(_ b: inout [UInt8], _ at: Int, _ v: T) {
  for i in 0..<MemoryLayout<T>.size { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
}

/// A section table entry as the spec lays it out.
struct RawSection {
  var entryOffset: Int
  var kind: UInt32
  var offset: Int
  var length: Int
}

/// Reads the section table directly from the bytes (Docs/FileFormat.md, "Section table").
func rawSections(_ b: [UInt8]) -> [RawSection] {
  let n = min(Int(le(b, 16, UInt32.self)), (b.count - 40) / 32)  // damaged files may claim more
  return (0..<max(n, 0)).map { i in
    let e = 40 + 32 * i
    return RawSection(entryOffset: e, kind: le(b, e, UInt32.self), offset: Int(clamping: le(b, e + 8, UInt64.self)),
                      length: Int(clamping: le(b, e + 16, UInt64.self)))
  }
}

func section(_ b: [UInt8], _ kind: SectionKind) -> RawSection {
  rawSections(b).first { $0.kind == kind.rawValue }!
}

/// Recomputes the checksums so that a test reaches the structural checks behind them.
func resign(_ b: inout [UInt8]) { updateChecksums(&b) }

/// Loads `bytes` and returns the error message, or nil when the file was accepted.
func loadError(_ bytes: [UInt8]) -> String? {
  do {
    _ = try PackedModel(bytes: bytes, name: "model.gcb")
    return nil
  } catch {
    return "\(error)"
  }
}
