// Reader.swift - PackedModel: the validating .gcb reader. Every file is treated as hostile.

import GraphIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A validated `.gcb` file. Construction checks every byte that matters (see "Validation" in
/// Docs/FileFormat.md) and throws `PackedFormatError` on the first problem; once it succeeds,
/// every index, shape, offset and length in the model is in range.
///
/// Constants are zero-copy views into the file's bytes, which stay mapped (read-only) for the
/// lifetime of the model and of any constant tensor still referenced.
public final class PackedModel {
  /// One tensor record.
  public struct TensorInfo {
    public let name: String
    public let type: TensorType
    public let kind: TensorKind
    /// Byte offset in the arena when the memory plan placed this tensor; nil when its size is
    /// only known at run time (or it is not a node result).
    public let arenaOffset: Int?
    /// The bytes of constants and attribute tensors, borrowed from the file.
    public let constant: Tensor?
  }

  /// One node record, in schedule order.
  public struct NodeInfo {
    public let op: String
    public let name: String
    /// Tensor indices; nil for an absent optional operand.
    public let operands: [Int?]
    public let results: [Int]
    public let attributes: AttributeMap
  }

  public let fileName: String
  public let minorVersion: UInt16
  public let tensors: [TensorInfo]
  public let nodes: [NodeInfo]
  public let inputs: [(name: String, tensor: Int)]
  public let outputs: [(name: String, tensor: Int)]
  /// Bytes of the arena the planned tensors live in, and the alignment of their offsets.
  public let arenaSize: Int
  public let arenaAlignment: Int
  /// Node results that share an operand's arena bytes (from the optional arena-aliases
  /// section), sorted by result. The interpreter checks that each node's kernel allows its kind.
  public let aliases: [AliasInfo]
  public let metadata: [String: String]
  /// Keeps the mapping (or in-memory copy) alive.
  private let file: FileBytes

  /// Maps `path` read-only and validates it. `verifyChecksums: false` skips the CRC of every
  /// section; `verifyWeightChecksum: false` skips only the weights section's CRC, which is most
  /// of the load time of a large model (it reads every weight page). Structure is always fully
  /// validated, so a damaged file can give wrong numbers but never a crash. Files over
  /// `maxBytes` are refused before they are mapped.
  public convenience init(
    path: String, verifyChecksums: Bool = true, verifyWeightChecksum: Bool = true,
    maxBytes: Int = ResourceLimits.default.modelBytes
  ) throws {
    let name = path.split(separator: "/").last.map(String.init) ?? path
    let file = try FileBytes(mapping: path, displayName: name, maxBytes: maxBytes)
    try self.init(file: file, name: name, verifyChecksums: verifyChecksums, verifyWeightChecksum: verifyWeightChecksum)
  }

  /// Validates an in-memory file (copied into 64-byte aligned storage).
  public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
    try self.init(file: FileBytes(copying: bytes), name: name, verifyChecksums: true, verifyWeightChecksum: true)
  }

  /// Validates a laid-out file, assembled once into 64-byte aligned storage: the in-memory
  /// counterpart of writing `image` and mapping it, with one copy of the weights, not two.
  public convenience init(image: GCBImage, name: String = "<memory>") throws {
    try self.init(file: FileBytes(image: image), name: name, verifyChecksums: true, verifyWeightChecksum: true)
  }

  private init(file: FileBytes, name: String, verifyChecksums: Bool, verifyWeightChecksum: Bool) throws {
    var p = Parser(file: file, name: name)
    p.verifyWeightChecksum = verifyWeightChecksum
    try p.parse(verifyChecksums: verifyChecksums)
    self.file = file
    fileName = name
    minorVersion = p.minorVersion
    tensors = p.tensors
    nodes = p.nodes
    inputs = p.inputs
    outputs = p.outputs
    arenaSize = p.arenaSize
    arenaAlignment = p.arenaAlignment
    aliases = p.aliases
    metadata = p.metadata
  }
}

/// The bytes of a file: an mmap (unmapped on deinit) or an owned aligned copy.
final class FileBytes: @unchecked Sendable {
  let base: UnsafeMutableRawPointer?
  let count: Int
  private let mapped: Bool

