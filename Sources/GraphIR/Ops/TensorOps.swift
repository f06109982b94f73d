// TensorOps.swift - Schemas of data-movement and shape ops.
//
// Each schema runs at compile time (only constant operands have values: value-dependent dims
// come out unknown) and in the interpreter (every operand has a value: results are static).

let tensorOpSchemas: [OpSchema] = [
  OpSchema("onnx.Identity", inputs: 1...1) { ctx in [try ctx.type(0)] },
  OpSchema("onnx.Dropout", inputs: 1...3, outputs: 1...2, infer: inferDropout),
  OpSchema("onnx.Reshape", inputs: 2...2, infer: inferReshape),
  OpSchema("onnx.Flatten", inputs: 1...1, infer: inferFlatten),
  OpSchema("onnx.Squeeze", inputs: 1...2, infer: inferSqueeze),
  OpSchema("onnx.Unsqueeze", inputs: 2...2, infer: inferUnsqueeze),
  OpSchema("onnx.Transpose", inputs: 1...1, infer: inferTranspose),
  OpSchema("onnx.Concat", inputs: 1...Int.max, infer: inferConcat),
  OpSchema("onnx.Split", inputs: 1...2, outputs: 1...Int.max, infer: inferSplit),
  OpSchema("onnx.Slice", inputs: 3...5, infer: inferSlice),
  OpSchema("onnx.Gather", inputs: 2...2, infer: inferGather),
  OpSchema("onnx.GatherElements", inputs: 2...2, infer: inferGatherElements),
  OpSchema("onnx.Shape", inputs: 1...1, infer: inferShape),
  OpSchema("onnx.Size", inputs: 1...1) { _ in [TensorType(.int64, shape: [])] },
  OpSchema("onnx.ConstantOfShape", inputs: 1...1, infer: inferConstantOfShape),
  OpSchema("onnx.Expand", inputs: 2...2, infer: inferExpand),
  OpSchema("onnx.Tile", inputs: 2...2, infer: inferTile),
  OpSchema("onnx.Range", inputs: 3...3, infer: inferRange),
  OpSchema("onnx.Trilu", inputs: 1...2, infer: inferTrilu),
  OpSchema("onnx.Pad", inputs: 2...4, infer: inferPad),
  OpSchema("onnx.Resize", inputs: 1...4, infer: inferResize),
  OpSchema("onnx.DepthToSpace", inputs: 1...1) { ctx in [try depthSpaceType(ctx, toSpace: true)] },
  OpSchema("onnx.SpaceToDepth", inputs: 1...1) { ctx in [try depthSpaceType(ctx, toSpace: false)] },
  OpSchema("onnx.ReverseSequence", inputs: 2...2, infer: inferReverseSequence),
]

// MARK: Helpers

extension InferenceContext {
  /// Integer contents of optional operand `i`; nil when absent, unknown, or an empty tensor.
  func optionalInts(_ i: Int) throws -> [Int]? {
    guard let v = try intValues(i), !v.isEmpty else { return nil }
    return v
  }
  /// Is optional operand `i` present with possibly unknown contents (and not an empty constant)?
  func isPresent(_ i: Int) -> Bool {
    guard let o = optional(i) else { return false }
    if let v = o.value { return v.count > 0 }
    if let s = o.type.staticShape, checkedElementCount(s) == 0 { return false }
    return true
  }
  /// Numeric contents of optional operand `i` widened to Double; nil when absent/unknown/empty.
  func optionalDoubles(_ i: Int) -> [Double]? {
    guard let v = optional(i)?.value, v.count > 0 else { return nil }
    return (0..<v.count).map { v.double(at: $0) }
  }
  /// The length of a 1-D operand, when its shape says so.
  func vectorLength(_ i: Int) -> Int? {
    guard let d = optional(i)?.type.dims, d.count == 1 else { return nil }
    return d[0].value
  }
  /// Checks that operand `i` holds integers (int32 or int64) when its type says otherwise.
  func requireIndexType(_ i: Int, what: String) throws {
    let t = try type(i).dtype
    guard t == .int64 || t == .int32 else { throw GraphError("\(what) must be int32 or int64, not \(t.shortName)") }
  }
}

