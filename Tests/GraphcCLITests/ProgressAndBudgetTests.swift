// ProgressAndBudgetTests.swift - The calibration progress line and `--sensitivity-budget`.

import Foundation
import Testing
import GraphcDriver
import PassKit
import GraphcTestSupport

private let mlp = packageRoot + "/fixtures/models/mlp/model.onnx"

@Suite struct ProgressLineTests {
  private func progress(_ done: Int, _ total: Int, _ elapsed: Double, task: String = "calibration") -> PassProgress {
    PassProgress(pass: "quantize", task: task, done: done, total: total, elapsed: elapsed)
  }

  @Test func textHasSamplesAndTimeLeft() {
    // 100 of 400 samples in 2 s: 300 more at 50 per second.
    #expect(ProgressLine.text(progress(100, 400, 2)) == "quantize: calibration 100/400 samples, 6.0 s left")
    #expect(ProgressLine.text(progress(400, 400, 8)) == "quantize: calibration 400/400 samples, done in 8.0 s")
    #expect(ProgressLine.text(progress(0, 400, 0)) == "quantize: calibration 0/400 samples")
  }

  @Test func quietUnderOneSecond() {
    var lines: [String] = []
    let line = ProgressLine(terminal: true) { lines.append($0) }
    for i in 0...10 { line.update(progress(i, 10, Double(i) * 0.05)) }
    #expect(lines.isEmpty)
  }

  @Test func terminalRewritesInPlaceAndEndsTheLine() {
    var lines: [String] = []
    let line = ProgressLine(terminal: true) { lines.append($0) }
    line.update(progress(5, 10, 1.5))
    line.update(progress(6, 10, 1.55))  // within 0.1 s: not redrawn
    line.update(progress(7, 10, 1.7))
    line.update(progress(10, 10, 2.0))
    #expect(lines.count == 3)
    #expect(lines.allSatisfy { $0.hasPrefix("\r") })
    #expect(lines.last?.hasSuffix("done in 2.0 s\n") == true)
    #expect(lines.dropLast().allSatisfy { !$0.hasSuffix("\n") })
  }

  @Test func logGetsAWholeLineEveryFiveSecondsAndAtTheEnd() {
    var lines: [String] = []
    let line = ProgressLine(terminal: false) { lines.append($0) }
    for i in 1...100 { line.update(progress(i, 100, Double(i) * 0.12)) }  // 12 s in all
    // Shown at 1.08 s, then at least 5 s later (6.12 s, 11.16 s), and at the end.
    #expect(lines.count == 4, "\(lines)")
    #expect(lines.allSatisfy { $0.hasSuffix("\n") && !$0.contains("\r") })
  }
}

@Suite struct SensitivityBudgetFlagTests {
  @Test func setsTheOptionOnEveryQuantize() throws {
    var options = OptimizeOptions()
    options.pipeline = "canonicalize,quantize,fixpoint(quantize{weights=int4})"
    options.sensitivityBudget = 0.001
    let text = try resolvePipeline(options).description
    #expect(text == "canonicalize,quantize{sensitivity-budget=0.001},fixpoint(quantize{sensitivity-budget=0.001,weights=int4})")
  }

  @Test func needsAQuantizePass() {
    var options = OptimizeOptions()
    options.pipeline = "canonicalize"
    options.sensitivityBudget = 0.001
    #expect { _ = try resolvePipeline(options) } throws: { "\($0)".contains("--sensitivity-budget needs a 'quantize' pass") }
  }

  @Test func jsonOutputCarriesTheLayoutAndStaysOneObject() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = try runGraphc(["optimize", mlp, "-o", dir + "/m.gcb", "--pipeline", "canonicalize,quantize",
                             "--calibration-random", "4", "--sensitivity-budget", "0.01", "--json"])
    #expect(out.status == 0, "\(out.stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
    let passes = try #require(object?["passes"] as? [[String: Any]])
    let stats = try #require(passes.last?["statistics"] as? [String: Int])
    #expect(stats["sensitivity-sweeps"].map { $0 >= 5 } == true)
    #expect(stats["layers-quantized"].map { $0 + (stats["layers-kept-sensitive"] ?? 0) } == 3)
  }
}
