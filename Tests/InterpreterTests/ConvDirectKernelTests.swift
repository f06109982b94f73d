// ConvDirectKernelTests.swift - The C depthwise, conv GEMM and MaxPool kernels (AVX2 and portable)
// against naive Swift references over strides, dilations, pads and kernel sizes.

import CKernels
@testable import Interpreter
import Testing

struct ConvDirectKernelTests {
  /// (IH, IW, KH, KW, stride h, stride w, dilation h, dilation w, pad h, pad w)
  typealias Case = (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)
  static let cases: [Case] = [
    (9, 11, 3, 3, 1, 1, 1, 1, 1, 1), (9, 11, 3, 3, 2, 2, 1, 1, 1, 1), (10, 70, 3, 3, 1, 2, 1, 1, 0, 1),
    (8, 9, 5, 3, 3, 3, 1, 2, 2, 0), (7, 8, 3, 3, 1, 1, 2, 2, 2, 2), (6, 81, 1, 7, 1, 1, 1, 1, 0, 3),
    (4, 5, 3, 3, 1, 1, 1, 1, 3, 3),
  ]
  /// Rows too wide for the depthwise kernel's on-stack padded rows (its bounds-checked path).
  static let wideCase: Case = (3, 4100, 3, 3, 1, 2, 1, 1, 1, 1)

  func shape(_ c: Case) -> graphc_dw_shape {
    let (ih, iw, kh, kw, sh, sw, dh, dw, ph, pw) = c
    // Output size with the same pad at both ends.
    let oh = (ih + 2 * ph - (kh - 1) * dh - 1) / sh + 1, ow = (iw + 2 * pw - (kw - 1) * dw - 1) / sw + 1
    return graphc_dw_shape(ih: ih, iw: iw, oh: oh, ow: ow, kh: kh, kw: kw, sh: sh, sw: sw, dh: dh, dw: dw, ph: ph, pw: pw)
  }

  /// Input element (ih, iw) when inside the plane.
  func tap(_ s: graphc_dw_shape, _ x: [Float], _ oh: Int, _ ow: Int, _ kh: Int, _ kw: Int) -> Float? {
    let ih = oh * s.sh - s.ph + kh * s.dh, iw = ow * s.sw - s.pw + kw * s.dw
    return ih >= 0 && ih < s.ih && iw >= 0 && iw < s.iw ? x[ih * s.iw + iw] : nil
  }

  @Test(arguments: [false, true])
  func depthwiseRowsMatchReference(portable: Bool) {
    graphc_sgemm_force_portable(portable ? 1 : 0)
    defer { graphc_sgemm_force_portable(0) }
    for (index, c) in (Self.cases + [Self.wideCase]).enumerated() {
      let s = shape(c)
      var rng = SeededRandom(seed: UInt64(100 + index))
      let x = rng.floats(s.ih * s.iw), w = rng.floats(s.kh * s.kw)
      for (lo, hi) in [(-Float.infinity, Float.infinity), (0, 0.5)] {
        var y = [Float](repeating: .nan, count: s.oh * s.ow)
        // Two calls over split row ranges, to cover r0 > 0.
        let mid = s.oh / 2
        withUnsafePointer(to: s) { sp in
          graphc_depthwise_rows_f32(sp, x, w, 0.25, 0, mid, lo, hi, &y)
          y.withUnsafeMutableBufferPointer { graphc_depthwise_rows_f32(sp, x, w, 0.25, mid, s.oh, lo, hi, $0.baseAddress! + mid * s.ow) }
        }
        for oh in 0..<s.oh {
          for ow in 0..<s.ow {
            var sum: Double = 0.25
            for kh in 0..<s.kh { for kw in 0..<s.kw { if let v = tap(s, x, oh, ow, kh, kw) { sum += Double(v) * Double(w[kh * s.kw + kw]) } } }
            let expected = min(max(Float(sum), lo), hi)
            #expect(abs(y[oh * s.ow + ow] - expected) <= 1e-5, "case \(index) at (\(oh), \(ow))")
          }
        }
      }
    }
  }