  /// An owned aligned buffer of `count` bytes, filled by `fill`.
  private init(count n: Int, fill: (UnsafeMutableRawPointer) -> Void) {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: GCB.weightAlignment)
    fill(p)
    count = n
    base = p
    mapped = false
  }

  convenience init(copying bytes: [UInt8]) {
    self.init(count: bytes.count) { p in
      bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: bytes.count) } }
    }
  }

  convenience init(image: GCBImage) {
    self.init(count: image.byteCount) { image.copy(to: $0) }
  }

  init(mapping path: String, displayName: String, maxBytes: Int) throws {
    func fail(_ what: String) -> PackedFormatError {
      PackedFormatError(file: displayName, section: nil, offset: nil, message: "\(what): \(String(cString: strerror(errno)))")
    }
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw fail("cannot open '\(path)'") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw fail("cannot stat") }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
      throw PackedFormatError(file: displayName, section: nil, offset: nil, message: "not a regular file")
    }
    count = Int(st.st_size)
    guard count <= maxBytes else {
      let message = ResourceLimits.exceeded(.modelBytes, count, limit: maxBytes, what: "the file")
      throw PackedFormatError(file: displayName, section: nil, offset: nil, message: message)
    }
    mapped = count > 0
    if count == 0 {
      base = nil
      return
    }
    guard let m = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else { throw fail("cannot map") }
    base = m
  }

  var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: base == nil ? 0 : count) }

  deinit {
    guard let base else { return }
    if mapped { munmap(base, count) } else { base.deallocate() }
  }
}

extension FileBytes: ReleasablePages {
  /// For a mapping only (an owned copy has no file to read back from): the pages are clean,
  /// since the mapping is read-only, and a later read maps them from the file again.
  func releaseResidentPages(_ start: UnsafeRawPointer, byteCount: Int) {
    guard mapped, let base, start >= UnsafeRawPointer(base), start + byteCount <= UnsafeRawPointer(base + count) else { return }
    let page = max(1, Int(sysconf(Int32(_SC_PAGESIZE))))
    let from = (Int(bitPattern: start) + page - 1) / page * page, to = (Int(bitPattern: start) + byteCount) / page * page
    guard from < to, let p = UnsafeMutableRawPointer(bitPattern: from) else { return }
    madvise(p, to - from, MADV_DONTNEED)
  }
}

/// The parse state. Sections are read in dependency order: strings, memory plan, tensors,
/// nodes, graph io, metadata; then cross-section rules are checked.
private struct Parser {
  let file: FileBytes
  let name: String
  let data: UnsafeRawBufferPointer
  var minorVersion: UInt16 = 0
  var sections: [SectionKind: (offset: Int, length: Int)] = [:]
  var strings: [String] = []
  var tensors: [PackedModel.TensorInfo] = []
  /// File offset of each tensor record, for messages about it.
  var tensorOffsets: [Int] = []
  var nodes: [PackedModel.NodeInfo] = []
  var nodeOffsets: [Int] = []
  var inputs: [(name: String, tensor: Int)] = []
  var outputs: [(name: String, tensor: Int)] = []
  var ioOffset = 0
  var arenaSize = 0
  var arenaAlignment = GCB.weightAlignment
  var plannedCount = 0
  var planOffset = 0
  var metadata: [String: String] = [:]
  var aliases: [AliasInfo] = []
  var verifyWeightChecksum = true
  var quantizations: [Quantization] = []

  init(file: FileBytes, name: String) {
    self.file = file
    self.name = name
    data = file.buffer
  }

  func error(_ section: SectionKind?, _ offset: Int?, _ message: String) -> PackedFormatError {
    PackedFormatError(file: name, section: section?.name, offset: offset, message: message)
  }

  func reader(_ kind: SectionKind) -> ByteReader {
    let s = sections[kind]!  // safe: parseHeader requires every kind
    return ByteReader(file: name, section: kind.name, data: data, start: s.offset, end: s.offset + s.length)
  }

  mutating func parse(verifyChecksums: Bool) throws {
    try parseHeader(verifyChecksums: verifyChecksums)
    try parseStrings()
    try parsePlan()
    try parseQuantization()
    try parseTensors()
    try parseNodes()
    try parseIO()
    try parseMetadata()
    try parseAliases()
    try checkSchedule()
  }

  // MARK: Header and section table

