// PassManager.swift - Runs a pipeline over a graph: contracts, verification, instruments, reports.

import GraphIR
import Foundation

/// What one pass run did.
public struct PassReport: Sendable, Codable {
  public let pass: String
  /// Wall time of the pass itself, type re-inference included; instruments and the verifier
  /// are timed apart in `instrumentSeconds`.
  public let seconds: Double
  public let changed: Bool
  public let nodesBefore: Int
  public let nodesAfter: Int
  /// Declared counters (zero included), sorted by name.
  public let statistics: [String: Int]
  public let diagnostics: [Diagnostic]
  /// Wall time of the verifier and the instruments around this pass.
  public var instrumentSeconds: Double = 0
  /// Op histograms around the pass, filled by `OpHistogramInstrument` (`--report`).
  public var opsBefore: [String: Int]? = nil
  public var opsAfter: [String: Int]? = nil

  public init(pass: String, seconds: Double, changed: Bool, nodesBefore: Int, nodesAfter: Int,
              statistics: [String: Int], diagnostics: [Diagnostic]) {
    self.pass = pass
    self.seconds = seconds
    self.changed = changed
    self.nodesBefore = nodesBefore
    self.nodesAfter = nodesAfter
    self.statistics = statistics
    self.diagnostics = diagnostics
  }
}

/// Hooks around every pass run, like MLIR's `PassInstrumentation` and TVM's `PassInstrument`.
/// The pass manager calls nothing when no instrument is installed, so instrumentation that is
/// off costs nothing. A hook that throws stops the pipeline; the error names the pass.
public protocol PassInstrument: AnyObject {
  /// Once, before the first pass, with the graph as it enters the pipeline.
  func runBeforePipeline(_ graph: Graph) throws
  func runBeforePass(_ pass: GraphPass, on graph: Graph) throws
  /// After the pass ran, was re-inferred and (with `verifyEach`) verified.
  func runAfterPass(_ pass: GraphPass, on graph: Graph, report: inout PassReport) throws
}

public extension PassInstrument {
  func runBeforePipeline(_ graph: Graph) throws {}
  func runBeforePass(_ pass: GraphPass, on graph: Graph) throws {}
  func runAfterPass(_ pass: GraphPass, on graph: Graph, report: inout PassReport) throws {}
}

/// Instrumentation switches, as on `graphc optimize`.
public struct PassInstrumentation {
  /// Run the verifier after every pass (on in tests).
  public var verifyEach = false
  /// Called in order around every pass.
  public var instruments: [any PassInstrument] = []

  public init(verifyEach: Bool = false, instruments: [any PassInstrument] = []) {
    self.verifyEach = verifyEach
    self.instruments = instruments
  }
}

/// A pass failed, broke a contract, reported errors, or left the graph invalid. Names the pass
/// and carries the reports of every pass run so far (the failing one included when it ran to
/// its end), so a `--report` file is written even for a failed pipeline.
public struct PassFailure: Error, CustomStringConvertible {
  public let pass: String
  public let underlying: Error
  public var reports: [PassReport]

  public init(pass: String, underlying: Error, reports: [PassReport] = []) {
    self.pass = pass
    self.underlying = underlying
    self.reports = reports
  }

  public var description: String { "pass '\(pass)' failed: \(underlying)" }
}

/// Runs pipelines. Stateless between runs: all per-run state lives in the reports and in the
/// run's snapshots (`PassContext.saveSnapshot(named:)`), which are dropped when the run ends.
public struct PassManager {
  public var instrumentation: PassInstrumentation
  /// Properties that hold before the first pass (the importer and the parser infer shapes).
  public var initialProperties: Set<IRProperty> = [.shapesInferred]
  /// Calibration inputs that passes reach through `PassContext.calibration`.
  public var calibration: CalibrationSamples?
  /// The host's op registry, handed to every pass through its context.
  public var ops: OpRegistry = .shared
  /// Receives the progress passes report on long work (calibration); see `PassProgress`.
  public var progress: ((PassProgress) -> Void)?

  public init(instrumentation: PassInstrumentation = .init()) { self.instrumentation = instrumentation }

