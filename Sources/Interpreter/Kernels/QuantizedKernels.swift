// QuantizedKernels.swift - Integer QLinear and QConv: int8 x int8/int4 products, int32 sums, requantization.

import GraphIR

let quantizedKernels: [String: Kernel] = [
  "graphc.QLinear": Kernel { ctx in
    let rq = try Requantization(ctx, weightAxis: 1)
    let int4 = try ctx.dtype(1) == .int4
    let signed = try ctx.dtype(0) == .int8
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
      let weights = WeightRows(w, packed: int4)
      if signed {
        qlinear(x.pointer(as: Int8.self), weights, bias, y.pointer(as: Int8.self), m: m, k: k, n: n, rq)
      } else {
        qlinear(x.pointer(as: UInt8.self), weights, bias, y.pointer(as: UInt8.self), m: m, k: k, n: n, rq)
      }
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
      let weights = WeightRows(w, packed: int4)
      if signed {
        qconv(shape, x.pointer(as: Int8.self), zeroPoint: Int8(truncatingIfNeeded: zx), weights, bias,
              outputs[0].pointer(as: Int8.self), rq)
      } else {
        qconv(shape, x.pointer(as: UInt8.self), zeroPoint: UInt8(truncatingIfNeeded: zx), weights, bias,
              outputs[0].pointer(as: UInt8.self), rq)
      }
    }
  },
]

/// Per output channel fixed-point multipliers `s_x s_w[c] / s_y`, the output zero point and
/// the clamp range (storage range narrowed by the fused activation). Built once at load from
/// the quantization parameters on the operand and result types.
struct Requantization {
  var multipliers: [QuantizedMultiplier]
  var perChannel: Bool
  var zeroPoint: Int32
  var lo: Int32
  var hi: Int32

  init(_ ctx: KernelContext, weightAxis: Int) throws {
    guard let xq = ctx.inputTypes[0]?.quant, let wq = ctx.inputTypes[1]?.quant else {
      throw GraphError("X and W need quantization parameters")
    }
    guard let out = ctx.outputTypes.first, let yq = out.quant, yq.axis == nil,
          out.dtype == ctx.inputTypes[0]?.dtype, let range = quantizedRange(out.dtype) else {
      throw GraphError("the result needs per-tensor quantization parameters and X's element type")
    }
    perChannel = wq.axis != nil
    multipliers = wq.scales.map { QuantizedMultiplier(Double(xq.scales[0]) * Double($0) / Double(yq.scales[0])) }
    let zy = yq.zeroPoints[0]
    zeroPoint = zy
    let clip = try ctx.attributes.floats("clip") ?? [-.infinity, .infinity]
    guard clip.count == 2 else { throw GraphError("clip must be [lo, hi]") }
    // PASSES.md §2: [max(qmin, z_y + round(lo/s_y)), min(qmax, z_y + round(hi/s_y))].
    func bound(_ v: Float) -> Double { Double(zy) + (Double(v) / Double(yq.scales[0])).rounded() }
    lo = Int32(max(Double(range.lowerBound), min(Double(range.upperBound), bound(clip[0]))))
    hi = Int32(min(Double(range.upperBound), max(Double(range.lowerBound), bound(clip[1]))))
  }

  @inline(__always)
  func apply(_ acc: Int32, channel c: Int) -> Int32 {
    let v = zeroPoint &+ multipliers[perChannel ? c : 0].apply(acc)
    return min(max(v, lo), hi)
  }
}

/// Rows of an int8 or packed int4 weight matrix, read as int8. A packed row is unpacked into
/// the caller's scratch, one row segment at a time, so int4 weights stay packed in memory.
struct WeightRows {
  let base: UnsafeRawPointer
  let packed: Bool

  init(_ w: Tensor, packed: Bool) {
    base = UnsafeRawPointer(w.rawPointer)
    self.packed = packed
  }

  /// Elements `[start, start + count)` of the flattened weights.
  @inline(__always)
  func segment(_ start: Int, _ count: Int, scratch: UnsafeMutablePointer<Int8>) -> UnsafePointer<Int8> {
    guard packed else { return base.assumingMemoryBound(to: Int8.self) + start }
    let bytes = base.assumingMemoryBound(to: UInt8.self)
    for i in 0..<count {
      let e = start + i
      scratch[i] = unpackInt4(bytes[e >> 1], high: e & 1 == 1)
    }
    return UnsafePointer(scratch)
  }
}

/// B: i32 `[channels]` or absent (zeros).
private func checkedBias(_ inputs: [Tensor?], channels: Int) throws -> UnsafePointer<Int32>? {
  guard inputs.count > 2, let b = inputs[2] else { return nil }
  guard b.dtype == .int32, b.count == channels else { throw GraphError("B must hold \(channels) int32 values, got \(b.shape)") }
  return UnsafePointer(b.pointer(as: Int32.self))
}

