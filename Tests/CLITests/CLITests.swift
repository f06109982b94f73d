// CLITests.swift - The graphc command as a user runs it: exit codes, one-line errors, files.

import Foundation
import Testing
import GraphIR
import Calibration
import GraphcTestSupport


/// Runs the graphc binary SwiftPM built beside this test bundle.
func graphc(_ arguments: [String]) throws -> CommandResult {
  try runExecutable(buildProductsDirectory + "/graphc", arguments)
}

private func temporaryDirectory() throws -> String { try makeTemporaryDirectory(prefix: "graphc-cli") }

@Suite struct CLITests {
  let mlp = packageRoot + "/fixtures/models/mlp"

  @Test func optimizeThenRunWritesSanitizedOutputs() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let gcb = dir + "/mlp.gcb"
    let opt = try graphc(["optimize", mlp + "/model.onnx", "-o", gcb])
    #expect(opt.status == 0, "\(opt.stderr)")
    #expect(opt.stdout.contains("identities-removed=2"), "the summary names what canonicalize did:\n\(opt.stdout)")
    let run = try graphc(["run", gcb, "--input", "x=\(mlp)/inputs/x.npy", "--output-dir", dir + "/out"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout.hasPrefix("logits: f32[4,10]"))
    let got = try readNPY(path: dir + "/out/logits.npy")
    let want = try readNPY(path: mlp + "/outputs/logits.npy")
    #expect(got.shape == want.shape)
    for i in 0..<want.count { #expect(abs(got.double(at: i) - want.double(at: i)) <= 1e-4) }
  }

  @Test func optimizeJSONIsParseable() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try graphc(["optimize", mlp + "/model.onnx", "-o", dir + "/m.gcb", "--json"])
    #expect(r.status == 0)
    let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    #expect((object?["ops_before"] as? [String: Int])?["onnx.Identity"] == 1)
    #expect(object?["ops_after"].flatMap { ($0 as? [String: Int])?["onnx.Identity"] } == nil)
  }

  @Test func inspectJSONReportsTheModel() throws {
    let r = try graphc(["inspect", mlp + "/model.onnx", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect(object["nodes"] as? Int == 9)
    #expect((object["inputs"] as? [[String: String]])?.first?["type"] == "f32[4,64]")
  }

  @Test(arguments: [
    (["optimize", "/nonexistent/model.onnx"], "model.onnx"),
    (["run", "/nonexistent/model.gcb"], "model.gcb"),
    (["optimize", packageRoot + "/fixtures/models/mlp/model.onnx", "--pipeline", "canonicalise"], "unknown pass 'canonicalise' (did you mean 'canonicalize'?)"),
    (["optimize", packageRoot + "/fixtures/models/mlp/model.onnx", "--preset", "fast"], "unknown preset 'fast'"),
    (["run", packageRoot + "/fixtures/models/mlp/model.onnx", "--input", "y=/dev/null"], "the model has no input 'y'; its inputs are x"),
  ])
  func errorsAreOneLineAndNonZero(arguments: [String], fragment: String) throws {
    let r = try graphc(arguments)
    #expect(r.status != 0)
    #expect(r.stderr.hasPrefix("graphc: error: "), "\(r.stderr)")
    #expect(r.stderr.contains(fragment), "\(r.stderr)")
    #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
  }

  @Test func corruptedGcbIsRejectedAndOutputUntouched() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let gcb = dir + "/m.gcb"
    #expect(try graphc(["optimize", mlp + "/model.onnx", "-o", gcb]).status == 0)
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: gcb)))
    bytes[bytes.count / 2] ^= 0x40
    try Data(bytes).write(to: URL(fileURLWithPath: gcb))
    let r = try graphc(["run", gcb, "--input", "x=\(mlp)/inputs/x.npy", "--output-dir", dir + "/out"])
    #expect(r.status != 0)
    #expect(r.stderr.contains("m.gcb"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/out/logits.npy"))
  }
}