  /// Runs `pipeline` over `graph` in place and returns one report per pass run.
  public func run(_ pipeline: Pipeline, on graph: Graph) throws -> [PassReport] {
    var state = RunState(registry: pipeline.registry, established: initialProperties)
    for instrument in instrumentation.instruments {
      do { try instrument.runBeforePipeline(graph) } catch {
        throw PassFailure(pass: "(instrumentation, before the first pass)", underlying: error)
      }
    }
    _ = try run(pipeline.elements, on: graph, state: &state)
    return state.reports
  }

  private struct RunState {
    let registry: PassRegistry
    var established: Set<IRProperty>
    var reports: [PassReport] = []
    let snapshots = SnapshotStore()
  }

  /// Returns whether any element changed the graph.
  private func run(_ elements: [PipelineElement], on graph: Graph, state: inout RunState) throws -> Bool {
    var changedAny = false
    for element in elements {
      switch element {
      case .pass(let pass, let options):
        do {
          let report = try runPass(pass, options: options, on: graph, state: &state)
          changedAny = changedAny || report.changed
        } catch var failure as PassFailure {
          failure.reports = state.reports
          throw failure
        } catch {
          throw PassFailure(pass: pass.name, underlying: error, reports: state.reports)
        }
      case .fixpoint(let inner, let limit):
        for _ in 0..<limit {
          guard try run(inner, on: graph, state: &state) else { break }
          changedAny = true
        }
      }
    }
    return changedAny
  }

  /// Runs one pass; appends its report to `state.reports` once the pass itself has run, so a
  /// verifier or instrument failure after it still reports what the pass did.
  private func runPass(
    _ pass: GraphPass, options: PassOptions, on graph: Graph, state: inout RunState
  ) throws -> PassReport {
    try checkRequirements(of: pass, on: graph, state: &state)
    let instruments = instrumentation.instruments
    var instrumentNanos: UInt64 = 0
    if !instruments.isEmpty {
      let t0 = DispatchTime.now().uptimeNanoseconds
      for instrument in instruments { try instrument.runBeforePass(pass, on: graph) }
      instrumentNanos += DispatchTime.now().uptimeNanoseconds - t0
    }

    let context = PassContext(passName: pass.name, options: options, graph: graph, statistics: pass.statistics, ops: ops,
                              calibration: calibration, snapshots: state.snapshots)
    context.progressSink = progress
    let before = graph.nodes.count
    let start = DispatchTime.now().uptimeNanoseconds
    try pass.run(graph, context)
    if context.changed {
      graph.removeDeadConstants()
      try graph.inferTypes(registry: ops)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    var report = PassReport(pass: pass.name, seconds: seconds, changed: context.changed, nodesBefore: before,
                            nodesAfter: graph.nodes.count, statistics: context.statistics, diagnostics: context.diagnostics)
    state.reports.append(report)
    if context.hasErrors { throw PassFailure(pass: pass.name, underlying: DiagnosedErrors(diagnostics: context.diagnostics)) }

    if instrumentation.verifyEach || !instruments.isEmpty {
      let t0 = DispatchTime.now().uptimeNanoseconds
      if instrumentation.verifyEach { try graph.verify() }
      for instrument in instruments { try instrument.runAfterPass(pass, on: graph, report: &report) }
      instrumentNanos += DispatchTime.now().uptimeNanoseconds - t0
      report.instrumentSeconds = Double(instrumentNanos) / 1e9
      state.reports[state.reports.count - 1] = report
    }

    if context.changed { state.established.subtract(IRProperty.invalidatedByChange.subtracting(pass.establishes)) }
    state.established.formUnion(pass.establishes)
    return report
  }

  /// Every property `pass` requires must have been established by an earlier pass or be
  /// confirmed on the graph by the property's check; otherwise the error names the passes
  /// that would establish it.
  private func checkRequirements(of pass: GraphPass, on graph: Graph, state: inout RunState) throws {
    for property in pass.requires.subtracting(state.established).sorted() {
      let check = state.registry.propertyCheck(property)
      let reason = check.flatMap { $0(graph) }
      if check != nil && reason == nil {
        state.established.insert(property)  // the verifier confirmed it
        continue
      }
      let by = state.registry.passes(establishing: property)
      let hint = by.isEmpty
        ? "; no registered pass establishes it"
        : "; run \(by.map { "'\($0)'" }.joined(separator: " or ")) before it"
      let why = reason.map { " (\($0))" } ?? ""
      throw PassFailure(pass: pass.name, underlying: PipelineError(
        "requires property '\(property)', which no earlier pass established\(why)\(hint)"))
    }
  }
}