/// Merges two dims that must be equal; a fixed dim wins over a symbol.
private func unifyDims(_ a: Dim, _ b: Dim, what: String) throws -> Dim {
  switch (a, b) {
  case (.fixed(let x), .fixed(let y)):
    guard x == y else { throw GraphError("\(what): dim \(x) does not match \(y)") }
    return a
  case (.fixed, _): return a
  default: return b
  }
}

// MARK: Simple ops

private func inferDropout(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  if let mode = ctx.optionalDoubles(2), mode.first ?? 0 != 0 {
    let ratio = ctx.optionalDoubles(1)?.first ?? 0.5
    guard ratio == 0 else { throw GraphError("training-mode Dropout is not supported (inference only)") }
  }
  let mask = TensorType(.bool, t.dims)
  return ctx.resultCount == 2 ? [t, mask] : [t]
}

private func inferReshape(_ ctx: InferenceContext) throws -> [TensorType] {
  let data = try ctx.type(0)
  try ctx.requireIndexType(1, what: "Reshape shape")
  let allowZero = try ctx.attributes.int("allowzero", default: 0) != 0
  if let r = try ctx.type(1).rank, r != 1 { throw GraphError("Reshape shape must be 1-D, got rank \(r)") }
  guard let shape = try ctx.intValues(1) else {
    return [TensorType(data.dtype, ctx.vectorLength(1).map(unknownDims))]
  }
  return [TensorType(data.dtype, try reshapeDims(input: data.dims, shape: shape, allowZero: allowZero))]
}

/// The product of dims, or unknown when any is.
private func productDim(_ dims: ArraySlice<Dim>) -> Dim {
  var n = 1
  for d in dims {
    guard let v = d.value else { return unknownDim }
    n = n.multipliedReportingOverflow(by: v).overflow ? Int.max : n * v
  }
  return .fixed(n)
}

private func inferFlatten(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  guard let dims = t.dims else { return [TensorType(t.dtype, unknownDims(2))] }
  var axis = try ctx.attributes.int("axis", default: 1)
  if axis < 0 { axis += dims.count }
  guard axis >= 0 && axis <= dims.count else { throw GraphError("Flatten axis is out of range for rank \(dims.count)") }
  return [TensorType(t.dtype, try checkedResultDims([productDim(dims[..<axis]), productDim(dims[axis...])]))]
}

private func inferSqueeze(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  if ctx.isPresent(1) { try ctx.requireIndexType(1, what: "Squeeze axes") }
  guard let dims = t.dims else { return [TensorType(t.dtype, nil)] }
  guard ctx.isPresent(1) else {
    // Without axes every dim of size 1 goes, so an unknown dim leaves the rank unknown.
    guard dims.allSatisfy({ $0.value != nil }) else { return [TensorType(t.dtype, nil)] }
    return [TensorType(t.dtype, dims.filter { $0 != .fixed(1) })]
  }
  guard let raw = try ctx.optionalInts(1) else {
    return [TensorType(t.dtype, ctx.vectorLength(1).map { unknownDims(max(dims.count - $0, 0)) })]
  }
  let axes = Set(try normalizeAxes(raw, rank: dims.count))
  for a in axes {
    if let v = dims[a].value, v != 1 { throw GraphError("cannot squeeze axis \(a) of size \(v)") }
  }
  return [TensorType(t.dtype, dims.enumerated().filter { !axes.contains($0.offset) }.map(\.element))]
}

private func inferUnsqueeze(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  try ctx.requireIndexType(1, what: "Unsqueeze axes")
  guard let dims = t.dims else { return [TensorType(t.dtype, nil)] }
  guard let raw = try ctx.intValues(1) else {
    return [TensorType(t.dtype, ctx.vectorLength(1).map { unknownDims(dims.count + $0) })]
  }
  let rank = dims.count + raw.count
  let axes = Set(try normalizeAxes(raw, rank: rank))
  var src = dims.makeIterator()
  return [TensorType(t.dtype, (0..<rank).map { axes.contains($0) ? .fixed(1) : src.next() ?? .fixed(1) })]
}

private func inferTranspose(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  let perm = try ctx.attributes.ints("perm")
  guard let dims = t.dims else { return [TensorType(t.dtype, perm.map { unknownDims($0.count) })] }
  let p = try transposePermutation(perm, rank: dims.count)
  return [TensorType(t.dtype, p.map { dims[$0] })]
}

// MARK: Concat, Split, Slice, Gather

