// FileFormat.swift - Constants of the .gcb layout (see Docs/FileFormat.md), its error type and CRC-32.

import GraphIR
import CDeflate

/// Numbers that define the `.gcb` layout. Docs/FileFormat.md is the normative description;
/// every constant here appears there.
public enum GCB {
  /// `\x89 G C B \r \n \x1a \n`: the high byte and the line endings catch 7-bit and
  /// text-mode transfers, as PNG's signature does.
  public static let magic: [UInt8] = [0x89, 0x47, 0x43, 0x42, 0x0D, 0x0A, 0x1A, 0x0A]
  /// Readers reject a different major version and accept any minor version.
  public static let majorVersion: UInt16 = 1
  /// 1 added the optional arena-aliases section (in-place and view results).
  public static let minorVersion: UInt16 = 1
  public static let headerSize = 40
  public static let sectionEntrySize = 32
  /// Weights (and the weights section) are aligned to this many bytes from the file start.
  public static let weightAlignment = 64
  /// Sections other than weights start on this boundary.
  public static let sectionAlignment = 8
  /// Marks an absent operand, an unplanned (dynamic) arena offset, or an unknown rank.
  public static let absentIndex: UInt32 = 0xFFFF_FFFF
  public static let dynamicOffset: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
  public static let unknownRank: UInt16 = 0xFFFF

  // Limits the reader enforces on hostile files. They are far above any real model.
  public static let maxSections = 64
  public static let maxRank = 64
  /// Largest element count of one tensor (2^34).
  public static let maxTensorElements = 1 << 34
  public static let maxListLength = 1 << 24
}

/// A section kind. Kinds with the top bit set are optional: readers skip unknown optional
/// kinds and reject unknown required ones.
public enum SectionKind: UInt32, CaseIterable, Sendable {
  case strings = 1, tensors = 2, nodes = 3, weights = 4, memoryPlan = 5, graphIO = 6, metadata = 7
  /// Quantization parameters; present only when some tensor record refers to it.
  case quantization = 8
  /// Optional (since 1.1): node results that share their operand's arena bytes.
  case arenaAliases = 0x8000_0001

  public static let optionalBit: UInt32 = 0x8000_0000

  /// Whether every file has this section. Optional kinds (the high bit set) may be absent and
  /// are skipped by readers that do not know them; the quantization section appears only in
  /// files with quantized tensors, and an older reader rejects its kind, so it never misreads them.
  public var isRequired: Bool { rawValue & Self.optionalBit == 0 && self != .quantization }

  public var name: String {
    switch self {
    case .strings: "strings"
    case .tensors: "tensors"
    case .nodes: "nodes"
    case .weights: "weights"
    case .memoryPlan: "memory plan"
    case .graphIO: "graph io"
    case .metadata: "metadata"
    case .arenaAliases: "arena aliases"
    case .quantization: "quantization"
    }
  }
}

/// What a tensor record describes.
public enum TensorKind: UInt8, Sendable, CustomStringConvertible {
  /// A graph input, supplied by the caller at run time.
  case input = 0
  /// A graph constant whose bytes live in the weights section.
  case constant = 1
  /// A node result that is not a graph output.
  case intermediate = 2
  /// A node result that is also a graph output.
  case output = 3
  /// A constant referenced only by a tensor-valued attribute (bytes in the weights section).
  case attribute = 4

  public var description: String {
    switch self {
    case .input: "input"
    case .constant: "constant"
    case .intermediate: "intermediate"
    case .output: "output"
    case .attribute: "attribute"
    }
  }
  var hasWeights: Bool { self == .constant || self == .attribute }
  var isNodeResult: Bool { self == .intermediate || self == .output }
}

