// Canonicalize.swift - The canonicalization family and the combined `canonicalize` pass.

import GraphIR
import PassKit

/// Runs shape folding, constant folding, identity removal and dead-code elimination until
/// none of them changes the graph (at most `max-rounds` rounds), re-inferring types between
/// rounds so that newly constant shapes make more nodes foldable.
public let canonicalize = GraphPass(
  name: "canonicalize",
  summary: "Fold shapes and constants, remove identities and dead nodes, to a fixed point",
  options: foldConstants.options + [PassOptionSpec("max-rounds", .int, default: "8", help: "Upper bound on rounds")],
  establishes: [.canonical],
  statistics: foldShapes.statistics + foldConstants.statistics + removeIdentity.statistics + deadCodeElimination.statistics
) { graph, context in
  for _ in 0..<max(1, context.options.int("max-rounds")) {
    let before = context.changeCount
    for step in [foldShapes, foldConstants, removeIdentity, deadCodeElimination] {
      try step.run(graph, context)
    }
    graph.removeDeadConstants()
    if context.changeCount == before { break }
    try context.refreshTypes()
  }
}

/// The passes of this module, for the driver's registry.
public let canonicalizePasses: [GraphPass] = [canonicalize, deadCodeElimination, foldConstants, foldShapes, removeIdentity]
