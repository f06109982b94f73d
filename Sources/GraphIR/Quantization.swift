// Quantization.swift - Quantization parameters carried by tensor types (scale, zero point, axis).

/// The affine map of a quantized tensor: `real = scale * (q - zeroPoint)`. Either one scale and
/// zero point for the whole tensor (`axis == nil`), or one pair per index along `axis`
/// (per-channel weights). The storage element type is the `TensorType`'s dtype: `i8`, `u8`, `i4`
/// (packed two per byte) or `i32` (biases and accumulators).
///
/// Invariants checked by `check(_:)`: scales are finite and positive, one scale and one zero
/// point per channel, zero points inside the storage type's range.
public struct Quantization: Hashable, Sendable {
  /// The quantized dimension, or nil for per-tensor parameters.
  public var axis: Int?
  public var scales: [Float]
  public var zeroPoints: [Int32]

  /// Per-tensor parameters.
  public init(scale: Float, zeroPoint: Int32 = 0) {
    axis = nil
    scales = [scale]
    zeroPoints = [zeroPoint]
  }

  /// Per-axis parameters; `zeroPoints` empty means all zero.
  public init(axis: Int, scales: [Float], zeroPoints: [Int32] = []) {
    self.axis = axis
    self.scales = scales
    self.zeroPoints = zeroPoints.isEmpty ? [Int32](repeating: 0, count: scales.count) : zeroPoints
  }

  /// Scale and zero point of channel `c` (channel 0 for per-tensor parameters).
  public func scale(_ c: Int) -> Float { scales[axis == nil ? 0 : c] }
  public func zeroPoint(_ c: Int) -> Int32 { zeroPoints[axis == nil ? 0 : c] }

  /// Throws unless these parameters fit `type` (storage dtype, axis and channel count).
  public func check(_ type: TensorType) throws {
    guard let range = quantizedRange(type.dtype) else {
      throw GraphError("type \(type.dtype.shortName) cannot carry quantization parameters (use i8, u8, i4 or i32)")
    }
    guard !scales.isEmpty, scales.count == zeroPoints.count else {
      throw GraphError("quantization needs one zero point per scale (\(scales.count) scales, \(zeroPoints.count) zero points)")
    }
    guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw GraphError("quantization scales must be finite and positive") }
    guard zeroPoints.allSatisfy({ range.contains(Int64($0)) }) else {
      throw GraphError("a zero point lies outside the range of \(type.dtype.shortName)")
    }
    if let axis {
      guard let dims = type.dims, axis >= 0, axis < dims.count else {
        throw GraphError("quantization axis \(axis) is out of range for \(type.dtype.shortName)\(type.dims.map { "\($0)" } ?? "[*]")")
      }
      if let n = dims[axis].value, n != scales.count {
        throw GraphError("quantization axis \(axis) has \(n) channels but \(scales.count) scales")
      }
    } else if scales.count != 1 {
      throw GraphError("per-tensor quantization has exactly one scale, got \(scales.count)")
    }
  }
}

/// The integer range of a quantized storage type, or nil when the type cannot be quantized.
public func quantizedRange(_ t: DType) -> ClosedRange<Int64>? {
  switch t {
  case .int8: -128...127
  case .uint8: 0...255
  case .int4: -8...7
  case .int32: Int64(Int32.min)...Int64(Int32.max)
  default: nil
  }
}