  mutating func parseHeader(verifyChecksums: Bool) throws {
    var h = ByteReader(file: name, section: nil, data: data, start: 0, end: data.count)
    guard data.count >= GCB.headerSize else {
      throw error(nil, nil, "file is \(data.count) bytes, shorter than the \(GCB.headerSize)-byte header")
    }
    guard try h.bytes(8, "magic").elementsEqual(GCB.magic) else { throw error(nil, 0, "bad magic: not a .gcb file") }
    let major = try h.u16("major version")
    guard major == GCB.majorVersion else {
      throw error(nil, 8, "format version \(major) is not supported (this reader reads version \(GCB.majorVersion))")
    }
    minorVersion = try h.u16("minor version")
    let flags = try h.u32("flags")
    guard flags == 0 else { throw error(nil, 12, "unknown flags 0x\(String(flags, radix: 16))") }
    let count = Int(try h.u32("section count"))
    guard count >= 1 && count <= GCB.maxSections else { throw error(nil, 16, "section count \(count) is out of range 1...\(GCB.maxSections)") }
    let storedCRC = try h.u32("header checksum")
    let fileLength = try h.u64("file length")
    guard fileLength == UInt64(data.count) else {
      throw error(nil, 24, "header says the file is \(fileLength) bytes but it is \(data.count) (truncated or extended)")
    }
    try h.reserved(8)
    let tableEnd = GCB.headerSize + count * GCB.sectionEntrySize
    guard tableEnd <= data.count else { throw error(nil, GCB.headerSize, "section table of \(count) entries runs past the end of the file") }
    var crc = crc32(UnsafeRawBufferPointer(rebasing: data[0..<20]))
    crc = withUnsafeBytes(of: UInt32(0)) { crc32($0, seed: crc) }  // the checksum field reads as zero
    crc = crc32(UnsafeRawBufferPointer(rebasing: data[24..<tableEnd]), seed: crc)
    guard crc == storedCRC else { throw error(nil, 20, "header checksum mismatch (stored 0x\(String(storedCRC, radix: 16)), computed 0x\(String(crc, radix: 16)))") }

    var extents: [(offset: Int, length: Int, entry: Int)] = []
    for i in 0..<count {
      let at = h.position
      let raw = try h.u32("section kind")
      let sectionCRC = try h.u32("section checksum")
      let offset = try h.u64("section offset")
      let length = try h.u64("section length")
      try h.reserved(8)
      guard offset <= UInt64(data.count), length <= UInt64(data.count) - offset else {
        throw error(nil, at, "section \(i) (kind \(raw)) at \(offset)+\(length) runs past the end of the file (\(data.count) bytes)")
      }
      let (o, l) = (Int(offset), Int(length))
      guard o >= tableEnd else { throw error(nil, at, "section \(i) starts at \(o), inside the header or section table") }
      extents.append((o, l, at))
      guard let kind = SectionKind(rawValue: raw) else {
        guard raw & SectionKind.optionalBit != 0 else { throw error(nil, at, "unknown required section kind \(raw)") }
        continue
      }
      guard sections[kind] == nil else { throw error(nil, at, "duplicate \(kind.name) section") }
      let align = kind == .weights ? GCB.weightAlignment : GCB.sectionAlignment
      guard o % align == 0 else { throw error(kind, o, "section offset is not \(align)-byte aligned") }
      if verifyChecksums && (verifyWeightChecksum || kind != .weights) {
        let c = crc32(UnsafeRawBufferPointer(rebasing: data[o..<(o + l)]))
        guard c == sectionCRC else {
          throw error(kind, o, "checksum mismatch (stored 0x\(String(sectionCRC, radix: 16)), computed 0x\(String(c, radix: 16)))")
        }
      }
      sections[kind] = (o, l)
    }
    for kind in SectionKind.allCases where kind.isRequired && sections[kind] == nil { throw error(nil, GCB.headerSize, "missing \(kind.name) section") }

    // Sections must not overlap, and every byte between them must be zero padding, so that
    // no byte of the file escapes validation.
    extents.sort { ($0.offset, $0.length) < ($1.offset, $1.length) }
    var cursor = tableEnd
    for e in extents {
      guard e.offset >= cursor else { throw error(nil, e.entry, "section at offset \(e.offset) overlaps the previous section (ending at \(cursor))") }
      if let bad = (cursor..<e.offset).first(where: { data[$0] != 0 }) { throw error(nil, bad, "padding byte between sections is not zero") }
      cursor = e.offset + e.length
    }
    guard cursor == data.count else { throw error(nil, cursor, "\(data.count - cursor) unaccounted bytes after the last section") }
  }