/// How a node result shares the arena bytes of one of its operands (the arena-aliases section).
public enum ArenaAlias: UInt8, Sendable, CustomStringConvertible {
  /// The kernel writes its result over an operand that is dead after this node (element-wise
  /// ops: element i is read before element i is written).
  case inPlace = 1
  /// The result is the operand's bytes unchanged (Reshape, Flatten, Squeeze, Unsqueeze,
  /// Identity): the kernel copies nothing.
  case view = 2

  public var description: String { self == .inPlace ? "in-place" : "view" }
}

/// Attribute payload kinds in the nodes section.
enum AttributeKind: UInt8 {
  case int = 1, float = 2, string = 3, ints = 4, floats = 5, strings = 6, tensor = 7
}

/// A problem in a `.gcb` file: where it is (file, section, byte offset from the file start)
/// and what is wrong, printed on one line:
/// `model.gcb: nodes section at offset 0x1a0: operand index 57 out of range (41 tensors)`.
public struct PackedFormatError: Error, CustomStringConvertible, Sendable {
  public var file: String
  /// The section's name, or nil for the header and section table.
  public var section: String?
  public var offset: Int?
  public var message: String

  public init(file: String, section: String?, offset: Int?, message: String) {
    self.file = file
    self.section = section
    self.offset = offset
    self.message = message
  }

  public var description: String {
    var s = file + ": "
    let place = section.map { "\($0) section" } ?? "header"
    if let offset { s += "\(place) at offset 0x\(String(offset, radix: 16)): " } else if section != nil { s += "\(place): " }
    return s + message
  }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib's `crc32`), continuing from
/// `seed`; libdeflate's carry-less-multiply version, since it bounds load time.
/// `crc32(Array("123456789".utf8)) == 0xCBF43926`.
public func crc32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
  guard let p = bytes.baseAddress else { return seed }
  return libdeflate_crc32(seed, p, bytes.count)
}

public func crc32(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
  bytes.withUnsafeBytes { crc32($0, seed: seed) }
}

/// The CRC-32 of `count` zero bytes, continuing from `seed` (padding that is never stored).
public func crc32(zeroBytes count: Int, seed: UInt32 = 0) -> UInt32 {
  var crc = seed, left = count
  while left > 0 {
    let n = min(left, zeroBlock.count)
    crc = zeroBlock.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[0..<n]), seed: crc) }
    left -= n
  }
  return crc
}

/// 64 KiB of zeros, built once: the source of padding and zero runs for checksums and writes.
let zeroBlock = [UInt8](repeating: 0, count: 1 << 16)


/// Rounds `n` up to a multiple of `alignment` (a power of two), or nil on overflow.
@inline(__always) func alignUp(_ n: Int, _ alignment: Int) -> Int? {
  let (s, o) = n.addingReportingOverflow(alignment - 1)
  return o ? nil : s & ~(alignment - 1)
}

/// Recomputes every section checksum and the header checksum of a `.gcb` image in place, for
/// tools and tests that patch a file on purpose (fuzzing the structural checks behind the
/// checksums). Entries that point outside the image are left alone; the bytes are not validated.
public func updateChecksums(_ b: inout [UInt8]) {
  guard b.count >= GCB.headerSize else { return }
  func u64(_ at: Int) -> Int {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(b[at + i]) << (8 * i) }
    return Int(clamping: v)
  }
  func setU32(_ at: Int, _ v: UInt32) { for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
  let claimed = Int(b[16]) | Int(b[17]) << 8 | Int(b[18]) << 16 | Int(b[19]) << 24
  let n = min(claimed, (b.count - GCB.headerSize) / GCB.sectionEntrySize)
  for i in 0..<n {
    let e = GCB.headerSize + GCB.sectionEntrySize * i
    let offset = u64(e + 8), length = u64(e + 16)
    guard offset <= b.count, length <= b.count - offset else { continue }
    setU32(e + 4, b.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) })
  }
  setU32(20, 0)
  let end = min(GCB.headerSize + GCB.sectionEntrySize * claimed, b.count)
  setU32(20, b.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[0..<end])) })
}
