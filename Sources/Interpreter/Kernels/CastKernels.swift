// CastKernels.swift - Cast, CastLike, QuantizeLinear and DequantizeLinear kernels.

import CKernels
import GraphIR

let castAndQuantizeKernels: [String: Kernel] = [
  "onnx.Cast": castKernel,
  "onnx.CastLike": castKernel,
  "onnx.QuantizeLinear": quantizeLinearKernel,
  "onnx.DequantizeLinear": dequantizeLinearKernel,
]

/// Cast and CastLike: the target type is the output's, which inference derived from `to` or
/// from the second input.
private let castKernel = Kernel { ctx in
  let from = try ctx.dtype(0)
  guard let to = ctx.outputTypes.first?.dtype else { throw GraphError("Cast has no output") }
  let convert = try convertFunction(from: from, to: to)
  return { inputs, outputs in
    let x = try typedInput(inputs, 0, from), y = try typedOutput(outputs, 0, to)
    guard x.count == y.count else { throw GraphError("Cast input has \(x.count) elements, output \(y.count)") }
    convert(x.rawPointer, y.rawPointer, x.count)
  }
}

/// How the scale (and zero point) of a linear (de)quantization maps onto the data: one value,
/// one per index along `axis`, or one per `blockSize` indices along `axis` (blocked).
private struct QuantizationLayout {
  /// Data viewed as [outer, axisDim, inner].
  let outer: Int, axisDim: Int, inner: Int
  /// Scale dim along the axis (blocked only) and block size; 0 block size = not blocked.
  let scaleAxisDim: Int, blockSize: Int
  let perTensor: Bool

  init(data: [Int], scale: [Int], zeroPoint: [Int]?, attributes: AttributeMap) throws {
    if let zeroPoint, zeroPoint != scale { throw GraphError("zero point shape \(zeroPoint) differs from scale shape \(scale)") }
    let blockSize = try attributes.int("block_size", default: 0)
    guard blockSize >= 0 else { throw GraphError("block_size must not be negative") }
    perTensor = scale.allSatisfy { $0 == 1 } && scale.count <= 1
    if perTensor {
      outer = 1; axisDim = 1; inner = checkedElementCount(data) ?? 0; scaleAxisDim = 1; self.blockSize = 0
      return
    }
    let axis = try normalizeAxis(try attributes.int("axis", default: 1), rank: data.count)
    outer = data[..<axis].reduce(1, *)
    axisDim = data[axis]
    inner = data[(axis + 1)...].reduce(1, *)
    if blockSize == 0 {
      guard scale == [data[axis]] else {
        throw GraphError("per-axis scale must have shape [\(data[axis])] for axis \(axis), has \(scale)")
      }
      scaleAxisDim = axisDim
    } else {
      var expected = data
      expected[axis] = (data[axis] + blockSize - 1) / blockSize
      guard scale == expected else { throw GraphError("blocked scale must have shape \(expected), has \(scale)") }
      scaleAxisDim = expected[axis]
    }
    self.blockSize = blockSize
  }

  /// Calls `body(dataOffset, scaleIndex, scaleStride, n)` for each run of `n` contiguous data
  /// elements whose scale index starts at `scaleIndex` and advances by `scaleStride`.
  @inline(__always)
  func forEachRun(_ body: (_ offset: Int, _ scaleIndex: Int, _ scaleStride: Int, _ n: Int) -> Void) {
    if perTensor { body(0, 0, 0, inner); return }
    for o in 0..<outer {
      for k in 0..<axisDim {
        let offset = (o * axisDim + k) * inner
        if blockSize == 0 { body(offset, k, 0, inner) } else { body(offset, (o * scaleAxisDim + k / blockSize) * inner, 1, inner) }
      }
    }
  }
}

/// The integer types (de)quantization supports.
private protocol QuantizedElement: FixedWidthInteger, ConvertibleElement {}
extension Int8: QuantizedElement {}
extension UInt8: QuantizedElement {}
extension Int16: QuantizedElement {}
extension UInt16: QuantizedElement {}
extension Int32: QuantizedElement {}

private protocol QuantizedVisitor {
  func visit<Q: QuantizedElement>(_: Q.Type) -> KernelEval
}

/// Calls `v.visit` with the Swift type of a supported quantized DType (statically, so the
/// loops specialize).
private func dispatchQuantized<V: QuantizedVisitor>(_ dtype: DType, _ v: V) throws -> KernelEval {
  switch dtype {
  case .int8: return v.visit(Int8.self)
  case .uint8: return v.visit(UInt8.self)
  case .int16: return v.visit(Int16.self)
  case .uint16: return v.visit(UInt16.self)
  case .int32: return v.visit(Int32.self)
  default: throw GraphError("quantized type \(dtype.shortName) is not supported (int8, uint8, int16, uint16, int32)")
  }
}

