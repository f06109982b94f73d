// TensorCopy.swift - Element-type agnostic copy primitives shared by the data-movement kernels.

import Foundation
import GraphIR

/// Copies `shape` elements of `width` bytes. Element (i0, i1, ...) is read at
/// `src + Σ ik * srcStrides[k] * width` and written at the same place relative to `dst`.
/// Strides are in elements: 0 broadcasts, negative walks backwards. Dims that are contiguous in
/// both views are merged first, so contiguous inner runs become one `memcpy`.
func stridedCopy(width: Int, shape: [Int], dst: UnsafeMutableRawPointer, dstStrides: [Int],
                 src: UnsafeRawPointer, srcStrides: [Int]) {
  precondition(shape.count == dstStrides.count && shape.count == srcStrides.count, "stride rank mismatch")
  var dims: [(n: Int, d: Int, s: Int)] = []
  dims.reserveCapacity(shape.count)
  for i in shape.indices {
    let n = shape[i]
    if n == 0 { return }
    if n == 1 { continue }
    if let last = dims.last, last.d == dstStrides[i] * n, last.s == srcStrides[i] * n {
      dims[dims.count - 1] = (last.n * n, dstStrides[i], srcStrides[i])
    } else {
      dims.append((n, dstStrides[i], srcStrides[i]))
    }
  }
  guard let inner = dims.popLast() else {
    dst.copyMemory(from: src, byteCount: width)
    return
  }
  var outerCount = 1
  for d in dims { outerCount *= d.n }
  var counter = [Int](repeating: 0, count: dims.count)
  var dOff = 0, sOff = 0
  for _ in 0..<outerCount {
    copyRun(width: width, count: inner.n, dst: dst + dOff * width, dstStride: inner.d,
            src: src + sOff * width, srcStride: inner.s)
    var k = dims.count - 1
    while k >= 0 {
      counter[k] += 1
      dOff += dims[k].d
      sOff += dims[k].s
      if counter[k] < dims[k].n { break }
      dOff -= dims[k].d * dims[k].n
      sOff -= dims[k].s * dims[k].n
      counter[k] = 0
      k -= 1
    }
  }
}

/// One strided run of `count` elements.
@inline(__always)
private func copyRun(width: Int, count: Int, dst: UnsafeMutableRawPointer, dstStride: Int,
                     src: UnsafeRawPointer, srcStride: Int) {
  if dstStride == 1 && srcStride == 1 {
    memcpy(dst, src, count * width)
    return
  }
  switch width {
  case 1: typedRun(UInt8.self, count, dst, dstStride, src, srcStride)
  case 2: typedRun(UInt16.self, count, dst, dstStride, src, srcStride)
  case 4: typedRun(UInt32.self, count, dst, dstStride, src, srcStride)
  case 8: typedRun(UInt64.self, count, dst, dstStride, src, srcStride)
  default:
    for i in 0..<count { memcpy(dst + i * dstStride * width, src + i * srcStride * width, width) }
  }
}

@inline(__always)
private func typedRun<T>(_: T.Type, _ n: Int, _ dst: UnsafeMutableRawPointer, _ ds: Int,
                         _ src: UnsafeRawPointer, _ ss: Int) {
  let d = dst.assumingMemoryBound(to: T.self), s = src.assumingMemoryBound(to: T.self)
  if ds == 1 {
    if ss == 0 {
      let v = s[0]
      for i in 0..<n { d[i] = v }
    } else {
      for i in 0..<n { d[i] = s[i * ss] }
    }
  } else {
    for i in 0..<n { d[i * ds] = s[i * ss] }
  }
}

/// Writes the contiguous `dst` of `outShape`: element (o0, o1, ...) is
/// `src[tables[0][o0], tables[1][o1], ...]` of a contiguous `src` of `inShape`, or the `width`
/// bytes at `fill` when any index is -1. Pad (every mode) and nearest Resize use this.
func tableCopy(width: Int, inShape: [Int], src: UnsafeRawPointer, outShape: [Int],
               dst: UnsafeMutableRawPointer, tables: [[Int]], fill: UnsafeRawPointer) {
  let rank = outShape.count
  precondition(tables.count == rank && inShape.count == rank, "table rank mismatch")
  guard rank > 0 else { dst.copyMemory(from: src, byteCount: width); return }
  guard let total = checkedElementCount(outShape), total > 0 else { return }
  // Source element offsets per axis; -1 stays the fill marker.
  let strides = contiguousStrides(inShape)
  let offsets = (0..<rank).map { k in tables[k].map { $0 < 0 ? -1 : $0 * strides[k] } }
  let inner = offsets[rank - 1]
  let rowLength = outShape[rank - 1]
  var counter = [Int](repeating: 0, count: rank - 1)
  var out = dst
  for _ in 0..<(total / rowLength) {
    var base = 0
    for k in 0..<(rank - 1) {
      let o = offsets[k][counter[k]]
      if o < 0 { base = -1; break }
      base += o
    }
    inner.withUnsafeBufferPointer { idx in
      if base < 0 {
        fillRow(width: width, count: rowLength, dst: out, fill: fill)
      } else {
        switch width {
        case 1: tableRow(UInt8.self, idx, out, src + base, fill)
        case 2: tableRow(UInt16.self, idx, out, src + base * 2, fill)
        case 4: tableRow(UInt32.self, idx, out, src + base * 4, fill)
        case 8: tableRow(UInt64.self, idx, out, src + base * 8, fill)
        default:
          for (i, o) in idx.enumerated() {
            memcpy(out + i * width, o < 0 ? fill : src + (base + o) * width, width)
          }
        }
      }
    }
    out += rowLength * width
    var k = rank - 2
    while k >= 0 {
      counter[k] += 1
      if counter[k] < outShape[k] { break }
      counter[k] = 0
      k -= 1
    }
  }
}

