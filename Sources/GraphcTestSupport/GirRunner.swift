// GirRunner.swift - Runs `.gir` pass tests: parse each case, run the pipeline, FileCheck.

import Foundation
import GraphIR
import PassKit

/// Runs every case of the `.gir` file at `path` with the file's `--pipeline`, passes taken
/// from `registry`, verifying after every pass. Returns one message per failing case (empty
/// when all pass); each message names the file and line. `calibration`, when given, makes the
/// calibration samples of each case's graph (for passes that need calibration data).
public func runGirFile(
  _ path: String, registry: PassRegistry, calibration: ((Graph) throws -> CalibrationSamples)? = nil
) -> [String] {
  let file: GirTestFile
  do { file = try GirTestFile(contentsOf: URL(fileURLWithPath: path)) } catch { return ["\(path): \(error)"] }
  guard let pipelineText = file.pipeline else { return ["\(path): the RUN line has no --pipeline"] }
  var failures: [String] = []
  for c in file.cases {
    do {
      let graph = try c.parseInput()
      try graph.inferTypes()
      let pipeline = try Pipeline(parsing: pipelineText, registry: registry)
      var manager = PassManager(instrumentation: PassInstrumentation(verifyEach: true))
      manager.calibration = try calibration?(graph)
      _ = try manager.run(pipeline, on: graph)
      let output = printGraph(graph)
      let problems = c.check(output: output)
      if !problems.isEmpty {
        failures.append("\(path):\(c.startLine): " + problems.map(\.description).joined(separator: "\n")
                        + "\n--- output ---\n" + output)
      }
    } catch {
      failures.append("\(path):\(c.startLine): \(error)")
    }
  }
  return failures
}

/// The `.gir` file names in `directory`, sorted (empty when the folder is missing, so a test
/// that expects files there fails on its count rather than crashing).
public func girFiles(in directory: String) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".gir") }.sorted()
}