  // MARK: Sections

  /// A count field, bounded by how many records of at least `minSize` bytes could fit.
  func recordCount(_ r: inout ByteReader, _ what: String, minSize: Int) throws -> Int {
    let at = r.position
    let n = Int(try r.u32(what))
    guard n <= r.remaining / max(minSize, 1) else {
      throw r.error("\(what) \(n) cannot fit in the \(r.remaining) bytes left", at: at)
    }
    return n
  }

  func string(_ r: inout ByteReader, _ what: String) throws -> String {
    let at = r.position
    let id = try r.u32(what)
    guard Int(id) < strings.count else { throw r.error("\(what) string id \(id) out of range (\(strings.count) strings)", at: at) }
    return strings[Int(id)]
  }

  mutating func parseStrings() throws {
    var r = reader(.strings)
    let n = try recordCount(&r, "string count", minSize: 4)
    try r.reserved(4)
    strings.reserveCapacity(n)
    for i in 0..<n {
      let at = r.position
      let len = Int(try r.u32("string length"))
      let b = try r.bytes(len, "string \(i)")
      guard let s = String(validating: b, as: UTF8.self) else { throw r.error("string \(i) is not valid UTF-8", at: at) }
      strings.append(s)
    }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes after the last string") }
  }

  mutating func parsePlan() throws {
    var r = reader(.memoryPlan)
    planOffset = r.position
    let size = try r.u64("arena size")
    let alignAt = r.position
    let align = Int(try r.u32("arena alignment"))
    plannedCount = Int(try r.u32("planned tensor count"))
    guard size <= UInt64(GCB.maxTensorElements) * 8 * 16 else { throw r.error("arena size \(size) is unreasonably large", at: planOffset) }
    guard align >= 1, align <= 4096, align & (align - 1) == 0 else { throw r.error("arena alignment \(align) is not a power of two up to 4096", at: alignAt) }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes at the end of the memory plan") }
    arenaSize = Int(size)
    arenaAlignment = align
  }