@inline(__always)
private func tableRow<T>(_: T.Type, _ idx: UnsafeBufferPointer<Int>, _ dst: UnsafeMutableRawPointer,
                         _ src: UnsafeRawPointer, _ fill: UnsafeRawPointer) {
  let d = dst.assumingMemoryBound(to: T.self), s = src.assumingMemoryBound(to: T.self)
  let f = fill.loadUnaligned(as: T.self)
  for i in 0..<idx.count {
    let o = idx[i]
    d[i] = o < 0 ? f : s[o]
  }
}

/// Fills `count` elements of `width` bytes with the element at `fill`.
func fillRow(width: Int, count: Int, dst: UnsafeMutableRawPointer, fill: UnsafeRawPointer) {
  switch width {
  case 1: memset(dst, Int32(fill.load(as: UInt8.self)), count)
  case 2: fillTyped(UInt16.self, count, dst, fill)
  case 4: fillTyped(UInt32.self, count, dst, fill)
  case 8: fillTyped(UInt64.self, count, dst, fill)
  default: for i in 0..<count { memcpy(dst + i * width, fill, width) }
  }
}

@inline(__always)
private func fillTyped<T>(_: T.Type, _ n: Int, _ dst: UnsafeMutableRawPointer, _ fill: UnsafeRawPointer) {
  let v = fill.loadUnaligned(as: T.self)
  let d = dst.assumingMemoryBound(to: T.self)
  for i in 0..<n { d[i] = v }
}

/// Stores `v` as element `i` of a `dtype` buffer, rounding and saturating for integer types.
func storeScalar(_ v: Double, _ dtype: DType, _ p: UnsafeMutableRawPointer, _ i: Int) {
  func int<T: FixedWidthInteger>(_: T.Type) -> T {
    if v.isNaN { return 0 }
    let r = v.rounded(.toNearestOrEven)
    if r <= Double(T.min) { return T.min }
    if r >= Double(T.max) { return T.max }
    return T(r)
  }
  switch dtype {
  case .float32: p.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self)
  case .float64: p.storeBytes(of: v, toByteOffset: i * 8, as: Double.self)
  case .float16: p.storeBytes(of: floatToHalf(Float(v)), toByteOffset: i * 2, as: UInt16.self)
  case .bfloat16: p.storeBytes(of: floatToBfloat16(Float(v)), toByteOffset: i * 2, as: UInt16.self)
  case .bool: p.storeBytes(of: v != 0 ? 1 : 0, toByteOffset: i, as: UInt8.self)
  case .int8: p.storeBytes(of: int(Int8.self), toByteOffset: i, as: Int8.self)
  case .uint8: p.storeBytes(of: int(UInt8.self), toByteOffset: i, as: UInt8.self)
  case .int16: p.storeBytes(of: int(Int16.self), toByteOffset: i * 2, as: Int16.self)
  case .uint16: p.storeBytes(of: int(UInt16.self), toByteOffset: i * 2, as: UInt16.self)
  case .int32: p.storeBytes(of: int(Int32.self), toByteOffset: i * 4, as: Int32.self)
  case .uint32: p.storeBytes(of: int(UInt32.self), toByteOffset: i * 4, as: UInt32.self)
  case .int64: p.storeBytes(of: int(Int64.self), toByteOffset: i * 8, as: Int64.self)
  case .uint64: p.storeBytes(of: int(UInt64.self), toByteOffset: i * 8, as: UInt64.self)
  case .int4: storeInt4(Int8(clamping: max(-8, min(7, int(Int8.self)))), at: i, in: p)
  case .string: break
  }
}

/// The bytes of one `dtype` element holding `v`.
func scalarBytes(_ v: Double, _ dtype: DType) -> [UInt8] {
  var b = [UInt8](repeating: 0, count: max(dtype.byteSize, 1))
  b.withUnsafeMutableBytes { if let p = $0.baseAddress { storeScalar(v, dtype, p, 0) } }
  return b
}
