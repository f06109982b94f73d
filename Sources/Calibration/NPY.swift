// NPY.swift - Reading and writing NumPy `.npy` files (format versions 1.0 to 3.0).

import GraphIR
import Foundation

/// A malformed `.npy` file; the message names the file and the problem.
public struct NPYError: Error, CustomStringConvertible, Sendable {
  public let description: String
  init(_ path: String, _ message: String) { description = "\(path): \(message)" }
}

private let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

/// The numpy `descr` of each storable element type (little-endian).
private func descr(_ t: DType) -> String? {
  switch t {
  case .float32: "<f4"
  case .float64: "<f8"
  case .float16: "<f2"
  case .int8: "|i1"
  case .uint8: "|u1"
  case .int16: "<i2"
  case .uint16: "<u2"
  case .int32: "<i4"
  case .uint32: "<u4"
  case .int64: "<i8"
  case .uint64: "<u8"
  case .bool: "|b1"
  case .bfloat16, .string, .int4: nil
  }
}

/// Parses a `.npy` file. Only C-order, little-endian (or single-byte) arrays are accepted.
public func readNPY(path: String, maxBytes: Int = 1 << 34) throws -> Tensor {
  guard let data = FileManager.default.contents(atPath: path) else { throw NPYError(path, "cannot read the file") }
  return try parseNPY([UInt8](data), source: path, maxBytes: maxBytes)
}

/// Parses `.npy` bytes; `source` names them in errors.
public func parseNPY(_ bytes: [UInt8], source: String, maxBytes: Int = 1 << 34) throws -> Tensor {
  guard bytes.count >= 10, Array(bytes[0..<6]) == npyMagic else { throw NPYError(source, "not a .npy file (bad magic)") }
  let major = bytes[6]
  let headerLength: Int, headerStart: Int
  switch major {
  case 1:
    headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    headerStart = 10
  case 2, 3:
    guard bytes.count >= 12 else { throw NPYError(source, "truncated header") }
    headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
    headerStart = 12
  default:
    throw NPYError(source, "unsupported .npy version \(major)")
  }
  guard headerStart + headerLength <= bytes.count else { throw NPYError(source, "truncated header") }
  guard let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: .utf8) else {
    throw NPYError(source, "header is not text")
  }
  func field(_ key: String) throws -> String {
    guard let r = header.range(of: "'\(key)':") else { throw NPYError(source, "header lacks '\(key)'") }
    return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
  }
  let descrText = try field("descr")
  guard let dtype = DType.allCases.first(where: { d in descr(d).map { descrText.hasPrefix("'\($0)'") } ?? false }) else {
    throw NPYError(source, "unsupported dtype \(descrText.prefix(8)) (want little-endian numeric or bool)")
  }
  guard try field("fortran_order").hasPrefix("False") else { throw NPYError(source, "Fortran-order arrays are not supported") }
  let shapeText = try field("shape")
  guard let open = shapeText.firstIndex(of: "("), let close = shapeText.firstIndex(of: ")"), open < close else {
    throw NPYError(source, "malformed shape")
  }
  var shape: [Int] = []
  for part in shapeText[shapeText.index(after: open)..<close].split(separator: ",") {
    let s = part.trimmingCharacters(in: .whitespaces)
    if s.isEmpty { continue }
    guard let d = Int(s), d >= 0 else { throw NPYError(source, "malformed shape dim '\(s)'") }
    shape.append(d)
  }
  guard let count = checkedElementCount(shape), count <= maxBytes / max(dtype.byteSize, 1) else {
    throw NPYError(source, "shape \(shape) is too large")
  }
  let dataStart = headerStart + headerLength
  let byteCount = count * dtype.byteSize
  guard bytes.count - dataStart >= byteCount else {
    throw NPYError(source, "data holds \(bytes.count - dataStart) bytes, shape \(shape) needs \(byteCount)")
  }
  let t = Tensor(zeros: dtype, shape: shape)
  bytes.withUnsafeBytes { src in
    if byteCount > 0, let base = src.baseAddress { t.rawPointer.copyMemory(from: base + dataStart, byteCount: byteCount) }
  }
  return t
}

/// Serializes a tensor as a version 1.0 `.npy` (version 2.0 when the header needs it).
public func npyBytes(_ t: Tensor) throws -> [UInt8] {
  guard let d = descr(t.dtype) else { throw NPYError("<tensor>", "\(t.dtype.shortName) cannot be stored in .npy") }
  let shapeText = t.shape.isEmpty ? "()" : t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
  var header = "{'descr': '\(d)', 'fortran_order': False, 'shape': \(shapeText), }"
  let prefix = 10
  let pad = (64 - (prefix + header.utf8.count + 1) % 64) % 64
  header += String(repeating: " ", count: pad) + "\n"
  var out = npyMagic + [1, 0]
  let n = header.utf8.count
  out += [UInt8(n & 0xff), UInt8(n >> 8)]
  out += Array(header.utf8)
  out += Array(t.bytes)
  return out
}

/// The file name `graphc run` uses for an output: every character other than a letter, digit,
/// `_`, `.` or `-` becomes `_` (`gpu_0/softmax_1` -> `gpu_0_softmax_1`).
public func sanitizedFileName(_ name: String) -> String {
  String(name.map { c in
    c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "-") ? c : "_"
  })
}