  @Test(arguments: [false, true])
  func maxPoolMatchesReference(portable: Bool) {
    graphc_sgemm_force_portable(portable ? 1 : 0)
    defer { graphc_sgemm_force_portable(0) }
    for (index, c) in Self.cases.enumerated() {
      let s = shape(c)
      var rng = SeededRandom(seed: UInt64(200 + index))
      let x = rng.floats(s.ih * s.iw)
      let outSize = s.oh * s.ow
      var y = [Float](repeating: .nan, count: outSize)
      withUnsafePointer(to: s) { graphc_maxpool2d_f32($0, x, &y) }
      var pooled: [Float] = []
      for oh in 0..<s.oh {
        for ow in 0..<s.ow {
          var best = -Float.infinity
          for kh in 0..<s.kh { for kw in 0..<s.kw { if let v = tap(s, x, oh, ow, kh, kw) { best = max(best, v) } } }
          pooled.append(best)
        }
      }
      #expect(y == pooled, "maxpool case \(index)")
    }
  }
}

/// The im2col-free conv kernels (convgemm.c) against a naive sum over channels and taps, over the
/// window cases above, several channel counts (tiles of 6 and 4 rows, partial tiles), a row
/// range that starts inside the output, and each epilogue form (none, bias + clamp, residual
/// before or after the clamp).
struct ConvGemmKernelTests {
  /// (bias, residual, residual after the clamp, lo, hi); nil = raw sums.
  typealias Epilogue = (bias: Bool, residual: Bool, after: Bool, lo: Float, hi: Float)
  static let epilogues: [Epilogue?] = [nil, (true, false, false, 0, 0.5), (true, true, false, -0.25, .infinity), (false, true, true, 0, .infinity)]

  /// `sum` finished by `e` with channel bias `b` and residual `z`, graphc_conv_epilogue_f32's formula.
  func finish(_ sum: Double, _ e: Epilogue?, bias b: Float, z: Float) -> Float {
    guard let e else { return Float(sum) }
    let bias = e.bias ? b : 0
    var v = e.residual && !e.after ? Float(sum) + (bias + z) : Float(sum) + bias
    v = min(max(v, e.lo), e.hi)
    return e.residual && e.after ? v + z : v
  }

  /// Runs `body` with `e` in the kernels' form over `bias` and `z` (nil when `e` is nil).
  func withEpilogue(_ e: Epilogue?, bias: [Float], z: [Float], _ body: (UnsafePointer<graphc_conv_epilogue>?) -> Void) {
    guard let e else { return body(nil) }
    bias.withUnsafeBufferPointer { bp in
      z.withUnsafeBufferPointer { zp in
        var ce = graphc_conv_epilogue(bias: e.bias ? bp.baseAddress : nil, z: e.residual ? zp.baseAddress : nil,
                                      z_after: e.after ? 1 : 0, lo: e.lo, hi: e.hi)
        withUnsafePointer(to: &ce) { body($0) }
      }
    }
  }

