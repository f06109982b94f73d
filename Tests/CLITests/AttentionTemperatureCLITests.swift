// AttentionTemperatureCLITests.swift - the npu-int8/npu-int4 presets, and alpha/beta in inspect.

import Foundation
import Testing
import GraphcTestSupport


@Suite struct AttentionTemperatureCLITests {
  @Test(arguments: ["int8", "int4"])
  func presetListsTheChain(_ bits: String) throws {
    let r = try graphc(["passes", "--preset", "npu-\(bits)"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("fuse-attention,npu-lint,quantize{weights=\(bits)},match-attention-temperature,balance-output-heads"), "\(r.stdout)")
  }

  @Test func presetWithoutCalibrationSaysSo() throws {
    let r = try graphc(["optimize", packageRoot + "/fixtures/models/transformer/model.onnx", "-o", NSTemporaryDirectory() + "atm-unused.gcb",
                        "--preset", "npu-int8"])
    #expect(r.status != 0)
    #expect(r.stderr.contains("needs calibration data: give --calibration DIR or --calibration-random N"), "\(r.stderr)")
  }

  /// The fixture transformer with its q- and o-projections quantized and the neutral band off:
  /// inspect shows alpha per head and beta per layer, in text and JSON.
  @Test func inspectShowsAlphaAndBeta() throws {
    let dir = NSTemporaryDirectory() + "graphc-atm-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let gcb = dir + "/t.gcb"
    let opt = try graphc(["optimize", packageRoot + "/fixtures/models/transformer/model.onnx", "-o", gcb, "--calibration-random", "2",
                          "--pipeline", "canonicalize,fuse-attention,quantize{keep-float=k-proj;v-proj},"
                            + "match-attention-temperature{neutral-band=0},balance-output-heads{neutral-band=0}"])
    #expect(opt.status == 0, "\(opt.stderr)")
    #expect(opt.stderr.contains("alpha per head ["), "\(opt.stderr)")

    let text = try graphc(["inspect", gcb])
    #expect(text.status == 0, "\(text.stderr)")
    #expect(text.stdout.contains("calibrated at    alpha     beta"), "\(text.stdout)")
    let rows = text.stdout.split(separator: "\n").filter { $0.hasPrefix("      0  ") }
    #expect(rows.count == 4, "\(text.stdout)")
    #expect(rows[0].split(separator: " ").suffix(2).allSatisfy { Float($0) != nil }, "alpha and beta on head 0: \(rows[0])")

    let json = try graphc(["inspect", gcb, "--json"])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let layer = try #require((object["attention"] as? [[String: Any]])?.first)
    #expect(layer["ohb_beta"] as? Double != nil)
    let heads = try #require(layer["heads"] as? [[String: Any]])
    #expect(heads.count == 4 && heads.allSatisfy { $0["atm_alpha"] as? Double != nil })
  }
}
