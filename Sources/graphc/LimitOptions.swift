// LimitOptions.swift - The `--max-…` flags that set ResourceLimits on optimize, run and bench.

import ArgumentParser
import GraphIR

/// One flag per `ResourceLimits.Kind`; sizes take binary suffixes (`512M`, `2G`).
struct LimitOptions: ParsableArguments {
  @Option(name: .customLong("max-model-bytes"), help: ArgumentHelp("Largest model file accepted (default 2G).", valueName: "SIZE"))
  var modelBytes: String?

  @Option(name: .customLong("max-tensor-bytes"), help: ArgumentHelp("Largest single tensor (default 8G).", valueName: "SIZE"))
  var tensorBytes: String?

  @Option(name: .customLong("max-nodes"), help: ArgumentHelp("Largest node count (default 1000000).", valueName: "N"))
  var nodes: String?

  @Option(name: .customLong("max-arena-bytes"), help: ArgumentHelp("Largest arena of intermediates (default 16G).", valueName: "SIZE"))
  var arenaBytes: String?

  func validate() throws { _ = try limits() }

  /// The defaults with every given flag applied.
  func limits() throws -> ResourceLimits {
    var l = ResourceLimits.default
    let given: [(ResourceLimits.Kind, String?)] = [(.modelBytes, modelBytes), (.tensorBytes, tensorBytes), (.nodes, nodes), (.arenaBytes, arenaBytes)]
    for (kind, text) in given {
      guard let text else { continue }
      guard let v = ResourceLimits.parseSize(text) else {
        throw ValidationError("\(kind.flag) '\(text)' is not a size (a non-negative integer with an optional K, M, G or T suffix)")
      }
      l[kind] = v
    }
    return l
  }
}
