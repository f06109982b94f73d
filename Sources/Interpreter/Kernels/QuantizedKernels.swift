// QuantizedKernels.swift - Integer QLinear and QConv: int8 x int8/int4 products, int32 sums, requantization.

import CKernels
import GraphIR

let quantizedKernels: [String: Kernel] = [
  "graphc.QLinear": Kernel { ctx in
    let rq = try Requantization(ctx, weightAxis: 1)
    let int4 = try ctx.dtype(1) == .int4
    let signed = try ctx.dtype(0) == .int8
    // Constant int8 weights are packed once here (int4 ones stay packed in 4 bits, to keep
    // their memory saving, and are widened per call).
    let prepacked = int4 ? nil : ctx.constant(1).flatMap(PackedWeights.init)
    return { inputs, outputs in
      guard let x = inputs[0], let w = inputs[1] else { throw GraphError("missing required input") }
      let y = outputs[0]
      guard w.rank == 2, x.rank >= 1, x.shape[x.rank - 1] == w.shape[0] else {
        throw GraphError("X shape \(x.shape) does not fit W shape \(w.shape)")
      }
      let k = w.shape[0], n = w.shape[1]
      let m = k == 0 ? y.count / max(n, 1) : x.count / k
      guard y.count == m * n else { throw GraphError("result shape \(y.shape) does not match the product") }
      let bias = try checkedBias(inputs, channels: n)
      try rq.check(channels: n)
      let kind = signed ? kindS8 : kindU8
      // y[i, :] = requantize(bias + x[i, :] · W): channels are W's columns.
      var b = operand(w, ld: n, kind: int4 ? kindS4 : kindS8)
      if let prepacked, prepacked.source == UnsafeRawPointer(w.rawPointer), prepacked.k == k, prepacked.n == n {
        b.packed = UnsafePointer(prepacked.panels)
      }
      qgemm(m: m, n: n, k: k, a: operand(x, ld: k, kind: kind), b: b, rq, bias: bias, channelAxis: 1,
            c: y.rawPointer, ldc: n)
    }
  },
  "graphc.QConv": Kernel { ctx in
    let rq = try Requantization(ctx, weightAxis: 0)
    let int4 = try ctx.dtype(1) == .int4
    let signed = try ctx.dtype(0) == .int8
    let attrs = ctx.attributes
    let group = try attrs.int("group", default: 1)
    let zx = ctx.inputTypes[0]?.quant?.zeroPoint(0) ?? 0
    return { inputs, outputs in
      guard let x = inputs[0], let w = inputs[1] else { throw GraphError("missing required input") }
      guard x.rank >= 3, w.rank == x.rank else { throw GraphError("X rank \(x.rank) and W rank \(w.rank) do not fit a convolution") }
      let spatial = Array(x.shape.dropFirst(2))
      let g = try checkedWindowGeometry(inputSpatial: spatial, kernel: Array(w.shape.dropFirst(2)), attributes: attrs)
      let shape = ConvShape(batch: x.shape[0], inChannels: x.shape[1], outChannels: w.shape[0], group: group,
                            window: try Window3D(inputSpatial: spatial, geometry: g))
      try shape.check(w: w, bias: nil, y: outputs[0], transposed: false)
      let bias = try checkedBias(inputs, channels: shape.outChannels)
      try rq.check(channels: shape.outChannels)
      let wKind = int4 ? kindS4 : kindS8
      if signed {
        qconv(shape, x.pointer(as: Int8.self), zeroPoint: Int8(truncatingIfNeeded: zx), kind: kindS8, w, wKind: wKind,
              bias, outputs[0].rawPointer, rq)
      } else {
        qconv(shape, x.pointer(as: UInt8.self), zeroPoint: UInt8(truncatingIfNeeded: zx), kind: kindU8, w, wKind: wKind,
              bias, outputs[0].rawPointer, rq)
      }
    }
  },
]

