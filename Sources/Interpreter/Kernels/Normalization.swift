// Normalization.swift - BatchNormalization (inference), InstanceNormalization,
// LayerNormalization, GroupNormalization and LRN kernels (float32 and float64).

import GraphIR

let normalizationKernels: [String: Kernel] = [
  "onnx.BatchNormalization": floatKernel("BatchNormalization") { T, ctx in
    let eps = Double(try ctx.attributes.float("epsilon", default: 1e-5))
    return batchNormEval(T, eps: eps)
  },
  "onnx.InstanceNormalization": floatKernel("InstanceNormalization") { T, ctx in
    let eps = Double(try ctx.attributes.float("epsilon", default: 1e-5))
    return groupNormEval(T, eps: eps, groups: nil)
  },
  "onnx.GroupNormalization": floatKernel("GroupNormalization") { T, ctx in
    let eps = Double(try ctx.attributes.float("epsilon", default: 1e-5))
    guard let groups = try ctx.attributes.int("num_groups"), groups > 0 else { throw GraphError("num_groups must be positive") }
    return groupNormEval(T, eps: eps, groups: groups)
  },
  "onnx.LayerNormalization": floatKernel("LayerNormalization") { T, ctx in
    let eps = Double(try ctx.attributes.float("epsilon", default: 1e-5))
    return layerNormEval(T, eps: eps, axis: try ctx.attributes.int("axis", default: -1))
  },
  "onnx.LRN": floatKernel("LRN") { T, ctx in
    let a = ctx.attributes
    guard let size = try a.int("size"), size > 0 else { throw GraphError("size must be positive") }
    return lrnEval(T, size: size, alpha: Double(try a.float("alpha", default: 1e-4)),
                   beta: Double(try a.float("beta", default: 0.75)), bias: Double(try a.float("bias", default: 1)))
  },
]

/// A kernel for float32/float64 input 0, built by a generic builder specialized per type.
func floatKernel(_ op: String, _ build: @escaping (any NNFloat.Type, KernelContext) throws -> KernelEval) -> Kernel {
  Kernel { ctx in
    switch try ctx.dtype(0) {
    case .float32: return try build(Float.self, ctx)
    case .float64: return try build(Double.self, ctx)
    case let t: throw unsupported(op, t)
    }
  }
}

/// Mean and 1/sqrt(var + eps) of `n` contiguous values (two passes, Double accumulation).
@inline(__always)
func meanInvStd<T: NNFloat>(_ p: UnsafePointer<T>, _ n: Int, eps: Double) -> (Double, Double) {
  guard n > 0 else { return (0, 1 / (eps).squareRoot()) }
  var s = 0.0
  for i in 0..<n { s += Double(p[i]) }
  let mean = s / Double(n)
  var v = 0.0
  for i in 0..<n { let d = Double(p[i]) - mean; v += d * d }
  return (mean, 1 / (v / Double(n) + eps).squareRoot())
}

private func batchNormEval(_ type: any NNFloat.Type, eps: Double) -> KernelEval {
  func make<T: NNFloat>(_: T.Type) -> KernelEval {
    return { inputs, outputs in
      guard let x = inputs[0], x.rank >= 2 else { throw GraphError("X must have rank >= 2") }
      let params = try (1...4).map { i -> [Double] in
        guard let t = inputs[i] else { throw GraphError("missing required input \(i)") }
        return doubleValues(t)
      }
      let c = x.shape[1]
      guard params.allSatisfy({ $0.count == c }) else { throw GraphError("scale, B, mean and var must each hold \(c) values") }
      let inner = product(x.shape[2...]), batch = x.shape[0]
      // y = x * a + b with a = scale / sqrt(var + eps), b = B - mean * a.
      let a = (0..<c).map { T(params[0][$0] / (params[3][$0] + eps).squareRoot()) }
      let b = (0..<c).map { T(params[1][$0]) - T(params[2][$0]) * a[$0] }
      let src = x.pointer(as: T.self), dst = outputs[0].pointer(as: T.self)
      for n in 0..<batch {
        for ch in 0..<c {
          let off = (n * c + ch) * inner, av = a[ch], bv = b[ch]
          for i in 0..<inner { dst[off + i] = src[off + i] * av + bv }
        }
      }
    }
  }
  return type == Float.self ? make(Float.self) : make(Double.self)
}

