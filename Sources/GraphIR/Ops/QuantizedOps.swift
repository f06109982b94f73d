// QuantizedOps.swift - Schemas of graphc's integer ops (QLinear, QConv) and their parameter rules.

/// `graphc.QLinear(x, w, b?) {clip?, dequantize?}`: `y = requantize(x · w + b)`, the integer form of
/// MatMul/Gemm with a constant `[K, N]` weight.
/// - x: i8/u8 `[..., K]`, quantized per tensor.
/// - w: i8 or packed i4 `[K, N]`, symmetric (zero point 0), per tensor or per axis 1.
/// - b: i32 `[N]`, the bias with the zero-point term absorbed:
///   `b[n] = round(bias[n] / (s_x s_w[n])) - z_x * sum_k w[k, n]`.
/// - clip: optional `[lo, hi]` in real units, the fused activation (Relu = `[0, inf]`).
/// - result: x's element type, `[..., N]`, with per-tensor parameters recorded on its type;
///   or, with `dequantize = 1`, f32: `y = clamp(s_x s_w[n] (x · w + b), clip)`, the sums
///   dequantized with no int8 rounding (for a layer whose result feeds float ops).
///
/// `graphc.QConv(x, w, b?) {strides, pads, dilations, group, clip?, dequantize?}`: the same for Conv, with
/// X `[N, C, spatial...]` and W `[M, C/group, k...]` quantized per tensor or per axis 0.
let quantizedOpSchemas: [OpSchema] = [
  OpSchema("graphc.QLinear", inputs: 2...3, acceptsPackedOperands: true) { ctx in
    let x = try ctx.type(0), w = try ctx.type(1)
    try checkQuantizedOperands(ctx, weightAxis: 1)
    guard let wd = w.dims, wd.count == 2 else { throw GraphError("W must be a [K, N] matrix, got \(w)") }
    if let xd = x.dims {
      guard let last = xd.last else { throw GraphError("X must have rank >= 1") }
      if let k = wd[0].value { try nnRequireDim(last, equals: k, "X inner dimension") }
    }
    if let b = ctx.optional(2)?.type.dims {
      guard b.count == 1 else { throw GraphError("B must be 1-D, got rank \(b.count)") }
      if let n = wd[1].value { try nnRequireDim(b[0], equals: n, "B length") }
    }
    return [TensorType(try resultDType(ctx), x.dims.map { Array($0.dropLast()) + [wd[1]] })]
  },
  OpSchema("graphc.QConv", inputs: 2...3, acceptsPackedOperands: true) { ctx in
    try checkQuantizedOperands(ctx, weightAxis: 0)
    let t = try inferConv(ctx, transposed: false, quantized: true)
    return [TensorType(try resultDType(ctx), t.dims)]
  },
]

/// X's element type, or f32 with `dequantize = 1`.
private func resultDType(_ ctx: InferenceContext) throws -> DType {
  switch try ctx.attributes.int("dequantize", default: 0) {
  case 0: return try ctx.type(0).dtype
  case 1: return .float32
  case let v: throw GraphError("dequantize must be 0 or 1, got \(v)")
  }
}

/// Checks what both integer ops share: X per tensor, W symmetric per tensor or along
/// `weightAxis`, B i32, and a valid `clip` attribute.
private func checkQuantizedOperands(_ ctx: InferenceContext, weightAxis: Int) throws {
  let x = try ctx.type(0), w = try ctx.type(1)
  try nnRequireDType(x, [.int8, .uint8], "X")
  try nnRequireDType(w, [.int8, .int4], "W")
  guard x.quant != nil, x.quant?.axis == nil else { throw GraphError("X needs per-tensor quantization parameters, got \(x)") }
  guard let wq = w.quant else { throw GraphError("W needs quantization parameters, got \(w)") }
  guard wq.axis == nil || wq.axis == weightAxis else {
    throw GraphError("W must be quantized per tensor or along axis \(weightAxis), not axis \(wq.axis ?? -1)")
  }
  guard wq.zeroPoints.allSatisfy({ $0 == 0 }) else { throw GraphError("W must be quantized symmetrically (zero point 0)") }
  if let b = ctx.optional(2) { try nnRequireDType(b.type, [.int32], "B") }
  if let clip = try ctx.attributes.floats("clip") {
    guard clip.count == 2, !clip[0].isNaN, !clip[1].isNaN, clip[0] <= clip[1] else {
      throw GraphError("clip must be [lo, hi] with lo <= hi, got \(clip)")
    }
  }
}
