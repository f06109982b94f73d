// Conv.swift - Conv and ConvTranspose kernels (float32): im2col + sgemm, direct depthwise,
// and col2im for the transpose. 1-D and 2-D run through the 3-D loops with unit leading dims.

import Dispatch
import GraphIR

let convKernels: [String: Kernel] = [
  "onnx.Conv": Kernel { ctx in
    guard try ctx.dtype(0) == .float32 else { throw unsupported("Conv", try ctx.dtype(0)) }
    let attrs = ctx.attributes
    let group = try attrs.int("group", default: 1)
    return { inputs, outputs in
      guard let x = inputs[0], let w = inputs[1] else { throw GraphError("missing required input") }
      try checkConvRanks(x, w)
      let bias = inputs.count > 2 ? inputs[2] : nil
      let spatial = Array(x.shape.dropFirst(2))
      let g = try checkedWindowGeometry(inputSpatial: spatial, kernel: Array(w.shape.dropFirst(2)), attributes: attrs)
      let shape = ConvShape(batch: x.shape[0], inChannels: x.shape[1], outChannels: w.shape[0], group: group,
                            window: try Window3D(inputSpatial: spatial, geometry: g))
      try shape.check(w: w, bias: bias, y: outputs[0], transposed: false)
      conv2d(shape, x: x.pointer(as: Float.self), w: w.pointer(as: Float.self),
             bias: bias?.pointer(as: Float.self), y: outputs[0].pointer(as: Float.self))
    }
  },
  "onnx.ConvTranspose": Kernel { ctx in
    guard try ctx.dtype(0) == .float32 else { throw unsupported("ConvTranspose", try ctx.dtype(0)) }
    let attrs = ctx.attributes
    let group = try attrs.int("group", default: 1)
    return { inputs, outputs in
      guard let x = inputs[0], let w = inputs[1] else { throw GraphError("missing required input") }
      try checkConvRanks(x, w)
      let bias = inputs.count > 2 ? inputs[2] : nil
      let spatial = Array(x.shape.dropFirst(2))
      let kernel = try attrs.ints("kernel_shape") ?? Array(w.shape.dropFirst(2))
      let g = try convTransposeGeometry(inputSpatial: spatial, kernel: kernel, attributes: attrs)
      let (outChannels, overflow) = w.shape[1].multipliedReportingOverflow(by: group)
      guard group > 0, !overflow else { throw GraphError("group \(group) is out of range") }
      let shape = ConvShape(batch: x.shape[0], inChannels: x.shape[1], outChannels: outChannels, group: group,
                            window: try Window3D(inputSpatial: spatial, geometry: g))
      try shape.check(w: w, bias: bias, y: outputs[0], transposed: true)
      convTranspose(shape, x: x.pointer(as: Float.self), w: w.pointer(as: Float.self),
                    bias: bias?.pointer(as: Float.self), y: outputs[0].pointer(as: Float.self))
    }
  },
]

/// Sizes of one convolution. For ConvTranspose, `window.input` is X's spatial extent and
/// `window.output` Y's, with the window's strides/pads describing the forward conv Y -> X.
struct ConvShape {
  var batch: Int
  var inChannels: Int
  var outChannels: Int
  var group: Int
  var window: Window3D
  var inPerGroup: Int { inChannels / group }
  var outPerGroup: Int { outChannels / group }

  /// Re-checks what the kernel indexes with, so a wrong shape can never read out of bounds.
  func check(w: Tensor, bias: Tensor?, y: Tensor, transposed: Bool) throws {
    guard group > 0, inChannels % group == 0, outChannels % group == 0 else {
      throw GraphError("group \(group) does not divide the channels (\(inChannels) in, \(outChannels) out)")
    }
    let wElems = inChannels * outPerGroup * window.kernelSize
    guard w.count == wElems, (transposed ? w.shape[0] == inChannels : w.shape[1] == inPerGroup) else {
      throw GraphError("W shape \(w.shape) does not match \(inChannels) input channels and group \(group)")
    }
    if let bias, bias.count != outChannels || bias.dtype != .float32 {
      throw GraphError("B must hold \(outChannels) float32 values, got \(bias.shape)")
    }
    guard y.count == batch * outChannels * window.outputSize else {
      throw GraphError("result shape \(y.shape) does not match the convolution")
    }
  }
}

