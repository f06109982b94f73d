// NNKernels.swift - The neural-network kernel table and the numeric helpers its kernels share.
//
// The kernels live beside this file: Gemm.swift (the shared sgemm, MatMul, Gemm), Conv.swift,
// Pool.swift, Normalization.swift, Softmax.swift and Reduce.swift.

import Foundation
import GraphIR

let nnKernels: [String: Kernel] = {
  var table: [String: Kernel] = [:]
  for family in [gemmKernels, convKernels, fusedConvKernels, poolKernels, normalizationKernels, softmaxKernels, reduceKernels, attentionKernels] {
    table.merge(family) { first, _ in first }
  }
  return table
}()

// MARK: Element types

/// An element type the NN kernels compute with. Integer arithmetic wraps, so untrusted data
/// cannot trap; float arithmetic is IEEE.
protocol NNNumber: Comparable {
  static var nnZero: Self { get }
  static var nnOne: Self { get }
  /// The identity of max: -inf for floats, the minimum for integers.
  static var nnLowest: Self { get }
  /// The identity of min: +inf for floats, the maximum for integers.
  static var nnHighest: Self { get }
  static func nnAdd(_ a: Self, _ b: Self) -> Self
  static func nnMul(_ a: Self, _ b: Self) -> Self
  var nnMagnitude: Self { get }
  var nnDouble: Double { get }
  /// Conversion from Double; integers truncate toward zero and saturate, NaN gives 0.
  init(nnDouble: Double)
}

extension NNNumber where Self: BinaryFloatingPoint {
  static var nnZero: Self { 0 }
  static var nnOne: Self { 1 }
  static var nnLowest: Self { -.infinity }
  static var nnHighest: Self { .infinity }
  @inline(__always) static func nnAdd(_ a: Self, _ b: Self) -> Self { a + b }
  @inline(__always) static func nnMul(_ a: Self, _ b: Self) -> Self { a * b }
  @inline(__always) var nnMagnitude: Self { abs(self) }
  @inline(__always) var nnDouble: Double { Double(self) }
  @inline(__always) init(nnDouble d: Double) { self.init(d) }
}

extension NNNumber where Self: FixedWidthInteger {
  static var nnZero: Self { 0 }
  static var nnOne: Self { 1 }
  static var nnLowest: Self { .min }
  static var nnHighest: Self { .max }
  @inline(__always) static func nnAdd(_ a: Self, _ b: Self) -> Self { a &+ b }
  @inline(__always) static func nnMul(_ a: Self, _ b: Self) -> Self { a &* b }
  @inline(__always) var nnMagnitude: Self { Self.isSigned && self < 0 ? 0 &- self : self }
  @inline(__always) var nnDouble: Double { Double(self) }
  @inline(__always) init(nnDouble d: Double) {
    if d.isNaN { self = 0 } else if d >= Double(Self.max) { self = .max } else if d <= Double(Self.min) { self = .min } else { self.init(d) }
  }
}

extension Float: NNNumber {}
extension Double: NNNumber {}
extension Int32: NNNumber {}
extension Int64: NNNumber {}
extension UInt32: NNNumber {}
extension UInt64: NNNumber {}
extension Int8: NNNumber {}
extension UInt8: NNNumber {}
extension Int16: NNNumber {}
extension UInt16: NNNumber {}

/// Float element types with the transcendental functions kernels need.
protocol NNFloat: NNNumber, BinaryFloatingPoint {
  static func nnExp(_ x: Self) -> Self
  static func nnLog(_ x: Self) -> Self
  static func nnSqrt(_ x: Self) -> Self
  static func nnPow(_ x: Self, _ y: Self) -> Self
}

extension Float: NNFloat {
  @inline(__always) static func nnExp(_ x: Float) -> Float { Foundation.exp(x) }
  @inline(__always) static func nnLog(_ x: Float) -> Float { Foundation.log(x) }
  @inline(__always) static func nnSqrt(_ x: Float) -> Float { x.squareRoot() }
  @inline(__always) static func nnPow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
}

