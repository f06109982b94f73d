// Limits.swift - Resource ceilings for untrusted models, and the one message format they fail with.

/// Ceilings that keep an oversized or hostile model from exhausting the machine. Every stage
/// that reads a model honours the ones that concern it: the importer (model bytes, tensor
/// bytes, nodes), the `.gcb` loader (model bytes, tensor bytes, nodes, arena bytes) and the
/// interpreter's run-time allocations (tensor bytes). The CLI exposes each as a `--max-…` flag.
public struct ResourceLimits: Sendable, Equatable {
  /// Largest model file (`.onnx` or `.gcb`). Default 2 GiB, protobuf's own cap.
  public var modelBytes: Int = 2 << 30
  /// Largest single tensor: a constant, an input or a value computed at run time. Default 8 GiB.
  public var tensorBytes: Int = 8 << 30
  /// Largest number of nodes in a graph. Default one million.
  public var nodes: Int = 1_000_000
  /// Largest arena of planned intermediate tensors a `.gcb` may ask for. Default 16 GiB.
  public var arenaBytes: Int = 16 << 30

  public init() {}

  public static let `default` = ResourceLimits()

  /// Which ceiling a check is about; names the CLI flag that raises it.
  public enum Kind: String, Sendable, CaseIterable {
    case modelBytes = "model-bytes", tensorBytes = "tensor-bytes", nodes = "nodes", arenaBytes = "arena-bytes"

    /// The `graphc` option that sets this limit, e.g. `--max-tensor-bytes`.
    public var flag: String { "--max-\(rawValue)" }
    var unit: String { self == .nodes ? " nodes" : " bytes" }
    var verb: String {
      switch self {
      case .modelBytes: "is"
      case .nodes: "has"
      case .tensorBytes, .arenaBytes: "needs"
      }
    }
  }

  public subscript(kind: Kind) -> Int {
    get {
      switch kind {
      case .modelBytes: modelBytes
      case .tensorBytes: tensorBytes
      case .nodes: nodes
      case .arenaBytes: arenaBytes
      }
    }
    set {
      switch kind {
      case .modelBytes: modelBytes = newValue
      case .tensorBytes: tensorBytes = newValue
      case .nodes: nodes = newValue
      case .arenaBytes: arenaBytes = newValue
      }
    }
  }

  /// Nil when `amount` fits under the `kind` ceiling (nil `amount` means it overflowed Int),
  /// else the message to fail with (see `exceeded`).
  public func violation(_ kind: Kind, _ amount: Int?, what: String) -> String? {
    if let amount, amount <= self[kind] { return nil }
    return Self.exceeded(kind, amount, limit: self[kind], what: what)
  }

  /// The message for `what` going over the `kind` ceiling `limit`: `<what> needs N bytes, over
  /// the tensor-bytes limit of M bytes (raise it with --max-tensor-bytes)`.
  public static func exceeded(_ kind: Kind, _ amount: Int?, limit: Int, what: String) -> String {
    let size = amount.map { "\($0)\(kind.unit)" } ?? "more than \(Int.max)\(kind.unit)"
    return "\(what) \(kind.verb) \(size), over the \(kind.rawValue) limit of \(limit) (raise it with \(kind.flag))"
  }

  /// Throws a `GraphError` when `amount` exceeds the `kind` ceiling.
  public func check(_ kind: Kind, _ amount: Int?, what: String) throws {
    if let message = violation(kind, amount, what: what) { throw GraphError(message) }
  }

  /// Parses a size like `512`, `64K`, `3M`, `2G`, `1T` (binary multiples; `KiB`, `MB` and the
  /// like are accepted too). Nil for anything else, negatives and overflow included.
  public static func parseSize(_ text: String) -> Int? {
    var digits = Substring(text), scale = 1
    let suffixes: [(String, Int)] = [("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)]
    for unit in ["IB", "B"] where digits.uppercased().hasSuffix(unit) && digits.count > unit.count {
      digits = digits.dropLast(unit.count)
      break
    }
    if let (_, s) = suffixes.first(where: { digits.uppercased().hasSuffix($0.0) }) {
      digits = digits.dropLast()
      scale = s
    }
    guard let n = Int(digits), n >= 0 else { return nil }
    let (v, overflow) = n.multipliedReportingOverflow(by: scale)
    return overflow ? nil : v
  }
}

/// Bytes of a tensor of `shape` and `dtype`, or nil when the count overflows `Int`.
public func checkedByteCount(_ shape: [Int], _ dtype: DType) -> Int? {
  guard let n = checkedElementCount(shape) else { return nil }
  let (b, o) = n.multipliedReportingOverflow(by: dtype.byteSize)
  return o ? nil : b
}
