// Instruments.swift - The built-in pass instruments: IR printing, op histograms, --check-each.

import GraphIR

/// Prints the IR around passes (`--print-ir-before`, `--print-ir-after`, `--print-ir-after-all`,
/// `--print-ir-after-change`), each dump headed by a `// ----- IR after PASS -----` line and
/// handed to `sink` (the CLI writes it to stderr).
public final class IRPrinterInstrument: PassInstrument {
  public var before: Set<String>
  public var after: Set<String>
  public var afterAll: Bool
  /// Print after a pass only when the printed IR differs from the last IR seen.
  public var afterChange: Bool
  let sink: (String) -> Void
  /// The IR text after the previous pass, kept only for `afterChange`.
  private var last: String?

  public init(before: Set<String> = [], after: Set<String> = [], afterAll: Bool = false, afterChange: Bool = false,
              sink: @escaping (String) -> Void) {
    self.before = before
    self.after = after
    self.afterAll = afterAll
    self.afterChange = afterChange
    self.sink = sink
  }

  public func runBeforePipeline(_ graph: Graph) throws {
    if afterChange { last = printGraph(graph) }
  }

  public func runBeforePass(_ pass: GraphPass, on graph: Graph) throws {
    if before.contains(pass.name) { sink("// ----- IR before \(pass.name) -----\n" + printGraph(graph)) }
  }

  public func runAfterPass(_ pass: GraphPass, on graph: Graph, report: inout PassReport) throws {
    if afterChange {
      let text = printGraph(graph)
      defer { last = text }
      if text != last {
        sink("// ----- IR after \(pass.name) (changed) -----\n" + text)
        return
      }
    }
    if afterAll || after.contains(pass.name) { sink("// ----- IR after \(pass.name) -----\n" + printGraph(graph)) }
  }
}

/// Records each pass's op histogram before and after it into its report (`--report`).
public final class OpHistogramInstrument: PassInstrument {
  private var before: [String: Int] = [:]
  public init() {}

  public static func histogram(_ graph: Graph) -> [String: Int] {
    graph.nodes.reduce(into: [:]) { $0[$1.op, default: 0] += 1 }
  }

  public func runBeforePass(_ pass: GraphPass, on graph: Graph) throws { before = Self.histogram(graph) }

  public func runAfterPass(_ pass: GraphPass, on graph: Graph, report: inout PassReport) throws {
    report.opsBefore = before
    report.opsAfter = Self.histogram(graph)
  }
}

/// Tolerance for comparing tensors: floats agree when `|a-b| <= atol + rtol*|b|` (NaN matches
/// NaN, infinities must be equal); other element types must be equal.
public struct Tolerance: Sendable, Equatable, CustomStringConvertible {
  public var rtol: Double
  public var atol: Double
  public init(rtol: Double, atol: Double) {
    self.rtol = rtol
    self.atol = atol
  }
  /// The same bound absolute and relative.
  public init(_ both: Double) { self.init(rtol: both, atol: both) }
  public static let exact = Tolerance(0)

  public var description: String {
    if rtol == 0 && atol == 0 { return "exact" }
    return rtol == atol ? "\(atol)" : "atol=\(atol) rtol=\(rtol)"
  }

  /// Nil when `actual` agrees with `expected`, else a message naming the first few mismatching
  /// indices and the largest difference.
  public func mismatch(_ actual: Tensor, _ expected: Tensor) -> String? {
    guard actual.shape == expected.shape else { return "shape \(actual.shape) != expected \(expected.shape)" }
    guard actual.dtype == expected.dtype else { return "dtype \(actual.dtype.shortName) != expected \(expected.dtype.shortName)" }
    let floating = expected.dtype.isFloat
    var bad: [String] = []
    var worst = 0.0
    var badCount = 0
    for i in 0..<expected.count {
      let a = actual.double(at: i), b = expected.double(at: i)
      let ok: Bool
      if floating {
        if a.isNaN || b.isNaN { ok = a.isNaN && b.isNaN }
        else if a.isInfinite || b.isInfinite { ok = a == b }
        else { ok = abs(a - b) <= atol + rtol * abs(b) }
      } else {
        ok = a == b
      }
      if !ok {
        badCount += 1
        worst = max(worst, abs(a - b))
        if bad.count < 4 { bad.append("[\(i)] \(a) vs \(b)") }
      }
    }
    guard badCount > 0 else { return nil }
    return "\(badCount) of \(expected.count) elements differ (max abs diff \(worst)): " + bad.joined(separator: ", ")
  }
}

/// `--check-each`: runs the graph on fixed inputs before the first pass and after every pass,
/// and stops the pipeline at the first pass whose outputs leave `tolerance` of the
/// pre-pipeline outputs. Every run goes through `executeGraph`, the interpreter `graphc run` uses.
public final class CheckEachInstrument: PassInstrument {
  public let inputs: [String: Tensor]
  public let tolerance: Tolerance
  /// The pre-pipeline graph's outputs, by output name.
  public private(set) var reference: [String: Tensor] = [:]
  /// How many passes were checked (and kept the outputs within tolerance).
  public private(set) var passesChecked = 0
  let ops: OpRegistry

  public init(inputs: [String: Tensor], tolerance: Tolerance, ops: OpRegistry = .shared) {
    self.inputs = inputs
    self.tolerance = tolerance
    self.ops = ops
  }

  public func runBeforePipeline(_ graph: Graph) throws {
    do {
      reference = try executeGraph(graph, inputs: inputs, ops: ops)
    } catch {
      throw CheckEachError("cannot run the graph before the first pass: \(error)")
    }
  }

  public func runAfterPass(_ pass: GraphPass, on graph: Graph, report: inout PassReport) throws {
    let outputs: [String: Tensor]
    do { outputs = try executeGraph(graph, inputs: inputs, ops: ops) } catch {
      throw CheckEachError("check-each: the graph no longer runs after pass '\(pass.name)': \(error)")
    }
    for name in reference.keys.sorted() {
      guard let want = reference[name] else { continue }
      guard let got = outputs[name] else {
        throw CheckEachError("check-each: pass '\(pass.name)' removed output '\(name)'")
      }
      if let m = tolerance.mismatch(got, want) {
        throw CheckEachError(
          "check-each: pass '\(pass.name)' is the first to change the outputs beyond tolerance \(tolerance) "
            + "(\(passesChecked) earlier pass run(s) kept them): output '\(name)': \(m)")
      }
    }
    passesChecked += 1
  }
}

/// A `--check-each` failure; its message names the guilty pass.
public struct CheckEachError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ message: String) { description = message }
}
