// ByteIO.swift - Little-endian byte writer and the bounds-checked cursor the reader parses with.

/// Appends little-endian integers to a growing byte array.
struct ByteWriter {
  var bytes: [UInt8] = []

  var count: Int { bytes.count }
  mutating func u8(_ v: UInt8) { bytes.append(v) }
  mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
  mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
  mutating func append(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
  mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
  /// Zero-pads to a multiple of `alignment`.
  mutating func pad(to alignment: Int) {
    let r = bytes.count % alignment
    if r != 0 { bytes.append(contentsOf: repeatElement(0, count: alignment - r)) }
  }
  mutating func patchU32(at offset: Int, _ v: UInt32) {
    withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
  }
}

/// A cursor over one region of the file. Every read is bounds-checked and every failure is a
/// `PackedFormatError` naming the section and the absolute file offset.
struct ByteReader {
  let file: String
  let section: String?
  /// The whole file.
  let data: UnsafeRawBufferPointer
  /// Absolute bounds of the region this cursor may read.
  let start: Int
  let end: Int
  /// Absolute offset of the next read.
  private(set) var position: Int

  init(file: String, section: String?, data: UnsafeRawBufferPointer, start: Int, end: Int) {
    self.file = file
    self.section = section
    self.data = data
    self.start = start
    self.end = end
    position = start
  }

  var remaining: Int { end - position }
  var atEnd: Bool { position == end }

  func error(_ message: String, at offset: Int? = nil) -> PackedFormatError {
    PackedFormatError(file: file, section: section, offset: offset ?? position, message: message)
  }

  private mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> Int {
    guard n >= 0, n <= remaining else {
      throw error("\(what()) needs \(n) bytes but the section has \(remaining) left")
    }
    defer { position += n }
    return position
  }

  mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 {
    data.load(fromByteOffset: try take(1, what()), as: UInt8.self)
  }
  mutating func u16(_ what: @autoclosure () -> String) throws -> UInt16 {
    UInt16(littleEndian: data.loadUnaligned(fromByteOffset: try take(2, what()), as: UInt16.self))
  }
  mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 {
    UInt32(littleEndian: data.loadUnaligned(fromByteOffset: try take(4, what()), as: UInt32.self))
  }
  mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 {
    UInt64(littleEndian: data.loadUnaligned(fromByteOffset: try take(8, what()), as: UInt64.self))
  }
  mutating func i64(_ what: @autoclosure () -> String) throws -> Int64 { Int64(bitPattern: try u64(what())) }
  mutating func i32(_ what: @autoclosure () -> String) throws -> Int32 { Int32(bitPattern: try u32(what())) }
  /// A raw byte range of the region.
  mutating func bytes(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
    let at = try take(n, what())
    return UnsafeRawBufferPointer(rebasing: data[at..<(at + n)])
  }
  /// A 64-bit value that must fit in `Int` and be at most `limit`.
  mutating func count(_ what: String, limit: Int) throws -> Int {
    let at = position
    let v = try u64(what)
    guard v <= UInt64(limit) else { throw error("\(what) \(v) exceeds the limit \(limit)", at: at) }
    return Int(v)
  }
  /// Reserved bytes must be zero, so that a later minor version can give them a meaning.
  mutating func reserved(_ n: Int) throws {
    let at = position
    let b = try bytes(n, "reserved field")
    guard b.allSatisfy({ $0 == 0 }) else { throw error("reserved bytes are not zero", at: at) }
  }
}