/// Per output channel fixed-point multipliers `s_x s_w[c] / s_y`, the output zero point and
/// the clamp range (storage range narrowed by the fused activation). Built once at load from
/// the quantization parameters on the operand and result types.
///
/// An f32 result (the op's `dequantize = 1`) skips requantization: `y = clamp(float(acc) *
/// s_x s_w[c], lo, hi)` with the fused activation's bounds in real units (`scales`, `floatLo`,
/// `floatHi`), so a layer whose result feeds float ops is rounded once, by its weights and
/// input, not again to an int8 output step.
struct Requantization {
  /// Per channel (or one) Q31 multipliers and shifts of `QuantizedMultiplier`, as the C kernel
  /// reads them (zeros for an f32 result).
  var m0s: [Int32]
  var shifts: [Int32]
  var perChannel: Bool
  var zeroPoint: Int32
  var lo: Int32
  var hi: Int32
  /// f32 result: per channel (or one) `s_x s_w[c]`, and the clamp in real units.
  var scales: [Float] = []
  var floatLo: Float = -.infinity, floatHi: Float = .infinity
  /// The C kernel's result kind (GRAPHC_Q_S8, GRAPHC_Q_U8 or GRAPHC_Q_F32).
  var resultKind: Int32

  init(_ ctx: KernelContext, weightAxis: Int) throws {
    guard let xq = ctx.inputTypes[0]?.quant, let wq = ctx.inputTypes[1]?.quant else {
      throw GraphError("X and W need quantization parameters")
    }
    perChannel = wq.axis != nil
    let clip = try ctx.attributes.floats("clip") ?? [-.infinity, .infinity]
    guard clip.count == 2 else { throw GraphError("clip must be [lo, hi]") }
    let dequantize = try ctx.attributes.int("dequantize", default: 0) == 1
    guard dequantize == (ctx.outputTypes.first?.dtype == .float32) else {
      throw GraphError(dequantize ? "dequantize = 1 needs an f32 result" : "an f32 result needs dequantize = 1")
    }
    if dequantize {
      scales = wq.scales.map { Float(Double(xq.scales[0]) * Double($0)) }
      m0s = scales.map { _ in 0 }
      shifts = m0s
      (zeroPoint, lo, hi) = (0, 0, 0)
      (floatLo, floatHi) = (clip[0], clip[1])
      resultKind = Int32(GRAPHC_Q_F32)
      return
    }
    guard let out = ctx.outputTypes.first, let yq = out.quant, yq.axis == nil,
          out.dtype == ctx.inputTypes[0]?.dtype, let range = quantizedRange(out.dtype) else {
      throw GraphError("the result needs per-tensor quantization parameters and X's element type")
    }
    resultKind = out.dtype == .int8 ? Int32(GRAPHC_Q_S8) : Int32(GRAPHC_Q_U8)
    let multipliers = wq.scales.map { QuantizedMultiplier(Double(xq.scales[0]) * Double($0) / Double(yq.scales[0])) }
    m0s = multipliers.map(\.m0)
    shifts = multipliers.map { Int32($0.shift) }
    let zy = yq.zeroPoints[0]
    zeroPoint = zy
    // PASSES.md §2: [max(qmin, z_y + round(lo/s_y)), min(qmax, z_y + round(hi/s_y))].
    func bound(_ v: Float) -> Double { Double(zy) + (Double(v) / Double(yq.scales[0])).rounded() }
    lo = Int32(max(Double(range.lowerBound), min(Double(range.upperBound), bound(clip[0]))))
    hi = Int32(min(Double(range.upperBound), max(Double(range.lowerBound), bound(clip[1]))))
  }

  /// Bytes per result element.
  var resultSize: Int { resultKind == Int32(GRAPHC_Q_F32) ? 4 : 1 }