private func inferConcat(_ ctx: InferenceContext) throws -> [TensorType] {
  let types = try (0..<ctx.operands.count).map { try ctx.type($0) }
  let dtype = types[0].dtype
  guard types.allSatisfy({ $0.dtype == dtype }) else { throw GraphError("Concat inputs have different element types") }
  guard let rank = types.lazy.compactMap(\.rank).first else { return [TensorType(dtype, nil)] }
  guard rank > 0 else { throw GraphError("Concat inputs must have rank at least 1") }
  guard let rawAxis = try ctx.attributes.int("axis") else { throw GraphError("Concat needs an axis attribute") }
  let axis = try tensorAxis(rawAxis, rank: rank)
  var out = unknownDims(rank)
  var axisSum: Int? = 0
  for (k, t) in types.enumerated() {
    guard let d = t.dims else { axisSum = nil; continue }
    guard d.count == rank else { throw GraphError("Concat input \(k) has rank \(d.count), expected \(rank)") }
    for i in 0..<rank where i != axis { out[i] = try unifyDims(out[i], d[i], what: "Concat input \(k)") }
    if let v = d[axis].value, let s = axisSum { axisSum = try checkedSum([s, v], what: "Concat axis size") } else { axisSum = nil }
  }
  out[axis] = axisSum.map { .fixed($0) } ?? unknownDim
  return [TensorType(dtype, try checkedResultDims(out))]
}

private func inferSplit(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  let n = ctx.resultCount
  if let k = try ctx.attributes.int("num_outputs"), k != n {
    throw GraphError("num_outputs is \(k) but the node has \(n) results")
  }
  if ctx.isPresent(1) { try ctx.requireIndexType(1, what: "Split split") }
  guard let dims = t.dims else { return Array(repeating: TensorType(t.dtype, nil), count: n) }
  let axis = try tensorAxis(try ctx.attributes.int("axis", default: 0), rank: dims.count)
  let split = try ctx.optionalInts(1)
  let sizes: [Dim]
  if let d = dims[axis].value, split != nil || !ctx.isPresent(1) {
    sizes = try splitSizes(dim: d, split: split, count: n).map { .fixed($0) }
  } else if let split {
    guard split.count == n, split.allSatisfy({ $0 >= 0 }) else { throw GraphError("split \(split) does not give \(n) non-negative parts") }
    sizes = split.map { .fixed($0) }
  } else {
    sizes = unknownDims(n)
  }
  return sizes.map { s in
    var d = dims
    d[axis] = s
    return TensorType(t.dtype, d)
  }
}

private func inferSlice(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  for i in 1...4 where ctx.isPresent(i) { try ctx.requireIndexType(i, what: "Slice input \(i)") }
  guard let dims = t.dims else { return [TensorType(t.dtype, nil)] }
  guard let starts = try ctx.intValues(1), let ends = try ctx.intValues(2) else {
    return [TensorType(t.dtype, unknownDims(dims.count))]
  }
  let axes = try ctx.optionalInts(3), steps = try ctx.optionalInts(4)
  if (ctx.isPresent(3) && axes == nil) || (ctx.isPresent(4) && steps == nil) {
    return [TensorType(t.dtype, unknownDims(dims.count))]
  }
  var out = dims
  for e in try sliceEntries(rank: dims.count, starts: starts, ends: ends, axes: axes, steps: steps) {
    guard let d = dims[e.axis].value else { out[e.axis] = unknownDim; continue }
    out[e.axis] = .fixed(clampSlice(dim: d, axis: e.axis, start: e.start, end: e.end, step: e.step).count)
  }
  return [TensorType(t.dtype, out)]
}

private func inferGather(_ ctx: InferenceContext) throws -> [TensorType] {
  let data = try ctx.type(0), indices = try ctx.type(1)
  try ctx.requireIndexType(1, what: "Gather indices")
  guard let d = data.dims else { return [TensorType(data.dtype, nil)] }
  guard d.count > 0 else { throw GraphError("Gather data must have rank at least 1") }
  let axis = try tensorAxis(try ctx.attributes.int("axis", default: 0), rank: d.count)
  if let idx = try ctx.intValues(1), let n = d[axis].value {
    for i in idx where i < -n || i >= n { throw GraphError("Gather index \(i) is out of range for dim \(n)") }
  }
  guard let id = indices.dims else { return [TensorType(data.dtype, nil)] }
  return [TensorType(data.dtype, try checkedResultDims(Array(d[..<axis]) + id + Array(d[(axis + 1)...])))]
}

