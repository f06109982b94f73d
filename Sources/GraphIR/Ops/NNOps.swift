// NNOps.swift - Schemas of neural-network ops: conv, pooling and matmul (see NNNormOps.swift
// for normalization, softmax and reductions), plus the window geometry the kernels share.

let nnOpSchemas: [OpSchema] = convSchemas + poolSchemas + matmulSchemas + normalizationSchemas + reduceSchemas

// MARK: Shared helpers

/// A dim whose size is not known at compile time.
let nnUnknownDim = Dim.symbol("?")

let nnFloatDTypes: Set<DType> = [.float32, .float64, .float16, .bfloat16]

func nnRequireDType(_ t: TensorType, _ allowed: Set<DType>, _ what: String) throws {
  guard allowed.contains(t.dtype) else {
    let names = allowed.map(\.shortName).sorted().joined(separator: ", ")
    throw GraphError("\(what) has element type \(t.dtype.shortName), expected one of \(names)")
  }
}

func nnRequireSameDType(_ t: TensorType, as ref: TensorType, _ what: String, _ refName: String) throws {
  guard t.dtype == ref.dtype else {
    throw GraphError("\(what) has element type \(t.dtype.shortName) but \(refName) has \(ref.dtype.shortName)")
  }
}

/// Throws when a known dim differs from `expected`.
func nnRequireDim(_ d: Dim, equals expected: Int, _ what: String) throws {
  if let v = d.value, v != expected { throw GraphError("\(what) is \(v), expected \(expected)") }
}

/// Largest attribute value accepted for sizes, strides, pads and dilations; keeps every
/// geometry sum and product far from overflow on untrusted models.
let nnMaxWindowAttribute = Int(Int32.max)

private func checkWindowBounds(_ attrs: AttributeMap, _ names: [String]) throws {
  for name in names {
    guard let values = try attrs.ints(name) else { continue }
    guard values.allSatisfy({ abs($0) <= nnMaxWindowAttribute }) else {
      throw GraphError("attribute '\(name)' has a value out of range: \(values)")
    }
  }
}

/// `windowGeometry` with attribute bounds checked first, so it cannot overflow.
public func checkedWindowGeometry(
  inputSpatial: [Int], kernel: [Int], attributes: AttributeMap, ceilMode: Bool = false
) throws -> WindowGeometry {
  try checkWindowBounds(attributes, ["strides", "dilations", "pads"])
  guard kernel.allSatisfy({ $0 <= nnMaxWindowAttribute }), inputSpatial.allSatisfy({ $0 >= 0 && $0 <= 1 << 40 }) else {
    throw GraphError("window or input extent out of range")
  }
  return try windowGeometry(inputSpatial: inputSpatial, kernel: kernel, attributes: attributes, ceilMode: ceilMode)
}

/// Output spatial dims of a sliding-window op. Unknown input extents give unknown output
/// extents; the attributes are still validated, against a placeholder extent large enough
/// for any window.
func windowOutputDims(_ spatial: [Dim], kernel: [Int], attributes: AttributeMap, ceilMode: Bool) throws -> [Dim] {
  let placeholder = 1 << 40
  let probe = spatial.map { $0.value ?? placeholder }
  let g = try checkedWindowGeometry(inputSpatial: probe, kernel: kernel, attributes: attributes, ceilMode: ceilMode)
  return zip(spatial, g.outputSpatial).map { d, o in d.value == nil ? nnUnknownDim : .fixed(o) }
}

/// Number of spatial dims of an `[N, C, spatial...]` operand, from its rank or another hint.
private func spatialRank(_ t: TensorType, hint: Int?) throws -> Int? {
  if let r = t.rank {
    guard r >= 3 else { throw GraphError("input must have rank >= 3 (N, C, spatial...), got rank \(r)") }
    if let h = hint, h != r - 2 { throw GraphError("input has \(r - 2) spatial dims but the kernel has \(h)") }
    return r - 2
  }
  return hint
}

// MARK: Conv and ConvTranspose

