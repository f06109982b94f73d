// Opt.swift - `graphc opt`: run a pipeline over textual IR, the pass developer's loop.

import ArgumentParser
import Foundation
import GraphcDriver
import GraphIR
import PassKit

struct Opt: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a pipeline over textual IR (.gir) and print the result.",
    discussion: """
      The pass developer's loop, like mlir-opt:
        graphc opt fixtures/passes/canonicalize/dce.gir --pipeline dce
      A file split by '// -----' lines is processed case by case. IR dumps, diagnostics and the \
      timing table go to stderr; the resulting IR to stdout.
      """)

  @Argument(help: "A .gir file ('-' for stdin).")
  var file: String

  @Option(help: "Pipeline text.")
  var pipeline: String = ""

  @OptionGroup var instrumentation: InstrumentationOptions

  @OptionGroup var plugins: PluginOptions

  func run() throws {
    reportingErrors {
      try plugins.load()
      let text: String
      if file == "-" {
        text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
      } else {
        guard let data = FileManager.default.contents(atPath: file) else { throw DriverError("\(file): cannot read the file") }
        text = String(decoding: data, as: UTF8.self)
      }
      var options = OptimizeOptions()
      try instrumentation.apply(to: &options)
      let parsed = try Pipeline(parsing: pipeline, registry: builtinRegistry)
      var records: [PipelineRunRecord] = []
      var firstError: Error? = nil
      for (i, caseText) in text.components(separatedBy: "\n// -----").enumerated() {
        let graph = try parseGraph(caseText)
        try graph.inferTypes()
        let run = runPipeline(parsed, on: graph, options: options) { note($0) }
        records.append(run.record)
        printDiagnostics(run.record.passes, input: file)
        if instrumentation.timing { note(timingTable(run.record.passes)) }
        if let error = run.error {
          firstError = error
          break
        }
        if i > 0 { print("// -----") }
        print(printGraph(graph), terminator: "")
      }
      if let path = instrumentation.report {
        try writeReport(PipelineReport(tool: "graphc opt", input: file, runs: records), to: path)
      }
      if let firstError { throw firstError }
    }
  }
}
