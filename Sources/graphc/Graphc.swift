// Graphc.swift - The `graphc` command (optimize, run, inspect, print, passes, bench, opt,
// test-passes) as a library, so a custom driver with extra passes is three lines.

import ArgumentParser
import Foundation
import GraphIR
import GraphcDriver
import PassKit

/// Runs the graphc command line with `extraPasses` registered beside the built-ins, then exits.
/// This is the whole `main.swift` of `graphc` and of a custom driver:
///
///     import GraphcCLI
///     import MyPasses
///     runGraphcCLI(extraPasses: myPasses)
public func runGraphcCLI(
  extraPasses: [GraphPass] = [], presets: [(name: String, pipeline: String, summary: String)] = []
) -> Never {
  reportingErrors {
    for pass in extraPasses { try builtinRegistry.register(pass) }
    for p in presets { try builtinRegistry.registerPreset(p.name, pipeline: p.pipeline, summary: p.summary) }
  }
  Graphc.main()
  Foundation.exit(0)
}

public struct Graphc: ParsableCommand {
  public init() {}

  public static let configuration = CommandConfiguration(
    commandName: "graphc",
    abstract: "Compile ONNX models into packed .gcb binaries and run them.",
    discussion: """
      A typical session:
        graphc optimize model.onnx            # writes model.gcb beside the model
        graphc run model.gcb --input x=x.npy  # runs it, prints the outputs
        graphc inspect model.gcb              # inputs, outputs, ops, memory plan
        graphc passes                         # what the optimizer can do
      """,
    version: "0.1.0",
    subcommands: [Optimize.self, Run.self, Inspect.self, PrintIR.self, Passes.self, Bench.self, Opt.self, TestPasses.self])
}

/// Writes a one-line error to stderr and exits non-zero; used for every failure on user input.
func fail(_ error: Error) -> Never {
  // Names from a model may hold control characters; the message stays one printable line.
  FileHandle.standardError.write(Data("graphc: error: \(escapingControlCharacters("\(error)"))\n".utf8))
  Foundation.exit(1)
}

/// Runs `body`, turning any thrown error into a one-line message and exit status 1.
func reportingErrors<T>(_ body: () throws -> T) -> T {
  do { return try body() } catch let e as ExitCode { Foundation.exit(e.rawValue) } catch { fail(error) }
}

/// Prints to stderr (progress and notes that must not pollute `--json` stdout).
func note(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// Parses `NAME=1x3x224x224`.
func parseShapeArgument(_ text: String) throws -> (String, [Int]) {
  guard let eq = text.lastIndex(of: "=") else { throw ValidationError("--shape takes NAME=DIMS, e.g. input=1x3x224x224") }
  let dims = text[text.index(after: eq)...].split(separator: "x").map { Int($0) }
  guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? -1) >= 0 }) else {
    throw ValidationError("--shape '\(text)': dims must be non-negative integers joined by 'x'")
  }
  return (String(text[..<eq]), dims.compactMap { $0 })
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
  var out = "\""
  for u in s.unicodeScalars {
    switch u {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\t": out += "\\t"
    default:
      if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
    }
  }
  return out + "\""
}

/// Human-readable byte count.
func formatBytes(_ n: Int) -> String {
  if n < 1024 { return "\(n) B" }
  if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
  return String(format: "%.2f MiB", Double(n) / 1_048_576)
}