let convSchemas: [OpSchema] = [
  OpSchema("onnx.Conv", inputs: 2...3) { ctx in try [inferConv(ctx, transposed: false)] },
  OpSchema("onnx.ConvTranspose", inputs: 2...3) { ctx in try [inferConv(ctx, transposed: true)] },
]

/// Kernel spatial dims of a conv from `kernel_shape` or W, checking that they agree.
private func convKernel(_ attrs: AttributeMap, w: TensorType) throws -> [Int]? {
  let attr = try attrs.ints("kernel_shape")
  let fromW = w.dims.map { Array($0.dropFirst(2)) }
  if let attr {
    guard attr.allSatisfy({ $0 > 0 && $0 <= nnMaxWindowAttribute }) else { throw GraphError("kernel_shape must be positive, got \(attr)") }
    if let fw = fromW {
      guard fw.count == attr.count else { throw GraphError("kernel_shape \(attr) does not match W rank \(fw.count + 2)") }
      for (a, d) in zip(attr, fw) where d.value != nil && d.value != a {
        throw GraphError("kernel_shape \(attr) does not match W spatial dims \(fw)")
      }
    }
    return attr
  }
  guard let fw = fromW else { return nil }
  let ks = fw.compactMap(\.value)
  return ks.count == fw.count ? ks : nil
}

/// Conv/ConvTranspose result type. `quantized` checks the element types of `graphc.QConv`
/// instead (X i8/u8, W i8/i4, B i32); the geometry rules are the same.
func inferConv(_ ctx: InferenceContext, transposed: Bool, quantized: Bool = false) throws -> TensorType {
  let x = try ctx.type(0), w = try ctx.type(1)
  if quantized {
    try nnRequireDType(x, [.int8, .uint8], "X")
    try nnRequireDType(w, [.int8, .int4], "W")
  } else {
    try nnRequireDType(x, nnFloatDTypes, "X")
    try nnRequireSameDType(w, as: x, "W", "X")
  }
  let attrs = ctx.attributes
  let group = try attrs.int("group", default: 1)
  guard group > 0 && group <= nnMaxWindowAttribute else { throw GraphError("group must be positive, got \(group)") }
  if let wr = w.rank, wr < 3 { throw GraphError("W must have rank >= 3, got rank \(wr)") }
  let kernel = try convKernel(attrs, w: w)
  let n = try spatialRank(x, hint: w.rank.map { $0 - 2 } ?? kernel?.count)
  if let wr = w.rank, let n, wr != n + 2 { throw GraphError("W has rank \(wr), expected \(n + 2)") }
  if let k = kernel, let n, k.count != n { throw GraphError("kernel_shape has \(k.count) dims, input has \(n) spatial dims") }

  // Channels: Conv W is [M, C/group, k...]; ConvTranspose W is [C, M/group, k...].
  let c = x.dims?[1].value, w0 = w.dims?[0].value, w1 = w.dims?[1].value
  var m: Dim = nnUnknownDim
  if transposed {
    if let c, let w0, c != w0 { throw GraphError("X has \(c) channels but W has \(w0) input channels") }
    if let w0, w0 % group != 0 { throw GraphError("group \(group) does not divide the \(w0) input channels") }
    if let w1 {
      let (prod, overflow) = w1.multipliedReportingOverflow(by: group)
      guard !overflow else { throw GraphError("output channel count overflows") }
      m = .fixed(prod)
    }
  } else {
    if let c {
      guard c % group == 0 else { throw GraphError("group \(group) does not divide the \(c) input channels") }
      // c / group cannot overflow, unlike w1 * group.
      if let w1, w1 != c / group {
        throw GraphError("X has \(c) channels but W expects \(w1) per group x \(group) groups")
      }
    }
    if let w0 {
      guard w0 % group == 0 else { throw GraphError("group \(group) does not divide the \(w0) output channels") }
      m = .fixed(w0)
    }
  }
  if let b = ctx.optional(2) {
    if quantized { try nnRequireDType(b.type, [.int32], "B") } else { try nnRequireSameDType(b.type, as: x, "B", "X") }
    if let bd = b.type.dims {
      guard bd.count == 1 else { throw GraphError("B must be 1-D, got rank \(bd.count)") }
      if let mv = m.value { try nnRequireDim(bd[0], equals: mv, "B length") }
    }
  }
  guard let n else { return TensorType(x.dtype, nil) }
  let batch = x.dims?[0] ?? nnUnknownDim
  let spatial = x.dims.map { Array($0.dropFirst(2)) } ?? Array(repeating: nnUnknownDim, count: n)
  guard let kernel else { return TensorType(x.dtype, [batch, m] + Array(repeating: nnUnknownDim, count: n)) }
  let out: [Dim]
  if transposed {
    // Unknown extents are probed with a large one so the attributes are still validated.
    let probe = spatial.map { $0.value ?? (1 << 20) }
    let g = try convTransposeGeometry(inputSpatial: probe, kernel: kernel, attributes: attrs)
    let explicit = try attrs.ints("output_shape") != nil
    out = zip(spatial, g.outputSpatial).map { d, o in d.value == nil && !explicit ? nnUnknownDim : .fixed(o) }
  } else {
    out = try windowOutputDims(spatial, kernel: kernel, attributes: attrs, ceilMode: false)
  }
  return TensorType(x.dtype, [batch, m] + out)
}

