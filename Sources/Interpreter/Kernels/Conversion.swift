// Conversion.swift - Element conversion between every numeric DType (Cast's semantics), used by Cast and by kernels that widen half types.

import GraphIR

/// An element that can be converted to and from every other. Conversions go through one of
/// three lossless carriers (Int64, UInt64, Double), chosen by the source, so each of the
/// 13x13 pairs is one specialized loop.
///
/// Semantics follow C on x86-64, which is what onnxruntime compiles to: integer narrowing wraps;
/// float to integer truncates toward zero, and NaN or out-of-range values give the
/// "integer indefinite" (the minimum of int32/int64) before narrowing; float to bool is `x != 0`
/// (so NaN is true).
protocol ConvertibleElement {
  static var dtype: DType { get }
  func convert<D: ConvertibleElement>(to: D.Type) -> D
  static func from(int v: Int64) -> Self
  static func from(uint v: UInt64) -> Self
  static func from(float v: Double) -> Self
}

/// cvttsd2si: truncation, or Int64.min for NaN and out-of-range values.
@inline(__always) func truncateToInt64(_ v: Double) -> Int64 {
  v >= -9_223_372_036_854_775_808.0 && v < 9_223_372_036_854_775_808.0 ? Int64(v) : .min
}
/// The 32-bit form of `truncateToInt64`; C narrows to 8 and 16 bits through it.
@inline(__always) func truncateToInt32(_ v: Double) -> Int32 {
  v > -2_147_483_649.0 && v < 2_147_483_648.0 ? Int32(v) : .min
}

protocol SignedConvertible: ConvertibleElement, FixedWidthInteger, SignedInteger {}
extension SignedConvertible {
  @inline(__always) func convert<D: ConvertibleElement>(to: D.Type) -> D { D.from(int: Int64(self)) }
  @inline(__always) static func from(int v: Int64) -> Self { Self(truncatingIfNeeded: v) }
  @inline(__always) static func from(uint v: UInt64) -> Self { Self(truncatingIfNeeded: v) }
  @inline(__always) static func from(float v: Double) -> Self {
    bitWidth > 32 ? Self(truncatingIfNeeded: truncateToInt64(v)) : Self(truncatingIfNeeded: truncateToInt32(v))
  }
}
protocol UnsignedConvertible: ConvertibleElement, FixedWidthInteger, UnsignedInteger {}
extension UnsignedConvertible {
  @inline(__always) func convert<D: ConvertibleElement>(to: D.Type) -> D { D.from(uint: UInt64(self)) }
  @inline(__always) static func from(int v: Int64) -> Self { Self(truncatingIfNeeded: v) }
  @inline(__always) static func from(uint v: UInt64) -> Self { Self(truncatingIfNeeded: v) }
  @inline(__always) static func from(float v: Double) -> Self {
    // The compilers' unsigned idiom: values from 2^(n-1) up are shifted into signed range,
    // truncated, and the top bit flipped back.
    switch bitWidth {
    case 64:
      let top = 9_223_372_036_854_775_808.0
      return v >= top ? Self(truncatingIfNeeded: UInt64(bitPattern: truncateToInt64(v - top)) ^ (1 << 63))
        : Self(truncatingIfNeeded: truncateToInt64(v))
    case 32:
      let top = 2_147_483_648.0
      return v >= top ? Self(truncatingIfNeeded: UInt32(bitPattern: truncateToInt32(v - top)) ^ (1 << 31))
        : Self(truncatingIfNeeded: truncateToInt32(v))
    default: return Self(truncatingIfNeeded: truncateToInt32(v))
    }
  }
}
protocol FloatConvertible: ConvertibleElement, BinaryFloatingPoint {}
extension FloatConvertible {
  @inline(__always) func convert<D: ConvertibleElement>(to: D.Type) -> D { D.from(float: Double(self)) }
  @inline(__always) static func from(int v: Int64) -> Self { Self(v) }
  @inline(__always) static func from(uint v: UInt64) -> Self { Self(v) }
  @inline(__always) static func from(float v: Double) -> Self { Self(v) }
}

extension Int8: SignedConvertible {}
extension Int16: SignedConvertible {}
extension Int32: SignedConvertible {}
extension Int64: SignedConvertible {}
extension UInt8: UnsignedConvertible {}
extension UInt16: UnsignedConvertible {}
extension UInt32: UnsignedConvertible {}
extension UInt64: UnsignedConvertible {}
extension Float: FloatConvertible {}
extension Double: FloatConvertible {}
extension Float16: FloatConvertible { static var dtype: DType { .float16 } }

/// A bfloat16 element (the top half of a float32); conversions round to nearest even.
struct BFloat16Element: ConvertibleElement {
  var bits: UInt16
  static var dtype: DType { .bfloat16 }
  @inline(__always) func convert<D: ConvertibleElement>(to: D.Type) -> D { D.from(float: Double(bfloat16ToFloat(bits))) }
  @inline(__always) static func from(int v: Int64) -> Self { Self(bits: floatToBfloat16(Float(v))) }
  @inline(__always) static func from(uint v: UInt64) -> Self { Self(bits: floatToBfloat16(Float(v))) }
  @inline(__always) static func from(float v: Double) -> Self { Self(bits: floatToBfloat16(Float(v))) }
}

