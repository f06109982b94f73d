// Writer.swift - Serializes a scheduled graph into .gcb bytes, and writes files atomically.

import GraphIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serializes `graph` into `.gcb` bytes (Docs/FileFormat.md); see `packGCB`.
public func writeGCB(
  graph: Graph, metadata: [String: String], limits: ResourceLimits = .default,
  aliasing: (String) -> ArenaAlias? = { _ in nil }
) throws -> [UInt8] {
  try packGCB(graph: graph, metadata: metadata, limits: limits, aliasing: aliasing).bytes()
}

/// Lays `graph` out as a `.gcb` file (Docs/FileFormat.md). The graph must be verified and in
/// schedule order; constants' bytes go to the weights section and intermediates get arena
/// offsets from `planMemory`. `metadata` is merged over `graph.metadata`. The output is
/// deterministic: the same graph and metadata give the same bytes. Fails when a planned tensor
/// or the arena exceeds `limits`, so a file that would not load is never written.
///
/// `aliasing` tells which ops may write their result over an operand (in place) or reuse its
/// bytes unchanged (view); the interpreter's `KernelRegistry.aliasing(for:)` is the usual
/// source. The default plans every result in its own bytes.
///
/// The image refers to the constants' storage instead of copying the weights, so writing it
/// to a file (`GCBImage.write(to:)`) needs no second copy of the model in memory.
public func packGCB(
  graph: Graph, metadata: [String: String], limits: ResourceLimits = .default,
  aliasing: (String) -> ArenaAlias? = { _ in nil }
) throws -> GCBImage {
  let table = try TensorTable(graph)
  var strings = StringTable()
  let plan = try table.plan(limits, aliasing: aliasing)

  var weights = WeightsSection()
  var quantization = QuantizationSection()
  var tensors = ByteWriter()
  tensors.u32(UInt32(table.entries.count))
  tensors.u32(0)
  for (i, e) in table.entries.enumerated() {
    var weightOffset = 0, weightLength = 0
    if let c = e.constant {
      weightOffset = weights.append(c)
      weightLength = c.byteCount
    }
    tensors.u32(strings.id(e.name))
    tensors.u8(e.type.dtype.rawValue)
    tensors.u8(e.kind.rawValue)
    tensors.u16(e.type.dims.map { UInt16($0.count) } ?? GCB.unknownRank)
    tensors.u64(UInt64(weightOffset))
    tensors.u64(UInt64(weightLength))
    tensors.u64(plan.offsets[i].map { UInt64($0) } ?? GCB.dynamicOffset)
    tensors.u32(e.type.quant.map { quantization.add($0) } ?? 0)
    tensors.u32(0)
    for d in e.type.dims ?? [] {
      switch d {
      case .fixed(let v): tensors.i64(Int64(v))
      case .symbol(let s): tensors.i64(~Int64(strings.id(s)))
      }
    }
  }

  var nodes = ByteWriter()
  nodes.u32(UInt32(graph.nodes.count))
  nodes.u32(0)
  for (k, n) in graph.nodes.enumerated() {
    nodes.u32(strings.id(n.op))
    nodes.u32(strings.id(n.name))
    nodes.u32(UInt32(n.operands.count))
    nodes.u32(UInt32(n.results.count))
    nodes.u32(UInt32(n.attributes.count))
    nodes.u32(0)
    for o in n.operands { nodes.u32(o.map { UInt32(table.index[ObjectIdentifier($0)]!) } ?? GCB.absentIndex) }  // safe: TensorTable checked every operand
    for r in n.results { nodes.u32(UInt32(table.index[ObjectIdentifier(r)]!)) }  // safe: every result is indexed
    var attributeTensors = table.attributeTensors[k].makeIterator()
    for (name, a) in n.attributes.sorted(by: { $0.key < $1.key }) {
      nodes.u32(strings.id(name))
      func header(_ kind: AttributeKind, _ count: Int) {
        nodes.u8(kind.rawValue); nodes.u8(0); nodes.u8(0); nodes.u8(0)
        nodes.u32(UInt32(count))
      }
      switch a {
      case .int(let v): header(.int, 1); nodes.i64(Int64(v))
      case .float(let v): header(.float, 1); nodes.u32(v.bitPattern)
      case .string(let v): header(.string, 1); nodes.u32(strings.id(v))
      case .ints(let v): header(.ints, v.count); v.forEach { nodes.i64(Int64($0)) }
      case .floats(let v): header(.floats, v.count); v.forEach { nodes.u32($0.bitPattern) }
      case .strings(let v): header(.strings, v.count); v.forEach { nodes.u32(strings.id($0)) }
      case .tensor: header(.tensor, 1); nodes.u32(UInt32(attributeTensors.next()!))  // safe: one per tensor attribute, same order
      }
    }
  }

  var io = ByteWriter()
  io.u32(UInt32(graph.inputs.count))
  io.u32(UInt32(graph.outputs.count))
  for v in graph.inputs {
    io.u32(UInt32(table.index[ObjectIdentifier(v)]!))  // safe: inputs are indexed first
    io.u32(strings.id(v.name))
  }
  for (name, v) in graph.outputs {
    io.u32(UInt32(table.index[ObjectIdentifier(v)]!))  // safe: outputs were checked to be defined
    io.u32(strings.id(name))
  }

  var planSection = ByteWriter()
  planSection.u64(UInt64(plan.arena.arenaSize))
  planSection.u32(UInt32(plan.arena.alignment))
  planSection.u32(UInt32(plan.offsets.compactMap { $0 }.count))

  var aliasSection = ByteWriter()
  aliasSection.u32(UInt32(plan.aliases.count))
  aliasSection.u32(0)
  for a in plan.aliases {
    aliasSection.u32(UInt32(a.result))
    aliasSection.u32(UInt32(a.operand))
    aliasSection.u8(a.kind.rawValue)
    aliasSection.u8(0); aliasSection.u8(0); aliasSection.u8(0)
  }

  var meta = ByteWriter()
  let merged = graph.metadata.merging(metadata) { _, new in new }
  meta.u32(UInt32(merged.count))
  meta.u32(0)
  for (k, v) in merged.sorted(by: { $0.key < $1.key }) {
    meta.u32(strings.id(k))
    meta.u32(strings.id(v))
  }

  var stringSection = ByteWriter()
  stringSection.u32(UInt32(strings.list.count))
  stringSection.u32(0)
  for s in strings.list {
    let utf8 = Array(s.utf8)
    stringSection.u32(UInt32(utf8.count))
    stringSection.append(utf8)
  }

  var sections: [(SectionKind, [GCBImage.Piece])] = [
    (.strings, [.bytes(stringSection.bytes)]), (.tensors, [.bytes(tensors.bytes)]), (.nodes, [.bytes(nodes.bytes)]),
    (.graphIO, [.bytes(io.bytes)]), (.memoryPlan, [.bytes(planSection.bytes)]), (.metadata, [.bytes(meta.bytes)]),
  ]
  // Written only when some tensor is quantized, so float models keep their layout.
  if quantization.count > 0 { sections.append((.quantization, [.bytes(quantization.bytes)])) }
  sections.append((.weights, weights.pieces))
  if !plan.aliases.isEmpty { sections.append((.arenaAliases, [.bytes(aliasSection.bytes)])) }
  return GCBImage(sections: sections)
}