/// X is [N, C, spatial...] and W has the same rank (the schema checks this; eval re-checks
/// because it indexes both shapes).
private func checkConvRanks(_ x: Tensor, _ w: Tensor) throws {
  guard x.rank >= 3, w.rank == x.rank else { throw GraphError("X rank \(x.rank) and W rank \(w.rank) do not fit a convolution") }
}

/// Fills each output channel plane with its bias (or zero).
private func fillBias(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, channels: Int, plane: Int) {
  for m in 0..<channels { (y + m * plane).update(repeating: bias?[m] ?? 0, count: plane) }
}

/// Forward convolution. Depthwise (one filter per input channel) runs directly; everything
/// else lowers each group to one sgemm over an im2col matrix (skipped for 1x1 stride-1 convs).
func conv2d(_ s: ConvShape, x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
  let win = s.window
  let inSize = win.inputSize, outSize = win.outputSize, kSize = win.kernelSize
  if s.group == s.inChannels && s.outChannels == s.inChannels && win.input.0 == 1 && win.kernel.0 == 1 {
    depthwise(s, x: x, w: w, bias: bias, y: y)
    return
  }
  let pointwise = kSize == 1 && win.strides == (1, 1, 1) && win.pads == (0, 0, 0) && win.padsEnd == (0, 0, 0)
  let rows = s.inPerGroup * kSize
  let col = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: rows * outSize)
  defer { col?.deallocate() }
  for n in 0..<s.batch {
    fillBias(y + n * s.outChannels * outSize, bias: bias, channels: s.outChannels, plane: outSize)
    for g in 0..<s.group {
      let xg = x + (n * s.inChannels + g * s.inPerGroup) * inSize
      let yg = y + (n * s.outChannels + g * s.outPerGroup) * outSize
      var bMatrix = xg
      if let col {
        im2col(xg, channels: s.inPerGroup, win, pad: 0, into: col)
        bMatrix = UnsafePointer(col)
      }
      sgemm(transA: false, transB: false, m: s.outPerGroup, n: outSize, k: rows, alpha: 1,
            a: w + g * s.outPerGroup * rows, lda: rows, b: bMatrix, ldb: outSize, beta: 1, c: yg, ldc: outSize)
    }
  }
}

/// Unfolds the windows of `channels` input planes into a (channels * kernel) x outputSize
/// matrix, `pad` where a window tap falls in the padding (0 for floats, the input's zero point
/// for quantized convolutions, so that padding stays real zero).
func im2col<T>(_ x: UnsafePointer<T>, channels: Int, _ w: Window3D, pad: T, into col: UnsafeMutablePointer<T>) {
  let (ID, IH, IW) = w.input, (OD, OH, OW) = w.output
  let (KD, KH, KW) = w.kernel, (sd, sh, sw) = w.strides, (dd, dh, dw) = w.dilations, (pd, ph, pw) = w.pads
  var row = col
  for c in 0..<channels {
    let xc = x + c * ID * IH * IW
    for kd in 0..<KD { for kh in 0..<KH { for kw in 0..<KW {
      let valid = validOutputRange(offset: kw * dw, stride: sw, pad: pw, inCount: IW, outCount: OW)
      let base = kw * dw - pw
      for od in 0..<OD {
        let id = od * sd - pd + kd * dd
        for oh in 0..<OH {
          let dst = row + (od * OH + oh) * OW
          let ih = oh * sh - ph + kh * dh
          guard id >= 0, id < ID, ih >= 0, ih < IH, !valid.isEmpty else {
            dst.update(repeating: pad, count: OW)
            continue
          }
          let src = xc + (id * IH + ih) * IW
          for ow in 0..<valid.lowerBound { dst[ow] = pad }
          if sw == 1 {
            (dst + valid.lowerBound).update(from: src + valid.lowerBound + base, count: valid.count)
          } else {
            for ow in valid { dst[ow] = src[ow * sw + base] }
          }
          for ow in valid.upperBound..<OW { dst[ow] = pad }
        }
      }
      row += OD * OH * OW
    } } }
  }
}

