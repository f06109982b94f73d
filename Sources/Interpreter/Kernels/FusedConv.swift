// FusedConv.swift - Kernels of graphc.FusedConv (conv + bias + residual + activation) and
// graphc.DepthwisePointwise (depthwise conv feeding a 1x1 conv, tiled so the intermediate
// never leaves the cache).

import CKernels
import GraphIR

let fusedConvKernels: [String: Kernel] = [
  "graphc.FusedConv": Kernel { ctx in
    guard try ctx.dtype(0) == .float32 else { throw unsupported("FusedConv", try ctx.dtype(0)) }
    let attrs = ctx.attributes
    let activation = ActivationFunction(try FusedActivation(attributes: attrs))
    let after = try attrs.int("residual_after_activation", default: 0) == 1
    let group = try attrs.int("group", default: 1)
    let packed = ctx.constant(1).flatMap { PackedConvWeights(constant: $0, group: group) }
    return { inputs, outputs in
      let y = outputs[0]
      let (shape, x, w, bias) = try forwardConvOperands(inputs, y, attrs)
      let z = try residualOperand(inputs, 3, y)
      conv2d(shape, x: x.pointer(as: Float.self), w: w.pointer(as: Float.self),
             epilogue: ConvEpilogue(bias: bias.map { UnsafePointer($0.pointer(as: Float.self)) }, activation: activation,
                                    residual: z, residualAfterActivation: after),
             y: y.pointer(as: Float.self), packed: packed)
    }
  },
  "graphc.DepthwisePointwise": Kernel { ctx in
    guard try ctx.dtype(0) == .float32 else { throw unsupported("DepthwisePointwise", try ctx.dtype(0)) }
    let attrs = ctx.attributes
    let dwActivation = ActivationFunction(try FusedActivation(attributes: attrs, prefix: "dw_"))
    let activation = ActivationFunction(try FusedActivation(attributes: attrs))
    let after = try attrs.int("residual_after_activation", default: 0) == 1
    let packedWp = ctx.constant(3).flatMap { PackedConvWeights(constant: $0, group: 1) }
    return { inputs, outputs in
      guard let x = inputs[0], let wd = inputs[1], let wp = inputs[3] else { throw GraphError("missing required input") }
      let y = outputs[0]
      guard x.rank == 3 || x.rank == 4, wd.rank == x.rank, wp.rank == x.rank else {
        throw GraphError("DepthwisePointwise supports 1-D and 2-D convolutions, got X \(x.shape), Wd \(wd.shape), Wp \(wp.shape)")
      }
      let c = x.shape[1], m = wp.shape[0]
      guard wd.shape[0] == c else { throw GraphError("Wd shape \(wd.shape) is not depthwise for \(c) channels") }
      var dwAttrs = attrs
      dwAttrs["group"] = .int(c)
      let (shape, _, _, bd) = try forwardConvOperands([x, wd, inputs[2]], nil, dwAttrs)
      guard wp.count == m * c, wp.shape[1] == c else { throw GraphError("Wp shape \(wp.shape) does not match \(c) channels") }
      let bp = inputs.count > 4 ? inputs[4] : nil
      if let bp, bp.count != m || bp.dtype != .float32 { throw GraphError("Bp must hold \(m) float32 values, got \(bp.shape)") }
      guard y.count == shape.batch * m * shape.window.outputSize else { throw GraphError("result shape \(y.shape) does not match") }
      let z = try residualOperand(inputs, 5, y)
      depthwisePointwise(
        shape, x: x.pointer(as: Float.self), wd: wd.pointer(as: Float.self), bd: bd.map { UnsafePointer($0.pointer(as: Float.self)) },
        dwActivation: dwActivation, wp: PackedConvWeights.reuse(packedWp, wp.pointer(as: Float.self), group: 1, outPerGroup: m, k: c),
        epilogue: ConvEpilogue(bias: bp.map { UnsafePointer($0.pointer(as: Float.self)) }, activation: activation,
                               residual: z, residualAfterActivation: after),
        y: y.pointer(as: Float.self))
    }
  },
]

/// The residual operand at `index`, which must have exactly Y's shape.
private func residualOperand(_ inputs: [Tensor?], _ index: Int, _ y: Tensor) throws -> UnsafePointer<Float>? {
  guard index < inputs.count, let z = inputs[index] else { return nil }
  guard z.dtype == .float32, z.shape == y.shape else { throw GraphError("residual Z has shape \(z.shape), expected \(y.shape)") }
  return UnsafePointer(z.pointer(as: Float.self))
}

/// Depthwise conv (`wd`, `bd`, `dwActivation`) then a 1x1 conv (`wp`, packed, `epilogue`), over
/// tiles of output rows: for each tile the depthwise result of every channel goes into a buffer
/// of about 128 KiB, and convgemm's pointwise kernel multiplies it by `wp` straight into Y. The
/// intermediate tensor is never written whole. Tiles run in parallel, each worker with its own
/// buffer.
func depthwisePointwise(
  _ s: ConvShape, x: UnsafePointer<Float>, wd: UnsafePointer<Float>, bd: UnsafePointer<Float>?,
  dwActivation: ActivationFunction, wp: PackedConvWeights,
  epilogue: ConvEpilogue, y: UnsafeMutablePointer<Float>
) {
  let win = DepthwiseWindow(s.window)
  let c = s.inChannels, m = wp.outPerGroup
  let inPlane = win.IH * win.IW, outPlane = win.OH * win.OW, kPlane = win.KH * win.KW
  let tileRows = min(win.OH, max(1, (1 << 15) / max(1, c * win.OW)))
  let tilesPerImage = (win.OH + tileRows - 1) / tileRows
  let flopsPerTask = max(1, tileRows * win.OW * c * (kPlane + m))
  parallelChunks(s.batch * tilesPerImage, minChunk: max(1, (1 << 18) / flopsPerTask)) { range in
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: c * tileRows * win.OW)
    defer { buffer.deallocate() }
    for t in range {
      let n = t / tilesPerImage, r0 = (t % tilesPerImage) * tileRows
      let rows = r0..<min(win.OH, r0 + tileRows)
      let cols = rows.count * win.OW
      for ch in 0..<c {
        let dst = buffer + ch * cols
        win.rows(rows, x: x + (n * c + ch) * inPlane, w: wd + ch * kPlane, initial: bd?[ch] ?? 0,
                 activation: dwActivation, into: dst)
      }
      let yOffset = n * m * outPlane + r0 * win.OW
      let rest = epilogue.withKernelForm(firstChannel: 0, offset: yOffset) { ep in
        graphc_conv_gemm_pointwise_f32(c, m, buffer, cols, cols, wp.data, y + yOffset, outPlane, ep)
      }
      if !rest { continue }
      for o in 0..<m { epilogue.apply(channel: o, y: y, offset: yOffset + o * outPlane, count: cols) }
    }
  }
}
