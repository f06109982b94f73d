// LimitsAndDigestTests.swift - ResourceLimits messages and size parsing; SHA-256 against hashlib.

import GraphIR
import Testing

struct LimitsAndDigestTests {
  /// Expected digests from Python: hashlib.sha256(bytes(i * 7 % 251 for i in range(n))).hexdigest(),
  /// at the lengths around the padding boundaries (55, 56, 64) and beyond one block.
  @Test(arguments: [
    (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (55, "8af594de0e003fdee5c8bb088216c824349b4137070f559574f4a4bddd27b714"),
    (56, "db81bc2bfd43620591df192139062da77d4c376f1888ea3d2190bd07c8d901f9"),
    (63, "bd535b38bf0d0d1a09d370b7e34b2696cea3767801a45d5611a4aaa6954e8527"),
    (64, "292be91abe8c0909fe3d26575af5755eee74d23816dc68c3ba41765136967654"),
    (65, "ba65aedf7884642499a59ae124894611d986cf429e69f569488048af3a99e25a"),
    (1000, "59425e4412e296fc74736673ce067027f384203f59c0d2c3e6be7b13347b3ffc"),
  ])
  func sha256MatchesHashlib(length: Int, expected: String) {
    let bytes = (0..<length).map { UInt8($0 * 7 % 251) }
    #expect(bytes.withUnsafeBytes { sha256Hex($0) } == expected)
  }

  @Test func sha256OfABC() {
    #expect(Array("abc".utf8).withUnsafeBytes { sha256Hex($0) } == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  @Test func violationNamesTheLimitAndTheFlag() throws {
    var limits = ResourceLimits()
    limits.tensorBytes = 100
    #expect(limits.violation(.tensorBytes, 100, what: "t") == nil)
    #expect(limits.violation(.tensorBytes, 101, what: "tensor 'w'")
      == "tensor 'w' needs 101 bytes, over the tensor-bytes limit of 100 (raise it with --max-tensor-bytes)")
    #expect(limits.violation(.tensorBytes, nil, what: "t")?.contains("needs more than 9223372036854775807 bytes") == true)
    #expect(ResourceLimits.exceeded(.nodes, 9, limit: 2, what: "the graph")
      == "the graph has 9 nodes, over the nodes limit of 2 (raise it with --max-nodes)")
    #expect(throws: GraphError.self) { try limits.check(.tensorBytes, 1 << 40, what: "t") }
  }

  @Test(arguments: [
    ("512", 512), ("64K", 65536), ("64KiB", 65536), ("64kb", 65536), ("3M", 3 << 20), ("2G", 2 << 30), ("1T", 1 << 40),
  ])
  func sizesParse(text: String, value: Int) { #expect(ResourceLimits.parseSize(text) == value) }

  @Test(arguments: ["", "-1", "x", "1.5G", "K", "9223372036854775807K", "12Q"])
  func badSizesDoNotParse(text: String) { #expect(ResourceLimits.parseSize(text) == nil) }

  @Test func checkedByteCountOverflows() {
    #expect(checkedByteCount([2, 3], .float32) == 24)
    #expect(checkedByteCount([1 << 32, 1 << 32], .float32) == nil)
    #expect(checkedByteCount([1 << 61], .float64) == nil)
  }
}
