// ConformanceTests.swift - Runs the ONNX backend node tests through the whole graphc path.
//
// Each test folder holds model.onnx and test_data_set_0/{input,output}_N.pb. The runner
// imports, optimizes with the default preset, packs to .gcb bytes, loads them with the
// interpreter, runs, and compares every output (floats within rtol 1e-3 / atol 1e-5, others
// exactly). Tests listed in expected-pass.txt must pass; any other pass is reported as new.
//
// By hand:  GRAPHC_ONNX_NODE_TESTS=../shared/onnx-node-tests/node swift test --filter Conformance
// Rewrite the list after reviewing the diff:  GRAPHC_UPDATE_EXPECTED=1 (same command)

import Foundation
import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import Interpreter
import ONNXImport

private let listPath = packageRoot + "/Tests/ConformanceTests/expected-pass.txt"
private let knownPath = packageRoot + "/Tests/ConformanceTests/known-failures.tsv"

/// The first line of a message, without the test folder's path, at most 160 characters.
private func oneLine(_ s: String) -> String {
  let line = s.split(separator: "\n").first.map(String.init) ?? ""
  let local = line.replacingOccurrences(of: nodeTestRoot + "/", with: "")
  return local.count > 160 ? String(local.prefix(157)) + "..." : local
}

/// Where the node tests live: $GRAPHC_ONNX_NODE_TESTS, else ../shared beside the package.
private var nodeTestRoot: String {
  ProcessInfo.processInfo.environment["GRAPHC_ONNX_NODE_TESTS"]
    ?? (packageRoot as NSString).appendingPathComponent("../shared/onnx-node-tests/node")
}

enum Outcome {
  case pass
  case fail(reason: String, detail: String)
}

/// Runs one node test folder and classifies the result.
func runNodeTest(_ dir: String) -> Outcome {
  let graph: Graph
  do { graph = try importONNX(path: dir + "/model.onnx") } catch {
    let text = "\(error)"
    if let r = text.range(of: "unsupported op ") {
      return .fail(reason: "unsupported op " + text[r.upperBound...].prefix { !$0.isWhitespace && $0 != ";" }, detail: text)
    }
    return .fail(reason: "import error", detail: text)
  }
  let model: Model
  do {
    let pipeline = try resolvePipeline(OptimizeOptions())
    var options = OptimizeOptions()
    options.verifyEach = true
    let result = try optimize(graph: graph, pipeline: pipeline, options: options)
    model = try Model(bytes: result.packed, name: dir)
  } catch { return .fail(reason: "compile error", detail: "\(error)") }
  let data = dir + "/test_data_set_0"
  var inputs: [String: Tensor] = [:]
  var expected: [Tensor] = []
  do {
    for (i, input) in model.inputs.enumerated() {
      let path = data + "/input_\(i).pb"
      guard FileManager.default.fileExists(atPath: path) else { break }
      inputs[input.name] = try readTensorProto(path: path).tensor
    }
    var i = 0
    while FileManager.default.fileExists(atPath: data + "/output_\(i).pb") {
      expected.append(try readTensorProto(path: data + "/output_\(i).pb").tensor)
      i += 1
    }
  } catch { return .fail(reason: "test data unreadable", detail: "\(error)") }
  let outputs: [String: Tensor]
  do { outputs = try model.run(inputs) } catch { return .fail(reason: "run error", detail: "\(error)") }
  for (i, want) in expected.enumerated() {
    guard i < model.outputs.count, let got = outputs[model.outputs[i].name] else {
      return .fail(reason: "missing output", detail: "output \(i)")
    }
    if let mismatch = compareTensors(got, want, rtol: 1e-3, atol: 1e-5) {
      return .fail(reason: "wrong result", detail: "output '\(model.outputs[i].name)': \(mismatch)")
    }
  }
  return .pass
}

@Suite struct ConformanceTests {
  @Test func onnxBackendNodeTests() throws {
    let root = nodeTestRoot
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else {
      print("conformance: ONNX node tests not found at \(root) (set GRAPHC_ONNX_NODE_TESTS); skipping")
      return
    }
    let required = Set((try? String(contentsOfFile: listPath, encoding: .utf8))?
      .split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty && !$0.hasPrefix("#") } ?? [])
    var passed: [String] = []
    var failures: [String: [String]] = [:]
    var details: [String: String] = [:]
    for name in names.sorted() where FileManager.default.fileExists(atPath: "\(root)/\(name)/model.onnx") {
      switch runNodeTest("\(root)/\(name)") {
      case .pass: passed.append(name)
      case .fail(let reason, let detail):
        failures[reason, default: []].append(name)
        details[name] = detail
      }
    }
    let failedCount = failures.values.reduce(0) { $0 + $1.count }
    print("conformance: failures by reason")
    for (reason, tests) in failures.sorted(by: { $0.value.count > $1.value.count }) {
      print("  \(tests.count)\t\(reason)")
    }
    let regressions = required.subtracting(passed).sorted()
    for name in regressions { print("conformance: REGRESSION \(name): \(details[name] ?? "missing test")") }
    let newPasses = Set(passed).subtracting(required).sorted()
    if !newPasses.isEmpty { print("conformance: \(newPasses.count) tests pass that expected-pass.txt does not list") }
    if ProcessInfo.processInfo.environment["GRAPHC_CONFORMANCE_VERBOSE"] != nil {
      for (name, d) in details.sorted(by: { $0.key < $1.key }) { print("  \(name): \(d)") }
    }
    if ProcessInfo.processInfo.environment["GRAPHC_UPDATE_EXPECTED"] != nil {
      let header = "# ONNX node tests that must pass (one per line). Regenerate with GRAPHC_UPDATE_EXPECTED=1 and review the diff.\n"
      try (header + passed.joined(separator: "\n") + "\n").write(toFile: listPath, atomically: true, encoding: .utf8)
      let known = failures.flatMap { reason, tests in tests.map { "\($0)\t\(reason)\t\(oneLine(details[$0] ?? ""))" } }.sorted()
      let knownHeader = "# ONNX node tests graphc does not pass, with the reason (test<TAB>reason<TAB>first error). Generated with the list above.\n"
      try (knownHeader + known.joined(separator: "\n") + "\n").write(toFile: knownPath, atomically: true, encoding: .utf8)
    }
    print("conformance: \(passed.count) passed, \(failedCount) failed (of \(passed.count + failedCount) node tests)")
    #expect(regressions.isEmpty, "\(regressions.count) listed node tests no longer pass: \(regressions.prefix(20))")
  }
}
