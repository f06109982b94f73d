// NothingLostTests.swift - Killing `graphc optimize` mid-write leaves no partial output and an
// untouched input; `run --output-dir` writes through the same atomic path.

import Foundation
import Testing
import PackedFormat
import GraphcTestSupport


/// The `graphc` built beside this test bundle (whatever the scratch path).
private func graphcPath() throws -> String {
  let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for candidate in [dir, dir.deletingLastPathComponent().deletingLastPathComponent()] {
    let path = candidate.appendingPathComponent("graphc").path
    if FileManager.default.isExecutableFile(atPath: path) { return path }
  }
  let fallback = "\(packageRoot)/.build/debug/graphc"
  try #require(FileManager.default.isExecutableFile(atPath: fallback), "build graphc first (swift build)")
  return fallback
}

private func scratchDirectory() throws -> String {
  let dir = NSTemporaryDirectory() + "graphc-nothing-lost-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  return dir
}

/// Starts `graphc optimize model -o out`, with the writer stalling after half the file when
/// `stall` is set.
private func startOptimize(_ model: String, _ out: String, stall: Bool) throws -> Process {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: try graphcPath())
  p.arguments = ["optimize", model, "-o", out]
  var env = ProcessInfo.processInfo.environment
  if stall { env["GRAPHC_TEST_STALL_WRITE"] = "30" }
  p.environment = env
  p.standardOutput = FileHandle.nullDevice
  p.standardError = FileHandle.nullDevice
  try p.run()
  return p
}

@Suite(.serialized) struct NothingLostTests {
  let source = "\(packageRoot)/fixtures/models/mlp/model.onnx"

  @Test func killedMidWriteLeavesNoOutputAndTheInputUntouched() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let model = "\(dir)/model.onnx", out = "\(dir)/model.gcb"
    try FileManager.default.copyItem(atPath: source, toPath: model)
    let before = try Data(contentsOf: URL(fileURLWithPath: model))

    let p = try startOptimize(model, out, stall: true)
    // Wait until the temporary file holds half the output, then kill -9.
    let deadline = Date().addingTimeInterval(60)
    var temp: String?
    while temp == nil && Date() < deadline && p.isRunning {
      temp = try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix(".model.gcb.tmp-") }
      if let t = temp, (try? FileManager.default.attributesOfItem(atPath: "\(dir)/\(t)")[.size] as? Int) ?? 0 == 0 { temp = nil }
      usleep(10_000)
    }
    try #require(temp != nil, "graphc never started writing")
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    #expect(p.terminationReason == .uncaughtSignal)

    #expect(!FileManager.default.fileExists(atPath: out), "a partial model.gcb exists")
    #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before, "the input changed")
  }

  @Test func killedMidWriteKeepsThePreviousOutput() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let model = "\(dir)/model.onnx", out = "\(dir)/model.gcb"
    try FileManager.default.copyItem(atPath: source, toPath: model)
    let old = try startOptimize(model, out, stall: false)
    old.waitUntilExit()
    try #require(old.terminationStatus == 0)
    let previous = try Data(contentsOf: URL(fileURLWithPath: out))

    // Kill at staggered times through the run (import, passes, write): the output is always the
    // previous complete file, never a mix.
    for delayMs in [0, 20, 60, 120, 250] {
      let p = try startOptimize(model, out, stall: delayMs == 250)
      usleep(UInt32(delayMs) * 1000)
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      let now = try Data(contentsOf: URL(fileURLWithPath: out))
      #expect(now == previous, "after a kill at \(delayMs) ms the output changed")
      _ = try PackedModel(path: out)
    }
  }

  @Test func runOutputDirWritesCompleteFiles() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try graphcPath())
    p.arguments = ["run", source, "--input", "x=\(packageRoot)/fixtures/models/mlp/inputs/x.npy", "--output-dir", dir + "/out"]
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0)
    let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/out")
    #expect(!files.isEmpty)
    #expect(files.allSatisfy { $0.hasSuffix(".npy") && !$0.hasPrefix(".") }, "\(files)")
  }
}