  /// Per-channel parameters must cover exactly the op's output channels.
  func check(channels: Int) throws {
    guard !perChannel || m0s.count == channels else {
      throw GraphError("W has \(m0s.count) per-channel scales for \(channels) output channels")
    }
  }
}

/// B: i32 `[channels]` or absent (zeros).
private func checkedBias(_ inputs: [Tensor?], channels: Int) throws -> UnsafePointer<Int32>? {
  guard inputs.count > 2, let b = inputs[2] else { return nil }
  guard b.dtype == .int32, b.count == channels else { throw GraphError("B must hold \(channels) int32 values, got \(b.shape)") }
  return UnsafePointer(b.pointer(as: Int32.self))
}

/// A constant k x n int8 weight matrix packed once into the GEMM's int16 panels (2 bytes per
/// weight), with the address of the constant it came from so a run uses it only for that operand.
private final class PackedWeights: @unchecked Sendable {
  let source: UnsafeRawPointer
  let k: Int, n: Int
  let panels: UnsafeMutablePointer<Int16>

  init?(_ w: Tensor) {
    guard w.dtype == .int8, w.rank == 2, w.count > 0 else { return nil }
    source = UnsafeRawPointer(w.rawPointer)
    k = w.shape[0]
    n = w.shape[1]
    panels = .allocate(capacity: graphc_qgemm_packed_size(k, n))
    var b = operand(w, ld: n, kind: kindS8)
    graphc_qgemm_pack_b(&b, k, n, panels)
  }

  deinit { panels.deallocate() }
}

/// An operand of the C integer GEMM: element (r, c) at element `offset + r * ld + c` of `data`.
private func operand(_ data: UnsafeRawPointer, offset: Int = 0, ld: Int, kind: Int32) -> graphc_qoperand {
  graphc_qoperand(data: data, offset: offset, ld: ld, kind: kind, packed: nil)
}

private func operand(_ t: Tensor, offset: Int = 0, ld: Int, kind: Int32) -> graphc_qoperand {
  operand(UnsafeRawPointer(t.rawPointer), offset: offset, ld: ld, kind: kind)
}

private let kindS8 = Int32(GRAPHC_Q_S8), kindU8 = Int32(GRAPHC_Q_U8), kindS4 = Int32(GRAPHC_Q_S4)

/// `C = requantize(bias + A · B)` (or dequantize, for an f32 result) for an m x k A and a k x n
/// B, into m x n elements at `c` (row stride `ldc` elements), through `graphc_qgemm_serial`. Channels run along rows (`channelAxis` 0) or
/// columns (1), numbered from `firstChannel` in `bias` and `rq`. Products big enough to pay for
/// a second thread are split into disjoint column ranges of C (row ranges when rows offer
/// clearly more tiles), aligned to the micro-tile, as `sgemm` does.
func qgemm(
  m: Int, n: Int, k: Int, a: graphc_qoperand, b: graphc_qoperand, _ rq: Requantization,
  bias: UnsafePointer<Int32>?, channelAxis: Int32, firstChannel: Int = 0,
  c: UnsafeMutableRawPointer, ldc: Int
) {
  guard m > 0, n > 0 else { return }
  let mr = Int(GRAPHC_QGEMM_MR), nr = Int(GRAPHC_QGEMM_NR)
  let colTiles = (n + nr - 1) / nr, rowTiles = (m + mr - 1) / mr
  let splitRows = rowTiles > 2 * colTiles
  let tiles = splitRows ? rowTiles : colTiles
  let workPerTile = max(1, m * n * max(k, 1) / tiles)
  let scaleBase = rq.perChannel ? firstChannel : 0
  let cKind = rq.resultKind, size = rq.resultSize
  rq.m0s.withUnsafeBufferPointer { m0 in
    rq.shifts.withUnsafeBufferPointer { shifts in
      rq.scales.withUnsafeBufferPointer { scales in
        guard let m0 = m0.baseAddress, let shifts = shifts.baseAddress else { return }
        var params = graphc_qrequant(
          bias: bias.map { $0 + firstChannel }, multiplier: m0 + scaleBase, shift: shifts + scaleBase,
          per_channel: rq.perChannel ? 1 : 0, channel_axis: channelAxis, zero_point: rq.zeroPoint, lo: rq.lo, hi: rq.hi,
          scale: scales.baseAddress.map { $0 + scaleBase }, flo: rq.floatLo, fhi: rq.floatHi)
        withUnsafePointer(to: &params) { params in
          parallelChunks(tiles, minChunk: (GemmSplit.minWorkPerThread + workPerTile - 1) / workPerTile) { tiles in
            var a = a, b = b
            if splitRows {
              let i0 = tiles.lowerBound * mr, i1 = min(m, tiles.upperBound * mr)
              a.offset += i0 * a.ld
              graphc_qgemm_serial(i1 - i0, n, k, &a, &b, params, i0, 0, c + i0 * ldc * size, ldc, cKind)
            } else {
              let j0 = tiles.lowerBound * nr, j1 = min(n, tiles.upperBound * nr)
              b.offset += j0
              b.packed = b.packed.map { $0 + j0 * ((k + 1) & ~1) }
              graphc_qgemm_serial(m, j1 - j0, k, &a, &b, params, 0, j0, c + j0 * size, ldc, cKind)
            }
          }
        }
      }
    }
  }
}

