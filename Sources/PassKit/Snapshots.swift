// Snapshots.swift - Named copies of the graph that later passes of the same pipeline run can read.

import GraphIR

/// The snapshots of one pipeline run, shared by every pass context of that run and dropped
/// with it. A snapshot is `Graph.copy()` of the graph at the time it was saved (constants share
/// storage, which is never written in place).
final class SnapshotStore {
  var graphs: [String: Graph] = [:]
}

extension PassContext {
  /// Saves a copy of the graph as it is now under `name`, for later passes of this pipeline
  /// run (`quantize` saves `float`, the teacher of `match-attention-temperature`). Saving
  /// again under the same name replaces the earlier copy. Does not change the graph.
  public func saveSnapshot(named name: String) {
    snapshots.graphs[name] = graph.copy()
  }

  /// The snapshot saved under `name` earlier in this run, or nil. Passes must treat it as
  /// read-only: it is shared by every later pass of the run.
  public func snapshot(named name: String) -> Graph? { snapshots.graphs[name] }

  /// The snapshot saved under `name`; throws naming the snapshot and `hint` (what to run
  /// first) when there is none (the pass manager's failure names the pass).
  public func requireSnapshot(named name: String, hint: String) throws -> Graph {
    guard let g = snapshots.graphs[name] else {
      throw GraphError("needs the '\(name)' graph snapshot, which no earlier pass of this pipeline saved: \(hint)")
    }
    return g
  }
}
