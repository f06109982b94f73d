// WireReader.swift - A cursor over protobuf wire format: the one walker the importer's pre-passes share.

/// One field as it lies in the bytes: `start` is its tag's first byte, `tagEnd` the byte after
/// the tag, `payload` the value's bytes (a varint's own bytes for wire type 0; the contents,
/// without the length, for wire type 2) and `value` a varint's decoded value.
struct WireField {
  var number: UInt32
  var wireType: UInt64
  var start: Int
  var tagEnd: Int
  var value: UInt64
  var payload: Range<Int>
}

/// Reads fields from `bytes` at `pos`. Every read stays below the `end` it is given; bad varints,
/// truncated values and wire types protobuf-c does not read (groups, 6, 7) throw
/// `ImportFailure(.malformed)` naming the byte. `what` names the message in errors.
struct WireReader {
  let bytes: UnsafeRawBufferPointer
  let what: String
  var pos: Int

  init(_ bytes: UnsafeRawBufferPointer, what: String, at pos: Int = 0) {
    self.bytes = bytes
    self.what = what
    self.pos = pos
  }

  /// A base-128 varint of at most 10 bytes (as protobuf-c's scanner accepts).
  mutating func varint(_ end: Int) throws -> UInt64 {
    var v: UInt64 = 0, shift: UInt64 = 0
    while pos < end && shift < 64 {
      let b = bytes[pos]
      pos += 1
      v |= UInt64(b & 0x7f) << shift
      if b < 0x80 { return v }
      shift += 7
    }
    throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (bad varint at byte \(pos))")
  }

  mutating func skip(_ count: UInt64, _ end: Int) throws {
    guard count <= UInt64(end - pos) else {
      throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (truncated field at byte \(pos))")
    }
    pos += Int(count)
  }

  /// The next field; `pos` moves past its value.
  mutating func field(_ end: Int) throws -> WireField {
    let start = pos
    let tag = try varint(end)
    let tagEnd = pos
    var value: UInt64 = 0
    switch tag & 7 {
    case 0: value = try varint(end)
    case 1: try skip(8, end)
    case 5: try skip(4, end)
    case 2:
      let len = try varint(end)
      let from = pos
      try skip(len, end)
      return WireField(number: UInt32(truncatingIfNeeded: tag >> 3), wireType: 2, start: start, tagEnd: tagEnd,
                       value: len, payload: from..<pos)
    default:
      throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (wire type \(tag & 7) at byte \(pos))")
    }
    return WireField(number: UInt32(truncatingIfNeeded: tag >> 3), wireType: tag & 7, start: start, tagEnd: tagEnd,
                     value: value, payload: tagEnd..<pos)
  }
}

/// Appends `v` as a minimal base-128 varint.
func appendVarint(_ out: inout [UInt8], _ v: UInt64) {
  var v = v
  while v >= 0x80 {
    out.append(UInt8(truncatingIfNeeded: v) | 0x80)
    v >>= 7
  }
  out.append(UInt8(v))
}
