// ElementTypes.swift - Swift element types behind each DType, their arithmetic semantics, and dtype dispatch.

import GraphIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An element type that element-wise arithmetic supports. Integer semantics follow C and
/// numpy: `+ - *` wrap, division truncates toward zero. Callers must rule out an integer
/// divisor of zero before calling `div` or `mod` (eval scans the divisor first).
protocol ArithmeticElement: Comparable {
  static var dtype: DType { get }
  static var zero: Self { get }
  static var one: Self { get }
  /// The smallest and largest values (-inf/+inf for floats): the defaults of Clip.
  static var lowest: Self { get }
  static var highest: Self { get }
  static var isFloatingPoint: Bool { get }
  static func add(_ a: Self, _ b: Self) -> Self
  static func sub(_ a: Self, _ b: Self) -> Self
  static func mul(_ a: Self, _ b: Self) -> Self
  static func div(_ a: Self, _ b: Self) -> Self
  /// C `fmod` (sign of the dividend) or, when `fmod` is false, Python `%` (sign of the divisor).
  static func mod(_ a: Self, _ b: Self, fmod: Bool) -> Self
  static func neg(_ a: Self) -> Self
  static func fromInt(_ n: Int) -> Self
  /// True for an integer zero; always false for floats (they divide by zero to inf/NaN).
  static func isIntegerZero(_ a: Self) -> Bool
}

extension ArithmeticElement where Self: BinaryFloatingPoint {
  static var zero: Self { 0 }
  static var one: Self { 1 }
  static var lowest: Self { -.infinity }
  static var highest: Self { .infinity }
  static var isFloatingPoint: Bool { true }
  @inline(__always) static func add(_ a: Self, _ b: Self) -> Self { a + b }
  @inline(__always) static func sub(_ a: Self, _ b: Self) -> Self { a - b }
  @inline(__always) static func mul(_ a: Self, _ b: Self) -> Self { a * b }
  @inline(__always) static func div(_ a: Self, _ b: Self) -> Self { a / b }
  @inline(__always) static func mod(_ a: Self, _ b: Self, fmod: Bool) -> Self {
    let r = a.truncatingRemainder(dividingBy: b)
    if fmod || r == 0 || (r < 0) == (b < 0) { return r }
    return r + b
  }
  @inline(__always) static func neg(_ a: Self) -> Self { -a }
  @inline(__always) static func fromInt(_ n: Int) -> Self { Self(n) }
  @inline(__always) static func isIntegerZero(_ a: Self) -> Bool { false }
}

extension ArithmeticElement where Self: FixedWidthInteger {
  static var zero: Self { 0 }
  static var one: Self { 1 }
  static var lowest: Self { .min }
  static var highest: Self { .max }
  static var isFloatingPoint: Bool { false }
  @inline(__always) static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
  @inline(__always) static func sub(_ a: Self, _ b: Self) -> Self { a &- b }
  @inline(__always) static func mul(_ a: Self, _ b: Self) -> Self { a &* b }
  // `min / -1` overflows; the partial value wraps like two's-complement hardware.
  @inline(__always) static func div(_ a: Self, _ b: Self) -> Self { a.dividedReportingOverflow(by: b).partialValue }
  @inline(__always) static func mod(_ a: Self, _ b: Self, fmod: Bool) -> Self {
    let r = a.remainderReportingOverflow(dividingBy: b).partialValue
    if fmod || r == 0 || (r < 0) == (b < 0) { return r }
    return r &+ b
  }
  @inline(__always) static func neg(_ a: Self) -> Self { 0 &- a }
  @inline(__always) static func fromInt(_ n: Int) -> Self { Self(truncatingIfNeeded: n) }
  @inline(__always) static func isIntegerZero(_ a: Self) -> Bool { a == 0 }
}

extension Float: ArithmeticElement { static var dtype: DType { .float32 } }
extension Double: ArithmeticElement { static var dtype: DType { .float64 } }
extension Int8: ArithmeticElement { static var dtype: DType { .int8 } }
extension Int16: ArithmeticElement { static var dtype: DType { .int16 } }
extension Int32: ArithmeticElement { static var dtype: DType { .int32 } }
extension Int64: ArithmeticElement { static var dtype: DType { .int64 } }
extension UInt8: ArithmeticElement { static var dtype: DType { .uint8 } }
extension UInt16: ArithmeticElement { static var dtype: DType { .uint16 } }
extension UInt32: ArithmeticElement { static var dtype: DType { .uint32 } }
extension UInt64: ArithmeticElement { static var dtype: DType { .uint64 } }