/// QuantizeLinear: y = saturate(round_half_even(x / scale) + zero_point). x and the scale are
/// computed in float32 (other float types are converted first); NaN quantizes to the zero
/// point. The output type is the zero point's (uint8 when absent), as inference decided.
private struct QuantizeEval: QuantizedVisitor {
  let xType: DType, scaleType: DType, outType: DType
  let attributes: AttributeMap

  func visit<Q: QuantizedElement>(_: Q.Type) -> KernelEval {
    let (xType, scaleType, outType, attributes) = (self.xType, self.scaleType, self.outType, self.attributes)
    return { inputs, outputs in
      let x = try convertTensor(try typedInput(inputs, 0, xType), to: .float32)
      let scale = try convertTensor(try typedInput(inputs, 1, scaleType), to: .float32)
      let zp = inputs.count > 2 ? try inputs[2].map { try checkedTensor($0, outType, "zero point") } : nil
      let y = try typedOutput(outputs, 0, outType)
      guard y.shape == x.shape else { throw GraphError("output shape \(y.shape) differs from input \(x.shape)") }
      let layout = try QuantizationLayout(data: x.shape, scale: scale.shape, zeroPoint: zp?.shape, attributes: attributes)
      let px = x.pointer(as: Float.self), ps = scale.pointer(as: Float.self), py = y.pointer(as: Q.self)
      let pz = zp?.pointer(as: Q.self)
      let lo = Double(Q.min), hi = Double(Q.max)
      let eightBit = Q.self == Int8.self || Q.self == UInt8.self
      layout.forEachRun { offset, si, ss, n in
        if eightBit && ss == 0 {  // one scale and zero point over the run: the vector loop
          graphc_quantize_f32_8(px + offset, n, ps[si], Int32(pz.map { $0[si] } ?? 0), Q.isSigned ? 1 : 0, py + offset)
          return
        }
        for i in 0..<n {
          let s = si &+ i &* ss
          let z = pz.map { Double($0[s]) } ?? 0
          let q = (px[offset + i] / ps[s]).rounded(.toNearestOrEven)
          py[offset + i] = q.isNaN ? Q(z) : Q(Swift.min(Swift.max(Double(q) + z, lo), hi))
        }
      }
    }
  }
}
private let quantizeLinearKernel = Kernel { ctx in
  guard let outType = ctx.outputTypes.first?.dtype else { throw GraphError("QuantizeLinear has no output") }
  return try dispatchQuantized(outType, QuantizeEval(
    xType: try ctx.dtype(0), scaleType: try ctx.dtype(1), outType: outType, attributes: ctx.attributes))
}

/// DequantizeLinear: y = (x - zero_point) * scale, computed in float32, stored in the output's
/// float type (the scale's, as inference decided).
private struct DequantizeEval: QuantizedVisitor {
  let xType: DType, scaleType: DType, outType: DType
  let attributes: AttributeMap

  func visit<Q: QuantizedElement>(_: Q.Type) -> KernelEval {
    let (xType, scaleType, outType, attributes) = (self.xType, self.scaleType, self.outType, self.attributes)
    return { inputs, outputs in
      let x = try typedInput(inputs, 0, xType)
      let scale = try convertTensor(try typedInput(inputs, 1, scaleType), to: .float32)
      let zp = inputs.count > 2 ? try inputs[2].map { try checkedTensor($0, xType, "zero point") } : nil
      let final = try typedOutput(outputs, 0, outType)
      guard final.shape == x.shape else { throw GraphError("output shape \(final.shape) differs from input \(x.shape)") }
      let y = outType == .float32 ? final : Tensor(zeros: .float32, shape: x.shape)
      let layout = try QuantizationLayout(data: x.shape, scale: scale.shape, zeroPoint: zp?.shape, attributes: attributes)
      let px = x.pointer(as: Q.self), ps = scale.pointer(as: Float.self), py = y.pointer(as: Float.self)
      let pz = zp?.pointer(as: Q.self)
      layout.forEachRun { offset, si, ss, n in
        for i in 0..<n {
          let s = si &+ i &* ss
          let z = pz.map { Int64($0[s]) } ?? 0
          py[offset + i] = Float(Int64(px[offset + i]) - z) * ps[s]
        }
      }
      if outType != .float32 { try convertFunction(from: .float32, to: outType)(y.rawPointer, final.rawPointer, y.count) }
    }
  }
}
private let dequantizeLinearKernel = Kernel { ctx in
  guard let outType = ctx.outputTypes.first?.dtype else { throw GraphError("DequantizeLinear has no output") }
  guard outType.isFloat else { throw GraphError("DequantizeLinear output must be a float type, not \(outType.shortName)") }
  let xType = try ctx.dtype(0)
  return try dispatchQuantized(xType, DequantizeEval(
    xType: xType, scaleType: try ctx.dtype(1), outType: outType, attributes: ctx.attributes))
}