/// Geometry of a ConvTranspose: resolved pads (begin pads, then end pads) and the output
/// spatial size, from `output_shape` when given, else from strides, `output_padding`, pads
/// and `auto_pad`. As in the ONNX spec and onnxruntime, when `output_shape` or SAME padding
/// fixes the size, the total padding is split with the odd cell at the start, except for
/// SAME_UPPER, which puts it at the end.
public func convTransposeGeometry(inputSpatial: [Int], kernel: [Int], attributes attrs: AttributeMap) throws -> WindowGeometry {
  let n = inputSpatial.count
  try checkWindowBounds(attrs, ["strides", "dilations", "pads", "output_padding", "output_shape"])
  guard kernel.count == n else { throw GraphError("kernel_shape has \(kernel.count) dims, input has \(n) spatial dims") }
  let strides = try attrs.ints("strides") ?? Array(repeating: 1, count: n)
  let dilations = try attrs.ints("dilations") ?? Array(repeating: 1, count: n)
  var pads = try attrs.ints("pads") ?? Array(repeating: 0, count: 2 * n)
  let outputPadding = try attrs.ints("output_padding") ?? Array(repeating: 0, count: n)
  var outputShape = try attrs.ints("output_shape")
  if let os = outputShape, os.count == n + 2 { outputShape = Array(os.dropFirst(2)) }
  guard strides.count == n, dilations.count == n, pads.count == 2 * n, outputPadding.count == n,
        outputShape.map({ $0.count == n }) ?? true else {
    throw GraphError("strides/dilations/pads/output_padding/output_shape do not match \(n) spatial dims")
  }
  guard strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 && $0 <= nnMaxWindowAttribute }) else {
    throw GraphError("strides, dilations and kernel sizes must be positive")
  }
  guard pads.allSatisfy({ $0 >= 0 }), outputPadding.allSatisfy({ $0 >= 0 }) else {
    throw GraphError("pads and output_padding must not be negative")
  }
  guard inputSpatial.allSatisfy({ $0 >= 0 && $0 <= 1 << 40 }) else { throw GraphError("input extent out of range") }
  let autoPad = try attrs.string("auto_pad", default: "NOTSET")
  guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(autoPad) else {
    throw GraphError("unknown auto_pad '\(autoPad)'")
  }
  var out = [Int](repeating: 0, count: n)
  for i in 0..<n {
    let ek = (kernel[i] - 1) * dilations[i] + 1
    let full = strides[i] * (inputSpatial[i] - 1) + outputPadding[i] + ek
    let target: Int? = outputShape?[i] ?? (autoPad.hasPrefix("SAME") ? inputSpatial[i] * strides[i] : nil)
    if let target {
      guard target > 0 else { throw GraphError("output_shape must be positive, got \(target)") }
      let total = max(0, full - target)
      let more = total - total / 2, less = total / 2
      pads[i] = autoPad == "SAME_UPPER" ? less : more
      pads[i + n] = autoPad == "SAME_UPPER" ? more : less
      out[i] = target
    } else {
      if autoPad == "VALID" { pads[i] = 0; pads[i + n] = 0 }
      out[i] = full - pads[i] - pads[i + n]
    }
    guard out[i] > 0 else { throw GraphError("output spatial size would be \(out[i])") }
  }
  return WindowGeometry(kernel: kernel, strides: strides, dilations: dilations, pads: pads, outputSpatial: out)
}

