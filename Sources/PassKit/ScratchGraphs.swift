// ScratchGraphs.swift - Trying rewrites on copies (scratch contexts, compiled graphs) and
// reporting progress on long pass work.

import Dispatch
import GraphIR
import Interpreter
import PackedFormat

/// One step of long pass work (a calibration sweep), for the driver's progress line.
public struct PassProgress: Sendable {
  public let pass: String
  /// What is being counted: "calibration", "sensitivity", ...
  public let task: String
  public let done: Int
  public let total: Int
  /// Seconds since the task's first step was reported.
  public let elapsed: Double

  public init(pass: String, task: String, done: Int, total: Int, elapsed: Double) {
    self.pass = pass
    self.task = task
    self.done = done
    self.total = total
    self.elapsed = elapsed
  }

  /// Linear estimate of the seconds left; nil before the first step is done.
  public var secondsLeft: Double? { done > 0 ? elapsed / Double(done) * Double(max(total - done, 0)) : nil }
}

/// A graph packed and loaded once, run many times (the same kernels as `graphc run`).
public struct CompiledGraph {
  let model: Model

  public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] { try model.run(inputs) }
}

extension PassContext {
  /// A context for a scratch graph (usually `graph.copy()`), with this pass's name, options,
  /// ops and calibration. Its diagnostics and statistics are its own; nothing it does reaches
  /// the pipeline's graph or report. A pass uses it to run its own rewrite on a copy.
  public func scratchContext(for graph: Graph) -> PassContext {
    PassContext(passName: passName, options: options, graph: graph, statistics: [], ops: ops, calibration: calibration)
  }

  /// Packs `graph` in memory and loads it for repeated `run`s (types are re-inferred first).
  public func compile(_ graph: Graph) throws -> CompiledGraph {
    graph.removeDeadConstants()
    try graph.inferTypes(registry: ops)
    return CompiledGraph(model: try loadInMemory(graph, ops: ops))
  }

  /// Reports `done` of `total` steps of `task` to the pipeline's progress sink (if any). The
  /// clock starts at the first report of a task (or when `done` is 0).
  public func reportProgress(_ task: String, done: Int, total: Int) {
    guard let sink = progressSink else { return }
    let now = DispatchTime.now().uptimeNanoseconds
    if progressStart?.task != task || done == 0 { progressStart = (task, now) }
    let elapsed = Double(now - (progressStart?.nanos ?? now)) / 1e9
    sink(PassProgress(pass: passName, task: task, done: done, total: total, elapsed: elapsed))
  }
}
