// Tensor.swift - Dense tensors: constants in the IR and values in the interpreter.

/// Bytes that back one or more tensors. Either owned (allocated 64-byte aligned and zeroed) or
/// borrowed from an owner that keeps them alive, such as an mmapped `.gcb` file.
///
/// Invariant: `base` stays valid and `byteCount` bytes long for the storage's whole lifetime.
public final class TensorStorage: @unchecked Sendable {
  public let base: UnsafeMutableRawPointer
  public let byteCount: Int
  private let owner: AnyObject?
  private let ownsMemory: Bool

  /// Allocates `byteCount` bytes, 64-byte aligned, holding a copy of `source` (no zeroing
  /// pass first: copies of large outputs are on the interpreter's hot path).
  public init(copying source: UnsafeRawPointer, byteCount: Int) {
    base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    base.copyMemory(from: source, byteCount: byteCount)
    self.byteCount = byteCount
    owner = nil
    ownsMemory = true
  }

  /// Allocates `byteCount` zeroed bytes, 64-byte aligned.
  public init(byteCount: Int) {
    let n = max(byteCount, 1)
    base = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
    base.initializeMemory(as: UInt8.self, repeating: 0, count: n)
    self.byteCount = byteCount
    owner = nil
    ownsMemory = true
  }

  /// Wraps memory owned by `owner`; nothing is copied.
  public init(borrowing base: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?) {
    self.base = base
    self.byteCount = byteCount
    self.owner = owner
    ownsMemory = false
  }

  deinit { if ownsMemory { base.deallocate() } }

  /// Takes the whole pages of the `byteCount` bytes at `byteOffset` out of memory when the owner
  /// can do so without losing them (`ReleasablePages`: a read-only file mapping); no effect
  /// otherwise. The contents stay the same: a later read brings the pages back.
  public func releaseResidentPages(byteOffset: Int, byteCount: Int) {
    guard byteOffset >= 0, byteCount > 0, byteOffset <= self.byteCount - byteCount,
          let owner = owner as? ReleasablePages else { return }
    owner.releaseResidentPages(UnsafeRawPointer(base + byteOffset), byteCount: byteCount)
  }
}

/// An owner of borrowed tensor bytes that can drop pages from memory and read them back on
/// demand, such as a read-only file mapping; lets a kernel that keeps its own copy of a weight
/// (e.g. packed GEMM panels) give back the memory of the original.
public protocol ReleasablePages: AnyObject {
  /// Drops the whole pages inside the range, if the bytes can be read back unchanged later.
  func releaseResidentPages(_ start: UnsafeRawPointer, byteCount: Int)
}

/// A dense, row-major tensor view: an element type, a concrete shape and a byte range of a
/// storage. Copying a `Tensor` copies the view, never the bytes.
public struct Tensor: @unchecked Sendable {
  public let dtype: DType
  public let shape: [Int]
  public let storage: TensorStorage
  public let byteOffset: Int

  /// Creates a view; the caller guarantees the range lies inside `storage`.
  public init(dtype: DType, shape: [Int], storage: TensorStorage, byteOffset: Int = 0) {
    self.dtype = dtype
    self.shape = shape
    self.storage = storage
    self.byteOffset = byteOffset
  }

  /// A zero-filled tensor with freshly allocated storage.
  public init(zeros dtype: DType, shape: [Int]) {
    let count = checkedElementCount(shape) ?? 0
    self.init(dtype: dtype, shape: shape, storage: TensorStorage(byteCount: dtype.byteCount(elements: count)))
  }

  /// A tensor holding a copy of `values`, whose element type must match `dtype`'s width.
  public init<T>(_ dtype: DType, shape: [Int], values: [T]) {
    precondition(MemoryLayout<T>.stride == dtype.byteSize, "element width mismatch")
    precondition(values.count == checkedElementCount(shape), "value count does not match shape")
    self.init(zeros: dtype, shape: shape)
    values.withUnsafeBytes { src in
      if let b = src.baseAddress { rawPointer.copyMemory(from: b, byteCount: src.count) }
    }
  }

  public static func float32(_ shape: [Int], _ values: [Float]) -> Tensor { Tensor(.float32, shape: shape, values: values) }
  public static func int64(_ shape: [Int], _ values: [Int64]) -> Tensor { Tensor(.int64, shape: shape, values: values) }
  public static func scalar(_ v: Float) -> Tensor { float32([], [v]) }

  public var count: Int { checkedElementCount(shape) ?? 0 }
  public var byteCount: Int { dtype.byteCount(elements: count) }
  public var rank: Int { shape.count }
  public var type: TensorType { TensorType(dtype, shape: shape) }

