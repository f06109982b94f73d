// HostileFileTests.swift - The reader rejects damaged and malicious files with an error, never a crash.

import GraphIR
import Testing
@testable import PackedFormat

struct HostileFileTests {
  let good: [UInt8]

  init() throws { good = try writeGCB(graph: sampleGraph(), metadata: ["producer": "test"]) }

  @Test func theUndamagedFileLoads() { #expect(loadError(good) == nil) }

  @Test func everyFlippedByteIsRejected() {
    for i in good.indices {
      var b = good
      b[i] ^= 0xFF
      if loadError(b) == nil { Issue.record("flipping byte \(i) was not detected") }
      b[i] ^= 0xFE  // a single-bit flip
      if loadError(b) == nil { Issue.record("flipping bit 0 of byte \(i) was not detected") }
    }
  }

  @Test func everyTruncationIsRejected() {
    for n in 0..<good.count where loadError(Array(good[0..<n])) == nil {
      Issue.record("truncation to \(n) bytes was not detected")
    }
    #expect(loadError(good + [0]) != nil)
  }

  @Test(arguments: SectionKind.allCases.filter(\.isRequired)) func damageInsideEachSectionNamesIt(kind: SectionKind) throws {
    let s = section(good, kind)
    guard s.length > 0 else { return }  // an empty weights section has no bytes to damage
    var b = good
    b[s.offset + s.length / 2] ^= 0x5A
    let message = try #require(loadError(b))
    #expect(message.hasPrefix("model.gcb: \(kind.name) section at offset 0x\(String(s.offset, radix: 16)): checksum mismatch"))
    #expect(loadError(Array(good[0..<(s.offset + s.length / 2)])) != nil)
  }

  @Test func wrongMagic() throws {
    var b = good
    b[1] = UInt8(ascii: "X")
    #expect(try #require(loadError(b)).contains("bad magic"))
  }

  @Test func wrongVersion() throws {
    var b = good
    put(&b, 8, UInt16(2))
    resign(&b)
    #expect(try #require(loadError(b)).contains("format version 2 is not supported"))
  }

  @Test func newerMinorVersionAndUnknownOptionalSectionAreAccepted() throws {
    var b = good
    put(&b, 10, UInt16(7))
    resign(&b)
    #expect(loadError(b) == nil)
    put(&b, section(good, .metadata).entryOffset, UInt32(0x8000_0042))
    resign(&b)
    #expect(try #require(loadError(b)).contains("missing metadata section"))
    put(&b, section(good, .metadata).entryOffset, UInt32(42))
    resign(&b)
    #expect(try #require(loadError(b)).contains("unknown required section kind 42"))
  }

  @Test func sectionPastTheEnd() throws {
    var b = good
    let s = section(good, .tensors)
    put(&b, s.entryOffset + 8, UInt64(good.count - 8))
    resign(&b)
    #expect(try #require(loadError(b)).contains("runs past the end of the file"))
    put(&b, s.entryOffset + 8, UInt64.max - 3)
    resign(&b)
    #expect(try #require(loadError(b)).contains("runs past the end of the file"))
    b = good
    put(&b, s.entryOffset + 16, UInt64.max)
    resign(&b)
    #expect(try #require(loadError(b)).contains("runs past the end of the file"))
  }

  @Test func overlappingSections() throws {
    var b = good
    let t = section(good, .tensors), n = section(good, .nodes)
    put(&b, n.entryOffset + 8, UInt64(t.offset + 8))
    resign(&b)
    #expect(try #require(loadError(b)).contains("overlaps the previous section"))
  }

  /// Rewrites the dims of tensor 0 (input `x`, rank 2) and re-signs the file.
  func withDims(_ d0: Int64, _ d1: Int64) -> [UInt8] {
    var b = good
    let dims = section(good, .tensors).offset + 8 + 40
    put(&b, dims, d0)
    put(&b, dims + 8, d1)
    resign(&b)
    return b
  }

  @Test func dimProductOverflowingInt64() throws {
    let message = try #require(loadError(withDims(1 << 32, 1 << 32)))
    #expect(message.contains("tensors section at offset 0x"), "\(message)")
    #expect(message.contains("shape has more than"))
    #expect(loadError(withDims(Int64.max, 3)) != nil)
  }

  @Test func tensorOf2To40ElementsFailsFast() throws {
    let clock = ContinuousClock()
    var message: String?
    let elapsed = clock.measure { message = loadError(withDims(1 << 20, 1 << 20)) }
    #expect(try #require(message).contains("shape has more than 17179869184 elements"))
    #expect(elapsed < .seconds(1))
  }

  @Test func badSymbolIdIsRejected() throws {
    let message = try #require(loadError(withDims(3, ~Int64(99_999))))
    #expect(message.contains("dim symbol id 99999 out of range"))
    #expect(loadError(withDims(3, Int64.min)) != nil)
  }

  @Test func operandIndexOutOfRangeNamesSectionAndOffset() throws {
    var b = good
    let at = section(good, .nodes).offset + 8 + 24
    put(&b, at, UInt32(57))
    resign(&b)
    #expect(loadError(b) == "model.gcb: nodes section at offset 0x\(String(at, radix: 16)): operand index 57 out of range (10 tensors)")
  }

  @Test func useBeforeDefinitionIsRejected() throws {
    var b = good
    // Node 0's second operand (the constant w, tensor 2) becomes tensor 8, produced by node 3.
    put(&b, section(good, .nodes).offset + 8 + 28, UInt32(8))
    resign(&b)
    #expect(try #require(loadError(b)).contains("before it is defined"))
  }

  @Test func arenaOffsetsMustStayInsideTheArena() throws {
    var b = good
    let plan = section(good, .memoryPlan)
    put(&b, plan.offset, UInt64(64))  // arena size 192 -> 64
    resign(&b)
    #expect(try #require(loadError(b)).contains("exceeds the arena size 64"))
    put(&b, plan.offset, UInt64(1) << 36)  // an arena far larger than the plan uses
    resign(&b)
    #expect(try #require(loadError(b)).contains("arena size 68719476736 does not match the 152 bytes"))
  }

  @Test func overlappingLiveTensorsAreRejected() throws {
    var b = good
    // Tensor 4 (a, at 64) moves onto tensor 5 (b, at 128); both are live at step 1.
    var at = section(good, .tensors).offset + 8
    for _ in 0..<4 { at += 40 + 8 * Int(le(good, at + 6, UInt16.self)) }
    #expect(le(good, at + 24, UInt64.self) == 64)
    put(&b, at + 24, UInt64(128))
    resign(&b)
    #expect(try #require(loadError(b)).contains("live at the same time but share arena bytes"))
  }

  /// Flips bits everywhere and re-signs, so every structural check is reached with garbage;
  /// loading may succeed (a changed float) or fail, but never crash.
  @Test(arguments: [0x01, 0x80, 0xFF, 0x7F]) func resignedDamageNeverCrashes(pattern: Int) {
    var accepted = 0
    for i in good.indices {
      var b = good
      b[i] ^= UInt8(pattern)
      resign(&b)
      if let m = try? PackedModel(bytes: b) {
        accepted += 1
        // Touch everything the model exposes.
        for t in m.tensors { if let c = t.constant { _ = c.digest } }
        _ = m.nodes.map(\.attributes.count)
      }
    }
    #expect(accepted < good.count / 2)
  }
}
