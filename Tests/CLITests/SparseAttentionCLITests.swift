// SparseAttentionCLITests.swift - optimize with assign-sparse-attention, then inspect's pattern table.

import Foundation
import Testing
import GraphcTestSupport


@Suite struct SparseAttentionCLITests {
  /// The fixture transformer (one causal attention, 4 heads, length 16) calibrated on random
  /// inputs, with thresholds that accept any pattern: inspect shows one row per head, in text and JSON.
  @Test func inspectShowsThePatternPerHead() throws {
    let dir = NSTemporaryDirectory() + "graphc-sparse-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let gcb = dir + "/t.gcb"
    let opt = try graphc(["optimize", packageRoot + "/fixtures/models/transformer/model.onnx", "-o", gcb, "--calibration-random", "2",
                          "--pipeline", "canonicalize,fuse-attention,assign-sparse-attention{min-seq-len=1,max-error=100}"])
    #expect(opt.status == 0, "\(opt.stderr)")
    #expect(opt.stderr.contains("layer 0 head 3:"), "a remark per head: \(opt.stderr)")

    let text = try graphc(["inspect", gcb])
    #expect(text.status == 0, "\(text.stderr)")
    let rows = text.stdout.split(separator: "\n").filter { $0.hasPrefix("      0  ") }
    #expect(rows.count == 4, "\(text.stdout)")
    #expect(rows.allSatisfy { r in ["a-shape", "vertical-slash", "block-sparse"].contains { r.contains($0) } && r.hasSuffix(" 16") })

    let json = try graphc(["inspect", gcb, "--json"])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let layers = try #require(object["attention"] as? [[String: Any]])
    #expect(layers.count == 1 && layers[0]["calibration_length"] as? Int == 16)
    #expect((layers[0]["heads"] as? [[String: Any]])?.count == 4)
  }
}
