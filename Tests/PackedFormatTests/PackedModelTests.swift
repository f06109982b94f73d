// PackedModelTests.swift - Writer/reader round trip, determinism, layout and atomic writes.

import Foundation
import GraphIR
import Testing
@testable import PackedFormat

struct PackedModelTests {
  @Test func crc32MatchesTheStandardCheckValue() {
    #expect(crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(crc32([]) == 0)
    // zlib.crc32(bytes(range(256)) * 3) computed with Python.
    let bytes = (0..<768).map { UInt8($0 % 256) }
    #expect(crc32(bytes) == 0xB0C0_DF2A)
  }

  @Test func roundTripKeepsTensorsNodesAttributesAndMetadata() throws {
    let g = sampleGraph()
    g.metadata = ["source.digest": "abc", "producer": "old"]
    let bytes = try writeGCB(graph: g, metadata: ["producer": "graphc 0.1", "pipeline": "canonicalize"])
    let m = try PackedModel(bytes: bytes)

    #expect(m.metadata == ["source.digest": "abc", "producer": "graphc 0.1", "pipeline": "canonicalize"])
    let values = g.allValues
    #expect(m.tensors.count == values.count + 1)  // plus the tensor attribute
    for (i, v) in values.enumerated() {
      #expect(m.tensors[i].name == v.name)
      #expect(m.tensors[i].type == v.type)
      if let c = v.constant {
        #expect(m.tensors[i].kind == .constant)
        #expect(try #require(m.tensors[i].constant).bitwiseEqual(c))
      }
    }
    #expect(m.tensors.map(\.kind) == [.input, .input, .constant, .constant, .intermediate, .output, .intermediate,
                                      .output, .output, .attribute])
    #expect(m.inputs.map(\.name) == ["x", "y"])
    #expect(m.inputs.map(\.tensor) == [0, 1])
    #expect(m.outputs.map(\.name) == ["out", "dyn", "early"])
    #expect(m.outputs.map(\.tensor) == [8, 7, 5])

    #expect(m.nodes.count == g.nodes.count)
    for (n, p) in zip(g.nodes, m.nodes) {
      #expect(p.op == n.op && p.name == n.name)
      #expect(p.attributes == n.attributes)
      #expect(p.operands == n.operands.map { o in o.map { v in values.firstIndex { $0 === v }! } })
      #expect(p.results == n.results.map { r in values.firstIndex { $0 === r }! })
    }
    #expect(m.nodes[1].operands == [4, nil, 3])
  }

  @Test func memoryPlanOfTheSampleGraph() throws {
    // Steps: add(0) relu(1) dyn(2) add2(3). Lifetimes: a 0...1, b 1...4 (output),
    // b_aux 1...1, d 3...4 (output); c has a symbolic shape and stays dynamic. Greedy by size:
    // b_aux (32 B) at 0, a at 64, b at 128 (live with both), d reuses 0.
    let m = try PackedModel(bytes: try writeGCB(graph: sampleGraph(), metadata: [:]))
    #expect(m.tensors[4...8].map(\.arenaOffset) == [64, 128, 0, nil, 0])
    #expect(m.tensors[0...3].allSatisfy { $0.arenaOffset == nil })
    #expect(m.arenaSize == 192)
    #expect(m.arenaAlignment == 64)
  }

  @Test func writingTwiceGivesIdenticalBytes() throws {
    let a = try writeGCB(graph: sampleGraph(), metadata: ["k": "v", "a": "b"])
    let b = try writeGCB(graph: sampleGraph(), metadata: ["a": "b", "k": "v"])
    #expect(a == b)
  }

  @Test func weightsAreAlignedFromTheFileStart() throws {
    let g = Graph(name: "w")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [1]))
    var operands: [Value?] = [x]
    for i in 1...5 { operands.append(g.addConstant(.float32([i], (0..<i).map(Float.init)), name: "c\(i)")) }
    let n = g.addNode("test.Sum", name: "sum", operands: operands, resultTypes: [TensorType(.float32, shape: [1])])
    g.setOutputs([("y", n.result)])
    let bytes = try writeGCB(graph: g, metadata: [:])
    let m = try PackedModel(bytes: bytes)
    let weights = section(bytes, .weights)
    #expect(weights.offset % 64 == 0)
    for t in m.tensors.compactMap(\.constant) {
      #expect(Int(bitPattern: t.rawPointer) % 64 == 0)
    }
    #expect(m.tensors[5].constant?.scalars(as: Float.self) == [0, 1, 2, 3, 4])
  }

  /// The file `GCBImage.write(to:)` streams from the constants is the same as the bytes built in
  /// memory, and it loads (every section's CRC is checked).
  @Test func aStreamedFileEqualsTheInMemoryBytes() throws {
    let g = Graph(name: "streamed")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [1]))
    var operands: [Value?] = [x]
    for (i, n) in [1, 17, 100_000, 3].enumerated() {
      operands.append(g.addConstant(.float32([n], (0..<n).map { Float($0 % 251) - 7 }), name: "c\(i)"))
    }
    let n = g.addNode("test.Sum", name: "sum", operands: operands, resultTypes: [TensorType(.float32, shape: [1])])
    g.setOutputs([("y", n.result)])
    let image = try packGCB(graph: g, metadata: ["k": "v"])
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try image.write(to: dir + "/s.gcb")
    let bytes = image.bytes()
    #expect(bytes.count == image.byteCount)
    #expect(try contents(dir + "/s.gcb") == bytes)
    let m = try PackedModel(path: dir + "/s.gcb")
    #expect(m.tensors[3].constant?.scalars(as: Float.self).prefix(3) == [-7, -6, -5])
  }

  @Test(arguments: [0, 1, 63, 65_536, 70_001])
  func crcOfZeroRunsMatchesTheCRCOfStoredZeros(count: Int) {
    let zeros = [UInt8](repeating: 0, count: count)
    #expect(crc32(zeroBytes: count, seed: 0x1234_5678) == crc32(zeros, seed: 0x1234_5678))
  }

  /// Releasing a constant's pages (done after a kernel packs a weight) keeps its contents, for
  /// a file mapping (the pages come back from the file) and for an in-memory model (where it
  /// must do nothing: dropping anonymous pages would zero them).
  @Test(arguments: [true, false])
  func releasedPagesReadBackUnchanged(mapped: Bool) throws {
    let g = Graph(name: "release")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [1]))
    let values = (0..<100_000).map { Float($0 % 251) - 7 }
    let c = g.addConstant(.float32([values.count], values), name: "w")
    let n = g.addNode("test.Sum", name: "sum", operands: [x, c], resultTypes: [TensorType(.float32, shape: [1])])
    g.setOutputs([("y", n.result)])
    let image = try packGCB(graph: g, metadata: [:])
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try image.write(to: dir + "/w.gcb")
    let m = mapped ? try PackedModel(path: dir + "/w.gcb") : try PackedModel(bytes: image.bytes())
    let w = try #require(m.tensors.compactMap(\.constant).first { $0.count == values.count })
    #expect(w.scalars(as: Float.self) == values)
    w.storage.releaseResidentPages(byteOffset: w.byteOffset, byteCount: w.byteCount)
    #expect(w.scalars(as: Float.self) == values)
  }

  @Test func mappedFileServesConstantsInPlace() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/model.gcb"
    try writeFileAtomically(try writeGCB(graph: sampleGraph(), metadata: [:]), to: path)
    var constant: Tensor?
    do {
      let m = try PackedModel(path: path)
      constant = m.tensors[2].constant
    }
    // The constant keeps the mapping alive after the model is gone.
    #expect(constant?.scalars(as: Float.self) == [1, 2, 3, 4, 5, 6])
  }

  @Test func writerRejectsAnOperandUsedBeforeItsDefinition() throws {
    let g = Graph(name: "bad")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [1]))
    let a = g.addNode("test.Op", name: "a", operands: [x], resultTypes: [TensorType(.float32, shape: [1])])
    g.insertNode("test.Op", before: a, name: "b", operands: [a.result], resultTypes: [TensorType(.float32, shape: [1])])
    g.setOutputs([("y", a.result)])
    #expect(throws: GraphError.self) { try writeGCB(graph: g, metadata: [:]) }
  }

  @Test func emptyGraphRoundTrips() throws {
    let g = Graph(name: "empty")
    let x = g.addInput(name: "x", type: TensorType(.int8, nil))
    g.setOutputs([("x", x)])
    let m = try PackedModel(bytes: try writeGCB(graph: g, metadata: [:]))
    #expect(m.tensors.count == 1 && m.tensors[0].type.dims == nil)
    #expect(m.outputs.map(\.tensor) == [0])
    #expect(m.arenaSize == 0)
  }
}

