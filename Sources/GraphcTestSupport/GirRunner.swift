// GirRunner.swift - Runs `.gir` pass tests: parse each case, run the pipeline, check the IR,
// the diagnostics and the numbers.

import Foundation
import GraphIR
import PassKit
import Calibration

/// One failing case of a `.gir` file.
public struct GirFailure: Sendable, CustomStringConvertible {
  public var path: String
  /// The 1-based file line where the case starts.
  public var line: Int
  /// What failed, where, and the actual output (IR, diagnostics or values).
  public var message: String
  public var description: String { "\(path):\(line): \(message)" }
}

/// The outcome of one `.gir` file.
public struct GirFileResult: Sendable {
  public var path: String
  public var caseCount: Int
  public var failures: [GirFailure]
  public var passed: Bool { failures.isEmpty }
}

/// Runs every case of the `.gir` file at `path` with the file's `--pipeline`, passes taken from
/// `registry`, verifying after every pass. Per case:
///
/// - `CHECK…` lines are matched against the printed IR after the pipeline;
/// - `CHECK-ERROR…` lines against the diagnostics, one per line (`pass: node 'n' (op):
///   error: …`), plus `error: …` for a pipeline that failed. A case with `CHECK-ERROR` lines
///   expects the failure; in a case without them any error fails the test;
/// - `INPUT:` / `EXPECT:` lines run the interpreter (see `NumericChecks`).
///
/// `calibration`, when given, makes each case's calibration samples (for passes that need them).
public func runGirTests(
  _ path: String, registry: PassRegistry, calibration: ((Graph) throws -> CalibrationSamples)? = nil
) -> GirFileResult {
  let file: GirTestFile
  do { file = try GirTestFile(contentsOf: URL(fileURLWithPath: path)) } catch {
    return GirFileResult(path: path, caseCount: 0, failures: [GirFailure(path: path, line: 1, message: "\(error)")])
  }
  guard let pipelineText = file.pipeline else {
    return GirFileResult(path: path, caseCount: file.cases.count,
                         failures: [GirFailure(path: path, line: 1, message: "the RUN line has no --pipeline")])
  }
  var failures: [GirFailure] = []
  for c in file.cases {
    let problems = runCase(c, pipelineText: pipelineText, registry: registry, calibration: calibration)
    if !problems.isEmpty {
      failures.append(GirFailure(path: path, line: c.startLine, message: problems.joined(separator: "\n")))
    }
  }
  return GirFileResult(path: path, caseCount: file.cases.count, failures: failures)
}

/// Runs every case of the `.gir` file at `path`; one message per failing case (empty when all
/// pass), each naming the file and line.
public func runGirFile(
  _ path: String, registry: PassRegistry, calibration: ((Graph) throws -> CalibrationSamples)? = nil
) -> [String] {
  runGirTests(path, registry: registry, calibration: calibration).failures.map(\.description)
}

/// Every `.gir` file under `path` (or `path` itself), sorted.
public func girFiles(under path: String) -> [String] {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
  guard isDirectory.boolValue else { return [path] }
  let found = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
  return found.filter { $0.hasSuffix(".gir") }.sorted().map { (path as NSString).appendingPathComponent($0) }
}

private func runCase(
  _ c: GirTestFile.Case, pipelineText: String, registry: PassRegistry,
  calibration: ((Graph) throws -> CalibrationSamples)?
) -> [String] {
  let hasChecks = c.hasChecks(), hasErrorChecks = c.hasChecks(prefix: "CHECK-ERROR")
  let numeric: NumericChecks
  do { numeric = try NumericChecks(caseText: c.fileAlignedText) } catch { return ["\(error)"] }
  guard hasChecks || hasErrorChecks || !numeric.expects.isEmpty else {
    return ["the case has no CHECK, CHECK-ERROR or EXPECT lines"]
  }
  let graph: Graph
  var inputs: [String: Tensor] = [:]
  var original: [String: Tensor] = [:]
  do {
    graph = try c.parseInput()
    try graph.inferTypes()
    if !numeric.expects.isEmpty { inputs = try numeric.makeInputs(for: graph) }
    if numeric.needsOriginal { original = try executeGraph(graph, inputs: inputs) }
  } catch {
    return ["\(error)"]
  }

  // Run the pipeline, keeping the diagnostics of every pass that ran.
  var reports: [PassReport] = []
  var failure: String? = nil
  do {
    let pipeline = try Pipeline(parsing: pipelineText, registry: registry)
    var manager = PassManager(instrumentation: PassInstrumentation(verifyEach: true))
    manager.calibration = try calibration?(graph)
    reports = try manager.run(pipeline, on: graph)
  } catch let e as PassFailure {
    reports = e.reports
    // Error diagnostics are already listed; other failures become one `error:` line.
    if !(e.underlying is DiagnosedErrors) { failure = "error: \(e)" }
    else { failure = "" }
  } catch {
    failure = "error: \(error)"
  }
  var diagnosticLines = reports.flatMap { $0.diagnostics.map(\.description) }
  if let failure, !failure.isEmpty { diagnosticLines.append(failure) }
  let diagnostics = diagnosticLines.joined(separator: "\n")

  var problems: [String] = []
  if hasErrorChecks {
    let f = c.check(output: diagnostics, prefix: "CHECK-ERROR")
    if !f.isEmpty {
      problems.append(f.map(\.description).joined(separator: "\n") + "\n--- actual diagnostics ---\n"
                      + (diagnostics.isEmpty ? "(none)" : diagnostics))
    }
  } else if failure != nil {
    return ["the pipeline failed (add CHECK-ERROR lines if that is expected):\n" + diagnostics]
  }
  guard failure == nil else {
    if hasChecks || !numeric.expects.isEmpty { problems.append("the pipeline failed, so there is no output IR to check") }
    return problems
  }

  let output = printGraph(graph)
  if hasChecks {
    let f = c.check(output: output)
    if !f.isEmpty { problems.append(f.map(\.description).joined(separator: "\n") + "\n--- actual output ---\n" + output) }
  }
  if !numeric.expects.isEmpty {
    do {
      problems += numeric.check(outputs: try executeGraph(graph, inputs: inputs), original: original)
    } catch {
      problems.append("the optimized graph does not run: \(error)")
    }
  }
  return problems
}

/// `count` synthetic calibration samples of each case's graph inputs, for `.gir` files of
/// calibrated passes (`runGirFile(path, registry:, calibration: syntheticCalibration(count: 2))`).
public func syntheticCalibration(count: Int) -> (Graph) throws -> CalibrationSamples {
  { graph in try CalibrationSet.random(count: count, inputs: graph.inputs.map { .init(name: $0.name, type: $0.type) }) }
}
