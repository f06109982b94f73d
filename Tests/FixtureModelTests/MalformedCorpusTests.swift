// MalformedCorpusTests.swift - Every hostile file in fixtures/malformed/ fails with its expected
// one-line error (EXPECTED.tsv, written by fixtures/malformed/make_malformed.py); none crashes.

import Foundation
import GraphcDriver
import Interpreter
import Testing

private let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("fixtures/malformed").path

/// The manifest's rows: a path relative to fixtures/malformed/ and the expected fragment.
private let rows: [(file: String, fragment: String)] = {
  guard let text = try? String(contentsOfFile: corpus + "/EXPECTED.tsv", encoding: .utf8) else { return [] }
  return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
    let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
    return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
  }
}()

/// Compiles an .onnx (preset none) or loads a .gcb; the error's one-line text, or nil.
private func loadError(_ path: String) -> String? {
  do {
    if path.hasSuffix(".onnx") {
      var options = OptimizeOptions()
      options.preset = "none"
      _ = try optimize(modelPath: path, options: options)
    } else {
      _ = try Model(path: path)
    }
    return nil
  } catch {
    return "\(error)"
  }
}

@Suite struct MalformedCorpusTests {
  @Test func theManifestListsEveryFile() throws {
    #expect(rows.count > 60)
    let listed = Set(rows.map(\.file))
    for sub in ["onnx", "gcb"] {
      for f in try FileManager.default.contentsOfDirectory(atPath: "\(corpus)/\(sub)") {
        #expect(listed.contains("\(sub)/\(f)"), "\(sub)/\(f) has no row in EXPECTED.tsv")
      }
    }
  }

  @Test(arguments: rows.map(\.file))
  func failsWithTheExpectedError(file: String) throws {
    let fragment = try #require(rows.first { $0.file == file }).fragment
    let message = loadError("\(corpus)/\(file)")
    if file == "gcb/base.gcb" {
      #expect(message == nil, "the undamaged base file must load")
      return
    }
    let text = try #require(message, "\(file) was accepted")
    #expect(text.contains(fragment), "\(file): '\(text)' lacks '\(fragment)'")
    #expect(!text.contains("\n"), "\(file): the error spans lines")
  }

  @Test func theDeclared2To40ElementInputFailsFast() {
    let clock = ContinuousClock()
    for file in ["onnx/declared_2pow40_input.onnx", "onnx/initializer_2pow40_no_data.onnx", "gcb/declared_2pow40_input.gcb"] {
      let elapsed = clock.measure { _ = loadError("\(corpus)/\(file)") }
      #expect(elapsed < .seconds(2), "\(file) took \(elapsed)")
    }
  }
}
