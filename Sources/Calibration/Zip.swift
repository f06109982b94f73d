// Zip.swift - A minimal zip reader for .npz files: stored and deflate entries, CRC-checked.

import CZlib
import Foundation

/// The entries of a zip archive by name. Reads the central directory, then each local entry;
/// supports methods 0 (stored) and 8 (deflate), no zip64, no encryption. Every offset and
/// size is checked against the file, so a damaged archive gives an error, never a crash.
struct ZipArchive {
  let bytes: [UInt8]
  let source: String
  /// name -> (method, compressed size, uncompressed size, local header offset, crc32)
  private(set) var entries: [(name: String, method: Int, packed: Int, size: Int, offset: Int, crc: UInt32)] = []

  init(bytes: [UInt8], source: String) throws {
    self.bytes = bytes
    self.source = source
    // End of central directory: 22 bytes plus a comment of up to 65535 bytes.
    guard bytes.count >= 22 else { throw NPYError(source, "not a zip archive (too short)") }
    var eocd = -1
    var i = bytes.count - 22
    while i >= max(0, bytes.count - 22 - 65535) {
      if u32(i) == 0x0605_4b50 { eocd = i; break }
      i -= 1
    }
    guard eocd >= 0 else { throw NPYError(source, "not a zip archive (no end of central directory)") }
    let count = u16(eocd + 10), dirSize = Int(u32(eocd + 12)), dirOffset = Int(u32(eocd + 16))
    guard count != 0xffff, dirOffset != 0xffff_ffff else { throw NPYError(source, "zip64 archives are not supported") }
    guard dirOffset <= bytes.count, dirSize <= bytes.count - dirOffset else { throw NPYError(source, "central directory out of bounds") }
    var p = dirOffset
    for _ in 0..<count {
      guard p + 46 <= bytes.count, u32(p) == 0x0201_4b50 else { throw NPYError(source, "damaged central directory") }
      let nameLen = u16(p + 28), extraLen = u16(p + 30), commentLen = u16(p + 32)
      guard p + 46 + nameLen <= bytes.count else { throw NPYError(source, "damaged central directory") }
      let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
      if u16(p + 8) & 1 != 0 { throw NPYError(source, "entry '\(name)' is encrypted") }
      entries.append((name, u16(p + 10), Int(u32(p + 20)), Int(u32(p + 24)), Int(u32(p + 42)), u32(p + 16)))
      p += 46 + nameLen + extraLen + commentLen
    }
  }

  var names: [String] { entries.map(\.name) }

  /// The uncompressed bytes of entry `name`, at most `maxBytes`.
  func read(_ name: String, maxBytes: Int) throws -> [UInt8] {
    guard let e = entries.first(where: { $0.name == name }) else { throw NPYError(source, "no entry '\(name)'") }
    guard e.size <= maxBytes else { throw NPYError(source, "entry '\(name)' is too large (\(e.size) bytes)") }
    guard e.offset <= bytes.count - 30, u32(e.offset) == 0x0403_4b50 else { throw NPYError(source, "entry '\(name)': bad local header") }
    let start = e.offset + 30 + u16(e.offset + 26) + u16(e.offset + 28)
    guard start <= bytes.count, e.packed <= bytes.count - start else { throw NPYError(source, "entry '\(name)' out of bounds") }
    let out: [UInt8]
    switch e.method {
    case 0:
      guard e.packed == e.size else { throw NPYError(source, "entry '\(name)': stored sizes differ") }
      out = Array(bytes[start..<(start + e.size)])
    case 8:
      out = try inflateRaw(start: start, count: e.packed, size: e.size, name: name)
    default:
      throw NPYError(source, "entry '\(name)' uses compression method \(e.method) (only stored and deflate are supported)")
    }
    let crc = out.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    guard crc == e.crc else { throw NPYError(source, "entry '\(name)': CRC mismatch (damaged archive)") }
    return out
  }

  private func inflateRaw(start: Int, count: Int, size: Int, name: String) throws -> [UInt8] {
    if size == 0 { return [] }
    var out = [UInt8](repeating: 0, count: size)
    var stream = z_stream()
    guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw NPYError(source, "entry '\(name)': zlib initialization failed")
    }
    defer { inflateEnd(&stream) }
    let status: Int32 = bytes.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress! + start)  // safe: start <= count checked
        stream.avail_in = uInt(count)
        stream.next_out = dst.baseAddress
        stream.avail_out = uInt(size)
        return inflate(&stream, Z_FINISH)
      }
    }
    guard status == Z_STREAM_END, Int(stream.total_out) == size else {
      throw NPYError(source, "entry '\(name)': deflate data is damaged")
    }
    return out
  }

  private func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
  private func u32(_ i: Int) -> UInt32 {
    UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
  }
}
