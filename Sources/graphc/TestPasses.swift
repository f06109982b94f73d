// TestPasses.swift - `graphc test-passes`: run a folder of `.gir` pass tests.

import ArgumentParser
import Foundation
import GraphcDriver
import GraphcTestSupport

struct TestPasses: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "test-passes",
    abstract: "Run .gir pass tests (RUN, CHECK*, CHECK-ERROR*, INPUT, EXPECT lines) and report per file.",
    discussion: """
      Every .gir file under each DIR (or each FILE) runs with the pipeline of its RUN line, the \
      IR verified after every pass. A failure prints the check that failed, its line, and the \
      actual output; the exit status is 1 when any file fails. See Docs/WritingAPass.md.
        graphc test-passes my-passes/tests --load-pass-plugin .build/debug/libMyPasses.so
      """)

  @Argument(help: "Folders (searched recursively) or .gir files.")
  var paths: [String]

  @OptionGroup var plugins: PluginOptions

  func run() throws {
    reportingErrors {
      try plugins.load()
      var files: [String] = []
      for p in paths {
        let found = girFiles(under: p)
        guard !found.isEmpty else { throw DriverError("\(p): no .gir files found") }
        files += found
      }
      var failed = 0
      for file in files {
        let result = runGirTests(file, registry: builtinRegistry)
        if result.passed {
          print("PASS \(file) (\(result.caseCount) case\(result.caseCount == 1 ? "" : "s"))")
        } else {
          failed += 1
          print("FAIL \(file)")
          for f in result.failures {
            print(f.description.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
          }
        }
      }
      print("\(files.count) file\(files.count == 1 ? "" : "s"): \(files.count - failed) passed, \(failed) failed")
      if failed > 0 { throw ExitCode(1) }
    }
  }
}
