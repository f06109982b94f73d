// Pass.swift - The pass value, its options and the IR properties it requires and establishes.

import GraphIR

/// A property of the IR that passes establish and require (`canonical`, `no-batchnorm`, ...).
/// Open to plugins: any kebab-case name is a property.
public struct IRProperty: Hashable, Sendable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
  public let name: String
  public init(_ name: String) { self.name = name }
  public init(stringLiteral value: String) { self.name = value }
  public var description: String { name }
  public static func < (a: IRProperty, b: IRProperty) -> Bool { a.name < b.name }

  /// Shapes and types of every value have been inferred and checked. The verifier can confirm it.
  public static let shapesInferred: IRProperty = "shapes-inferred"
  /// No dead nodes, no foldable constants, no identity ops. Any change by a pass that does not
  /// establish it again drops it (see `invalidatedByChange`).
  public static let canonical: IRProperty = "canonical"
  /// No `onnx.BatchNormalization` is left (folded into convolutions). The verifier can confirm it.
  public static let noBatchNorm: IRProperty = "no-batchnorm"
  /// Attention blocks are single `graphc.Attention` nodes that know their heads.
  public static let attentionFused: IRProperty = "attention-fused"
  /// Activation ranges from calibration data are recorded in the graph.
  public static let calibrated: IRProperty = "calibrated"
  /// Linear layers chosen by the layout policy carry quantized weights.
  public static let quantized: IRProperty = "quantized"

  /// Properties that any change to the graph may break, so they hold after a pass only when the
  /// pass made no change or establishes them itself. Every other property, once established,
  /// is kept: a later pass that would break it must not run after the pass establishing it.
  public static let invalidatedByChange: Set<IRProperty> = [.canonical]
}

/// One option a pass accepts, with its default and help text.
public struct PassOptionSpec: Sendable {
  public enum Kind: String, Sendable { case int, double, bool, string, list }
  public let name: String
  public let kind: Kind
  public let defaultValue: String
  public let help: String

  public init(_ name: String, _ kind: Kind, default defaultValue: String, help: String) {
    self.name = name
    self.kind = kind
    self.defaultValue = defaultValue
    self.help = help
  }
}

/// The option values one pipeline entry gives a pass, already checked against its specs:
/// every spec has a value (its default when the pipeline did not set it).
public struct PassOptions: Sendable, Equatable {
  public private(set) var values: [String: String]

  public init(values: [String: String] = [:]) { self.values = values }

  public func string(_ name: String) -> String { values[name] ?? "" }
  public func int(_ name: String) -> Int { Int(values[name] ?? "") ?? 0 }
  public func double(_ name: String) -> Double { Double(values[name] ?? "") ?? 0 }
  public func bool(_ name: String) -> Bool { ["true", "1", "yes", "on"].contains(values[name] ?? "") }
  /// A list option: `keep-float=q-proj;k-proj` or `a:b` style, split on `;`, `:` or `|`.
  public func list(_ name: String) -> [String] {
    (values[name] ?? "").split(whereSeparator: { ";:|".contains($0) }).map(String.init)
  }
}

/// A graph-to-graph transformation. Built-in passes and user plugins are values of this one
/// type, registered in a `PassRegistry`, and they reach the graph only through `PassContext`.
///
///     public let removeIdentity = GraphPass(
///       name: "remove-identity", summary: "Forward Identity and inference Dropout inputs"
///     ) { graph, context in ... }
public struct GraphPass: Sendable {
  /// Kebab-case name used in pipeline text.
  public let name: String
  /// One line for `graphc passes`.
  public let summary: String
  public let options: [PassOptionSpec]
  public let requires: Set<IRProperty>
  public let establishes: Set<IRProperty>
  /// Counter names declared up front, so reports list them even when zero.
  public let statistics: [String]
  public let run: @Sendable (Graph, PassContext) throws -> Void

  public init(
    name: String, summary: String, options: [PassOptionSpec] = [],
    requires: Set<IRProperty> = [], establishes: Set<IRProperty> = [], statistics: [String] = [],
    run: @escaping @Sendable (Graph, PassContext) throws -> Void
  ) {
    self.name = name
    self.summary = summary
    self.options = options
    self.requires = requires
    self.establishes = establishes
    self.statistics = statistics
    self.run = run
  }
}
