// Attribute.swift - Node attributes and typed accessors used by schemas and kernels.

/// A node attribute. Canonical ops carry only these kinds; graph-valued ONNX attributes are
/// rejected by the importer.
public enum Attribute: Sendable {
  case int(Int)
  case float(Float)
  case string(String)
  case ints([Int])
  case floats([Float])
  case strings([String])
  case tensor(Tensor)
}

extension Attribute: Equatable {
  public static func == (a: Attribute, b: Attribute) -> Bool {
    switch (a, b) {
    case (.int(let x), .int(let y)): x == y
    case (.float(let x), .float(let y)): x.bitPattern == y.bitPattern
    case (.string(let x), .string(let y)): x == y
    case (.ints(let x), .ints(let y)): x == y
    case (.floats(let x), .floats(let y)): x.map(\.bitPattern) == y.map(\.bitPattern)
    case (.strings(let x), .strings(let y)): x == y
    case (.tensor(let x), .tensor(let y)): x.bitwiseEqual(y)
    default: false
    }
  }
}

/// A node's attributes by name. Accessors throw `GraphError` when an attribute has the wrong
/// kind, so schemas and kernels can read them without repeating checks.
public typealias AttributeMap = [String: Attribute]

extension Dictionary where Key == String, Value == Attribute {
  public func int(_ name: String) throws -> Int? {
    switch self[name] {
    case nil: return nil
    case .int(let v): return v
    default: throw GraphError("attribute '\(name)' must be an integer")
    }
  }
  public func int(_ name: String, default d: Int) throws -> Int { try int(name) ?? d }

  public func float(_ name: String) throws -> Float? {
    switch self[name] {
    case nil: return nil
    case .float(let v): return v
    case .int(let v): return Float(v)
    default: throw GraphError("attribute '\(name)' must be a float")
    }
  }
  public func float(_ name: String, default d: Float) throws -> Float { try float(name) ?? d }

  public func string(_ name: String) throws -> String? {
    switch self[name] {
    case nil: return nil
    case .string(let v): return v
    default: throw GraphError("attribute '\(name)' must be a string")
    }
  }
  public func string(_ name: String, default d: String) throws -> String { try string(name) ?? d }

  public func ints(_ name: String) throws -> [Int]? {
    switch self[name] {
    case nil: return nil
    case .ints(let v): return v
    case .int(let v): return [v]
    default: throw GraphError("attribute '\(name)' must be a list of integers")
    }
  }
  public func floats(_ name: String) throws -> [Float]? {
    switch self[name] {
    case nil: return nil
    case .floats(let v): return v
    case .float(let v): return [v]
    default: throw GraphError("attribute '\(name)' must be a list of floats")
    }
  }
  public func strings(_ name: String) throws -> [String]? {
    switch self[name] {
    case nil: return nil
    case .strings(let v): return v
    case .string(let v): return [v]
    default: throw GraphError("attribute '\(name)' must be a list of strings")
    }
  }
  public func tensor(_ name: String) throws -> Tensor? {
    switch self[name] {
    case nil: return nil
    case .tensor(let v): return v
    default: throw GraphError("attribute '\(name)' must be a tensor")
    }
  }
}

/// An error in a graph or in one of its nodes. `node` and `op` are filled in by whoever knows
/// them (the verifier, the importer, the interpreter), so the message reads
/// `node 'conv_3' (onnx.Conv): <message>`.
public struct GraphError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var node: String?
  public var op: String?

  public init(_ message: String, node: String? = nil, op: String? = nil) {
    self.message = message
    self.node = node
    self.op = op
  }

  /// The same error, attributed to a node unless it already names one.
  public func at(node: String, op: String) -> GraphError {
    var e = self
    if e.node == nil { e.node = node; e.op = op }
    return e
  }

  public var description: String {
    guard let node else { return message }
    return "node '\(escapingControlCharacters(node))' (\(op ?? "?")): \(message)"
  }
}

/// `name` with control characters written as escapes (`\n`, `\t`, `\r`, `\u{1b}`), so that a
/// name taken from an untrusted model can neither break a one-line error nor drive a terminal.
public func escapingControlCharacters(_ name: String) -> String {
  guard name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return name }
  var out = ""
  for u in name.unicodeScalars {
    switch u {
    case "\n": out += "\\n"
    case "\t": out += "\\t"
    case "\r": out += "\\r"
    default:
      if u.value < 0x20 || u.value == 0x7F { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
    }
  }
  return out
}

/// Normalizes a possibly negative axis against `rank`, or throws.
public func normalizeAxis(_ axis: Int, rank: Int, what: String = "axis") throws -> Int {
  let a = axis < 0 ? axis + rank : axis
  guard a >= 0 && a < max(rank, 1) else {
    throw GraphError("\(what) \(axis) is out of range for rank \(rank)")
  }
  return a
}
