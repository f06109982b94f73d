// Model+Bytes.swift - Loading a model from bytes in memory (tests, in-memory compile-and-run).

import GraphIR
import PackedFormat

extension Model {
  /// Validates and loads a `.gcb` held in memory; `name` labels errors.
  public convenience init(bytes: [UInt8], name: String = "<memory>", limits: ResourceLimits = .default) throws {
    try limits.check(.modelBytes, bytes.count, what: "'\(name)'")
    try self.init(packed: PackedModel(bytes: bytes, name: name), limits: limits)
  }
}
