// Passes.swift - `graphc passes`: the registered passes, their options, and the presets.

import ArgumentParser
import GraphcDriver
import PassKit

struct Passes: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the registered passes with their options, and the presets.")

  @Option(help: "Print only this preset's pipeline text.")
  var preset: String?

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
      print("Passes:")
      for p in registry.allPasses {
        print("  \(p.name.rightPad(24)) \(p.summary)")
        for o in p.options {
          print("      \(o.name)=<\(o.kind.rawValue)>  (default \(o.defaultValue.isEmpty ? "\"\"" : o.defaultValue))  \(o.help)")
        }
        if !p.requires.isEmpty { print("      requires: \(p.requires.sorted().map(\.name).joined(separator: ", "))") }
        if !p.establishes.isEmpty { print("      establishes: \(p.establishes.sorted().map(\.name).joined(separator: ", "))") }
      }
      print("\nPresets:")
      for p in registry.allPresets {
        print("  \(p.name.rightPad(24)) \(p.summary)")
        print("      \(p.pipeline.isEmpty ? "(empty)" : p.pipeline)")
      }
    }
  }
}
