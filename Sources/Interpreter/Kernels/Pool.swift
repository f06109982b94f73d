// Pool.swift - MaxPool (with Indices), AveragePool, LpPool, GlobalAveragePool and GlobalMaxPool.
// 1-D and 2-D pooling run through the 3-D loops with unit leading dims.

import CKernels
import GraphIR

let poolKernels: [String: Kernel] = [
  "onnx.MaxPool": Kernel { ctx in
    let attrs = ctx.attributes
    let columnMajor = try attrs.int("storage_order", default: 0) == 1
    func make<T: NNNumber>(_: T.Type) -> KernelEval {
      return { inputs, outputs in
        let (x, win) = try poolInput(inputs, outputs, attrs)
        let indices = outputs.count > 1 ? outputs[1].pointer(as: Int64.self) : nil
        maxPool(x.pointer(as: T.self), outputs[0].pointer(as: T.self), indices: indices,
                planes: x.shape[0] * x.shape[1], win, columnMajor: columnMajor)
      }
    }
    switch try ctx.dtype(0) {
    case .float32:
      let general = make(Float.self)
      return { inputs, outputs in
        let (x, win) = try poolInput(inputs, outputs, attrs)
        guard outputs.count == 1, let planar = win.planar else { return try general(inputs, outputs) }
        maxPool2D(x.pointer(as: Float.self), outputs[0].pointer(as: Float.self), planes: x.shape[0] * x.shape[1], planar)
      }
    case .float64: return make(Double.self)
    case .int8: return make(Int8.self)
    case .uint8: return make(UInt8.self)
    case let t: throw unsupported("MaxPool", t)
    }
  },
  "onnx.AveragePool": Kernel { ctx in
    let includePad = try ctx.attributes.int("count_include_pad", default: 0) != 0
    return try floatPool("AveragePool", ctx, .average(countIncludePad: includePad))
  },
  "onnx.LpPool": Kernel { ctx in
    try floatPool("LpPool", ctx, .lp(p: try ctx.attributes.int("p", default: 2)))
  },
  "onnx.GlobalAveragePool": Kernel { ctx in
    switch try ctx.dtype(0) {
    case .float32: return globalPoolEval(Float.self, max: false)
    case .float64: return globalPoolEval(Double.self, max: false)
    case let t: throw unsupported("GlobalAveragePool", t)
    }
  },
  "onnx.GlobalMaxPool": Kernel { ctx in
    switch try ctx.dtype(0) {
    case .float32: return globalPoolEval(Float.self, max: true)
    case .float64: return globalPoolEval(Double.self, max: true)
    case let t: throw unsupported("GlobalMaxPool", t)
    }
  },
]

enum PoolKind {
  case average(countIncludePad: Bool)
  case lp(p: Int)
}

/// Resolves the pooling window of X for this run and checks the result shape against it.
private func poolInput(_ inputs: [Tensor?], _ outputs: [Tensor], _ attrs: AttributeMap) throws -> (Tensor, Window3D) {
  guard let x = inputs[0] else { throw GraphError("missing required input") }
  guard let kernel = try attrs.ints("kernel_shape") else { throw GraphError("attribute 'kernel_shape' is required") }
  let spatial = Array(x.shape.dropFirst(2))
  let ceil = try attrs.int("ceil_mode", default: 0) == 1
  let g = try checkedWindowGeometry(inputSpatial: spatial, kernel: kernel, attributes: attrs, ceilMode: ceil)
  let win = try Window3D(inputSpatial: spatial, geometry: g)
  for y in outputs where y.count != x.shape[0] * x.shape[1] * win.outputSize {
    throw GraphError("result shape \(y.shape) does not match the pooling window")
  }
  return (x, win)
}

private func floatPool(_ op: String, _ ctx: KernelContext, _ kind: PoolKind) throws -> KernelEval {
  let attrs = ctx.attributes
  func make<T: NNFloat>(_: T.Type) -> KernelEval {
    return { inputs, outputs in
      let (x, win) = try poolInput(inputs, outputs, attrs)
      averageOrLpPool(x.pointer(as: T.self), outputs[0].pointer(as: T.self), planes: x.shape[0] * x.shape[1], win, kind)
    }
  }
  switch try ctx.dtype(0) {
  case .float32: return make(Float.self)
  case .float64: return make(Double.self)
  case let t: throw unsupported(op, t)
  }
}

/// The taps `k` in `0..<taps` of the window at output `o` whose position
/// `o * stride - pad + k * dilation` lies in `0..<extent`.
@inline(__always)
private func tapRange(_ o: Int, stride: Int, pad: Int, dilation: Int, taps: Int, extent: Int) -> Range<Int> {
  let start = o * stride - pad
  // start + k * d >= 0  and  start + k * d < extent
  let lo = start >= 0 ? 0 : (-start + dilation - 1) / dilation
  let hiPos = extent - start
  let hi = hiPos <= 0 ? 0 : (hiPos + dilation - 1) / dilation
  let a = min(lo, taps), b = min(hi, taps)
  return a..<max(a, b)
}