/// A float element type with the math library the unary ops need.
protocol FloatElement: ArithmeticElement, BinaryFloatingPoint {
  static func exp(_ x: Self) -> Self
  static func expm1(_ x: Self) -> Self
  static func log(_ x: Self) -> Self
  static func log1p(_ x: Self) -> Self
  static func sqrt(_ x: Self) -> Self
  static func pow(_ x: Self, _ y: Self) -> Self
  static func erf(_ x: Self) -> Self
  static func tanh(_ x: Self) -> Self
  static func sin(_ x: Self) -> Self
  static func cos(_ x: Self) -> Self
  static func tan(_ x: Self) -> Self
  static func asin(_ x: Self) -> Self
  static func acos(_ x: Self) -> Self
  static func atan(_ x: Self) -> Self
  static func sinh(_ x: Self) -> Self
  static func cosh(_ x: Self) -> Self
  static func asinh(_ x: Self) -> Self
  static func acosh(_ x: Self) -> Self
  static func atanh(_ x: Self) -> Self
}

extension Float: FloatElement {
  @inline(__always) static func exp(_ x: Float) -> Float { expf(x) }
  @inline(__always) static func expm1(_ x: Float) -> Float { expm1f(x) }
  @inline(__always) static func log(_ x: Float) -> Float { logf(x) }
  @inline(__always) static func log1p(_ x: Float) -> Float { log1pf(x) }
  @inline(__always) static func sqrt(_ x: Float) -> Float { x.squareRoot() }
  @inline(__always) static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
  @inline(__always) static func erf(_ x: Float) -> Float { erff(x) }
  @inline(__always) static func tanh(_ x: Float) -> Float { tanhf(x) }
  @inline(__always) static func sin(_ x: Float) -> Float { sinf(x) }
  @inline(__always) static func cos(_ x: Float) -> Float { cosf(x) }
  @inline(__always) static func tan(_ x: Float) -> Float { tanf(x) }
  @inline(__always) static func asin(_ x: Float) -> Float { asinf(x) }
  @inline(__always) static func acos(_ x: Float) -> Float { acosf(x) }
  @inline(__always) static func atan(_ x: Float) -> Float { atanf(x) }
  @inline(__always) static func sinh(_ x: Float) -> Float { sinhf(x) }
  @inline(__always) static func cosh(_ x: Float) -> Float { coshf(x) }
  @inline(__always) static func asinh(_ x: Float) -> Float { asinhf(x) }
  @inline(__always) static func acosh(_ x: Float) -> Float { acoshf(x) }
  @inline(__always) static func atanh(_ x: Float) -> Float { atanhf(x) }
}

// The C library names are shadowed inside the extension, so they are reached via wrappers.
@inline(__always) private func cExp(_ x: Double) -> Double { exp(x) }
@inline(__always) private func cExpm1(_ x: Double) -> Double { expm1(x) }
@inline(__always) private func cLog(_ x: Double) -> Double { log(x) }
@inline(__always) private func cLog1p(_ x: Double) -> Double { log1p(x) }
@inline(__always) private func cPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
@inline(__always) private func cErf(_ x: Double) -> Double { erf(x) }
@inline(__always) private func cTanh(_ x: Double) -> Double { tanh(x) }
@inline(__always) private func cSin(_ x: Double) -> Double { sin(x) }
@inline(__always) private func cCos(_ x: Double) -> Double { cos(x) }
@inline(__always) private func cTan(_ x: Double) -> Double { tan(x) }
@inline(__always) private func cAsin(_ x: Double) -> Double { asin(x) }
@inline(__always) private func cAcos(_ x: Double) -> Double { acos(x) }
@inline(__always) private func cAtan(_ x: Double) -> Double { atan(x) }
@inline(__always) private func cSinh(_ x: Double) -> Double { sinh(x) }
@inline(__always) private func cCosh(_ x: Double) -> Double { cosh(x) }
@inline(__always) private func cAsinh(_ x: Double) -> Double { asinh(x) }
@inline(__always) private func cAcosh(_ x: Double) -> Double { acosh(x) }
@inline(__always) private func cAtanh(_ x: Double) -> Double { atanh(x) }