// MARK: Pooling

let poolSchemas: [OpSchema] = [
  OpSchema("onnx.MaxPool", inputs: 1...1, outputs: 1...2) { ctx in
    let y = try inferPool(ctx, types: nnFloatDTypes.union([.int8, .uint8]))
    return ctx.resultCount == 2 ? [y, TensorType(.int64, y.dims)] : [y]
  },
  OpSchema("onnx.AveragePool", inputs: 1...1) { ctx in try [inferPool(ctx, types: nnFloatDTypes)] },
  OpSchema("onnx.LpPool", inputs: 1...1) { ctx in
    let p = try ctx.attributes.int("p", default: 2)
    guard p > 0 else { throw GraphError("p must be positive, got \(p)") }
    return try [inferPool(ctx, types: nnFloatDTypes)]
  },
  OpSchema("onnx.GlobalAveragePool", inputs: 1...1) { ctx in try [inferGlobalPool(ctx)] },
  OpSchema("onnx.GlobalMaxPool", inputs: 1...1) { ctx in try [inferGlobalPool(ctx)] },
]

private func inferPool(_ ctx: InferenceContext, types: Set<DType>) throws -> TensorType {
  let x = try ctx.type(0)
  try nnRequireDType(x, types, "X")
  let attrs = ctx.attributes
  guard let kernel = try attrs.ints("kernel_shape") else { throw GraphError("attribute 'kernel_shape' is required") }
  guard !kernel.isEmpty, kernel.allSatisfy({ $0 > 0 && $0 <= nnMaxWindowAttribute }) else {
    throw GraphError("kernel_shape must be non-empty and positive, got \(kernel)")
  }
  let ceil = try attrs.int("ceil_mode", default: 0)
  guard ceil == 0 || ceil == 1 else { throw GraphError("ceil_mode must be 0 or 1, got \(ceil)") }
  let storageOrder = try attrs.int("storage_order", default: 0)
  guard storageOrder == 0 || storageOrder == 1 else { throw GraphError("storage_order must be 0 or 1, got \(storageOrder)") }
  guard let n = try spatialRank(x, hint: kernel.count) else { return TensorType(x.dtype, nil) }
  let dims = x.dims ?? Array(repeating: nnUnknownDim, count: n + 2)
  let out = try windowOutputDims(Array(dims.dropFirst(2)), kernel: kernel, attributes: attrs, ceilMode: ceil == 1)
  return TensorType(x.dtype, Array(dims.prefix(2)) + out)
}

private func inferGlobalPool(_ ctx: InferenceContext) throws -> TensorType {
  let x = try ctx.type(0)
  try nnRequireDType(x, nnFloatDTypes, "X")
  guard let dims = x.dims else { return x }
  guard dims.count >= 3 else { throw GraphError("input must have rank >= 3 (N, C, spatial...), got rank \(dims.count)") }
  return TensorType(x.dtype, Array(dims.prefix(2)) + Array(repeating: .fixed(1), count: dims.count - 2))
}

// MARK: MatMul and Gemm

let nnMatmulDTypes: Set<DType> = nnFloatDTypes.union([.int32, .int64, .uint32, .uint64])