/// A bool element: one byte, any non-zero byte reads as true, writes are 0 or 1.
struct BoolElement: ConvertibleElement {
  var byte: UInt8
  static var dtype: DType { .bool }
  @inline(__always) func convert<D: ConvertibleElement>(to: D.Type) -> D { D.from(uint: byte != 0 ? 1 : 0) }
  @inline(__always) static func from(int v: Int64) -> Self { Self(byte: v != 0 ? 1 : 0) }
  @inline(__always) static func from(uint v: UInt64) -> Self { Self(byte: v != 0 ? 1 : 0) }
  @inline(__always) static func from(float v: Double) -> Self { Self(byte: v != 0 ? 1 : 0) }
}

protocol ConvertibleVisitor {
  associatedtype Result
  func visit<T: ConvertibleElement>(_: T.Type) throws -> Result
}

/// Calls `v.visit` with the Swift element type of any storable numeric or bool DType.
func dispatchConvertible<V: ConvertibleVisitor>(_ dtype: DType, _ v: V) throws -> V.Result {
  switch dtype {
  case .float32: return try v.visit(Float.self)
  case .float64: return try v.visit(Double.self)
  case .float16: return try v.visit(Float16.self)
  case .bfloat16: return try v.visit(BFloat16Element.self)
  case .bool: return try v.visit(BoolElement.self)
  case .int8: return try v.visit(Int8.self)
  case .int16: return try v.visit(Int16.self)
  case .int32: return try v.visit(Int32.self)
  case .int64: return try v.visit(Int64.self)
  case .uint8: return try v.visit(UInt8.self)
  case .uint16: return try v.visit(UInt16.self)
  case .uint32: return try v.visit(UInt32.self)
  case .uint64: return try v.visit(UInt64.self)
  case .string, .int4: throw GraphError("element type \(dtype.shortName) cannot be converted")
  }
}

/// Converts `count` elements from `src` to `dst`, both laid out contiguously.
typealias ConvertFunction = (_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ count: Int) -> Void

private struct ConvertLoop<S: ConvertibleElement>: ConvertibleVisitor {
  func visit<D: ConvertibleElement>(_: D.Type) -> ConvertFunction {
    { src, dst, n in
      let s = src.assumingMemoryBound(to: S.self), d = dst.assumingMemoryBound(to: D.self)
      for i in 0..<n { d[i] = s[i].convert(to: D.self) }
    }
  }
}
private struct ConvertFrom: ConvertibleVisitor {
  let target: DType
  func visit<S: ConvertibleElement>(_: S.Type) throws -> ConvertFunction { try dispatchConvertible(target, ConvertLoop<S>()) }
}

/// The specialized conversion loop from one element type to another (a copy when equal).
func convertFunction(from: DType, to: DType) throws -> ConvertFunction {
  if from == to {
    let w = from.byteSize
    return { src, dst, n in dst.copyMemory(from: src, byteCount: n * w) }
  }
  return try dispatchConvertible(from, ConvertFrom(target: to))
}

/// A copy of `t` with its elements converted to `dtype` (Cast's semantics). Returns `t` itself
/// when the type already matches.
public func convertTensor(_ t: Tensor, to dtype: DType) throws -> Tensor {
  if t.dtype == dtype { return t }
  let out = Tensor(zeros: dtype, shape: t.shape)
  try convertFunction(from: t.dtype, to: dtype)(t.rawPointer, out.rawPointer, t.count)
  return out
}

/// Runs a float32 kernel on float16/bfloat16 operands: half inputs are widened to float32 and
/// half results narrowed back. Other types pass straight through. This costs a copy per half
/// tensor per run; models that live in float16 should be converted once at load instead.
func widenHalfTypes(_ kernel: Kernel) -> Kernel {
  Kernel { ctx in
    func widen(_ t: TensorType) -> TensorType {
      t.dtype == .float16 || t.dtype == .bfloat16 ? TensorType(.float32, t.dims) : t
    }
    let halfIn = ctx.inputTypes.map { $0.map { $0.dtype == .float16 || $0.dtype == .bfloat16 } ?? false }
    let halfOut = ctx.outputTypes.map { $0.dtype == .float16 || $0.dtype == .bfloat16 }
    guard halfIn.contains(true) || halfOut.contains(true) else { return try kernel.prepare(ctx) }
    let inner = try kernel.prepare(KernelContext(
      op: ctx.op, nodeName: ctx.nodeName, attributes: ctx.attributes,
      inputTypes: ctx.inputTypes.map { $0.map(widen) }, outputTypes: ctx.outputTypes.map(widen)))
    return { inputs, outputs in
      let wideIn = try inputs.map { try $0.map { try convertTensor($0, to: widen($0.type).dtype) } }
      let wideOut = outputs.map { widen($0.type).dtype == $0.dtype ? $0 : Tensor(zeros: .float32, shape: $0.shape) }
      try inner(wideIn, wideOut)
      for (o, w) in zip(outputs, wideOut) where o.dtype != w.dtype {
        try convertFunction(from: w.dtype, to: o.dtype)(w.rawPointer, o.rawPointer, o.count)
      }
    }
  }
}
