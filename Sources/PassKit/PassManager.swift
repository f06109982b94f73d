// PassManager.swift - Runs a pipeline over a graph with verification, timing and reports.

import GraphIR
import Foundation

/// What one pass run did.
public struct PassReport: Sendable, Codable {
  public let pass: String
  public let seconds: Double
  public let changed: Bool
  public let nodesBefore: Int
  public let nodesAfter: Int
  /// Declared counters (zero included), sorted by name.
  public let statistics: [String: Int]
  public let diagnostics: [Diagnostic]
}

/// Instrumentation switches, as on `graphc optimize`.
public struct PassInstrumentation: Sendable {
  /// Run the verifier after every pass (on in tests).
  public var verifyEach = false
  /// Called with (pass name, IR text) after each pass that matches `printAfter`.
  public var printAfter: Set<String> = []
  public var printAfterAll = false
  public var printer: (@Sendable (String, Graph) -> Void)? = nil

  public init(verifyEach: Bool = false) { self.verifyEach = verifyEach }
}

/// A pass failed, or left the graph invalid. Names the pass.
public struct PassFailure: Error, CustomStringConvertible {
  public let pass: String
  public let underlying: Error
  public var description: String { "pass '\(pass)' failed: \(underlying)" }
}

/// Runs pipelines. Stateless between runs: all per-run state lives in the reports.
public struct PassManager {
  public var instrumentation: PassInstrumentation
  /// Properties that hold before the first pass (the importer establishes inferred shapes).
  public var initialProperties: Set<IRProperty> = [.shapesInferred]
  /// Calibration samples handed to every pass's context (the `--calibration` reader plugs in here).
  public var calibration: CalibrationSamples?

  public init(instrumentation: PassInstrumentation = .init()) { self.instrumentation = instrumentation }

  /// Runs `pipeline` over `graph` in place and returns one report per pass run.
  public func run(_ pipeline: Pipeline, on graph: Graph) throws -> [PassReport] {
    var reports: [PassReport] = []
    var established = initialProperties
    _ = try run(pipeline.elements, on: graph, established: &established, reports: &reports)
    return reports
  }

  /// Returns whether any element changed the graph.
  private func run(
    _ elements: [PipelineElement], on graph: Graph, established: inout Set<IRProperty>, reports: inout [PassReport]
  ) throws -> Bool {
    var changedAny = false
    for element in elements {
      switch element {
      case .pass(let pass, let options):
        let report = try runPass(pass, options: options, on: graph, established: &established)
        reports.append(report)
        changedAny = changedAny || report.changed
      case .fixpoint(let inner, let limit):
        for _ in 0..<limit {
          guard try run(inner, on: graph, established: &established, reports: &reports) else { break }
          changedAny = true
        }
      }
    }
    return changedAny
  }

  private func runPass(
    _ pass: GraphPass, options: PassOptions, on graph: Graph, established: inout Set<IRProperty>
  ) throws -> PassReport {
    let missing = pass.requires.subtracting(established)
    if let m = missing.sorted().first {
      let by = PassRegistry.shared.allPasses.filter { $0.establishes.contains(m) }.map(\.name)
      let hint = by.isEmpty ? "" : "; run \(by.map { "'\($0)'" }.joined(separator: " or ")) before it"
      throw PassFailure(pass: pass.name, underlying: PipelineError("requires property '\(m)', which no earlier pass established\(hint)"))
    }
    let context = PassContext(passName: pass.name, options: options, graph: graph, statistics: pass.statistics,
                              calibration: calibration)
    let before = graph.nodes.count
    let start = DispatchTime.now().uptimeNanoseconds
    do {
      try pass.run(graph, context)
      if context.changed {
        graph.removeDeadConstants()
        try graph.inferTypes()
      }
      if instrumentation.verifyEach { try graph.verify() }
    } catch let e as PassFailure {
      throw e
    } catch {
      throw PassFailure(pass: pass.name, underlying: error)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if context.changed && !pass.establishes.contains(.canonical) { established.remove(.canonical) }
    established.formUnion(pass.establishes)
    if let printer = instrumentation.printer,
       instrumentation.printAfterAll || instrumentation.printAfter.contains(pass.name) {
      printer(pass.name, graph)
    }
    return PassReport(pass: pass.name, seconds: seconds, changed: context.changed, nodesBefore: before,
                      nodesAfter: graph.nodes.count, statistics: context.statistics, diagnostics: context.diagnostics)
  }
}
