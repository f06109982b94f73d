// InitializerRecords.swift - The top-level graph's initializers, cut out of the model's wire format and decoded one at a time.

import CONNXProto
import CProtobufC
import GraphIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ModelProto.graph and GraphProto.initializer (onnx.proto).
private let modelGraphField: UInt32 = 7
private let graphInitializerField: UInt32 = 5

/// The model's bytes split in two: `rest`, a ModelProto with every `initializer` record of the
/// top-level graph left out (small: what protobuf-c unpacks), and `ranges`, each record's
/// TensorProto bytes inside the original, in wire order. Wire order is protobuf's order for the
/// repeated field even when `graph` occurs several times (protobuf merges the occurrences and
/// appends their repeated fields in order), so decoding the ranges in order gives the same list
/// as protobuf-c's full unpack. Records inside subgraphs, functions and training info stay in
/// `rest`. Nil when the top-level graph has no initializer record (unpack the bytes as they are).
/// The bytes must have passed `checkNesting` (which bounds every length this walks).
func splitInitializers(_ bytes: UnsafeRawBufferPointer) throws -> (rest: [UInt8], ranges: [Range<Int>])? {
  // Pass 1: the records (whole record and TensorProto payload) in wire order.
  var records: [(record: Range<Int>, payload: Range<Int>)] = []
  var root = WireReader(bytes, what: "model")
  while root.pos < bytes.count {
    let f = try root.field(bytes.count)
    guard f.number == modelGraphField, f.wireType == 2 else { continue }
    guard protobufCFraming(f) else { return nil }
    var graph = WireReader(bytes, what: "model", at: f.payload.lowerBound)
    while graph.pos < f.payload.upperBound {
      let g = try graph.field(f.payload.upperBound)
      guard g.number == graphInitializerField, g.wireType == 2 else { continue }
      guard protobufCFraming(g) else { return nil }
      records.append((g.start..<g.payload.upperBound, g.payload))
    }
  }
  guard !records.isEmpty else { return nil }

  // Pass 2: copy everything but the records; each graph gets its new length.
  var rest: [UInt8] = []
  var next = 0  // the first record not yet cut
  root = WireReader(bytes, what: "model")
  while root.pos < bytes.count {
    let f = try root.field(bytes.count)
    guard f.number == modelGraphField, f.wireType == 2 else {
      rest.append(contentsOf: bytes[f.start..<f.payload.upperBound])
      continue
    }
    var inside: [Range<Int>] = []
    while next < records.count, records[next].record.upperBound <= f.payload.upperBound {
      inside.append(records[next].record)
      next += 1
    }
    rest.append(contentsOf: bytes[f.start..<f.tagEnd])  // the tag as written
    appendVarint(&rest, UInt64(f.payload.count - inside.reduce(0) { $0 + $1.count }))
    var from = f.payload.lowerBound
    for r in inside {
      rest.append(contentsOf: bytes[from..<r.lowerBound])
      from = r.upperBound
    }
    rest.append(contentsOf: bytes[from..<f.payload.upperBound])
  }
  return (rest, records.map(\.payload))
}

/// Whether protobuf-c frames `f` as `WireReader` did: it reads tags of at most 5 bytes and
/// lengths of at most 5 bytes up to 2^31 - 1, and fails otherwise. Records
/// framed any other way are left to protobuf-c, so its verdict stands.
private func protobufCFraming(_ f: WireField) -> Bool {
  f.tagEnd - f.start <= 5 && (f.wireType != 2 || (f.payload.lowerBound - f.tagEnd <= 5 && f.payload.count <= Int(Int32.max)))
}

/// A TensorProto holding only `dims`, `data_type`, `name`, `doc_string` and `raw_data` (how
/// exporters write weights), read from the wire format with protobuf's rules (repeated `dims`
/// concatenate, packed or not; for the others the last occurrence wins; `name` ends at its
/// first NUL, as protobuf-c's C string does). `raw` is where `raw_data` lies in the bytes.
struct RawTensorRecord {
  var name: String
  var dataType: Int32
  var dims: [Int64]
  var raw: Range<Int>

  /// The record at `range`, or nil when it has other fields, lacks `raw_data` or has a field
  /// of a wire type protobuf-c would not accept (protobuf-c then decides).
  init?(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
    var reader = WireReader(bytes, what: "tensor", at: range.lowerBound)
    var name = 0..<0, raw: Range<Int>?
    dataType = 0
    dims = []
    do {
      while reader.pos < range.upperBound {
        let f = try reader.field(range.upperBound)
        guard protobufCFraming(f) else { return nil }
        switch (f.number, f.wireType) {
        case (1, 0): dims.append(Int64(bitPattern: f.value))
        case (1, 2):
          var packed = WireReader(bytes, what: "tensor", at: f.payload.lowerBound)
          while packed.pos < f.payload.upperBound { dims.append(Int64(bitPattern: try packed.varint(f.payload.upperBound))) }
        case (2, 0): dataType = Int32(truncatingIfNeeded: f.value)
        case (8, 2): name = f.payload
        case (9, 2): raw = f.payload
        case (12, 2): break  // doc_string
        default: return nil
        }
      }
    } catch {
      return nil
    }
    guard let raw else { return nil }
    self.raw = raw
    let chars = UnsafeRawBufferPointer(rebasing: bytes[name])
    self.name = String(decoding: chars.prefix { $0 != 0 }, as: UTF8.self)
  }
}

/// The top-level graph's initializer records in the model's bytes, decoded one at a time so
/// that at most one initializer is held twice: raw_data records are copied straight from the
/// bytes into their tensor, others go through protobuf-c one record at a time. `decoded` is
/// told each record's range once its tensor holds the data (to drop a mapped file's pages).
struct InitializerRecords {
  let bytes: UnsafeRawBufferPointer
  let ranges: [Range<Int>]
  let decoded: (Range<Int>) -> Void

  /// Fails as protobuf-c's unpack of the whole model would if a record is not a valid
  /// TensorProto, so a corrupt record is reported before any initializer is decoded.
  func validate() throws {
    for range in ranges where RawTensorRecord(bytes, range) == nil {
      onnx__tensor_proto__free_unpacked(try unpackTensor(range), nil)
    }
  }

  /// Calls `body` with each initializer's name and a closure decoding its tensor, in order.
  func forEach(decoder: TensorDecoder, _ body: (_ name: String, _ decode: () throws -> Tensor) throws -> Void) throws {
    for range in ranges {
      if let r = RawTensorRecord(bytes, range) {
        try body(r.name) { try decoder.decode(r, raw: UnsafeRawBufferPointer(rebasing: bytes[r.raw])) }
      } else {
        let proto = try unpackTensor(range)
        defer { onnx__tensor_proto__free_unpacked(proto, nil) }
        try body(cString(proto.pointee.name)) { try decoder.decode(proto) }
      }
      decoded(range)
    }
  }

  private func unpackTensor(_ range: Range<Int>) throws -> UnsafeMutablePointer<Onnx__TensorProto> {
    try unpack(UnsafeRawBufferPointer(rebasing: bytes[range]), what: "model", reportedSize: bytes.count) {
      onnx__tensor_proto__unpack(nil, $0, $1)
    }
  }
}
