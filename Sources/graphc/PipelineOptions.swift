// PipelineOptions.swift - The instrumentation and plugin options of `optimize`, `opt` and friends.

import ArgumentParser
import Foundation
import GraphcDriver
import PassKit

/// `--load-pass-plugin`, repeatable: loaded into the shared registry before any pipeline is parsed.
struct PluginOptions: ParsableArguments {
  @Option(name: .customLong("load-pass-plugin"),
          help: ArgumentHelp("Load passes from a shared library exporting graphc_register_passes (repeatable).",
                             valueName: "PATH"))
  var plugins: [String] = []

  /// Loads every plugin once per process; a bad plugin is an error naming its file.
  func load() throws {
    for path in plugins { try PluginLoader.load(path, into: builtinRegistry) }
  }
}

/// The pass manager's instrumentation, shared by `optimize` and `opt`. All off by default, and
/// then the pass manager installs no instrument at all.
struct InstrumentationOptions: ParsableArguments {
  @Flag(help: "Verify the IR after every pass.")
  var verifyEach = false

  @Flag(help: "Print a table of wall time per pass and its share of the total (stderr).")
  var timing = false

  @Option(name: .customLong("print-ir-before"), help: ArgumentHelp("Print the IR before the named pass (repeatable).", valueName: "PASS"))
  var printBefore: [String] = []

  @Option(name: .customLong("print-ir-after"), help: ArgumentHelp("Print the IR after the named pass (repeatable).", valueName: "PASS"))
  var printAfter: [String] = []

  @Flag(name: .customLong("print-ir-after-all"), help: "Print the IR after every pass.")
  var printAfterAll = false

  @Flag(name: .customLong("print-ir-after-change"), help: "Print the IR after every pass that changed its text.")
  var printAfterChange = false

  @Option(help: ArgumentHelp("Write per-pass time, statistics, ops before/after and diagnostics as JSON (atomically).", valueName: "FILE.json"))
  var report: String?

  @Option(name: .customLong("check-each"),
          help: ArgumentHelp("Run the interpreter after every pass on DIR/<input name>.npy and stop at the first pass whose outputs leave --tolerance of the pre-pipeline outputs.", valueName: "DIR"))
  var checkEach: String?

  @Option(help: "Tolerance for --check-each: |a-b| <= T + T*|b| (floats; other types exactly).")
  var tolerance: Double = 1e-4

  func validate() throws {
    guard tolerance >= 0, tolerance.isFinite else { throw ValidationError("--tolerance must be a non-negative number") }
  }

  /// Copies the switches into driver options; each pass name must be registered.
  func apply(to options: inout OptimizeOptions) throws {
    for name in printBefore + printAfter where builtinRegistry.pass(named: name) == nil {
      throw PipelineError("--print-ir-before/--print-ir-after: unknown pass '\(name)'")
    }
    options.verifyEach = verifyEach
    options.printBefore = Set(printBefore)
    options.printAfter = Set(printAfter)
    options.printAfterAll = printAfterAll
    options.printAfterChange = printAfterChange
    options.reportPath = report
    options.checkEachDir = checkEach
    options.tolerance = Tolerance(tolerance)
  }
}

/// Prints each pass's diagnostics on stderr, prefixed by the input's name.
func printDiagnostics(_ reports: [PassReport], input: String) {
  for r in reports { for d in r.diagnostics { note("\(input): \(d.description)") } }
}