private func inferGatherElements(_ ctx: InferenceContext) throws -> [TensorType] {
  let data = try ctx.type(0), indices = try ctx.type(1)
  try ctx.requireIndexType(1, what: "GatherElements indices")
  if let r = data.rank {
    guard r > 0 else { throw GraphError("GatherElements data must have rank at least 1") }
    _ = try tensorAxis(try ctx.attributes.int("axis", default: 0), rank: r)
    if let q = indices.rank, q != r { throw GraphError("GatherElements indices have rank \(q), data rank \(r)") }
  }
  return [TensorType(data.dtype, indices.dims)]
}

// MARK: Shape-valued ops

/// The [start, end) range of dims that `Shape` returns, clamped.
public func shapeOpRange(rank: Int, attributes: AttributeMap) throws -> Range<Int> {
  func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
  let s = clamp(try attributes.int("start", default: 0))
  let e = clamp(try attributes.int("end", default: rank))
  return s..<max(s, e)
}

private func inferShape(_ ctx: InferenceContext) throws -> [TensorType] {
  guard let r = try ctx.type(0).rank else { return [TensorType(.int64, unknownDims(1))] }
  return [TensorType(.int64, shape: [try shapeOpRange(rank: r, attributes: ctx.attributes).count])]
}

/// The fill value of `ConstantOfShape` (a one-element tensor, default float32 0).
public func constantOfShapeValue(_ attributes: AttributeMap) throws -> Tensor {
  guard let v = try attributes.tensor("value") else { return Tensor.float32([1], [0]) }
  guard v.count == 1, v.dtype.byteSize > 0 else { throw GraphError("ConstantOfShape value must hold exactly one element") }
  return v
}

/// Dims from a 1-D shape operand (ConstantOfShape, Expand): known values, or unknown dims of
/// the operand's length.
private func dimsFromShapeOperand(_ ctx: InferenceContext, _ i: Int, what: String) throws -> [Dim]? {
  try ctx.requireIndexType(i, what: what)
  if let r = try ctx.type(i).rank, r != 1 { throw GraphError("\(what) must be 1-D, got rank \(r)") }
  guard let v = try ctx.intValues(i) else { return ctx.vectorLength(i).map(unknownDims) }
  guard v.allSatisfy({ $0 >= 0 }) else { throw GraphError("\(what) \(v) has a negative dim") }
  return try checkedResultDims(v.map { .fixed($0) })
}

private func inferConstantOfShape(_ ctx: InferenceContext) throws -> [TensorType] {
  let value = try constantOfShapeValue(ctx.attributes)
  return [TensorType(value.dtype, try dimsFromShapeOperand(ctx, 0, what: "ConstantOfShape shape"))]
}

private func inferExpand(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  try ctx.requireIndexType(1, what: "Expand shape")
  guard let v = try ctx.intValues(1) else {
    guard let n = ctx.vectorLength(1), let r = t.rank else { return [TensorType(t.dtype, nil)] }
    return [TensorType(t.dtype, unknownDims(max(n, r)))]
  }
  guard v.allSatisfy({ $0 >= 0 }) else { throw GraphError("Expand shape \(v) has a negative dim") }
  guard let dims = t.dims else { return [TensorType(t.dtype, nil)] }
  return [TensorType(t.dtype, try checkedResultDims(try broadcastDims(dims, v.map { .fixed($0) })))]
}

private func inferTile(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  try ctx.requireIndexType(1, what: "Tile repeats")
  guard let dims = t.dims else { return [TensorType(t.dtype, nil)] }
  guard let reps = try ctx.intValues(1) else { return [TensorType(t.dtype, unknownDims(dims.count))] }
  guard reps.count == dims.count else { throw GraphError("Tile repeats has \(reps.count) values for rank \(dims.count)") }
  guard reps.allSatisfy({ $0 >= 0 }) else { throw GraphError("Tile repeats \(reps) has a negative value") }
  let out: [Dim] = zip(dims, reps).map { d, r in
    if r == 1 { return d }
    guard let v = d.value else { return unknownDim }
    return .fixed(v.multipliedReportingOverflow(by: r).overflow ? Int.max : v * r)
  }
  return [TensorType(t.dtype, try checkedResultDims(out))]
}