/// The weights section as references to the constants' bytes, each 64-byte aligned.
private struct WeightsSection {
  private(set) var pieces: [GCBImage.Piece] = []
  private var count = 0

  /// Appends `tensor`'s bytes at the next aligned offset and returns that offset.
  mutating func append(_ tensor: Tensor) -> Int {
    let padding = (GCB.weightAlignment - count % GCB.weightAlignment) % GCB.weightAlignment
    if padding > 0 { pieces.append(.zeros(padding)) }
    count += padding
    let offset = count
    pieces.append(.tensor(tensor))
    count += tensor.byteCount
    return offset
  }
}

/// The quantization section's records, deduplicated (an activation's parameters are shared by
/// its producer's result and the graph output, for example). Record ids are 1-based: 0 in a
/// tensor record means "not quantized".
private struct QuantizationSection {
  private var ids: [Quantization: UInt32] = [:]
  private var records = ByteWriter()
  private(set) var count = 0

  mutating func add(_ q: Quantization) -> UInt32 {
    if let id = ids[q] { return id }
    records.i32(Int32(q.axis ?? -1))
    records.u32(UInt32(q.scales.count))
    for s in q.scales { records.u32(s.bitPattern) }
    for z in q.zeroPoints { records.i32(z) }
    count += 1
    ids[q] = UInt32(count)
    return UInt32(count)
  }

  var bytes: [UInt8] {
    var out = ByteWriter()
    out.u32(UInt32(count))
    out.u32(0)
    out.append(records.bytes)
    return out.bytes
  }
}

