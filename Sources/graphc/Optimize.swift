// Optimize.swift - `graphc optimize`: ONNX in, optimized .gcb out.

import ArgumentParser
import Foundation
import GraphcDriver
import GraphIR
import PackedFormat
import PassKit

struct Optimize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Import an ONNX model, run the pass pipeline, and write a packed .gcb.",
    discussion: """
      The pipeline is a comma-separated list of passes with options in braces, e.g.
        --pipeline 'canonicalize,fold-constants{grow-limit=1048576}'
      or a preset (--preset default). `graphc passes` lists both. The output is written \
      atomically: an interrupted run leaves no partial file and never touches the input.
      """)

  @Argument(help: "The ONNX model to compile.")
  var model: String

  @Option(name: .shortAndLong, help: "Output file (default: the model's path with .gcb).")
  var output: String?

  @Option(help: "Pipeline text; overrides --preset.")
  var pipeline: String?

  @Option(help: "Named pipeline: default, none, ... (see `graphc passes`).")
  var preset: String = "default"

  @Option(name: .customLong("shape"), help: ArgumentHelp("Fix a symbolic input shape.", valueName: "NAME=DIMS"))
  var shapes: [String] = []

  @OptionGroup var instrumentation: InstrumentationOptions

  @OptionGroup var plugins: PluginOptions

  @Option(help: ArgumentHelp("Calibration inputs: one subfolder of <input>.npy files, or one .npz, per sample.", valueName: "DIR"))
  var calibration: String?

  @Option(help: ArgumentHelp("Use N synthetic random calibration samples (for testing only).", valueName: "N"))
  var calibrationRandom: Int?

  @Option(help: ArgumentHelp("Set quantize's sensitivity-budget (mean 1 - cosine of the outputs vs float) on every quantize pass.", valueName: "B"))
  var sensitivityBudget: Double?

  @Flag(help: "Print the summary as one JSON object on stdout.")
  var json = false

  @OptionGroup(title: "Limits") var limits: LimitOptions

  func run() throws {
    reportingErrors {
      try plugins.load()
      var options = OptimizeOptions()
      options.pipeline = pipeline
      options.preset = preset
      try instrumentation.apply(to: &options)
      options.calibrationDirectory = calibration
      options.calibrationRandom = calibrationRandom
      options.sensitivityBudget = sensitivityBudget
      let progress = ProgressLine(terminal: isatty(2) != 0) { FileHandle.standardError.write(Data($0.utf8)) }
      options.progress = { progress.update($0) }
      if let n = calibrationRandom { note("warning: --calibration-random \(n): calibration uses SYNTHETIC random inputs; choices made from it are not representative") }
      options.limits = try limits.limits()
      for s in shapes {
        let (name, dims) = try parseShapeArgument(s)
        options.shapes[name] = dims
      }
      let start = Date()
      let result: OptimizeResult
      do {
        result = try GraphcDriver.optimize(modelPath: model, options: options) { note($0) }
      } catch let failure as PassFailure {
        // Warnings and remarks before the error are part of the story; the timing too.
        printDiagnostics(failure.reports, input: model)
        if instrumentation.timing { note(timingTable(failure.reports)) }
        throw failure
      }
      let out = output ?? (model.hasSuffix(".onnx") ? String(model.dropLast(5)) : model) + ".gcb"
      try result.image.write(to: out)
      let seconds = Date().timeIntervalSince(start)
      if json { print(summaryJSON(result, out: out, seconds: seconds)) } else { printSummary(result, out: out, seconds: seconds) }
      printDiagnostics(result.reports, input: model)
      if instrumentation.timing { note(timingTable(result.reports)) }
    }
  }

  private func histogramLine(_ h: [String: Int]) -> String {
    h.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
      .map { "\($0.key.replacingOccurrences(of: "onnx.", with: "")) \($0.value)" }.joined(separator: ", ")
  }

  private func printSummary(_ r: OptimizeResult, out: String, seconds: Double) {
    let before = r.opsBefore.values.reduce(0, +), after = r.opsAfter.values.reduce(0, +)
    print("graphc optimize \(model)")
    print("  imported  \(before) nodes: \(histogramLine(r.opsBefore))")
    print("  pipeline  \(r.pipelineText.isEmpty ? "(none)" : r.pipelineText)")
    for p in r.reports {
      let stats = p.statistics.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
      let ms = String(format: "%7.2f ms", p.seconds * 1000)
      print("  pass      \(p.pass.rightPad(24)) \(ms)  \(p.nodesBefore) -> \(p.nodesAfter) nodes  \(stats.isEmpty ? "(no change)" : stats.joined(separator: " "))")
    }
    print("  result    \(after) nodes: \(histogramLine(r.opsAfter))")
    print("  wrote     \(out) (\(formatBytes(r.image.byteCount))) in \(String(format: "%.2f", seconds)) s")
  }

  private func summaryJSON(_ r: OptimizeResult, out: String, seconds: Double) -> String {
    func hist(_ h: [String: Int]) -> String {
      "{" + h.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\($0.value)" }.joined(separator: ",") + "}"
    }
    let passes = r.reports.map { p in
      let stats = p.statistics.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\($0.value)" }.joined(separator: ",")
      let diags = p.diagnostics.map { jsonString($0.description) }.joined(separator: ",")
      return "{\"pass\":\(jsonString(p.pass)),\"ms\":\(p.seconds * 1000),\"nodes_before\":\(p.nodesBefore),\"nodes_after\":\(p.nodesAfter),\"changed\":\(p.changed),\"statistics\":{\(stats)},\"diagnostics\":[\(diags)]}"
    }.joined(separator: ",")
    return "{\"model\":\(jsonString(model)),\"output\":\(jsonString(out)),\"bytes\":\(r.image.byteCount),\"seconds\":\(seconds),\"pipeline\":\(jsonString(r.pipelineText)),\"ops_before\":\(hist(r.opsBefore)),\"ops_after\":\(hist(r.opsAfter)),\"passes\":[\(passes)]}"
  }
}
