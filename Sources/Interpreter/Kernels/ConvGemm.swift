// ConvGemm.swift - The im2col-free path of 2-D convolutions (C kernel `graphc_conv_gemm_f32`):
// weights packed once (at load when constant), each image's input padded and phase-split once.

import CKernels
import GraphIR

/// Conv weights W[M][C/group][KH][KW] packed for `graphc_conv_gemm_f32`, one block per group.
/// Built at load for a constant W; `source` identifies that constant so a run-time W that is
/// not it is packed per call instead.
final class PackedConvWeights: @unchecked Sendable {
  let source: UnsafeRawPointer?
  let group: Int, outPerGroup: Int, k: Int
  let groupStride: Int
  let data: UnsafeMutablePointer<Float>

  init(_ w: UnsafePointer<Float>, source: UnsafeRawPointer?, group: Int, outPerGroup: Int, k: Int) {
    self.source = source
    self.group = group
    self.outPerGroup = outPerGroup
    self.k = k
    groupStride = graphc_conv_gemm_packed_size(outPerGroup, k)
    data = .allocate(capacity: max(1, groupStride * group))
    for g in 0..<group {
      graphc_conv_gemm_pack_w(w + g * outPerGroup * k, outPerGroup, k, data + g * groupStride)
    }
  }

  /// Packs a constant W of a conv that takes a `graphc_conv_gemm` path (float32, at least
  /// [M, C/group, k1], not depthwise). Nil when W does not fit.
  convenience init?(constant w: Tensor, group: Int) {
    guard w.dtype == .float32, w.rank >= 3, group > 0, w.shape[0] % group == 0, w.count > 0 else { return nil }
    let m = w.shape[0], cg = w.shape[1]
    guard !(cg == 1 && group == m) else { return nil }
    self.init(w.pointer(as: Float.self), source: UnsafeRawPointer(w.rawPointer), group: group, outPerGroup: m / group, k: w.count / m)
  }

  deinit { data.deallocate() }

  /// `packed` when it holds `w` packed for these sizes, else `w` packed now.
  static func reuse(_ packed: PackedConvWeights?, _ w: UnsafePointer<Float>, group: Int, outPerGroup: Int, k: Int) -> PackedConvWeights {
    if let packed, packed.source == UnsafeRawPointer(w), packed.group == group, packed.outPerGroup == outPerGroup, packed.k == k {
      return packed
    }
    return PackedConvWeights(w, source: nil, group: group, outPerGroup: outPerGroup, k: k)
  }
}

/// A planar (1-D/2-D) forward conv by `graphc_conv_gemm_f32`: per image, the input is prepared
/// (in parallel over channels), then tasks of a few output rows of one group run in parallel,
/// the epilogue applied at the kernel's store (or, for other activations, right after).
func convGemm(_ s: ConvShape, _ shape: graphc_dw_shape, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
              packed: PackedConvWeights?, epilogue: ConvEpilogue, y: UnsafeMutablePointer<Float>) {
  let k = s.inPerGroup * s.window.kernelSize
  let weights = PackedConvWeights.reuse(packed, w, group: s.group, outPerGroup: s.outPerGroup, k: k)
  let inSize = shape.ih * shape.iw, outSize = shape.oh * shape.ow
  let (OH, OW) = (shape.oh, shape.ow)
  withUnsafePointer(to: shape) { sp in
    let groupInput = graphc_conv_gemm_input_size(sp, s.inPerGroup)
    let xp = UnsafeMutablePointer<Float>.allocate(capacity: max(1, groupInput * s.group))
    defer { xp.deallocate() }
    // Rows per task: about 32 KiB of outputs of the group's channels.
    let blockRows = max(1, min(OH, (1 << 13) / max(1, s.outPerGroup * OW)))
    let blocks = (OH + blockRows - 1) / blockRows
    let flopsPerTask = max(1, 2 * s.outPerGroup * k * blockRows * OW)
    for n in 0..<s.batch {
      let xn = x + n * s.inChannels * inSize
      parallelChunks(s.inChannels, minChunk: max(1, (1 << 16) / max(1, inSize))) { r in
        graphc_conv_gemm_prepare_input(sp, xn, r.lowerBound, r.upperBound, xp)
      }
      parallelChunks(s.group * blocks, minChunk: max(1, (1 << 18) / flopsPerTask)) { range in
        for t in range {
          let g = t / blocks, r0 = (t % blocks) * blockRows, r1 = min(OH, r0 + blockRows)
          let firstChannel = g * s.outPerGroup
          let yOffset = (n * s.outChannels + firstChannel) * outSize + r0 * OW
          let rest = epilogue.withKernelForm(firstChannel: firstChannel, offset: yOffset) { ep in
            graphc_conv_gemm_f32(sp, s.inPerGroup, s.outPerGroup, xp + g * groupInput, weights.data + g * weights.groupStride,
                                 r0, r1, y + yOffset, outSize, ep)
          }
          if !rest { continue }
          for m in 0..<s.outPerGroup {
            epilogue.apply(channel: firstChannel + m, y: y, offset: yOffset + m * outSize, count: (r1 - r0) * OW)
          }
        }
      }
    }
  }
}