extension Double: FloatElement {
  @inline(__always) static func exp(_ x: Double) -> Double { cExp(x) }
  @inline(__always) static func expm1(_ x: Double) -> Double { cExpm1(x) }
  @inline(__always) static func log(_ x: Double) -> Double { cLog(x) }
  @inline(__always) static func log1p(_ x: Double) -> Double { cLog1p(x) }
  @inline(__always) static func sqrt(_ x: Double) -> Double { x.squareRoot() }
  @inline(__always) static func pow(_ x: Double, _ y: Double) -> Double { cPow(x, y) }
  @inline(__always) static func erf(_ x: Double) -> Double { cErf(x) }
  @inline(__always) static func tanh(_ x: Double) -> Double { cTanh(x) }
  @inline(__always) static func sin(_ x: Double) -> Double { cSin(x) }
  @inline(__always) static func cos(_ x: Double) -> Double { cCos(x) }
  @inline(__always) static func tan(_ x: Double) -> Double { cTan(x) }
  @inline(__always) static func asin(_ x: Double) -> Double { cAsin(x) }
  @inline(__always) static func acos(_ x: Double) -> Double { cAcos(x) }
  @inline(__always) static func atan(_ x: Double) -> Double { cAtan(x) }
  @inline(__always) static func sinh(_ x: Double) -> Double { cSinh(x) }
  @inline(__always) static func cosh(_ x: Double) -> Double { cCosh(x) }
  @inline(__always) static func asinh(_ x: Double) -> Double { cAsinh(x) }
  @inline(__always) static func acosh(_ x: Double) -> Double { cAcosh(x) }
  @inline(__always) static func atanh(_ x: Double) -> Double { cAtanh(x) }
}

// MARK: - Dispatch from a run-time DType to a specialized generic

/// Builds something for one arithmetic element type. Dispatching through a visitor keeps every
/// instantiation specialized: the op and the element type are both static inside `visit`.
protocol ArithmeticVisitor {
  associatedtype Result
  func visit<T: ArithmeticElement>(_: T.Type) throws -> Result
}

/// Calls `v.visit` with the Swift type of `dtype`, or throws for non-arithmetic types.
func dispatchArithmetic<V: ArithmeticVisitor>(_ dtype: DType, _ v: V) throws -> V.Result {
  switch dtype {
  case .float32: return try v.visit(Float.self)
  case .float64: return try v.visit(Double.self)
  case .int8: return try v.visit(Int8.self)
  case .int16: return try v.visit(Int16.self)
  case .int32: return try v.visit(Int32.self)
  case .int64: return try v.visit(Int64.self)
  case .uint8: return try v.visit(UInt8.self)
  case .uint16: return try v.visit(UInt16.self)
  case .uint32: return try v.visit(UInt32.self)
  case .uint64: return try v.visit(UInt64.self)
  default: throw GraphError("element type \(dtype.shortName) is not supported")
  }
}

protocol FloatVisitor {
  associatedtype Result
  func visit<T: FloatElement>(_: T.Type) throws -> Result
}

/// Calls `v.visit` for float32 or float64; half types are widened by `halfAsFloat` first.
func dispatchFloat<V: FloatVisitor>(_ dtype: DType, _ v: V) throws -> V.Result {
  switch dtype {
  case .float32: return try v.visit(Float.self)
  case .float64: return try v.visit(Double.self)
  default: throw GraphError("element type \(dtype.shortName) is not supported (expected a float type)")
  }
}

/// Returns `t` after checking its element type, so eval never reinterprets bytes as the
/// wrong type even if the runtime hands it an unexpected tensor.
@inline(__always)
func checkedTensor(_ t: Tensor?, _ dtype: DType, _ what: String = "input") throws -> Tensor {
  guard let t else { throw GraphError("missing \(what)") }
  guard t.dtype == dtype else {
    throw GraphError("\(what) has type \(t.dtype.shortName), expected \(dtype.shortName)")
  }
  return t
}