  public var rawPointer: UnsafeMutableRawPointer { storage.base + byteOffset }
  public func pointer<T>(as: T.Type) -> UnsafeMutablePointer<T> {
    rawPointer.assumingMemoryBound(to: T.self)
  }
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: rawPointer, count: byteCount) }

  /// A copy of the elements as `T`, which must have the width of `dtype`.
  public func scalars<T>(as: T.Type) -> [T] {
    precondition(MemoryLayout<T>.stride == dtype.byteSize, "element width mismatch")
    return Array(UnsafeBufferPointer(start: pointer(as: T.self), count: count))
  }

  /// The same bytes under another shape with the same element count.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    precondition(checkedElementCount(newShape) == count, "reshape changes the element count")
    return Tensor(dtype: dtype, shape: newShape, storage: storage, byteOffset: byteOffset)
  }

  /// A deep copy in fresh storage.
  public func copy() -> Tensor {
    Tensor(dtype: dtype, shape: shape, storage: TensorStorage(copying: UnsafeRawPointer(rawPointer), byteCount: byteCount))
  }

  /// Element `i` widened to Double (integers and bools exactly up to 2^53), for folding and
  /// comparison code that does not care about speed.
  public func double(at i: Int) -> Double {
    let p = rawPointer
    switch dtype {
    case .float32: return Double(p.load(fromByteOffset: i * 4, as: Float.self))
    case .float64: return p.load(fromByteOffset: i * 8, as: Double.self)
    case .float16: return Double(halfToFloat(p.load(fromByteOffset: i * 2, as: UInt16.self)))
    case .bfloat16: return Double(bfloat16ToFloat(p.load(fromByteOffset: i * 2, as: UInt16.self)))
    case .int8: return Double(p.load(fromByteOffset: i, as: Int8.self))
    case .int4: return Double(unpackInt4(p.load(fromByteOffset: i >> 1, as: UInt8.self), high: i & 1 == 1))
    case .uint8: return Double(p.load(fromByteOffset: i, as: UInt8.self))
    case .bool: return p.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0
    case .int16: return Double(p.load(fromByteOffset: i * 2, as: Int16.self))
    case .uint16: return Double(p.load(fromByteOffset: i * 2, as: UInt16.self))
    case .int32: return Double(p.load(fromByteOffset: i * 4, as: Int32.self))
    case .uint32: return Double(p.load(fromByteOffset: i * 4, as: UInt32.self))
    case .int64: return Double(p.load(fromByteOffset: i * 8, as: Int64.self))
    case .uint64: return Double(p.load(fromByteOffset: i * 8, as: UInt64.self))
    case .string: return 0
    }
  }

  /// Integer elements as `[Int]` (for shape-like inputs: axes, pads, shapes). Nil for
  /// non-integer element types.
  public func intValues() -> [Int]? {
    switch dtype {
    case .int64: return scalars(as: Int64.self).map { Int($0) }
    case .int32: return scalars(as: Int32.self).map { Int($0) }
    case .int16: return scalars(as: Int16.self).map { Int($0) }
    case .int8: return scalars(as: Int8.self).map { Int($0) }
    case .uint8: return scalars(as: UInt8.self).map { Int($0) }
    case .uint16: return scalars(as: UInt16.self).map { Int($0) }
    case .uint32: return scalars(as: UInt32.self).map { Int($0) }
    case .uint64: return scalars(as: UInt64.self).map { Int(truncatingIfNeeded: $0) }
    default: return nil
    }
  }

  /// True when dtype, shape and bytes are identical.
  public func bitwiseEqual(_ other: Tensor) -> Bool {
    dtype == other.dtype && shape == other.shape
      && memcmp(rawPointer, other.rawPointer, byteCount) == 0
  }

  /// True when every element equals the first (and there is at least one element).
  public var isSplat: Bool {
    let w = dtype.byteSize, n = count
    guard n > 0, w > 0 else { return false }
    if dtype.isPacked { return (1..<n).allSatisfy { double(at: $0) == double(at: 0) } }
    let p = rawPointer
    for i in 1..<n where memcmp(p, p + i * w, w) != 0 { return false }
    return true
  }

  /// FNV-1a over dtype, shape and bytes: a short, stable content digest for printing.
  public var digest: UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ b: UInt8) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    mix(dtype.rawValue)
    for d in shape { withUnsafeBytes(of: Int64(d).littleEndian) { $0.forEach(mix) } }
    bytes.forEach(mix)
    return h
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The signed value of one nibble of a packed int4 byte (low nibble = even element).
@inline(__always) public func unpackInt4(_ byte: UInt8, high: Bool) -> Int8 {
  Int8(bitPattern: high ? byte : byte << 4) >> 4
}

/// Stores `v` (in -8...7) as element `i` of packed int4 storage.
@inline(__always) public func storeInt4(_ v: Int8, at i: Int, in p: UnsafeMutableRawPointer) {
  let b = p.load(fromByteOffset: i >> 1, as: UInt8.self)
  let nib = UInt8(bitPattern: v) & 0x0f
  let out = i & 1 == 1 ? (b & 0x0f) | nib << 4 : (b & 0xf0) | nib
  p.storeBytes(of: out, toByteOffset: i >> 1, as: UInt8.self)
}

/// IEEE half to float, exact.
@inline(__always) public func halfToFloat(_ h: UInt16) -> Float {
  Float(Float16(bitPattern: h))
}
@inline(__always) public func floatToHalf(_ f: Float) -> UInt16 { Float16(f).bitPattern }
/// bfloat16 is the top half of a float32.
@inline(__always) public func bfloat16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
/// Round-to-nearest-even float32 to bfloat16 (NaN stays NaN).
@inline(__always) public func floatToBfloat16(_ f: Float) -> UInt16 {
  if f.isNaN { return 0x7fc0 }
  let bits = f.bitPattern
  let rounding = UInt32(0x7fff) + ((bits >> 16) & 1)
  return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}
