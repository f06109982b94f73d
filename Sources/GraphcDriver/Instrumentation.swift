// Instrumentation.swift - Instrumented pipeline runs, the --report file, the --timing table and
// the --check-each input folder, shared by `graphc optimize` and `graphc opt`.

import Foundation
import GraphIR
import PassKit
import PackedFormat
import Calibration

/// One pipeline run over one graph, as the `--report` file records it.
public struct PipelineRunRecord: Codable, Sendable {
  public var graph: String
  public var pipeline: String
  /// Wall time of the whole run, instruments included.
  public var seconds: Double
  /// One entry per pass run, in order (the failing pass included when it ran to its end).
  public var passes: [PassReport]
  public var opsBefore: [String: Int]
  public var opsAfter: [String: Int]
  /// Why the run stopped early, when it did.
  public var error: String?
}

/// The `--report` file: what ran, on what, and what each pass did.
public struct PipelineReport: Codable, Sendable {
  public var tool: String
  public var input: String
  public var graphcVersion: String = GraphcDriver.graphcVersion
  public var runs: [PipelineRunRecord]

  public init(tool: String, input: String, runs: [PipelineRunRecord]) {
    self.tool = tool
    self.input = input
    self.runs = runs
  }
}

/// Runs `pipeline` over `graph` with the instruments `options` asks for. Never throws: a failure
/// comes back in `error` (and in `record.error`) so that the caller can still write the report.
public func runPipeline(
  _ pipeline: Pipeline, on graph: Graph, options: OptimizeOptions, sink: @escaping (String) -> Void
) -> (record: PipelineRunRecord, error: Error?) {
  let before = opHistogram(graph)
  let start = DispatchTime.now().uptimeNanoseconds
  var reports: [PassReport] = []
  var failure: Error? = nil
  do {
    var checkEachInputs = options.checkEachInputs
    if checkEachInputs == nil, let dir = options.checkEachDir { checkEachInputs = try loadInputFolder(dir, for: graph) }
    let instrumentation = options.makeInstrumentation(checkEachInputs: checkEachInputs, sink: sink)
    var manager = PassManager(instrumentation: instrumentation)
    manager.calibration = try calibrationSamples(for: graph, options)
    manager.progress = options.progress
    reports = try manager.run(pipeline, on: graph)
  } catch let e as PassFailure {
    reports = e.reports
    failure = e
  } catch {
    failure = error
  }
  let record = PipelineRunRecord(
    graph: graph.name, pipeline: pipeline.description,
    seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, passes: reports,
    opsBefore: before, opsAfter: opHistogram(graph), error: failure.map { "\($0)" })
  return (record, failure)
}

/// Writes the report as pretty, key-sorted JSON, atomically (a temporary file, then a rename).
public func writeReport(_ report: PipelineReport, to path: String) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  let data = try encoder.encode(report)
  do {
    try writeFileAtomically(Array(data) + [0x0A], to: path)
  } catch {
    throw DriverError("--report \(path): cannot write the file: \(error)")
  }
}

/// The `--timing` table: wall time per pass (runs of one pass summed, in first-run order) and
/// its share of the pipeline's total, then the verifier and instruments as one line.
public func timingTable(_ reports: [PassReport]) -> String {
  var order: [String] = []
  var sums: [String: (seconds: Double, runs: Int)] = [:]
  for r in reports {
    if sums[r.pass] == nil { order.append(r.pass) }
    sums[r.pass, default: (0, 0)].seconds += r.seconds
    sums[r.pass, default: (0, 0)].runs += 1
  }
  let instruments = reports.reduce(0) { $0 + $1.instrumentSeconds }
  let total = reports.reduce(0) { $0 + $1.seconds } + instruments
  func row(_ seconds: Double, _ runs: String, _ name: String) -> String {
    let share = total > 0 ? seconds / total * 100 : 0
    let padded = String(repeating: " ", count: max(0, 5 - runs.count)) + runs
    return String(format: "%10.3f  %6.1f%%  ", seconds * 1000, share) + padded + "  " + name
  }
  var lines = ["===--- Pass execution timing report ---===",
               String(format: "  Total: %.3f ms", total * 1000),
               "   wall ms    share   runs  pass"]
  for name in order {
    guard let s = sums[name] else { continue }
    lines.append(row(s.seconds, "\(s.runs)", name))
  }
  if instruments > 0 { lines.append(row(instruments, "", "(verifier and instruments)")) }
  lines.append(row(total, "", "total"))
  return lines.joined(separator: "\n")
}

/// Reads `--check-each` inputs: one `<input name>.npy` (or `.pb`) per graph input in `dir`, the
/// name sanitized as `graphc run --output-dir` writes it (`gpu_0/data` -> `gpu_0_data.npy`).
public func loadInputFolder(_ dir: String, for graph: Graph) throws -> [String: Tensor] {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
    throw DriverError("--check-each \(dir): not a directory")
  }
  var out: [String: Tensor] = [:]
  for input in graph.inputs {
    let base = (dir as NSString).appendingPathComponent(sanitizedFileName(input.name))
    guard let file = [base + ".npy", base + ".pb"].first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      throw DriverError("--check-each \(dir): no file for input '\(input.name)' (expected \(base).npy)")
    }
    out[input.name] = try loadTensorFile(file)
  }
  return out
}
