// ImportOptions.swift - Knobs of the ONNX importer: fixed input shapes and size limits.

import GraphIR

/// Options for `importONNX`. The defaults accept any model ONNX itself can represent
/// (protobuf caps a file at 2 GiB) and no more.
public struct ImportOptions: Sendable {
  /// Concrete dims for named graph inputs (`--shape x=1x3x224x224`). Each replaces the input's
  /// declared dims; the rank must match and fixed dims must agree.
  public var shapes: [String: [Int]]
  /// Largest model file accepted.
  public var maxModelBytes: Int
  /// Largest element count of one tensor (never more than 2^32).
  public var maxTensorElements: Int
  /// Largest byte size of one tensor, stored or declared (`--max-tensor-bytes`).
  public var maxTensorBytes: Int
  /// Largest external-data file mapped.
  public var maxExternalFileBytes: Int
  /// Largest number of nodes in the graph.
  public var maxNodes: Int
  /// Accept default-domain opsets newer than the newest supported one (24). Off by default:
  /// canonical forms are checked against the ONNX node tests only up to opset 24.
  public var acceptNewerOpsets: Bool

  public init(
    shapes: [String: [Int]] = [:],
    maxModelBytes: Int = ResourceLimits.default.modelBytes,
    maxTensorElements: Int = 1 << 32,
    maxTensorBytes: Int = ResourceLimits.default.tensorBytes,
    maxExternalFileBytes: Int = 1 << 40,
    maxNodes: Int = ResourceLimits.default.nodes,
    acceptNewerOpsets: Bool = false
  ) {
    self.shapes = shapes
    self.maxModelBytes = maxModelBytes
    self.maxTensorElements = maxTensorElements
    self.maxTensorBytes = maxTensorBytes
    self.maxExternalFileBytes = maxExternalFileBytes
    self.maxNodes = maxNodes
    self.acceptNewerOpsets = acceptNewerOpsets
  }

  /// The ceilings shared with the `.gcb` loader, as one value (the arena limit does not apply
  /// to importing and is left at its default).
  public var limits: ResourceLimits {
    get {
      var l = ResourceLimits()
      l.modelBytes = maxModelBytes
      l.tensorBytes = maxTensorBytes
      l.nodes = maxNodes
      return l
    }
    set {
      maxModelBytes = newValue.modelBytes
      maxTensorBytes = newValue.tensorBytes
      maxNodes = newValue.nodes
    }
  }

  /// Parses one `--shape` argument, `NAME=1x3x224x224` (a scalar is `NAME=`).
  public static func parseShape(_ text: String) throws -> (name: String, dims: [Int]) {
    guard let eq = text.lastIndex(of: "=") else {
      throw ImportError(.badOption, "--shape '\(text)' is not NAME=DIMxDIM...", source: "--shape")
    }
    let name = String(text[..<eq]), rest = text[text.index(after: eq)...]
    guard !name.isEmpty else { throw ImportError(.badOption, "--shape '\(text)' has no input name", source: "--shape") }
    if rest.isEmpty { return (name, []) }
    var dims: [Int] = []
    for part in rest.split(separator: "x", omittingEmptySubsequences: false) {
      guard let d = Int(part), d >= 0 else {
        throw ImportError(.badOption, "--shape '\(text)': '\(part)' is not a dimension", source: "--shape")
      }
      dims.append(d)
    }
    return (name, dims)
  }
}
