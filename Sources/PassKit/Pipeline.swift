// Pipeline.swift - Pipeline text: `canonicalize,fixpoint(fold-a,fold-b),quantize{weights=int4}`.

import GraphIR

/// A parsed pipeline: a sequence of pass invocations and fixed-point groups.
public indirect enum PipelineElement: Sendable, CustomStringConvertible {
  case pass(GraphPass, PassOptions)
  /// Repeats the elements until none of them changes the graph (at most `limit` rounds).
  case fixpoint([PipelineElement], limit: Int)

  public var description: String {
    switch self {
    case .pass(let p, let o):
      let given = o.values.filter { k, v in p.options.first { $0.name == k }?.defaultValue != v }
      guard !given.isEmpty else { return p.name }
      return p.name + "{" + given.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
    case .fixpoint(let inner, _):
      return "fixpoint(" + inner.map(\.description).joined(separator: ",") + ")"
    }
  }
}

public struct Pipeline: Sendable, CustomStringConvertible {
  public let elements: [PipelineElement]
  /// The registry the text was parsed against; the pass manager asks it which pass would
  /// establish a missing property and how to confirm one.
  public let registry: PassRegistry

  /// Parses pipeline text against `registry`. Unknown passes and options are errors that list
  /// or suggest valid names; an empty text is the empty pipeline.
  public init(parsing text: String, registry: PassRegistry = .shared) throws {
    var p = PipelineParser(text: Array(text), registry: registry)
    self.registry = registry
    elements = try p.parseList(closing: nil)
  }

  /// The canonical text of this pipeline (options at their defaults omitted).
  public var description: String { elements.map(\.description).joined(separator: ",") }
}

private struct PipelineParser {
  let text: [Character]
  let registry: PassRegistry
  var i = 0

  init(text: [Character], registry: PassRegistry) {
    self.text = text
    self.registry = registry
  }

  mutating func skipSpace() { while i < text.count, text[i].isWhitespace { i += 1 } }

  mutating func parseList(closing: Character?) throws -> [PipelineElement] {
    var out: [PipelineElement] = []
    skipSpace()
    if i == text.count, closing == nil { return out }
    while true {
      out.append(try parseElement())
      skipSpace()
      if i < text.count, text[i] == "," { i += 1; continue }
      if let closing {
        guard i < text.count, text[i] == closing else { throw error("expected '\(closing)'") }
        i += 1
      } else if i < text.count {
        throw error("unexpected '\(text[i])'")
      }
      return out
    }
  }

  mutating func parseName() throws -> String {
    skipSpace()
    let start = i
    while i < text.count, text[i].isLetter || text[i].isNumber || text[i] == "-" || text[i] == "_" || text[i] == "." { i += 1 }
    guard i > start else { throw error(i < text.count ? "expected a pass name, found '\(text[i])'" : "expected a pass name") }
    return String(text[start..<i])
  }

  mutating func parseElement() throws -> PipelineElement {
    let name = try parseName()
    skipSpace()
    if name == "fixpoint" {
      guard i < text.count, text[i] == "(" else { throw error("fixpoint needs a parenthesized pass list") }
      i += 1
      return .fixpoint(try parseList(closing: ")"), limit: 10)
    }
    guard let pass = registry.pass(named: name) else {
      throw PipelineError("unknown pass '\(name)'\(suggestion(name, in: registry.allPasses.map(\.name)))")
    }
    var values: [String: String] = [:]
    for o in pass.options { values[o.name] = o.defaultValue }
    if i < text.count, text[i] == "{" {
      i += 1
      while true {
        let key = try parseName()
        skipSpace()
        guard i < text.count, text[i] == "=" else { throw error("expected '=' after option '\(key)'") }
        i += 1
        let start = i
        var depth = 0
        while i < text.count, depth > 0 || (text[i] != "," && text[i] != "}") {
          if text[i] == "[" { depth += 1 } else if text[i] == "]" { depth -= 1 }
          i += 1
        }
        let value = String(text[start..<i]).trimmingCharacters(in: .whitespaces)
        guard let spec = pass.options.first(where: { $0.name == key }) else {
          let valid = pass.options.map(\.name)
          let list = valid.isEmpty ? "it takes no options" : "valid options: " + valid.joined(separator: ", ")
          throw PipelineError("pass '\(name)' has no option '\(key)'\(suggestion(key, in: valid)); \(list)")
        }
        try check(value, against: spec, pass: name)
        values[key] = value
        guard i < text.count else { throw error("expected '}'") }
        if text[i] == "," { i += 1; continue }
        i += 1
        break
      }
    }
    return .pass(pass, PassOptions(values: values))
  }

  func check(_ value: String, against spec: PassOptionSpec, pass: String) throws {
    let ok: Bool
    switch spec.kind {
    case .int: ok = Int(value) != nil
    case .double: ok = Double(value) != nil
    case .bool: ok = ["true", "false", "1", "0", "yes", "no", "on", "off"].contains(value)
    case .string, .list: ok = true
    }
    guard ok else { throw PipelineError("option '\(spec.name)' of pass '\(pass)' takes a \(spec.kind.rawValue), not '\(value)'") }
  }

  func error(_ message: String) -> PipelineError {
    PipelineError("pipeline text at column \(i + 1): \(message)")
  }
}

import Foundation