  mutating func parseTensors() throws {
    var r = reader(.tensors)
    let n = try recordCount(&r, "tensor count", minSize: 40)
    try r.reserved(4)
    let weights = sections[.weights]!  // safe: required section
    var planned = 0
    var usedArena = 0
    for i in 0..<n {
      let at = r.position
      tensorOffsets.append(at)
      let name = try string(&r, "tensor name")
      let rawType = try r.u8("dtype")
      guard let dtype = DType(rawValue: rawType), dtype != .string else { throw r.error("tensor \(i) ('\(name)'): unknown or unsupported dtype \(rawType)", at: at + 4) }
      let rawKind = try r.u8("tensor kind")
      guard let kind = TensorKind(rawValue: rawKind) else { throw r.error("tensor \(i) ('\(name)'): unknown tensor kind \(rawKind)", at: at + 5) }
      let rank = try r.u16("rank")
      let weightOffset = try r.u64("weight offset")
      let weightLength = try r.u64("weight length")
      let arenaOffset = try r.u64("arena offset")
      let quantAt = r.position
      let quantId = try r.u32("quantization record")
      try r.reserved(4)
      var dims: [Dim]? = nil
      if rank != GCB.unknownRank {
        guard Int(rank) <= GCB.maxRank else { throw r.error("tensor \(i) ('\(name)'): rank \(rank) exceeds \(GCB.maxRank)", at: at + 6) }
        var ds: [Dim] = []
        var known = 1
        for _ in 0..<Int(rank) {
          let dimAt = r.position
          let d = try r.i64("dim")
          if d >= 0 {
            let (p, o) = known.multipliedReportingOverflow(by: Int(d))
            guard !o, p <= GCB.maxTensorElements else {
              throw r.error("tensor \(i) ('\(name)'): shape has more than \(GCB.maxTensorElements) elements", at: dimAt)
            }
            known = p
            ds.append(.fixed(Int(d)))
          } else {
            let id = ~d  // symbols are stored as the bitwise complement of a string id
            guard id < Int64(strings.count) else { throw r.error("tensor \(i) ('\(name)'): dim symbol id \(id) out of range (\(strings.count) strings)", at: dimAt) }
            ds.append(.symbol(strings[Int(id)]))
          }
        }
        dims = ds
      }
      var type = TensorType(dtype, dims)
      if quantId != 0 {
        guard Int(quantId) <= quantizations.count else {
          throw r.error("tensor \(i) ('\(name)'): quantization record \(quantId) out of range (\(quantizations.count) records)", at: quantAt)
        }
        type.quant = quantizations[Int(quantId) - 1]
        do { try type.quant?.check(type) } catch let e as GraphError { throw r.error("tensor \(i) ('\(name)'): \(e.message)", at: quantAt) }
      }
      guard !dtype.isPacked || kind == .constant else {
        throw r.error("tensor \(i) ('\(name)'): only constants can have the packed type \(dtype.shortName)", at: at + 4)
      }
      let staticCount = type.staticShape.flatMap(checkedElementCount)
      let byteSize = staticCount.map { dtype.byteCount(elements: $0) }

      var constant: Tensor? = nil
      if kind.hasWeights {
        guard let shape = type.staticShape, let bytes = byteSize else { throw r.error("tensor \(i) ('\(name)'): a \(kind) tensor must have a static shape", at: at + 6) }
        guard weightOffset % UInt64(GCB.weightAlignment) == 0 else { throw r.error("tensor \(i) ('\(name)'): weight offset \(weightOffset) is not \(GCB.weightAlignment)-byte aligned", at: at + 8) }
        guard weightLength == UInt64(bytes) else { throw r.error("tensor \(i) ('\(name)'): weight length \(weightLength) does not match \(type) (\(bytes) bytes)", at: at + 16) }
        guard weightOffset <= UInt64(weights.length), weightLength <= UInt64(weights.length) - weightOffset else {
          throw r.error("tensor \(i) ('\(name)'): weight \(weightOffset)+\(weightLength) runs past the weights section (\(weights.length) bytes)", at: at + 8)
        }
        let start = weights.offset + Int(weightOffset)
        let base = UnsafeMutableRawPointer(mutating: data.baseAddress! + start)  // safe: bounds checked; data is non-empty here
        constant = Tensor(dtype: dtype, shape: shape, storage: TensorStorage(borrowing: base, byteCount: bytes, owner: file))
      } else if weightOffset != 0 || weightLength != 0 {
        throw r.error("tensor \(i) ('\(name)'): a \(kind) tensor has a weight reference", at: at + 8)
      }

      var planOffsetValue: Int? = nil
      if arenaOffset != GCB.dynamicOffset {
        guard kind.isNodeResult, let bytes = byteSize else {
          throw r.error("tensor \(i) ('\(name)'): only node results with static shapes can have an arena offset", at: at + 24)
        }
        guard arenaOffset % UInt64(arenaAlignment) == 0 else { throw r.error("tensor \(i) ('\(name)'): arena offset \(arenaOffset) is not \(arenaAlignment)-byte aligned", at: at + 24) }
        guard arenaOffset <= UInt64(arenaSize), UInt64(bytes) <= UInt64(arenaSize) - arenaOffset else {
          throw r.error("tensor \(i) ('\(name)'): arena range \(arenaOffset)+\(bytes) exceeds the arena size \(arenaSize)", at: at + 24)
        }
        planOffsetValue = Int(arenaOffset)
        planned += 1
        usedArena = max(usedArena, Int(arenaOffset) + bytes)
      }
      tensors.append(PackedModel.TensorInfo(name: name, type: type, kind: kind, arenaOffset: planOffsetValue, constant: constant))
    }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes after the last tensor") }
    guard planned == plannedCount else {
      throw error(.memoryPlan, planOffset + 12, "the plan counts \(plannedCount) planned tensors but the tensors section has \(planned)")
    }
    // The arena is exactly as large as the planned tensors need, so a file cannot make the
    // interpreter allocate memory that nothing uses.
    guard let needed = alignUp(usedArena, arenaAlignment), needed == arenaSize else {
      throw error(.memoryPlan, planOffset, "arena size \(arenaSize) does not match the \(usedArena) bytes the planned tensors use (rounded up to \(arenaAlignment))")
    }
  }

