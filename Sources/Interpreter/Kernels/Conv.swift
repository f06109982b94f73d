// Conv.swift - Conv and ConvTranspose kernels (float32): im2col + sgemm, direct depthwise,
// and col2im for the transpose. 1-D and 2-D run through the 3-D loops with unit leading dims.

import CKernels
import Dispatch
import GraphIR

let convKernels: [String: Kernel] = [
  "onnx.Conv": Kernel { ctx in
    guard try ctx.dtype(0) == .float32 else { throw unsupported("Conv", try ctx.dtype(0)) }
    let attrs = ctx.attributes
    let group = try attrs.int("group", default: 1)
    let packed = ctx.constant(1).flatMap { PackedConvWeights(constant: $0, group: group) }
    return { inputs, outputs in
      let (shape, x, w, bias) = try forwardConvOperands(inputs, outputs[0], attrs)
      conv2d(shape, x: x.pointer(as: Float.self), w: w.pointer(as: Float.self),
             epilogue: ConvEpilogue(bias: bias.map { UnsafePointer($0.pointer(as: Float.self)) }),
             y: outputs[0].pointer(as: Float.self), packed: packed)
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
  func check(w: Tensor, bias: Tensor?, y: Tensor?, transposed: Bool) throws {
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
    if let y, y.count != batch * outChannels * window.outputSize {
      throw GraphError("result shape \(y.shape) does not match the convolution")
    }
  }
}

/// The shape of a forward conv from its operands X, W, B? (inputs 0-2) and result (when given),
/// checked so the kernels can index blindly.
func forwardConvOperands(_ inputs: [Tensor?], _ y: Tensor?, _ attrs: AttributeMap) throws -> (ConvShape, Tensor, Tensor, Tensor?) {
  guard let x = inputs[0], let w = inputs[1] else { throw GraphError("missing required input") }
  try checkConvRanks(x, w)
  let bias = inputs.count > 2 ? inputs[2] : nil
  let spatial = Array(x.shape.dropFirst(2))
  let g = try checkedWindowGeometry(inputSpatial: spatial, kernel: Array(w.shape.dropFirst(2)), attributes: attrs)
  let shape = ConvShape(batch: x.shape[0], inChannels: x.shape[1], outChannels: w.shape[0],
                        group: try attrs.int("group", default: 1), window: try Window3D(inputSpatial: spatial, geometry: g))
  try shape.check(w: w, bias: bias, y: y, transposed: false)
  return (shape, x, w, bias)
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

/// Forward convolution with a fused epilogue. Depthwise (one filter per input channel) runs
/// directly; other 1-D/2-D windows except 1x1 stride-1 ones go to the im2col-free `convGemm`
/// (with `packed`, W's packing prepared at load, when given); everything else works one tile of
/// output positions at a time per group: a 1x1 stride-1 conv by convgemm's pointwise kernel on
/// X in place, a 3-D window by sgemm over im2col columns; the epilogue runs on each output tile
/// while it is still hot. Tiles run in parallel.
func conv2d(_ s: ConvShape, x: UnsafePointer<Float>, w: UnsafePointer<Float>, epilogue: ConvEpilogue, y: UnsafeMutablePointer<Float>,
            packed: PackedConvWeights? = nil) {
  let win = s.window
  let inSize = win.inputSize, outSize = win.outputSize, kSize = win.kernelSize
  if s.group == s.inChannels && s.outChannels == s.inChannels && win.input.0 == 1 && win.kernel.0 == 1 {
    depthwise(s, x: x, w: w, epilogue: epilogue, y: y)
    return
  }
  let planar = win.planar
  let pointwise = kSize == 1 && win.strides == (1, 1, 1) && win.pads == (0, 0, 0) && win.padsEnd == (0, 0, 0)
  if let planar, !pointwise {
    convGemm(s, planar, x: x, w: w, packed: packed, epilogue: epilogue, y: y)
    return
  }
  let rows = s.inPerGroup * kSize
  // Pointwise products (few output channels) run on convgemm's tiles, reading X in place.
  let pointwiseWeights = pointwise ? PackedConvWeights.reuse(packed, w, group: s.group, outPerGroup: s.outPerGroup, k: rows) : nil
  let tile = convColumnTile(rows: rows, columns: outSize)
  let tilesPerImage = (outSize + tile - 1) / tile
  let tasks = s.batch * s.group * tilesPerImage
  let flopsPerTask = max(1, s.outPerGroup * rows * tile)
  parallelChunks(tasks, minChunk: max(1, (1 << 18) / flopsPerTask)) { range in
    let col = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: rows * tile)
    defer { col?.deallocate() }
    for t in range {
      let j0 = (t % tilesPerImage) * tile, cols = min(tile, outSize - j0)
      let g = (t / tilesPerImage) % s.group, n = t / tilesPerImage / s.group
      let xg = x + (n * s.inChannels + g * s.inPerGroup) * inSize
      let firstChannel = g * s.outPerGroup
      let yOffset = (n * s.outChannels + firstChannel) * outSize + j0
      var b = xg + j0, ldb = inSize
      if let col {
        im2col(xg, channels: s.inPerGroup, win, columns: j0..<(j0 + cols), pad: 0, into: col)
        b = UnsafePointer(col)
        ldb = cols
      }
      if let pw = pointwiseWeights {
        let rest = epilogue.withKernelForm(firstChannel: firstChannel, offset: yOffset) { ep in
          graphc_conv_gemm_pointwise_f32(rows, s.outPerGroup, b, ldb, cols, pw.data + g * pw.groupStride, y + yOffset, outSize, ep)
        }
        if !rest { continue }
      } else {
        sgemm(transA: false, transB: false, m: s.outPerGroup, n: cols, k: rows, alpha: 1,
              a: w + firstChannel * rows, lda: rows, b: b, ldb: ldb, beta: 0, c: y + yOffset, ldc: outSize)
        if epilogue.isIdentity { continue }
      }
      for m in 0..<s.outPerGroup {
        epilogue.apply(channel: firstChannel + m, y: y, offset: yOffset + m * outSize, count: cols)
      }
    }
  }
}

/// Output positions per im2col tile: enough that sgemm amortizes packing its A block, few
/// enough that `rows x tile` floats (about 256 KiB) stay in L2. A multiple of 16.
func convColumnTile(rows: Int, columns: Int) -> Int {
  let t = max(128, (1 << 16) / max(rows, 1)) / 16 * 16
  return min(t, columns)
}

/// Unfolds the windows of `channels` input planes for the output positions `columns` (flat
/// indices into the output volume) into a (channels * kernel) x columns.count matrix, `pad`
/// where a window tap falls in the padding (0 for floats, the input's zero point for quantized
/// convolutions, so that padding stays real zero).
func im2col<T>(
  _ x: UnsafePointer<T>, channels: Int, _ w: Window3D, columns: Range<Int>, pad: T, into col: UnsafeMutablePointer<T>
) {
  let (ID, IH, IW) = w.input, (OH, OW) = (w.output.1, w.output.2)
  let (KD, KH, KW) = w.kernel, (sd, sh, sw) = w.strides, (dd, dh, dw) = w.dilations, (pd, ph, pw) = w.pads
  let width = columns.count
  var row = col
  for c in 0..<channels {
    let xc = x + c * ID * IH * IW
    for kd in 0..<KD { for kh in 0..<KH { for kw in 0..<KW {
      let valid = validOutputRange(offset: kw * dw, stride: sw, pad: pw, inCount: IW, outCount: OW)
      let base = kw * dw - pw
      // Walk the tile one output row (a run of ow) at a time.
      var p = columns.lowerBound
      while p < columns.upperBound {
        let ow0 = p % OW, ohd = p / OW
        let ow1 = min(OW, ow0 + columns.upperBound - p)
        let dst = row + (p - columns.lowerBound) - ow0
        let id = (ohd / OH) * sd - pd + kd * dd, ih = (ohd % OH) * sh - ph + kh * dh
        let lo = max(valid.lowerBound, ow0), hi = min(valid.upperBound, ow1)
        if id >= 0, id < ID, ih >= 0, ih < IH, lo < hi {
          let src = xc + (id * IH + ih) * IW
          for ow in ow0..<lo { dst[ow] = pad }
          if sw == 1 {
            (dst + lo).update(from: src + lo + base, count: hi - lo)
          } else {
            for ow in lo..<hi { dst[ow] = src[ow * sw + base] }
          }
          for ow in hi..<ow1 { dst[ow] = pad }
        } else {
          (dst + ow0).update(repeating: pad, count: ow1 - ow0)
        }
        p += ow1 - ow0
      }
      row += width
    } } }
  }
}

/// The window of a 1-D/2-D depthwise conv, for the C kernel `graphc_depthwise_rows_f32`.
struct DepthwiseWindow {
  let shape: graphc_dw_shape
  var IH: Int { shape.ih }
  var IW: Int { shape.iw }
  var OH: Int { shape.oh }
  var OW: Int { shape.ow }
  var KH: Int { shape.kh }
  var KW: Int { shape.kw }

  init(_ win: Window3D) { shape = win.planarShape }

  /// Output rows `rows` of one channel: `dst` (row stride OW, starting at row `rows.lowerBound`)
  /// gets `activation(initial + window sums)` over plane `xc` with the KH x KW filter `wc`.
  @inline(__always)
  func rows(_ rows: Range<Int>, x xc: UnsafePointer<Float>, w wc: UnsafePointer<Float>, initial: Float,
            activation: ActivationFunction, into dst: UnsafeMutablePointer<Float>) {
    let (lo, hi) = activation.clampBounds ?? (-.infinity, .infinity)
    withUnsafePointer(to: shape) { sp in
      graphc_depthwise_rows_f32(sp, xc, wc, initial, rows.lowerBound, rows.upperBound, lo, hi, dst)
    }
    if activation.clampBounds == nil { activation.apply(dst, count: rows.count * OW) }
  }
}

/// Direct depthwise convolution over 1-D/2-D planes, one plane per task, each finished by the
/// epilogue (the bias goes in as the initial value, a clamp activation into the kernel's store).
private func depthwise(_ s: ConvShape, x: UnsafePointer<Float>, w: UnsafePointer<Float>, epilogue: ConvEpilogue, y: UnsafeMutablePointer<Float>) {
  let win = DepthwiseWindow(s.window)
  let inPlane = win.IH * win.IW, outPlane = win.OH * win.OW, kPlane = win.KH * win.KW
  // Without a residual the whole epilogue runs inside the kernel.
  let inKernel = epilogue.residual == nil ? epilogue.activation : .none
  var rest = epilogue
  rest.bias = nil
  if epilogue.residual == nil { rest.activation = .none }
  let planes = s.batch * s.inChannels
  // Parallel over planes only when there is enough work to pay for the hand-off.
  parallelChunks(planes, minChunk: max(1, (1 << 17) / max(1, outPlane * kPlane))) { range in
    for p in range {
      let c = p % s.inChannels
      win.rows(0..<win.OH, x: x + p * inPlane, w: w + c * kPlane, initial: epilogue.bias?[c] ?? 0,
               activation: inKernel, into: y + p * outPlane)
      if !rest.isIdentity { rest.apply(channel: c, y: y, offset: p * outPlane, count: outPlane) }
    }
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

extension Window3D {
  /// The last two dims as the C kernels' 2-D window (the leading dim ignored).
  var planarShape: graphc_dw_shape {
    graphc_dw_shape(ih: input.1, iw: input.2, oh: output.1, ow: output.2, kh: kernel.1, kw: kernel.2,
                    sh: strides.1, sw: strides.2, dh: dilations.1, dw: dilations.2, ph: pads.1, pw: pads.2)
  }

  /// `planarShape` when the window is really 1-D or 2-D (unit leading input, kernel and output).
  var planar: graphc_dw_shape? {
    input.0 == 1 && kernel.0 == 1 && output.0 == 1 && pads.0 == 0 ? planarShape : nil
  }
}
