// Model+Bytes.swift - Loading a model from bytes in memory (tests, in-memory compile-and-run).

import PackedFormat

extension Model {
  /// Validates and loads a `.gcb` held in memory; `name` labels errors.
  public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
    try self.init(packed: PackedModel(bytes: bytes, name: name))
  }
}