  /// The quantization section (kind 8), when present: records of axis, count, scales and zero
  /// points. Parameters are checked against each tensor that refers to them.
  mutating func parseQuantization() throws {
    guard sections[.quantization] != nil else { return }
    var r = reader(.quantization)
    let n = try recordCount(&r, "quantization record count", minSize: 16)
    try r.reserved(4)
    for k in 0..<n {
      let at = r.position
      let axis = try r.i32("axis")
      let count = Int(try r.u32("scale count"))
      guard count >= 1, count <= GCB.maxListLength, count <= r.remaining / 8 else {
        throw r.error("quantization record \(k + 1): \(count) scales do not fit the section", at: at + 4)
      }
      var scales: [Float] = [], zps: [Int32] = []
      scales.reserveCapacity(count)
      zps.reserveCapacity(count)
      for _ in 0..<count { scales.append(Float(bitPattern: try r.u32("scale"))) }
      for _ in 0..<count { zps.append(try r.i32("zero point")) }
      if axis == -1 {
        guard count == 1 else { throw r.error("quantization record \(k + 1): per-tensor parameters with \(count) scales", at: at) }
        quantizations.append(Quantization(scale: scales[0], zeroPoint: zps[0]))
      } else {
        guard axis >= 0, axis < GCB.maxRank else { throw r.error("quantization record \(k + 1): axis \(axis) out of range", at: at) }
        quantizations.append(Quantization(axis: Int(axis), scales: scales, zeroPoints: zps))
      }
    }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes after the last quantization record") }
  }

  func tensorIndex(_ r: inout ByteReader, _ what: String, allowAbsent: Bool) throws -> Int? {
    let at = r.position
    let v = try r.u32(what)
    if v == GCB.absentIndex && allowAbsent { return nil }
    guard Int(v) < tensors.count else { throw r.error("\(what) index \(v) out of range (\(tensors.count) tensors)", at: at) }
    return Int(v)
  }

  mutating func parseNodes() throws {
    var r = reader(.nodes)
    let n = try recordCount(&r, "node count", minSize: 24)
    try r.reserved(4)
    for i in 0..<n {
      let at = r.position
      nodeOffsets.append(at)
      let op = try string(&r, "op name")
      let nodeName = try string(&r, "node name")
      let operandCount = try recordCount(&r, "operand count", minSize: 4)
      let resultCount = try recordCount(&r, "result count", minSize: 4)
      let attributeCount = try recordCount(&r, "attribute count", minSize: 12)
      try r.reserved(4)
      var operands: [Int?] = []
      for _ in 0..<operandCount { operands.append(try tensorIndex(&r, "operand", allowAbsent: true)) }
      var results: [Int] = []
      for _ in 0..<resultCount { results.append(try tensorIndex(&r, "result", allowAbsent: false)!) }  // safe: absent not allowed
      var attributes: AttributeMap = [:]
      for _ in 0..<attributeCount {
        let attrAt = r.position
        let attrName = try string(&r, "attribute name")
        let rawKind = try r.u8("attribute kind")
        try r.reserved(3)
        let count = try recordCount(&r, "attribute length", minSize: 4)
        guard let kind = AttributeKind(rawValue: rawKind) else { throw r.error("node \(i) ('\(nodeName)'): attribute '\(attrName)' has unknown kind \(rawKind)", at: attrAt + 4) }
        let scalar: Set<AttributeKind> = [.int, .float, .string, .tensor]
        guard !scalar.contains(kind) || count == 1 else { throw r.error("node \(i) ('\(nodeName)'): scalar attribute '\(attrName)' has length \(count)", at: attrAt + 8) }
        let value: Attribute
        switch kind {
        case .int: value = .int(Int(try r.i64("int attribute")))
        case .float: value = .float(Float(bitPattern: try r.u32("float attribute")))
        case .string: value = .string(try string(&r, "string attribute"))
        case .ints:
          var v: [Int] = []
          v.reserveCapacity(count)
          for _ in 0..<count { v.append(Int(try r.i64("ints attribute"))) }
          value = .ints(v)
        case .floats:
          var v: [Float] = []
          v.reserveCapacity(count)
          for _ in 0..<count { v.append(Float(bitPattern: try r.u32("floats attribute"))) }
          value = .floats(v)
        case .strings:
          var v: [String] = []
          for _ in 0..<count { v.append(try string(&r, "strings attribute")) }
          value = .strings(v)
        case .tensor:
          let tAt = r.position
          let t = try tensorIndex(&r, "tensor attribute", allowAbsent: false)!  // safe: absent not allowed
          guard let c = tensors[t].constant, tensors[t].kind == .attribute else {
            throw r.error("node \(i) ('\(nodeName)'): attribute '\(attrName)' refers to tensor \(t), which is not an attribute tensor", at: tAt)
          }
          value = .tensor(c)
        }
        guard attributes.updateValue(value, forKey: attrName) == nil else {
          throw r.error("node \(i) ('\(nodeName)'): duplicate attribute '\(attrName)'", at: attrAt)
        }
      }
      nodes.append(PackedModel.NodeInfo(op: op, name: nodeName, operands: operands, results: results, attributes: attributes))
    }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes after the last node") }
  }