extension Double: NNFloat {
  @inline(__always) static func nnExp(_ x: Double) -> Double { Foundation.exp(x) }
  @inline(__always) static func nnLog(_ x: Double) -> Double { Foundation.log(x) }
  @inline(__always) static func nnSqrt(_ x: Double) -> Double { x.squareRoot() }
  @inline(__always) static func nnPow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

func unsupported(_ op: String, _ dtype: DType) -> GraphError {
  GraphError("\(op) has no kernel for element type \(dtype.shortName)")
}

// MARK: Shapes

/// Product of `shape[range]` (shapes were validated by inference, so no overflow).
@inline(__always) func product(_ shape: ArraySlice<Int>) -> Int { shape.reduce(1, *) }

/// The `[outer, axis, inner]` split of a shape around `axis`.
func splitAround(_ shape: [Int], axis: Int) -> (outer: Int, n: Int, inner: Int) {
  (product(shape[..<axis]), shape[axis], product(shape[(axis + 1)...]))
}

/// A per-channel parameter tensor (any float type) as Float values.
func floatValues(_ t: Tensor) -> [Float] {
  if t.dtype == .float32 { return t.scalars(as: Float.self) }
  return (0..<t.count).map { Float(t.double(at: $0)) }
}

/// A parameter tensor as Double values.
func doubleValues(_ t: Tensor) -> [Double] {
  if t.dtype == .float64 { return t.scalars(as: Double.self) }
  return (0..<t.count).map { t.double(at: $0) }
}

/// The values of `t` broadcast (numpy rules, unidirectionally) to `shape`, as Doubles. For
/// small parameter tensors such as LayerNormalization's Scale.
func broadcastValues(_ t: Tensor, to shape: [Int]) throws -> [Double] {
  let src = doubleValues(t)
  guard t.shape != shape else { return src }
  guard t.rank <= shape.count else { throw GraphError("shape \(t.shape) does not broadcast to \(shape)") }
  let padded = Array(repeating: 1, count: shape.count - t.rank) + t.shape
  for (s, d) in zip(padded, shape) where s != 1 && s != d {
    throw GraphError("shape \(t.shape) does not broadcast to \(shape)")
  }
  let srcStrides = zip(contiguousStrides(padded), padded).map { $1 == 1 ? 0 : $0 }
  let total = product(shape[...])
  var out = [Double](repeating: 0, count: total)
  var index = [Int](repeating: 0, count: shape.count)
  for i in 0..<total {
    var off = 0
    for d in 0..<shape.count { off += index[d] * srcStrides[d] }
    out[i] = src[off]
    var d = shape.count - 1
    while d >= 0 {
      index[d] += 1
      if index[d] < shape[d] { break }
      index[d] = 0
      d -= 1
    }
  }
  return out
}

/// Spatial geometry padded to three dims (leading unit dims), so 1-D and 2-D windows run
/// through the 3-D loops of Conv and pooling.
struct Window3D {
  var input: (Int, Int, Int)
  var output: (Int, Int, Int)
  var kernel: (Int, Int, Int)
  var strides: (Int, Int, Int)
  var dilations: (Int, Int, Int)
  /// Begin pads.
  var pads: (Int, Int, Int)
  /// End pads.
  var padsEnd: (Int, Int, Int)

  init(inputSpatial: [Int], geometry g: WindowGeometry) throws {
    let n = inputSpatial.count
    guard n >= 1 && n <= 3 else { throw GraphError("\(n) spatial dims are not supported (1 to 3)") }
    func lift(_ v: [Int], _ fill: Int) -> (Int, Int, Int) {
      let p = Array(repeating: fill, count: 3 - v.count) + v
      return (p[0], p[1], p[2])
    }
    input = lift(inputSpatial, 1)
    output = lift(g.outputSpatial, 1)
    kernel = lift(g.kernel, 1)
    strides = lift(g.strides, 1)
    dilations = lift(g.dilations, 1)
    pads = lift(Array(g.pads[..<n]), 0)
    padsEnd = lift(Array(g.pads[n...]), 0)
  }

  var inputSize: Int { input.0 * input.1 * input.2 }
  var outputSize: Int { output.0 * output.1 * output.2 }
  var kernelSize: Int { kernel.0 * kernel.1 * kernel.2 }
}

/// The output positions `o` in `0..<outCount` whose input `o * stride - pad + offset` lies in
/// `0..<inCount`, as a half-open range.
@inline(__always)
func validOutputRange(offset: Int, stride: Int, pad: Int, inCount: Int, outCount: Int) -> Range<Int> {
  // o * stride >= pad - offset  and  o * stride < inCount + pad - offset
  let lo = pad - offset, hi = inCount + pad - offset
  let first = lo <= 0 ? 0 : (lo + stride - 1) / stride
  let last = hi <= 0 ? 0 : (hi + stride - 1) / stride
  let a = min(max(first, 0), outCount), b = min(max(last, 0), outCount)
  return a..<max(a, b)
}