/// The element count of `Range` from its three scalar operands, for any numeric type.
public func rangeCount(start: Tensor, limit: Tensor, delta: Tensor) throws -> Int {
  for t in [start, limit, delta] where t.count != 1 { throw GraphError("Range operands must be scalars") }
  if let s = start.intValues()?.first, let l = limit.intValues()?.first, let d = delta.intValues()?.first {
    return try rangeCount(start: s, limit: l, delta: d)
  }
  return try rangeCount(start: start.double(at: 0), limit: limit.double(at: 0), delta: delta.double(at: 0))
}

private func inferRange(_ ctx: InferenceContext) throws -> [TensorType] {
  let types = try (0..<3).map { try ctx.type($0) }
  let dtype = types[0].dtype
  guard types.allSatisfy({ $0.dtype == dtype }) else { throw GraphError("Range operands have different element types") }
  guard dtype.isFloat || dtype.isInteger else { throw GraphError("Range does not support \(dtype.shortName)") }
  for t in types { if let r = t.rank, r > 1 { throw GraphError("Range operands must be scalars") } }
  guard let s = ctx.optional(0)?.value, let l = ctx.optional(1)?.value, let d = ctx.optional(2)?.value else {
    return [TensorType(dtype, unknownDims(1))]
  }
  return [TensorType(dtype, shape: [try rangeCount(start: s, limit: l, delta: d)])]
}

private func inferTrilu(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  if let r = t.rank, r < 2 { throw GraphError("Trilu input must have rank at least 2, got \(r)") }
  if ctx.isPresent(1) {
    try ctx.requireIndexType(1, what: "Trilu k")
    if let k = try ctx.intValues(1), k.count != 1 { throw GraphError("Trilu k must be a scalar") }
  }
  return [t]
}

// MARK: Pad, Resize, DepthToSpace

/// Pad modes the kernels implement.
public let padModes: Set<String> = ["constant", "reflect", "edge", "wrap"]

private func inferPad(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  let mode = try ctx.attributes.string("mode", default: "constant")
  guard padModes.contains(mode) else { throw GraphError("unknown Pad mode '\(mode)'") }
  try ctx.requireIndexType(1, what: "Pad pads")
  if ctx.isPresent(3) { try ctx.requireIndexType(3, what: "Pad axes") }
  if let c = ctx.optional(2) {
    guard c.type.dtype == t.dtype else { throw GraphError("Pad constant_value type \(c.type.dtype.shortName) differs from data \(t.dtype.shortName)") }
    if let v = c.value, v.count > 1 { throw GraphError("Pad constant_value must be a scalar") }
  }
  guard let dims = t.dims else { return [TensorType(t.dtype, nil)] }
  let axesUnknown = ctx.isPresent(3) ? try ctx.intValues(3) == nil : false
  guard let pads = try ctx.intValues(1), !axesUnknown else {
    return [TensorType(t.dtype, unknownDims(dims.count))]
  }
  let full = try padAmounts(rank: dims.count, pads: pads, axes: try ctx.optionalInts(3))
  let r = dims.count
  let out: [Dim] = try (0..<r).map { i in
    if full[i] == 0 && full[i + r] == 0 { return dims[i] }
    guard let v = dims[i].value else { return unknownDim }
    let n = try checkedSum([v, full[i], full[i + r]], what: "padded dim")
    guard n >= 0 else { throw GraphError("pads \(pads) make dim \(i) negative") }
    if v == 0 && n > 0 && mode != "constant" { throw GraphError("cannot \(mode)-pad an empty dim") }
    return .fixed(n)
  }
  return [TensorType(t.dtype, try checkedResultDims(out))]
}

/// Resize modes and coordinate modes the kernel implements.
public let resizeModes: Set<String> = ["nearest", "linear", "cubic"]
public let resizeCoordinateModes: Set<String> = [
  "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize",
]