  mutating func parseIO() throws {
    var r = reader(.graphIO)
    ioOffset = r.position
    let ni = Int(try r.u32("input count"))
    let no = Int(try r.u32("output count"))
    guard ni <= r.remaining / 8, no <= r.remaining / 8 - ni else { throw r.error("\(ni) inputs and \(no) outputs cannot fit in the section", at: ioOffset) }
    for k in 0..<(ni + no) {
      let at = r.position
      let t = try tensorIndex(&r, k < ni ? "input tensor" : "output tensor", allowAbsent: false)!  // safe: absent not allowed
      let public_ = try string(&r, "public name")
      if k < ni {
        guard tensors[t].kind == .input else { throw r.error("graph input '\(public_)' refers to tensor \(t), a \(tensors[t].kind) tensor", at: at) }
        guard !inputs.contains(where: { $0.name == public_ || $0.tensor == t }) else { throw r.error("graph input '\(public_)' is listed twice", at: at) }
        inputs.append((public_, t))
      } else {
        guard tensors[t].kind != .attribute else { throw r.error("graph output '\(public_)' refers to an attribute tensor", at: at) }
        guard !outputs.contains(where: { $0.name == public_ }) else { throw r.error("two graph outputs are named '\(public_)'", at: at) }
        outputs.append((public_, t))
      }
    }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes at the end of the section") }
    for (i, t) in tensors.enumerated() {
      if t.kind == .input && !inputs.contains(where: { $0.tensor == i }) {
        throw error(.tensors, tensorOffsets[i], "input tensor \(i) ('\(t.name)') is not a graph input")
      }
      if t.kind == .output && !outputs.contains(where: { $0.tensor == i }) {
        throw error(.tensors, tensorOffsets[i], "output tensor \(i) ('\(t.name)') is not a graph output")
      }
    }
  }

  mutating func parseMetadata() throws {
    var r = reader(.metadata)
    let n = try recordCount(&r, "entry count", minSize: 8)
    try r.reserved(4)
    for _ in 0..<n {
      let at = r.position
      let key = try string(&r, "metadata key")
      let value = try string(&r, "metadata value")
      guard metadata.updateValue(value, forKey: key) == nil else { throw r.error("duplicate metadata key '\(key)'", at: at) }
    }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes after the last entry") }
  }

  /// Each record names a planned single result of some node and one of that node's planned
  /// operands with the same dtype, byte size and arena offset; a result aliases at most once.
  mutating func parseAliases() throws {
    guard sections[.arenaAliases] != nil else { return }
    var r = reader(.arenaAliases)
    let n = try recordCount(&r, "alias count", minSize: 12)
    try r.reserved(4)
    var producer = [Int?](repeating: nil, count: tensors.count)
    for (k, node) in nodes.enumerated() { for t in node.results { producer[t] = k } }
    var seen = Set<Int>()
    for _ in 0..<n {
      let at = r.position
      let result = Int(try r.u32("alias result")), operand = Int(try r.u32("alias operand"))
      let rawKind = try r.u8("alias kind")
      try r.reserved(3)
      guard result < tensors.count, operand < tensors.count else { throw r.error("alias tensor index out of range (\(tensors.count) tensors)", at: at) }
      guard let kind = ArenaAlias(rawValue: rawKind) else { throw r.error("unknown alias kind \(rawKind)", at: at + 8) }
      guard let k = producer[result], nodes[k].results.count == 1, nodes[k].operands.contains(operand) else {
        throw r.error("tensor \(result) is not the single result of a node that has tensor \(operand) as an operand", at: at)
      }
      let (x, y) = (tensors[result], tensors[operand])
      guard let xo = x.arenaOffset, let yo = y.arenaOffset, xo == yo, x.type.dtype == y.type.dtype,
            let xs = x.type.staticShape, let ys = y.type.staticShape, checkedElementCount(xs) == checkedElementCount(ys) else {
        throw r.error("tensors \(result) and \(operand) are not planned at the same offset with the same type and size", at: at)
      }
      guard seen.insert(result).inserted else { throw r.error("tensor \(result) has two aliases", at: at) }
      aliases.append(AliasInfo(node: k, result: result, operand: operand, kind: kind))
    }
    guard r.atEnd else { throw r.error("\(r.remaining) unexpected bytes after the last alias") }
  }

