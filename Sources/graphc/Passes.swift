// Passes.swift - `graphc passes`: the registered passes, their options, and the presets.

import ArgumentParser
import GraphcDriver
import PassKit

struct Passes: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the registered passes with their options, and the presets.")

  @Option(help: "Print only this preset's pipeline text.")
  var preset: String?

  @Flag(help: "Print one JSON object on stdout: passes (name, summary, options) and presets (name, pipeline, summary).")
  var json = false

  @OptionGroup var plugins: PluginOptions

  func run() throws {
    reportingErrors {
      try plugins.load()
      let registry = builtinRegistry
      if let preset {
        guard let text = registry.preset(named: preset) else {
          throw PipelineError("unknown preset '\(preset)'; presets: \(registry.allPresets.map(\.name).joined(separator: ", "))")
        }
        print(text)
        return
      }
      if json {
        print(catalogJSON(registry))
        return
      }
      // Names are never cut: the column is as wide as the longest name.
      let width = (registry.allPasses.map(\.name.count) + registry.allPresets.map(\.name.count)).max() ?? 0
      print("Passes:")
      for p in registry.allPasses {
        print("  \(p.name.rightPad(width)) \(p.summary)")
        for o in p.options {
          print("      \(o.name)=<\(o.kind.rawValue)>  (default \(o.defaultValue.isEmpty ? "\"\"" : o.defaultValue))  \(o.help)")
        }
        if !p.requires.isEmpty { print("      requires: \(p.requires.sorted().map(\.name).joined(separator: ", "))") }
        if !p.establishes.isEmpty { print("      establishes: \(p.establishes.sorted().map(\.name).joined(separator: ", "))") }
      }
      print("\nPresets:")
      for p in registry.allPresets {
        print("  \(p.name.rightPad(width)) \(p.summary)")
        print("      \(p.pipeline.isEmpty ? "(empty)" : p.pipeline)")
      }
    }
  }
}

/// `graphc passes --json`: the registry for scripts (e.g. to skip pipelines naming absent passes).
func catalogJSON(_ registry: PassRegistry) -> String {
  let passes = registry.allPasses.map { p in
    let options = p.options.map { o in
      "{\"name\":\(jsonString(o.name)),\"kind\":\(jsonString(o.kind.rawValue)),\"default\":\(jsonString(o.defaultValue)),\"help\":\(jsonString(o.help))}"
    }
    return "{\"name\":\(jsonString(p.name)),\"summary\":\(jsonString(p.summary)),\"options\":[\(options.joined(separator: ","))]}"
  }
  let presets = registry.allPresets.map { p in
    "{\"name\":\(jsonString(p.name)),\"pipeline\":\(jsonString(p.pipeline)),\"summary\":\(jsonString(p.summary))}"
  }
  return "{\"passes\":[\(passes.joined(separator: ","))],\"presets\":[\(presets.joined(separator: ","))]}"
}