  @Test(arguments: [false, true])
  func convGemmMatchesReference(portable: Bool) {
    graphc_sgemm_force_portable(portable ? 1 : 0)
    defer { graphc_sgemm_force_portable(0) }
    let windows = ConvDirectKernelTests()
    for (index, c) in ConvDirectKernelTests.cases.enumerated() {
      let s = windows.shape(c)
      for (variant, (channels, m)) in [(1, 1), (3, 16), (2, 7), (5, 20), (4, 2), (2, 5)].enumerated() {
        var rng = SeededRandom(seed: UInt64(300 + index * 16 + m))
        let plane = s.ih * s.iw, k = channels * s.kh * s.kw, outPlane = s.oh * s.ow
        let x = rng.floats(channels * plane), w = rng.floats(m * k), bias = rng.floats(m), z = rng.floats(m * outPlane)
        let e = Self.epilogues[(index + variant) % Self.epilogues.count]
        var packed = [Float](repeating: .nan, count: graphc_conv_gemm_packed_size(m, k))
        graphc_conv_gemm_pack_w(w, m, k, &packed)
        var y = [Float](repeating: .nan, count: m * outPlane)
        let r0 = s.oh / 3
        withUnsafePointer(to: s) { sp in
          var xp = [Float](repeating: .nan, count: graphc_conv_gemm_input_size(sp, channels))
          // Prepared in two channel ranges, as parallel workers do.
          graphc_conv_gemm_prepare_input(sp, x, 0, channels / 2, &xp)
          graphc_conv_gemm_prepare_input(sp, x, channels / 2, channels, &xp)
          y.withUnsafeMutableBufferPointer { yb in
            guard let base = yb.baseAddress else { return }
            withEpilogue(e, bias: bias, z: z) { graphc_conv_gemm_f32(sp, channels, m, xp, packed, 0, r0, base, outPlane, $0) }
            withEpilogue(e, bias: bias, z: Array(z.dropFirst(r0 * s.ow))) {
              graphc_conv_gemm_f32(sp, channels, m, xp, packed, r0, s.oh, base + r0 * s.ow, outPlane, $0)
            }
          }
        }
        var worst: Float = 0
        let planes = (0..<channels).map { Array(x[($0 * plane)..<(($0 + 1) * plane)]) }
        for o in 0..<m {
          for oh in 0..<s.oh {
            for ow in 0..<s.ow {
              var sum: Double = 0
              for (ch, xc) in planes.enumerated() {
                for kh in 0..<s.kh {
                  for kw in 0..<s.kw {
                    if let v = windows.tap(s, xc, oh, ow, kh, kw) { sum += Double(v) * Double(w[o * k + (ch * s.kh + kh) * s.kw + kw]) }
                  }
                }
              }
              let i = o * outPlane + oh * s.ow + ow
              worst = max(worst, abs(y[i] - finish(sum, e, bias: bias[o], z: z[i])))
            }
          }
        }
        #expect(worst <= 1e-5, "case \(index), \(channels) channels -> \(m): max error \(worst)")
      }
    }
  }

  @Test(arguments: [false, true])
  func pointwiseMatchesReference(portable: Bool) {
    graphc_sgemm_force_portable(portable ? 1 : 0)
    defer { graphc_sgemm_force_portable(0) }
    // (k, m, n, ldx): full and partial 16-column blocks, X rows wider than n.
    for (index, (k, m, n, ldx)) in [(1, 1, 5, 5), (8, 16, 37, 40), (12, 8, 32, 32), (24, 7, 50, 64), (3, 20, 17, 17)].enumerated() {
      var rng = SeededRandom(seed: UInt64(500 + index))
      let x = rng.floats(k * ldx), w = rng.floats(m * k), bias = rng.floats(m), z = rng.floats(m * n)
      let e = Self.epilogues[index % Self.epilogues.count]
      var packed = [Float](repeating: .nan, count: graphc_conv_gemm_packed_size(m, k))
      graphc_conv_gemm_pack_w(w, m, k, &packed)
      var y = [Float](repeating: .nan, count: m * n)
      withEpilogue(e, bias: bias, z: z) { graphc_conv_gemm_pointwise_f32(k, m, x, ldx, n, packed, &y, n, $0) }
      var worst: Float = 0
      for o in 0..<m {
        for j in 0..<n {
          var sum: Double = 0
          for p in 0..<k { sum += Double(w[o * k + p]) * Double(x[p * ldx + j]) }
          worst = max(worst, abs(y[o * n + j] - finish(sum, e, bias: bias[o], z: z[o * n + j])))
        }
      }
      #expect(worst <= 1e-5, "case \(index): max error \(worst)")
    }
  }
}