/// Direct depthwise convolution over 1-D/2-D planes, one plane per task.
private func depthwise(_ s: ConvShape, x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
  let win = s.window
  let (IH, IW) = (win.input.1, win.input.2), (OH, OW) = (win.output.1, win.output.2)
  let (KH, KW) = (win.kernel.1, win.kernel.2), (sh, sw) = (win.strides.1, win.strides.2)
  let (dh, dw) = (win.dilations.1, win.dilations.2), (ph, pw) = (win.pads.1, win.pads.2)
  let ranges = (0..<KW).map { kw in validOutputRange(offset: kw * dw, stride: sw, pad: pw, inCount: IW, outCount: OW) }
  let planes = s.batch * s.inChannels
  let plane = { (p: Int) in
    let c = p % s.inChannels
    let xc = x + p * IH * IW, yc = y + p * OH * OW, wc = w + c * KH * KW
    yc.update(repeating: bias?[c] ?? 0, count: OH * OW)
    for oh in 0..<OH {
      let yrow = yc + oh * OW
      for kh in 0..<KH {
        let ih = oh * sh - ph + kh * dh
        guard ih >= 0, ih < IH else { continue }
        let xrow = xc + ih * IW
        for kw in 0..<KW {
          let wv = wc[kh * KW + kw], base = kw * dw - pw
          if sw == 1 {
            let src = xrow + base
            for ow in ranges[kw] { yrow[ow] += wv * src[ow] }
          } else {
            for ow in ranges[kw] { yrow[ow] += wv * xrow[ow * sw + base] }
          }
        }
      }
    }
  }
  // Parallel over planes only when there is enough work to pay for the hand-off.
  let perPlane = max(1, OH * OW * KH * KW)
  parallelChunks(planes, minChunk: max(1, (1 << 17) / perPlane)) { range in
    for p in range { plane(p) }
  }
}

/// Transposed convolution: per group, col = W_g^T * X_g by sgemm, then col2im scatters each
/// column into Y (which starts as the bias).
func convTranspose(_ s: ConvShape, x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
  let win = s.window
  let inSize = win.inputSize, outSize = win.outputSize, kSize = win.kernelSize
  let rows = s.outPerGroup * kSize
  let col = UnsafeMutablePointer<Float>.allocate(capacity: rows * inSize)
  defer { col.deallocate() }
  for n in 0..<s.batch {
    fillBias(y + n * s.outChannels * outSize, bias: bias, channels: s.outChannels, plane: outSize)
    for g in 0..<s.group {
      let xg = x + (n * s.inChannels + g * s.inPerGroup) * inSize
      sgemm(transA: true, transB: false, m: rows, n: inSize, k: s.inPerGroup, alpha: 1,
            a: w + g * s.inPerGroup * rows, lda: rows, b: xg, ldb: inSize, beta: 0, c: col, ldc: inSize)
      col2im(col, channels: s.outPerGroup, win, into: y + (n * s.outChannels + g * s.outPerGroup) * outSize)
    }
  }
}

/// Adds each (channel, kernel tap) row of `col`, indexed by input position, into the output
/// position that tap reaches: `o = i * stride - pad + k * dilation`.
func col2im(_ col: UnsafePointer<Float>, channels: Int, _ w: Window3D, into y: UnsafeMutablePointer<Float>) {
  let (ID, IH, IW) = w.input, (OD, OH, OW) = w.output
  let (KD, KH, KW) = w.kernel, (sd, sh, sw) = w.strides, (dd, dh, dw) = w.dilations, (pd, ph, pw) = w.pads
  var row = col
  for c in 0..<channels {
    let yc = y + c * OD * OH * OW
    for kd in 0..<KD { for kh in 0..<KH { for kw in 0..<KW {
      let valid = validOutputRange(offset: kw * dw, stride: sw, pad: pw, inCount: OW, outCount: IW)
      let base = kw * dw - pw
      for id in 0..<ID {
        let od = id * sd - pd + kd * dd
        guard od >= 0, od < OD else { continue }
        for ih in 0..<IH {
          let oh = ih * sh - ph + kh * dh
          guard oh >= 0, oh < OH else { continue }
          let src = row + (id * IH + ih) * IW, dst = yc + (od * OH + oh) * OW
          for iw in valid { dst[iw * sw + base] += src[iw] }
        }
      }
      row += ID * IH * IW
    } } }
  }
}
