// PassRegistry.swift - Passes and presets by name. Built-ins and plugins register the same way.

import GraphIR

/// The passes and named pipelines a driver knows. Registering a name twice is an error.
public final class PassRegistry: @unchecked Sendable {
  public static let shared = PassRegistry()
  private var passes: [String: GraphPass] = [:]
  private var presets: [String: (pipeline: String, summary: String)] = [:]
  private var propertyChecks: [IRProperty: PropertyCheck] = [:]
  private let lock = NSLock()

  /// Checks that confirm a property on the graph itself: nil when it holds, else why not.
  public typealias PropertyCheck = @Sendable (Graph) -> String?

  /// A registry with no passes and no presets, and the built-in property checks
  /// (`shapes-inferred`, `no-batchnorm`).
  public init() {
    propertyChecks = builtinPropertyChecks
  }

  /// Lets the pass manager confirm `property` on the graph when no earlier pass established
  /// it. Registering a second check for one property is an error.
  public func registerPropertyCheck(_ property: IRProperty, _ check: @escaping PropertyCheck) throws {
    lock.lock(); defer { lock.unlock() }
    guard propertyChecks[property] == nil else { throw PipelineError("property '\(property)' already has a check") }
    propertyChecks[property] = check
  }

  public func propertyCheck(_ property: IRProperty) -> PropertyCheck? {
    lock.lock(); defer { lock.unlock() }
    return propertyChecks[property]
  }

  /// The registered passes that establish `property`, sorted by name.
  public func passes(establishing property: IRProperty) -> [String] {
    allPasses.filter { $0.establishes.contains(property) }.map(\.name)
  }

  public func register(_ pass: GraphPass) throws {
    lock.lock(); defer { lock.unlock() }
    guard passes[pass.name] == nil else { throw PipelineError("pass '\(pass.name)' is already registered") }
    passes[pass.name] = pass
  }

  public func registerPreset(_ name: String, pipeline: String, summary: String) throws {
    lock.lock(); defer { lock.unlock() }
    guard presets[name] == nil else { throw PipelineError("preset '\(name)' is already registered") }
    presets[name] = (pipeline, summary)
  }

  public func pass(named name: String) -> GraphPass? {
    lock.lock(); defer { lock.unlock() }
    return passes[name]
  }

  public func preset(named name: String) -> String? {
    lock.lock(); defer { lock.unlock() }
    return presets[name]?.pipeline
  }

  /// All passes, sorted by name.
  public var allPasses: [GraphPass] {
    lock.lock(); defer { lock.unlock() }
    return passes.values.sorted { $0.name < $1.name }
  }

  public var allPresets: [(name: String, pipeline: String, summary: String)] {
    lock.lock(); defer { lock.unlock() }
    return presets.map { ($0.key, $0.value.pipeline, $0.value.summary) }.sorted { $0.name < $1.name }
  }
}

/// A malformed pipeline or an unknown pass, preset or option. The message names the culprit
/// and, where one is close, the valid name that was probably meant.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ message: String) { description = message }
}

/// The candidate closest to `word` by edit distance, if it is plausibly a typo of it.
func nearest(_ word: String, in candidates: [String]) -> String? {
  var best: (name: String, distance: Int)? = nil
  for c in candidates.sorted() {
    let d = editDistance(Array(word), Array(c))
    if best == nil || d < best!.distance { best = (c, d) }  // safe: checked for nil first
  }
  guard let best, best.distance <= max(2, word.count / 3) else { return nil }
  return best.name
}

/// Levenshtein distance.
private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
  if a.isEmpty { return b.count }
  var row = Array(0...b.count)
  for i in 1...a.count {
    var diagonal = row[0]
    row[0] = i
    for j in stride(from: 1, through: b.count, by: 1) {
      let above = row[j]
      let substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)
      row[j] = min(above + 1, row[j - 1] + 1, substitution)
      diagonal = above
    }
  }
  return row[b.count]
}

/// " (did you mean 'x'?)" or an empty string.
func suggestion(_ word: String, in candidates: [String]) -> String {
  nearest(word, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
}

import Foundation