/// Quantized convolution: per batch and group, im2col padded with the input zero point (so
/// padding is real zero; pointwise convolutions read X in place; 2-D windows in C), then
/// `y[o, p] = requantize(bias[o] + W[o, :] · col[:, p])` as one integer GEMM.
private func qconv<T>(
  _ s: ConvShape, _ x: UnsafePointer<T>, zeroPoint: T, kind: Int32, _ w: Tensor, wKind: Int32,
  _ bias: UnsafePointer<Int32>?, _ y: UnsafeMutableRawPointer, _ rq: Requantization
) {
  let win = s.window
  let inSize = win.inputSize, outSize = win.outputSize
  let rows = s.inPerGroup * win.kernelSize
  let pointwise = win.kernelSize == 1 && win.strides == (1, 1, 1) && win.pads == (0, 0, 0) && win.padsEnd == (0, 0, 0)
  let col = pointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: rows * outSize)
  defer { col?.deallocate() }
  // 1-D/2-D windows unfold in C (bytes: T is Int8 or UInt8), others in the generic Swift im2col.
  let planar = MemoryLayout<T>.size == 1 ? win.planar : nil
  let padByte = withUnsafeBytes(of: zeroPoint) { $0[0] }
  for b in 0..<s.batch {
    for g in 0..<s.group {
      let xg = x + (b * s.inChannels + g * s.inPerGroup) * inSize
      var matrix = xg
      if let col, let planar {
        withUnsafePointer(to: planar) { shape in
          graphc_im2col2d_8(shape, UnsafeRawPointer(xg).assumingMemoryBound(to: UInt8.self), s.inPerGroup, 0, outSize, padByte,
                            UnsafeMutableRawPointer(col).assumingMemoryBound(to: UInt8.self))
        }
        matrix = UnsafePointer(col)
      } else if let col {
        im2col(xg, channels: s.inPerGroup, win, columns: 0..<outSize, pad: zeroPoint, into: col)
        matrix = UnsafePointer(col)
      }
      let firstChannel = g * s.outPerGroup
      qgemm(m: s.outPerGroup, n: outSize, k: rows, a: operand(w, offset: firstChannel * rows, ld: rows, kind: wKind),
            b: operand(UnsafeRawPointer(matrix), ld: outSize, kind: kind), rq, bias: bias, channelAxis: 0,
            firstChannel: firstChannel, c: y + (b * s.outChannels + firstChannel) * outSize * rq.resultSize, ldc: outSize)
    }
  }
}
