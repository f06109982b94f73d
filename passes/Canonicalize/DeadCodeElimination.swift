// DeadCodeElimination.swift - Remove nodes whose results nothing uses.

import GraphIR
import PassKit

/// Erases every node none of whose results is used by another node or is a graph output.
/// Walks the schedule backwards, so a whole dead chain goes in one run.
public let deadCodeElimination = GraphPass(
  name: "dce",
  summary: "Remove nodes whose results are never used",
  statistics: ["nodes-erased"]
) { graph, context in
  for node in graph.nodes.reversed() where node.results.allSatisfy({ $0.uses.isEmpty && !graph.isOutput($0) }) {
    context.erase(node)
    context.count("nodes-erased")
  }
}