/// A laid-out `.gcb` file: header, section table and sections, checksums computed. Small
/// sections are held as bytes; the weights refer to the constants' storage (which must not
/// change while the image lives), so the file exists in memory only when `bytes()` asks for it.
public struct GCBImage {
  enum Piece {
    case bytes([UInt8])
    case tensor(Tensor)
    case zeros(Int)

    var count: Int {
      switch self {
      case .bytes(let b): b.count
      case .tensor(let t): t.byteCount
      case .zeros(let n): n
      }
    }
  }

  /// The file's pieces in order, padding included.
  private var pieces: [Piece] = []
  /// The file's length in bytes.
  public private(set) var byteCount = 0

  init(sections: [(kind: SectionKind, pieces: [Piece])]) {
    // Offsets first: the section table precedes the sections.
    let tableStart = GCB.headerSize
    var offset = tableStart + sections.count * GCB.sectionEntrySize
    var entries = ByteWriter()
    var body: [Piece] = []
    for (kind, sectionPieces) in sections {
      let alignment = kind == .weights ? GCB.weightAlignment : GCB.sectionAlignment
      let padding = (alignment - offset % alignment) % alignment
      if padding > 0 { body.append(.zeros(padding)) }
      offset += padding
      let length = sectionPieces.reduce(0) { $0 + $1.count }
      entries.u32(kind.rawValue)
      entries.u32(sectionPieces.reduce(UInt32(0)) { crc, piece in piece.crc32(seed: crc) })
      entries.u64(UInt64(offset))
      entries.u64(UInt64(length))
      entries.u64(0)
      body += sectionPieces
      offset += length
    }
    var header = ByteWriter()
    header.append(GCB.magic)
    header.u16(GCB.majorVersion)
    header.u16(GCB.minorVersion)
    header.u32(0)  // flags
    header.u32(UInt32(sections.count))
    header.u32(0)  // header checksum, patched below
    header.u64(UInt64(offset))  // file length
    header.u64(0)  // reserved
    header.append(entries.bytes)
    header.patchU32(at: 20, crc32(header.bytes))
    pieces = [.bytes(header.bytes)] + body
    byteCount = offset
  }

  /// The whole file in memory.
  public func bytes() -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
      copy(to: UnsafeMutableRawPointer(buffer.baseAddress!))  // safe: byteCount >= the header's size
      initialized = byteCount
    }
  }

  /// Writes the whole file to `base`, which must hold `byteCount` bytes.
  func copy(to base: UnsafeMutableRawPointer) {
    var at = 0
    for piece in pieces {
      piece.withBytes { src in
        if let src, src.count > 0 {
          (base + at).copyMemory(from: src.baseAddress!, byteCount: src.count)  // safe: count > 0
        } else {
          (base + at).initializeMemory(as: UInt8.self, repeating: 0, count: piece.count)
        }
      }
      at += piece.count
    }
  }

  /// Writes the file to `path` atomically (see `writeFileAtomically`), streaming the weights
  /// from the constants' storage.
  public func write(to path: String) throws {
    try writeFileAtomically(to: path, byteCount: byteCount) { sink in
      for piece in pieces { try piece.withBytes { try sink.write($0, count: piece.count) } }
    }
  }
}

extension GCBImage.Piece {
  /// The piece's bytes, or nil for zeros (which are never materialized).
  func withBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
    switch self {
    case .bytes(let b): try b.withUnsafeBytes { try body($0) }
    case .tensor(let t): try body(t.bytes)
    case .zeros: try body(nil)
    }
  }

  func crc32(seed: UInt32) -> UInt32 {
    switch self {
    case .zeros(let n): PackedFormat.crc32(zeroBytes: n, seed: seed)
    default: withBytes { PackedFormat.crc32($0!, seed: seed) }  // safe: only zeros have no bytes
    }
  }
}

/// Interns strings in order of first use, so ids are deterministic.
private struct StringTable {
  var list: [String] = []
  var ids: [String: UInt32] = [:]
  mutating func id(_ s: String) -> UInt32 {
    if let i = ids[s] { return i }
    let i = UInt32(list.count)
    list.append(s)
    ids[s] = i
    return i
  }
}

