// Softmax.swift - Softmax, LogSoftmax and Hardmax along one axis (opset-13 meaning),
// numerically stable (the row maximum is subtracted before exp).

import CKernels
import GraphIR

let softmaxKernels: [String: Kernel] = [
  "onnx.Softmax": floatKernel("Softmax") { T, ctx in try softmaxEval(T, ctx, .softmax) },
  "onnx.LogSoftmax": floatKernel("LogSoftmax") { T, ctx in try softmaxEval(T, ctx, .logSoftmax) },
  "onnx.Hardmax": floatKernel("Hardmax") { T, ctx in try softmaxEval(T, ctx, .hardmax) },
]

enum SoftmaxKind { case softmax, logSoftmax, hardmax }

private func softmaxEval(_ type: any NNFloat.Type, _ ctx: KernelContext, _ kind: SoftmaxKind) throws -> KernelEval {
  let axisAttr = try ctx.attributes.int("axis", default: -1)
  func make<T: NNFloat>(_: T.Type) -> KernelEval {
    return { inputs, outputs in
      guard let x = inputs[0] else { throw GraphError("missing required input") }
      let axis = try normalizeAxis(axisAttr, rank: x.rank)
      let (outer, n, inner) = splitAround(x.shape, axis: axis)
      let src = x.pointer(as: T.self), dst = outputs[0].pointer(as: T.self)
      if inner == 1 {
        parallelChunks(outer, minChunk: max(1, elementwiseGrain / max(n, 1))) { rows in
          for o in rows { softmaxRow(src + o * n, dst + o * n, n, kind) }
        }
      } else {
        // Gather each strided row into a contiguous buffer, so one row routine serves all axes.
        let row = UnsafeMutablePointer<T>.allocate(capacity: 2 * n)
        defer { row.deallocate() }
        for o in 0..<outer {
          for i in 0..<inner {
            let base = o * n * inner + i
            for k in 0..<n { row[k] = src[base + k * inner] }
            softmaxRow(row, row + n, n, kind)
            for k in 0..<n { dst[base + k * inner] = row[n + k] }
          }
        }
      }
    }
  }
  return type == Float.self ? make(Float.self) : make(Double.self)
}

@inline(__always)
private func softmaxRow<T: NNFloat>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ kind: SoftmaxKind) {
  guard n > 0 else { return }
  var m = x[0], at = 0
  for k in 1..<n where x[k] > m { m = x[k]; at = k }
  switch kind {
  case .hardmax:
    for k in 0..<n { y[k] = 0 }
    y[at] = 1
  case .softmax where T.self == Float.self:
    // Vectorized exp over the shifted row, written into y (x may be y).
    let yf = UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)
    for k in 0..<n { y[k] = x[k] - m }
    graphc_vexp_f32(yf, yf, n)
    var s = T.nnZero
    for k in 0..<n { s += y[k] }
    let inv = 1 / s
    for k in 0..<n { y[k] *= inv }
  case .softmax:
    var s = T.nnZero
    for k in 0..<n { let e = T.nnExp(x[k] - m); y[k] = e; s += e }
    let inv = 1 / s
    for k in 0..<n { y[k] *= inv }
  case .logSoftmax:
    var s = T.nnZero
    for k in 0..<n { s += T.nnExp(x[k] - m) }
    let shift = m + T.nnLog(s)
    for k in 0..<n { y[k] = x[k] - shift }
  }
}