  // MARK: Cross-section rules

  /// Operands are defined before use, each node result is produced exactly once, and planned
  /// tensors that are live at the same time do not share arena bytes.
  mutating func checkSchedule() throws {
    var producer = [Int?](repeating: nil, count: tensors.count)
    for (k, node) in nodes.enumerated() {
      for (j, o) in node.operands.enumerated() {
        guard let o else { continue }
        let t = tensors[o]
        let defined = t.kind == .input || t.kind == .constant || (producer[o].map { $0 < k } ?? false)
        guard defined else {
          throw error(.nodes, nodeOffsets[k], "node \(k) ('\(node.name)'): operand \(j) uses tensor \(o) ('\(t.name)') before it is defined")
        }
      }
      for r in node.results {
        guard tensors[r].kind.isNodeResult else {
          throw error(.nodes, nodeOffsets[k], "node \(k) ('\(node.name)'): result tensor \(r) is a \(tensors[r].kind) tensor")
        }
        guard producer[r] == nil else {
          throw error(.nodes, nodeOffsets[k], "node \(k) ('\(node.name)'): tensor \(r) is already produced by node \(producer[r]!)")  // safe: checked non-nil
        }
        producer[r] = k
      }
    }
    for (i, t) in tensors.enumerated() where t.kind.isNodeResult && producer[i] == nil {
      throw error(.tensors, tensorOffsets[i], "tensor \(i) ('\(t.name)') is a node result but no node produces it")
    }
    let steps = nodes.map { ScheduleStep(operands: $0.operands, results: $0.results) }
    var life = resultLifetimes(tensorCount: tensors.count, steps: steps, outputs: outputs.map(\.tensor))
    for (i, t) in tensors.enumerated() where t.arenaOffset == nil { life[i] = nil }
    // Aliased tensors form groups that are one buffer each; an in-place write must come after
    // every earlier member's last use.
    var groups = AliasGroups(life: life)
    for a in aliases { groups.merge(a.result, into: a.operand) }
    // Per group, members by first use with the running maximum of their last uses, so each
    // in-place check is a binary search (no quadratic walk on a hostile file).
    var members: [Int: [(first: Int, maxLast: Int)]] = [:]
    for i in tensors.indices {
      guard let l = life[i] else { continue }
      members[groups.root(i), default: []].append((l.first, l.last))
    }
    for key in Array(members.keys) {
      var list = members[key]!.sorted { $0.first < $1.first }  // safe: key comes from the dictionary
      for j in list.indices.dropFirst() { list[j].maxLast = max(list[j].maxLast, list[j - 1].maxLast) }
      members[key] = list
    }
    for a in aliases where a.kind == .inPlace {
      let list = members[groups.root(a.result)] ?? []
      var lo = 0, hi = list.count
      while lo < hi { let mid = (lo + hi) / 2; if list[mid].first < a.node { lo = mid + 1 } else { hi = mid } }
      guard lo == 0 || list[lo - 1].maxLast <= a.node else {
        throw error(.arenaAliases, nil, "tensor \(a.result) ('\(tensors[a.result].name)') is written in place over tensor \(a.operand), whose bytes are still used after node \(a.node)")
      }
    }
    var planned: [Int] = []
    var buffers: [BufferLifetime] = []
    var offsets: [Int] = []
    for (i, t) in tensors.enumerated() {
      guard let off = t.arenaOffset, life[i] != nil, groups.root(i) == i, let shape = t.type.staticShape, let n = checkedElementCount(shape) else { continue }
      planned.append(i)
      offsets.append(off)
      buffers.append(BufferLifetime(size: t.type.dtype.byteCount(elements: n), firstUse: groups.first[i], lastUse: groups.last[i]))
    }
    if let (a, b) = firstConflict(offsets: offsets, buffers: buffers) {
      let (x, y) = (planned[a], planned[b])
      throw error(.tensors, tensorOffsets[y], "tensors \(x) ('\(tensors[x].name)') and \(y) ('\(tensors[y].name)') are live at the same time but share arena bytes")
    }
  }
}