/// Visits every output cell of every plane with the valid tap ranges of its window.
@inline(__always)
private func forEachWindow(
  planes: Int, _ w: Window3D,
  _ body: (_ plane: Int, _ out: Int, _ kd: Range<Int>, _ kh: Range<Int>, _ kw: Range<Int>, _ start: (Int, Int, Int)) -> Void
) {
  let (ID, IH, IW) = w.input, (OD, OH, OW) = w.output
  let (KD, KH, KW) = w.kernel, (sd, sh, sw) = w.strides, (dd, dh, dw) = w.dilations, (pd, ph, pw) = w.pads
  let rw = (0..<OW).map { tapRange($0, stride: sw, pad: pw, dilation: dw, taps: KW, extent: IW) }
  for p in 0..<planes {
    var out = p * OD * OH * OW
    for od in 0..<OD {
      let rd = tapRange(od, stride: sd, pad: pd, dilation: dd, taps: KD, extent: ID)
      for oh in 0..<OH {
        let rh = tapRange(oh, stride: sh, pad: ph, dilation: dh, taps: KH, extent: IH)
        for ow in 0..<OW {
          body(p, out, rd, rh, rw[ow], (od * sd - pd, oh * sh - ph, ow * sw - pw))
          out += 1
        }
      }
    }
  }
}

/// Float MaxPool without Indices over 1-D/2-D planes: the C kernel, planes in parallel.
private func maxPool2D(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, _ shape: graphc_dw_shape) {
  let inPlane = shape.ih * shape.iw, outPlane = shape.oh * shape.ow
  parallelChunks(planes, minChunk: max(1, (1 << 16) / max(1, outPlane * shape.kh * shape.kw))) { range in
    withUnsafePointer(to: shape) { sp in
      for p in range { graphc_maxpool2d_f32(sp, x + p * inPlane, y + p * outPlane) }
    }
  }
}

func maxPool<T: NNNumber>(
  _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, indices: UnsafeMutablePointer<Int64>?,
  planes: Int, _ w: Window3D, columnMajor: Bool
) {
  let (ID, IH, IW) = w.input, (dd, dh, dw) = w.dilations
  let inSize = w.inputSize
  forEachWindow(planes: planes, w) { p, out, rd, rh, rw, s in
    let xp = x + p * inSize
    var best = T.nnLowest
    var bestAt = -1
    for kd in rd {
      let id = s.0 + kd * dd
      for kh in rh {
        let ih = s.1 + kh * dh
        let row = (id * IH + ih) * IW
        for kw in rw {
          let v = xp[row + s.2 + kw * dw]
          if v > best || bestAt < 0 { best = v; bestAt = row + s.2 + kw * dw }
        }
      }
    }
    y[out] = best
    if let indices {
      var at = max(bestAt, 0)
      if columnMajor {
        let iw = at % IW, ih = (at / IW) % IH, id = at / (IW * IH)
        at = id + ih * ID + iw * ID * IH
      }
      indices[out] = Int64(p * inSize + at)
    }
  }
}

func averageOrLpPool<T: NNFloat>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, planes: Int, _ w: Window3D, _ kind: PoolKind) {
  let (IH, IW) = (w.input.1, w.input.2), (dd, dh, dw) = w.dilations
  let inSize = w.inputSize
  let padded = (w.input.0 + w.pads.0 + w.padsEnd.0, w.input.1 + w.pads.1 + w.padsEnd.1, w.input.2 + w.pads.2 + w.padsEnd.2)
  let (sd, sh, sw) = w.strides, (KD, KH, KW) = w.kernel
  let pInt: Int
  switch kind { case .lp(let p): pInt = p; case .average: pInt = 0 }
  let pT = T(pInt), invP = pInt > 0 ? 1 / T(pInt) : 0
  forEachWindow(planes: planes, w) { p, out, rd, rh, rw, s in
    let xp = x + p * inSize
    var sum = T.nnZero
    for kd in rd {
      let id = s.0 + kd * dd
      for kh in rh {
        let row = (id * IH + s.1 + kh * dh) * IW + s.2
        for kw in rw {
          let v = xp[row + kw * dw]
          switch pInt {
          case 0: sum += v
          case 1: sum += abs(v)
          case 2: sum += v * v
          default: sum += T.nnPow(abs(v), pT)
          }
        }
      }
    }
    switch kind {
    case .average(let includePad):
      var count: Int
      if includePad {
        // Taps inside the padded extent count, taps past it (ceil_mode) do not.
        let od = (s.0 + w.pads.0) / sd, oh = (s.1 + w.pads.1) / sh, ow = (s.2 + w.pads.2) / sw
        count = tapRange(od, stride: sd, pad: 0, dilation: dd, taps: KD, extent: padded.0).count
          * tapRange(oh, stride: sh, pad: 0, dilation: dh, taps: KH, extent: padded.1).count
          * tapRange(ow, stride: sw, pad: 0, dilation: dw, taps: KW, extent: padded.2).count
      } else {
        count = rd.count * rh.count * rw.count
      }
      y[out] = count > 0 ? sum / T(count) : 0
    case .lp:
      y[out] = pInt == 1 ? sum : pInt == 2 ? T.nnSqrt(sum) : T.nnPow(sum, invP)
    }
  }
}

private func globalPoolEval<T: NNFloat>(_: T.Type, max isMax: Bool) -> KernelEval {
  return { inputs, outputs in
    guard let x = inputs[0] else { throw GraphError("missing required input") }
    guard x.rank >= 2 else { throw GraphError("input must have rank >= 3") }
    let planes = x.shape[0] * x.shape[1], size = product(x.shape[2...])
    let src = x.pointer(as: T.self), dst = outputs[0].pointer(as: T.self)
    guard outputs[0].count == planes else { throw GraphError("result shape \(outputs[0].shape) does not match") }
    for p in 0..<planes {
      let row = src + p * size
      if isMax {
        var m = T.nnLowest
        for i in 0..<size where row[i] > m { m = row[i] }
        dst[p] = m
      } else {
        var s = T.nnZero
        for i in 0..<size { s += row[i] }
        dst[p] = size > 0 ? s / T(size) : .nan
      }
    }
  }
}