private func inferResize(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  let a = ctx.attributes
  guard resizeModes.contains(try a.string("mode", default: "nearest")) else { throw GraphError("unknown Resize mode") }
  guard resizeCoordinateModes.contains(try a.string("coordinate_transformation_mode", default: "half_pixel")) else {
    throw GraphError("unknown Resize coordinate_transformation_mode")
  }
  let nearest = try a.string("nearest_mode", default: "round_prefer_floor")
  guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearest) else {
    throw GraphError("unknown Resize nearest_mode '\(nearest)'")
  }
  if ctx.isPresent(3) { try ctx.requireIndexType(3, what: "Resize sizes") }
  guard let dims = t.dims else { return [TensorType(t.dtype, nil)] }
  guard ctx.isPresent(2) != ctx.isPresent(3) else { throw GraphError("Resize takes exactly one of scales and sizes") }
  let scales = ctx.optionalDoubles(2), sizes = try ctx.optionalInts(3)
  if let shape = t.staticShape, scales != nil || sizes != nil {
    let g = try resizeGeometry(inputShape: shape, roi: ctx.optionalDoubles(1), scales: scales, sizes: sizes, attributes: a)
    return [TensorType(t.dtype, shape: g.outputShape)]
  }
  // Partial inference: axes Resize leaves alone keep their dims.
  let axes = try resizeAxes(a, rank: dims.count)
  let stretch = try a.string("keep_aspect_ratio_policy", default: "stretch") == "stretch"
  var out = dims
  for (i, ax) in axes.enumerated() {
    if let sizes, stretch, i < sizes.count {
      out[ax] = .fixed(sizes[i])
    } else if let scales, i < scales.count, scales[i] == 1 {
      continue
    } else if let scales, i < scales.count, let v = dims[ax].value {
      out[ax] = .fixed(try checkedSize((scales[i] * Double(v)).rounded(.down), what: "Resize output dim"))
    } else {
      out[ax] = unknownDim
    }
  }
  return [TensorType(t.dtype, try checkedResultDims(out))]
}

/// The (batch, time) axes of `ReverseSequence`: 0 and 1 in either order.
public func reverseSequenceAxes(_ attributes: AttributeMap) throws -> (batch: Int, time: Int) {
  let b = try attributes.int("batch_axis", default: 1), t = try attributes.int("time_axis", default: 0)
  guard Set([b, t]) == [0, 1] else { throw GraphError("batch_axis and time_axis must be 0 and 1, got \(b) and \(t)") }
  return (b, t)
}

private func inferReverseSequence(_ ctx: InferenceContext) throws -> [TensorType] {
  let t = try ctx.type(0)
  let (b, _) = try reverseSequenceAxes(ctx.attributes)
  try ctx.requireIndexType(1, what: "ReverseSequence sequence_lens")
  if let r = t.rank, r < 2 { throw GraphError("ReverseSequence input must have rank at least 2") }
  if let n = ctx.vectorLength(1), let d = t.dims?[b].value, n != d {
    throw GraphError("sequence_lens has \(n) values for a batch of \(d)")
  }
  return [t]
}

/// DepthToSpace / SpaceToDepth: rank-4 NCHW input, positive `blocksize`.
private func depthSpaceType(_ ctx: InferenceContext, toSpace: Bool) throws -> TensorType {
  let t = try ctx.type(0)
  guard let b = try ctx.attributes.int("blocksize"), b > 0, b <= 1 << 20 else { throw GraphError("blocksize must be a positive integer") }
  if toSpace {
    let mode = try ctx.attributes.string("mode", default: "DCR")
    guard mode == "DCR" || mode == "CRD" else { throw GraphError("unknown DepthToSpace mode '\(mode)'") }
  }
  guard let d = t.dims else { return TensorType(t.dtype, unknownDims(4)) }
  guard d.count == 4 else { throw GraphError("input must have rank 4, got \(d.count)") }
  let bb = b.multipliedReportingOverflow(by: b).overflow ? Int.max : b * b
  func scaled(_ x: Dim, by f: Int, divide: Bool) throws -> Dim {
    guard let v = x.value else { return unknownDim }
    if divide {
      guard v % f == 0 else { throw GraphError("dim \(v) is not divisible by \(f)") }
      return .fixed(v / f)
    }
    return .fixed(v.multipliedReportingOverflow(by: f).overflow ? Int.max : v * f)
  }
  let dims = [d[0], try scaled(d[1], by: bb, divide: toSpace),
              try scaled(d[2], by: b, divide: !toSpace), try scaled(d[3], by: b, divide: !toSpace)]
  return TensorType(t.dtype, try checkedResultDims(dims))
}