/// Every tensor of the file in index order: inputs, constants, node results in schedule
/// order, then constants referenced by tensor attributes.
private struct TensorTable {
  struct Entry {
    var name: String
    var type: TensorType
    var kind: TensorKind
    var constant: Tensor?
  }
  var entries: [Entry] = []
  var index: [ObjectIdentifier: Int] = [:]
  var steps: [ScheduleStep] = []
  var ops: [String] = []
  var outputIndices: [Int] = []
  /// Per node, the tensor indices of its tensor attributes in sorted-name order.
  var attributeTensors: [[Int]] = []

  init(_ graph: Graph) throws {
    func add(_ v: Value, _ kind: TensorKind, _ constant: Tensor? = nil) throws {
      guard v.type.dtype != .string else { throw GraphError("value '\(v.name)' has string elements, which the .gcb cannot hold") }
      index[ObjectIdentifier(v)] = entries.count
      entries.append(Entry(name: v.name, type: v.type, kind: kind, constant: constant))
    }
    var inputNames = Set<String>()
    for v in graph.inputs {
      guard inputNames.insert(v.name).inserted else { throw GraphError("two graph inputs are named '\(v.name)'") }
      try add(v, .input)
    }
    for v in graph.constants {
      guard let c = v.constant else { continue }
      try add(v, .constant, c)
    }
    for n in graph.nodes {
      var step = ScheduleStep(operands: [], results: [])
      for (i, o) in n.operands.enumerated() {
        guard let o else { step.operands.append(nil); continue }
        guard let k = index[ObjectIdentifier(o)] else {
          throw GraphError("operand \(i) ('\(o.name)') is not defined before this node", node: n.name, op: n.op)
        }
        step.operands.append(k)
      }
      for r in n.results {
        step.results.append(entries.count)
        try add(r, graph.isOutput(r) ? .output : .intermediate)
      }
      steps.append(step)
      ops.append(n.op)
    }
    var outputNames = Set<String>()
    for (name, v) in graph.outputs {
      guard outputNames.insert(name).inserted else { throw GraphError("two graph outputs are named '\(name)'") }
      guard let k = index[ObjectIdentifier(v)] else { throw GraphError("graph output '\(name)' is not defined") }
      outputIndices.append(k)
    }
    for n in graph.nodes {
      var list: [Int] = []
      for (name, a) in n.attributes.sorted(by: { $0.key < $1.key }) {
        guard case .tensor(let t) = a else { continue }
        guard t.dtype != .string else { throw GraphError("attribute '\(name)' has string elements", node: n.name, op: n.op) }
        list.append(entries.count)
        entries.append(Entry(name: name, type: t.type, kind: .attribute, constant: t))
      }
      attributeTensors.append(list)
    }
  }

  /// Arena offsets for node results with static shapes (nil for the rest, which are dynamic),
  /// and the aliases chosen with `aliasing`: each alias group is one buffer of the plan.
  func plan(_ limits: ResourceLimits, aliasing: (String) -> ArenaAlias?) throws -> (arena: MemoryPlan, offsets: [Int?], aliases: [AliasInfo]) {
    var life = resultLifetimes(tensorCount: entries.count, steps: steps, outputs: outputIndices)
    var sizes = [Int?](repeating: nil, count: entries.count)
    for (i, e) in entries.enumerated() {
      guard e.kind.isNodeResult, life[i] != nil, let shape = e.type.staticShape else { life[i] = nil; continue }
      guard let n = checkedElementCount(shape), n <= GCB.maxTensorElements else {
        throw GraphError("value '\(e.name)' of shape \(shape) is too large to plan")
      }
      try limits.check(.tensorBytes, checkedByteCount(shape, e.type.dtype), what: "value '\(e.name)' of shape \(shape)")
      sizes[i] = e.type.dtype.byteCount(elements: n)
    }
    var (aliases, groups) = chooseAliases(steps: steps, ops: ops, sizes: sizes, dtypes: entries.map(\.type.dtype), life: life, aliasing: aliasing)
    var roots: [Int] = []
    var buffers: [BufferLifetime] = []
    for i in entries.indices where sizes[i] != nil && groups.root(i) == i {
      roots.append(i)
      buffers.append(BufferLifetime(size: sizes[i]!, firstUse: groups.first[i], lastUse: groups.last[i]))  // safe: checked non-nil
    }
    let arena = planMemory(buffers)
    try limits.check(.arenaBytes, arena.arenaSize, what: "the memory plan's arena")
    var rootOffset = [Int: Int]()
    for (k, i) in roots.enumerated() { rootOffset[i] = arena.offsets[k] }
    var offsets = [Int?](repeating: nil, count: entries.count)
    for i in entries.indices where sizes[i] != nil { offsets[i] = rootOffset[groups.root(i)] }
    aliases.sort { $0.result < $1.result }
    return (arena, offsets, aliases)
  }
}