/// InstanceNormalization (`groups == nil`: one group per channel) and GroupNormalization.
/// Scale and bias hold one value per channel, or (GroupNormalization opset 18) per group.
private func groupNormEval(_ type: any NNFloat.Type, eps: Double, groups: Int?) -> KernelEval {
  func make<T: NNFloat>(_: T.Type) -> KernelEval {
    return { inputs, outputs in
      guard let x = inputs[0], let st = inputs[1], let bt = inputs[2] else { throw GraphError("missing required input") }
      guard x.rank >= 2 else { throw GraphError("X must have rank >= 2") }
      if x.count == 0 { return }
      let c = x.shape[1], g = groups ?? c
      guard c % g == 0 else { throw GraphError("num_groups \(g) does not divide the \(c) channels") }
      let perGroup = c / g
      let scale = doubleValues(st), bias = doubleValues(bt)
      guard (scale.count == c || scale.count == g), bias.count == scale.count else {
        throw GraphError("scale and bias must hold \(c) values")
      }
      let inner = product(x.shape[2...]), batch = x.shape[0]
      let src = x.pointer(as: T.self), dst = outputs[0].pointer(as: T.self)
      for n in 0..<batch {
        for gi in 0..<g {
          let off = (n * c + gi * perGroup) * inner
          let (mean, inv) = meanInvStd(src + off, perGroup * inner, eps: eps)
          for k in 0..<perGroup {
            let ch = gi * perGroup + k, pi = scale.count == c ? ch : gi
            let a = T(scale[pi] * inv), b = T(bias[pi] - mean * scale[pi] * inv)
            let o = off + k * inner
            for i in 0..<inner { dst[o + i] = src[o + i] * a + b }
          }
        }
      }
    }
  }
  return type == Float.self ? make(Float.self) : make(Double.self)
}

private func layerNormEval(_ type: any NNFloat.Type, eps: Double, axis axisAttr: Int) -> KernelEval {
  func make<T: NNFloat>(_: T.Type) -> KernelEval {
    return { inputs, outputs in
      guard let x = inputs[0], let st = inputs[1] else { throw GraphError("missing required input") }
      let axis = try normalizeAxis(axisAttr, rank: x.rank)
      let normShape = Array(x.shape[axis...])
      let size = product(normShape[...]), rows = product(x.shape[..<axis])
      let scale = try broadcastValues(st, to: normShape).map { T($0) }
      let bias = try (inputs.count > 2 ? inputs[2] : nil).map { try broadcastValues($0, to: normShape).map { T($0) } }
      let src = x.pointer(as: T.self), dst = outputs[0].pointer(as: T.self)
      scale.withUnsafeBufferPointer { sc in (bias ?? []).withUnsafeBufferPointer { bi in
        let hasBias = bias != nil
        parallelChunks(rows, minChunk: max(1, elementwiseGrain / max(size, 1))) { chunk in
          for r in chunk {
            let (mean, inv) = meanInvStd(src + r * size, size, eps: eps)
            let m = T(mean), iv = T(inv), row = src + r * size, out = dst + r * size
            if hasBias {
              for i in 0..<size { out[i] = (row[i] - m) * iv * sc[i] + bi[i] }
            } else {
              for i in 0..<size { out[i] = (row[i] - m) * iv * sc[i] }
            }
            if outputs.count > 1 { storeFloat(outputs[1], r, mean) }
            if outputs.count > 2 { storeFloat(outputs[2], r, inv) }
          }
        }
      } }
    }
  }
  return type == Float.self ? make(Float.self) : make(Double.self)
}

/// Writes element `i` of a float32 or float64 tensor.
private func storeFloat(_ t: Tensor, _ i: Int, _ v: Double) {
  if t.dtype == .float64 { t.pointer(as: Double.self)[i] = v } else if t.dtype == .float32 { t.pointer(as: Float.self)[i] = Float(v) }
}

/// LRN across channels: y = x / (bias + alpha / size * sum of x^2 over the channel window)^beta,
/// the window being [c - (size - 1) / 2, c + ceil((size - 1) / 2)].
private func lrnEval(_ type: any NNFloat.Type, size: Int, alpha: Double, beta: Double, bias: Double) -> KernelEval {
  func make<T: NNFloat>(_: T.Type) -> KernelEval {
    return { inputs, outputs in
      guard let x = inputs[0], x.rank >= 2 else { throw GraphError("X must have rank >= 2") }
      let c = x.shape[1], inner = product(x.shape[2...]), batch = x.shape[0]
      let src = x.pointer(as: T.self), dst = outputs[0].pointer(as: T.self)
      let before = (size - 1) / 2, after = size - 1 - before
      let k = T(alpha / Double(size)), tb = T(bias), tbeta = T(beta)
      var acc = [T](repeating: 0, count: inner)
      for n in 0..<batch {
        let base = n * c * inner
        for ch in 0..<c {
          for i in 0..<inner { acc[i] = 0 }
          for cc in max(0, ch - before)...min(c - 1, ch + after) {
            let p = src + base + cc * inner
            for i in 0..<inner { acc[i] += p[i] * p[i] }
          }
          let o = base + ch * inner
          for i in 0..<inner { dst[o + i] = src[o + i] / T.nnPow(tb + k * acc[i], tbeta) }
        }
      }
    }
  }
  return type == Float.self ? make(Float.self) : make(Double.self)
}
