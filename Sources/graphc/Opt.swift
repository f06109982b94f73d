// Opt.swift - `graphc opt`: textual IR in, pipeline, textual IR out (for pass development).

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
      A file split by '// -----' lines is processed case by case.
      """)

  @Argument(help: "A .gir file ('-' for stdin).")
  var file: String

  @Option(help: "Pipeline text.")
  var pipeline: String = ""

  @Flag(help: "Verify the IR after every pass.")
  var verifyEach = false

  func run() throws {
    reportingErrors {
      let text: String
      if file == "-" {
        text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
      } else {
        guard let data = FileManager.default.contents(atPath: file) else { throw DriverError("\(file): cannot read the file") }
        text = String(decoding: data, as: UTF8.self)
      }
      let parsed = try Pipeline(parsing: pipeline, registry: builtinRegistry)
      let cases = text.components(separatedBy: "\n// -----")
      for (i, caseText) in cases.enumerated() {
        let graph = try parseGraph(caseText)
        try graph.inferTypes()
        _ = try PassManager(instrumentation: PassInstrumentation(verifyEach: verifyEach)).run(parsed, on: graph)
        if i > 0 { print("// -----") }
        print(printGraph(graph), terminator: "")
      }
    }
  }
}
