// ImportError.swift - The importer's error type: a code, the model, the node and the reason.

import GraphIR

/// An error found while importing an ONNX model. Its description is one line:
///
///     model.onnx: node 'conv_3' (Conv): <reason>
///     model.onnx: <reason>                         (when no single node is to blame)
public struct ImportError: Error, CustomStringConvertible, Sendable {
  /// What kind of problem this is. A struct around a private enum, so new codes break no client.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
      case io, malformed, limitExceeded, unsupported, invalidModel, externalData, typeConflict, badOption
    }
    private let kind: Kind
    private init(_ kind: Kind) { self.kind = kind }

    /// The file or an external-data file could not be read.
    public static let io = Code(.io)
    /// The bytes are not a valid protobuf, or a field holds an impossible value.
    public static let malformed = Code(.malformed)
    /// A size limit from `ImportOptions` (or a hard limit) was exceeded.
    public static let limitExceeded = Code(.limitExceeded)
    /// A valid ONNX construct graphc does not handle (op, domain, opset, dtype, subgraph).
    public static let unsupported = Code(.unsupported)
    /// The model breaks an ONNX rule: undefined value, cycle, duplicate definition, bad arity.
    public static let invalidModel = Code(.invalidModel)
    /// An external-data reference is unsafe or out of range.
    public static let externalData = Code(.externalData)
    /// Declared and inferred types or shapes disagree, or inference rejected a node.
    public static let typeConflict = Code(.typeConflict)
    /// An import option (such as `--shape`) does not fit the model.
    public static let badOption = Code(.badOption)

    public var description: String {
      switch kind {
      case .io: "io"
      case .malformed: "malformed"
      case .limitExceeded: "limit-exceeded"
      case .unsupported: "unsupported"
      case .invalidModel: "invalid-model"
      case .externalData: "external-data"
      case .typeConflict: "type-conflict"
      case .badOption: "bad-option"
      }
    }
  }

  public var code: Code
  public var message: String
  /// The model's file name (or the name given for an in-memory model).
  public var source: String
  /// The node's name as written in the model (or a stand-in, see `ImportContext.displayName`).
  public var node: String?
  /// The ONNX op type (`Conv`), or the IR op when the node was created by normalization.
  public var opType: String?
  /// The node's position in the model's node list, when known.
  public var nodeIndex: Int?

  public init(_ code: Code, _ message: String, source: String, node: String? = nil, opType: String? = nil,
              nodeIndex: Int? = nil) {
    self.code = code
    self.message = message
    self.source = source
    self.node = node
    self.opType = opType
    self.nodeIndex = nodeIndex
  }

  public var description: String {
    guard let node else { return "\(source): \(message)" }
    return "\(source): node '\(escapingControlCharacters(node))' (\(opType ?? "?")): \(message)"
  }
}

/// An error raised deep in the importer before the source name is known; `Importer` turns it
/// into an `ImportError`. Keeps helper signatures free of the source-name plumbing.
struct ImportFailure: Error {
  var code: ImportError.Code
  var message: String
  var node: String?
  var opType: String?
  var nodeIndex: Int?

  init(_ code: ImportError.Code, _ message: String, node: String? = nil, opType: String? = nil, nodeIndex: Int? = nil) {
    self.code = code
    self.message = message
    self.node = node
    self.opType = opType
    self.nodeIndex = nodeIndex
  }

  /// The same failure attributed to a node unless it already names one.
  func at(_ node: NodeRef) -> ImportFailure {
    var f = self
    if f.node == nil { f.node = node.name; f.opType = node.opType; f.nodeIndex = node.index }
    return f
  }
}

/// Identifies an ONNX node in diagnostics.
struct NodeRef {
  var name: String
  var opType: String
  var index: Int
}