/// An I/O failure while writing a file.
public struct FileWriteError: Error, CustomStringConvertible, Sendable {
  public var path: String
  public var message: String
  public var description: String { "\(path): \(message)" }
}

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one
/// (see `writeFileAtomically(to:byteCount:_:)`).
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
  try writeFileAtomically(to: path, byteCount: bytes.count) { sink in
    try bytes.withUnsafeBytes { try sink.write($0, count: $0.count) }
  }
}

/// Where `writeFileAtomically` sends a file's contents, in order.
public struct FileSink {
  fileprivate let fd: Int32
  fileprivate let fail: (String) -> FileWriteError
  /// Bytes after which a test asked for a pause (`GRAPHC_TEST_STALL_WRITE`), else nil.
  fileprivate var stallAt: Int?
  fileprivate let stallSeconds: Int
  public private(set) var written = 0

  /// Appends `count` bytes from `source`, or `count` zero bytes when `source` is nil.
  public mutating func write(_ source: UnsafeRawBufferPointer?, count: Int) throws {
    guard let source else {
      var left = count
      while left > 0 {
        let n = min(left, zeroBlock.count)
        try zeroBlock.withUnsafeBytes { try write($0, count: n) }
        left -= n
      }
      return
    }
    var done = 0
    while done < count {
      var chunk = count - done
      if let stop = stallAt, written < stop { chunk = min(chunk, stop - written) }
      let n = posixWrite(fd, source.baseAddress! + done, chunk)  // safe: done < count <= source.count
      if n < 0 {
        if errno == EINTR { continue }
        throw fail("write failed")
      }
      done += n
      written += n
      if let stop = stallAt, written >= stop {
        // A window for a test to kill the process with half a file written.
        sleep(UInt32(stallSeconds))
        stallAt = nil
      }
    }
  }
}

/// `write(2)`; `FileSink.write` shadows the name.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }


/// Writes a file of `byteCount` bytes, produced by `body` through the sink, to `path` so that
/// readers see either the old file or the complete new one: a temporary file in the same
/// directory is written, fsynced and renamed over `path`. On failure (including `body`
/// throwing or writing another length) the temporary file is removed and an existing file at
/// `path` is left untouched.
public func writeFileAtomically(to path: String, byteCount: Int, _ body: (inout FileSink) throws -> Void) throws {
  func failure(_ what: String) -> FileWriteError {
    FileWriteError(path: path, message: "\(what): \(String(cString: strerror(errno)))")
  }
  let slash = path.lastIndex(of: "/")
  let dir = slash.map { String(path[..<$0]) } ?? "."
  let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
  guard !base.isEmpty else { throw FileWriteError(path: path, message: "not a file name") }
  var template = Array("\(dir.isEmpty ? "/" : dir)/.\(base).tmp-XXXXXX".utf8CString)
  let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }  // safe: non-empty array
  guard fd >= 0 else { throw failure("cannot create a temporary file in '\(dir)'") }
  let tmp = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  var ok = false
  defer {
    if !ok { unlink(tmp) }
  }
  do {
    defer { close(fd) }
    fchmod(fd, 0o644)
    let stall = stallMidWrite()
    var sink = FileSink(fd: fd, fail: failure, stallAt: stall > 0 ? max(1, byteCount / 2) : nil, stallSeconds: stall)
    try body(&sink)
    guard sink.written == byteCount else {
      throw FileWriteError(path: path, message: "internal error: wrote \(sink.written) of \(byteCount) bytes")
    }
    guard fsync(fd) == 0 else { throw failure("fsync failed") }
  }
  guard rename(tmp, path) == 0 else { throw failure("cannot rename the temporary file over it") }
  ok = true
  // Make the rename itself durable; failure here does not undo a complete write.
  let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY)
  if dfd >= 0 { fsync(dfd); close(dfd) }
}

/// Seconds to pause after writing the first half of a file: `GRAPHC_TEST_STALL_WRITE`, read
/// only by tests that kill `graphc optimize` mid-write (Tests/FixtureModelTests/NothingLostTests).
private func stallMidWrite() -> Int {
  guard let v = getenv("GRAPHC_TEST_STALL_WRITE") else { return 0 }
  return min(max(Int(String(cString: v)) ?? 0, 0), 60)
}