/// `acc[j] += a * v[j]` for `j < n`: the inner loop of both ops (vectorizes as widening
/// multiply-adds).
@inline(__always)
private func multiplyAdd<V: FixedWidthInteger>(_ a: Int32, _ v: UnsafePointer<V>, _ acc: UnsafeMutablePointer<Int32>, _ n: Int) {
  for j in 0..<n { acc[j] &+= a &* Int32(truncatingIfNeeded: v[j]) }
}

private let rowBlock = 16, columnBlock = 256

/// `y[i, :] = requantize(bias + x[i, :] · W)` over `[rowBlock x columnBlock]` tiles, one tile
/// per task. Each task reads a weight row segment once per k for all of its rows.
private func qlinear<T: FixedWidthInteger>(
  _ x: UnsafePointer<T>, _ w: WeightRows, _ bias: UnsafePointer<Int32>?, _ y: UnsafeMutablePointer<T>,
  m: Int, k: Int, n: Int, _ rq: Requantization
) {
  let rowTiles = (m + rowBlock - 1) / rowBlock, colTiles = (n + columnBlock - 1) / columnBlock
  parallelChunks(rowTiles * colTiles) { tiles in
    let acc = UnsafeMutablePointer<Int32>.allocate(capacity: rowBlock * columnBlock)
    let scratch = UnsafeMutablePointer<Int8>.allocate(capacity: columnBlock)
    defer { acc.deallocate(); scratch.deallocate() }
    for t in tiles {
      let m0 = (t / colTiles) * rowBlock, n0 = (t % colTiles) * columnBlock
      let mb = min(rowBlock, m - m0), nb = min(columnBlock, n - n0)
      for i in 0..<mb {
        let row = acc + i * columnBlock
        if let bias { row.update(from: bias + n0, count: nb) } else { row.update(repeating: 0, count: nb) }
      }
      for kk in 0..<k {
        let wr = w.segment(kk * n + n0, nb, scratch: scratch)
        for i in 0..<mb {
          let a = Int32(truncatingIfNeeded: x[(m0 + i) * k + kk])
          if a != 0 { multiplyAdd(a, wr, acc + i * columnBlock, nb) }
        }
      }
      for i in 0..<mb {
        let out = y + (m0 + i) * n + n0, row = acc + i * columnBlock
        for j in 0..<nb { out[j] = T(truncatingIfNeeded: rq.apply(row[j], channel: n0 + j)) }
      }
    }
  }
}

/// Quantized convolution: per batch and group, im2col padded with the input zero point (so
/// padding is real zero), then `y[o, p] = requantize(bias[o] + W[o, :] · col[:, p])`, output
/// channels split across threads.
private func qconv<T: FixedWidthInteger>(
  _ s: ConvShape, _ x: UnsafePointer<T>, zeroPoint: T, _ w: WeightRows, _ bias: UnsafePointer<Int32>?,
  _ y: UnsafeMutablePointer<T>, _ rq: Requantization
) {
  let win = s.window
  let inSize = win.inputSize, outSize = win.outputSize
  let rows = s.inPerGroup * win.kernelSize
  let pointwise = win.kernelSize == 1 && win.strides == (1, 1, 1) && win.pads == (0, 0, 0) && win.padsEnd == (0, 0, 0)
  let col = pointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: rows * outSize)
  defer { col?.deallocate() }
  for b in 0..<s.batch {
    for g in 0..<s.group {
      let xg = x + (b * s.inChannels + g * s.inPerGroup) * inSize
      var matrix = xg
      if let col {
        im2col(xg, channels: s.inPerGroup, win, columns: 0..<outSize, pad: zeroPoint, into: col)
        matrix = UnsafePointer(col)
      }
      let yg = y + (b * s.outChannels + g * s.outPerGroup) * outSize
      parallelChunks(s.outPerGroup, minChunk: max(1, 4096 / max(rows * outSize, 1))) { channels in
        let tile = min(outSize, 1024)
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: tile)
        let scratch = UnsafeMutablePointer<Int8>.allocate(capacity: rows)
        defer { acc.deallocate(); scratch.deallocate() }
        for o in channels {
          let oc = g * s.outPerGroup + o
          let wr = w.segment(oc * rows, rows, scratch: scratch)
          var p0 = 0
          while p0 < outSize {
            let pb = min(tile, outSize - p0)
            acc.update(repeating: bias?[oc] ?? 0, count: pb)
            for r in 0..<rows where wr[r] != 0 {
              multiplyAdd(Int32(wr[r]), matrix + r * outSize + p0, acc, pb)
            }
            let out = yg + o * outSize + p0
            for j in 0..<pb { out[j] = T(truncatingIfNeeded: rq.apply(acc[j], channel: oc)) }
            p0 += pb
          }
        }
      }
    }
  }
}