let matmulSchemas: [OpSchema] = [
  OpSchema("onnx.MatMul", inputs: 2...2) { ctx in
    let a = try ctx.type(0), b = try ctx.type(1)
    try nnRequireDType(a, nnMatmulDTypes, "A")
    try nnRequireSameDType(b, as: a, "B", "A")
    return [TensorType(a.dtype, try matmulDims(a.dims, b.dims))]
  },
  OpSchema("onnx.MatMulInteger", inputs: 2...4) { ctx in
    let a = try ctx.type(0), b = try ctx.type(1)
    try nnRequireDType(a, [.int8, .uint8], "A")
    try nnRequireDType(b, [.int8, .uint8], "B")
    for (i, ref, name) in [(2, a, "a_zero_point"), (3, b, "b_zero_point")] {
      guard let z = ctx.optional(i) else { continue }
      try nnRequireSameDType(z.type, as: ref, name, i == 2 ? "A" : "B")
      if let r = z.type.rank, r > 1 { throw GraphError("\(name) must be a scalar or 1-D, got rank \(r)") }
    }
    return [TensorType(.int32, try matmulDims(a.dims, b.dims))]
  },
  OpSchema("onnx.Gemm", inputs: 2...3) { ctx in
    let a = try ctx.type(0), b = try ctx.type(1)
    try nnRequireDType(a, nnMatmulDTypes, "A")
    try nnRequireSameDType(b, as: a, "B", "A")
    let ta = try ctx.attributes.int("transA", default: 0) != 0
    let tb = try ctx.attributes.int("transB", default: 0) != 0
    if let r = a.rank, r != 2 { throw GraphError("A must be 2-D, got rank \(r)") }
    if let r = b.rank, r != 2 { throw GraphError("B must be 2-D, got rank \(r)") }
    let m = a.dims.map { ta ? $0[1] : $0[0] } ?? nnUnknownDim
    let ka = a.dims.map { ta ? $0[0] : $0[1] }, kb = b.dims.map { tb ? $0[1] : $0[0] }
    let n = b.dims.map { tb ? $0[0] : $0[1] } ?? nnUnknownDim
    if let x = ka?.value, let y = kb?.value, x != y {
      throw GraphError("inner dims differ: A gives K = \(x), B gives K = \(y)")
    }
    if let c = ctx.optional(2) {
      try nnRequireSameDType(c.type, as: a, "C", "A")
      if let cd = c.type.dims {
        guard cd.count <= 2 else { throw GraphError("C must have rank <= 2, got rank \(cd.count)") }
        // Unidirectional broadcast of C to [M, N].
        for (d, t) in zip(cd.reversed(), [n, m]) {
          if let dv = d.value, dv != 1, let tv = t.value, dv != tv {
            throw GraphError("C shape \(cd) cannot be broadcast to [\(m), \(n)]")
          }
        }
      }
    }
    return [TensorType(a.dtype, [m, n])]
  },
]

/// Result dims of numpy-style matmul: 1-D operands are promoted and the added dim removed,
/// batch dims broadcast.
public func matmulDims(_ a: [Dim]?, _ b: [Dim]?) throws -> [Dim]? {
  guard let a, let b else { return nil }
  guard !a.isEmpty, !b.isEmpty else { throw GraphError("MatMul operands must have rank >= 1") }
  let a2 = a.count == 1 ? [.fixed(1)] + a : a
  let b2 = b.count == 1 ? b + [.fixed(1)] : b
  let k1 = a2[a2.count - 1], k2 = b2[b2.count - 2]
  if let x = k1.value, let y = k2.value, x != y {
    throw GraphError("inner dims differ: \(a) x \(b) (K = \(x) vs \(y))")
  }
  var out = try broadcastDims(Array(a2.dropLast(2)), Array(b2.dropLast(2)))
  if a.count > 1 { out.append(a2[a2.count - 2]) }
  if b.count > 1 { out.append(b2[b2.count - 1]) }
  return out
}