struct AtomicWriteTests {
  @Test func writesAndReplaces() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/out.gcb"
    try writeFileAtomically([1, 2, 3], to: path)
    try writeFileAtomically([4, 5], to: path)
    #expect(try contents(path) == [4, 5])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.gcb"])
  }

  @Test func pathThatIsADirectoryIsLeftAloneAndNoTemporaryFileRemains() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let target = dir + "/taken"
    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
    try writeFileAtomically([9], to: target + "/keep")
    #expect(throws: FileWriteError.self) { try writeFileAtomically([1, 2, 3], to: target) }
    #expect(try contents(target + "/keep") == [9])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["taken"])
  }

  @Test func missingDirectoryFails() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(throws: FileWriteError.self) { try writeFileAtomically([1], to: dir + "/no/such/out.gcb") }
  }

  @Test func unwritableDirectoryLeavesTheExistingFileUntouched() throws {
    // Root ignores directory permissions, so this case needs an ordinary user.
    guard getuid() != 0 else { return }
    let dir = try temporaryDirectory()
    defer {
      chmod(dir, 0o755)
      try? FileManager.default.removeItem(atPath: dir)
    }
    let path = dir + "/out.gcb"
    try writeFileAtomically([1, 2, 3], to: path)
    chmod(dir, 0o555)
    #expect(throws: FileWriteError.self) { try writeFileAtomically([7, 7], to: path) }
    #expect(try contents(path) == [1, 2, 3])
  }
}

func temporaryDirectory() throws -> String {
  let path = NSTemporaryDirectory() + "/gcb-test-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

func contents(_ path: String) throws -> [UInt8] {
  [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}
