// NNNormOps.swift - Schemas of normalization, softmax-family, Reduce-family and arg/cumulative ops.

// MARK: Normalization

let normalizationSchemas: [OpSchema] = [
  OpSchema("onnx.BatchNormalization", inputs: 5...5) { ctx in
    guard try ctx.attributes.int("training_mode", default: 0) == 0 else {
      throw GraphError("training_mode is not supported (inference only)")
    }
    let x = try channelInput(ctx)
    for (i, name) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
      try requireChannelVector(ctx.type(i), name, x)
    }
    return [x]
  },
  OpSchema("onnx.InstanceNormalization", inputs: 3...3) { ctx in
    let x = try channelInput(ctx, minRank: 3)
    try requireChannelVector(ctx.type(1), "scale", x)
    try requireChannelVector(ctx.type(2), "B", x)
    return [x]
  },
  OpSchema("onnx.GroupNormalization", inputs: 3...3) { ctx in
    let x = try channelInput(ctx, minRank: 3)
    guard let groups = try ctx.attributes.int("num_groups") else { throw GraphError("attribute 'num_groups' is required") }
    guard groups > 0 else { throw GraphError("num_groups must be positive, got \(groups)") }
    if let c = x.dims?[1].value, c % groups != 0 {
      throw GraphError("num_groups \(groups) does not divide the \(c) channels")
    }
    for (i, name) in [(1, "scale"), (2, "bias")] {
      let t = try ctx.type(i)
      try nnRequireDType(t, nnFloatDTypes, name)
      guard let d = t.dims else { continue }
      guard d.count == 1 else { throw GraphError("\(name) must be 1-D, got rank \(d.count)") }
      if let v = d[0].value, let c = x.dims?[1].value, v != c, v != groups {
        throw GraphError("\(name) has length \(v), expected \(c) (channels) or \(groups) (groups)")
      }
    }
    return [x]
  },
  OpSchema("onnx.LayerNormalization", inputs: 2...3, outputs: 1...3) { ctx in
    let x = try ctx.type(0)
    try nnRequireDType(x, nnFloatDTypes, "X")
    try nnRequireDType(ctx.type(1), nnFloatDTypes, "Scale")
    if let b = ctx.optional(2) { try nnRequireDType(b.type, nnFloatDTypes, "B") }
    let stashCode = try ctx.attributes.int("stash_type", default: 1)
    guard let stash = DType(rawValue: UInt8(clamping: max(0, stashCode))), nnFloatDTypes.contains(stash) else {
      throw GraphError("stash_type \(stashCode) is not a float type")
    }
    let axisAttr = try ctx.attributes.int("axis", default: -1)
    guard let dims = x.dims else { return [x] + Array(repeating: TensorType(stash, nil), count: ctx.resultCount - 1) }
    let axis = try normalizeAxis(axisAttr, rank: dims.count)
    guard !dims.isEmpty else { throw GraphError("X must have rank >= 1") }
    let normalized = Array(dims[axis...])
    for (i, name) in [(1, "Scale"), (2, "B")] {
      guard let t = ctx.optional(i)?.type, let d = t.dims else { continue }
      do { _ = try broadcastDims(normalized, d) } catch {
        throw GraphError("\(name) shape \(d) does not broadcast to the normalized shape \(normalized)")
      }
      guard d.count <= normalized.count else { throw GraphError("\(name) has rank \(d.count) above the normalized rank \(normalized.count)") }
    }
    let stats = TensorType(stash, Array(dims[..<axis]) + Array(repeating: .fixed(1), count: dims.count - axis))
    return [x] + Array(repeating: stats, count: ctx.resultCount - 1)
  },
  OpSchema("onnx.LRN", inputs: 1...1) { ctx in
    let x = try channelInput(ctx, minRank: 3)
    guard let size = try ctx.attributes.int("size") else { throw GraphError("attribute 'size' is required") }
    guard size > 0 else { throw GraphError("size must be positive, got \(size)") }
    return [x]
  },
  OpSchema("onnx.Softmax", inputs: 1...1) { ctx in try [inferAxisPreserving(ctx)] },
  OpSchema("onnx.LogSoftmax", inputs: 1...1) { ctx in try [inferAxisPreserving(ctx)] },
  OpSchema("onnx.Hardmax", inputs: 1...1) { ctx in try [inferAxisPreserving(ctx)] },
]

/// The type of an `[N, C, ...]` float input with at least `minRank` dims.
private func channelInput(_ ctx: InferenceContext, minRank: Int = 2) throws -> TensorType {
  let x = try ctx.type(0)
  try nnRequireDType(x, nnFloatDTypes, "X")
  if let r = x.rank, r < minRank { throw GraphError("X must have rank >= \(minRank) (N, C, ...), got rank \(r)") }
  return x
}

/// Checks a per-channel parameter: float, 1-D, length C when known.
private func requireChannelVector(_ t: TensorType, _ name: String, _ x: TensorType) throws {
  try nnRequireDType(t, nnFloatDTypes, name)
  guard let d = t.dims else { return }
  guard d.count == 1 else { throw GraphError("\(name) must be 1-D, got rank \(d.count)") }
  if let c = x.dims?[1].value { try nnRequireDim(d[0], equals: c, "\(name) length") }
}

/// Softmax, LogSoftmax, Hardmax: a float input, an `axis` in range, the same type out.
private func inferAxisPreserving(_ ctx: InferenceContext) throws -> TensorType {
  let x = try ctx.type(0)
  try nnRequireDType(x, nnFloatDTypes, "input")
  if let r = x.rank { _ = try normalizeAxis(ctx.attributes.int("axis", default: -1), rank: r) }
  return x
}

// MARK: Reductions

/// Element types each Reduce op accepts.
private let reduceDTypes: [String: Set<DType>] = {
  let ints: Set<DType> = [.int32, .int64, .uint32, .uint64]
  let minMax = nnFloatDTypes.union(ints).union([.int8, .uint8, .bool])
  return [
    "ReduceSum": nnFloatDTypes.union(ints), "ReduceProd": nnFloatDTypes.union(ints),
    "ReduceMean": nnFloatDTypes.union(ints), "ReduceMax": minMax, "ReduceMin": minMax,
    "ReduceL1": nnFloatDTypes.union(ints), "ReduceSumSquare": nnFloatDTypes.union(ints),
    "ReduceL2": nnFloatDTypes, "ReduceLogSum": nnFloatDTypes, "ReduceLogSumExp": nnFloatDTypes,
  ]
}()

let reduceSchemas: [OpSchema] = reduceDTypes.keys.sorted().map { name in
  OpSchema("onnx.\(name)", inputs: 1...2) { ctx in try [inferReduce(ctx, types: reduceDTypes[name] ?? [])] }
} + [
  OpSchema("onnx.ArgMax", inputs: 1...1) { ctx in try [inferArgReduce(ctx)] },
  OpSchema("onnx.ArgMin", inputs: 1...1) { ctx in try [inferArgReduce(ctx)] },
  OpSchema("onnx.CumSum", inputs: 2...2) { ctx in
    let x = try ctx.type(0)
    try nnRequireDType(x, nnFloatDTypes.union([.int32, .int64, .uint32, .uint64]), "x")
    let axis = try ctx.type(1)
    try nnRequireDType(axis, [.int32, .int64], "axis")
    if let r = axis.rank, r > 1 { throw GraphError("axis must be a scalar, got rank \(r)") }
    if let v = try ctx.intValues(1) {
      guard v.count == 1 else { throw GraphError("axis must hold one value, got \(v.count)") }
      if let r = x.rank { _ = try normalizeAxis(v[0], rank: r) }
    }
    return [x]
  },
]

/// The sorted, normalized axes a Reduce op reduces over. `axes` nil or empty means all axes,
/// or none (identity) when `noopWithEmptyAxes`. Duplicates are an error.
public func resolveReduceAxes(_ axes: [Int]?, rank: Int, noopWithEmptyAxes: Bool) throws -> [Int] {
  guard let axes, !axes.isEmpty else { return noopWithEmptyAxes ? [] : Array(0..<rank) }
  let norm = try axes.map { try normalizeAxis($0, rank: rank) }.sorted()
  guard Set(norm).count == norm.count else { throw GraphError("axes \(axes) repeat an axis") }
  return norm
}

/// Result shape of a reduction over `axes` (sorted, normalized).
public func reducedDims<D>(_ dims: [D], axes: [Int], keepdims: Bool, one: D) -> [D] {
  var out: [D] = []
  for (i, d) in dims.enumerated() {
    if axes.contains(i) { if keepdims { out.append(one) } } else { out.append(d) }
  }
  return out
}

private func inferReduce(_ ctx: InferenceContext, types: Set<DType>) throws -> TensorType {
  let x = try ctx.type(0)
  try nnRequireDType(x, types, "data")
  let keepdims = try ctx.attributes.int("keepdims", default: 1) != 0
  let noop = try ctx.attributes.int("noop_with_empty_axes", default: 0) != 0
  var axesValues: [Int]? = nil
  if let a = ctx.optional(1) {
    try nnRequireDType(a.type, [.int64, .int32], "axes")
    if let r = a.type.rank, r > 1 { throw GraphError("axes must be 1-D, got rank \(r)") }
    guard let v = try ctx.intValues(1) else {
      // Axes known only at run time: the rank survives only with keepdims.
      guard keepdims, let dims = x.dims else { return TensorType(x.dtype, nil) }
      return TensorType(x.dtype, dims.map { $0 == .fixed(1) ? $0 : nnUnknownDim })
    }
    axesValues = v
  }
  guard let dims = x.dims else { return TensorType(x.dtype, nil) }
  let axes = try resolveReduceAxes(axesValues, rank: dims.count, noopWithEmptyAxes: noop)
  return TensorType(x.dtype, reducedDims(dims, axes: axes, keepdims: keepdims, one: Dim.fixed(1)))
}

private func inferArgReduce(_ ctx: InferenceContext) throws -> TensorType {
  let x = try ctx.type(0)
  try nnRequireDType(x, nnFloatDTypes.union([.int8, .uint8, .int16, .uint16, .int32, .int64, .uint32, .uint64]), "data")
  let keepdims = try ctx.attributes.int("keepdims", default: 1) != 0
  guard let dims = x.dims else { return TensorType(.int64, nil) }
  guard !dims.isEmpty else { throw GraphError("data must have rank >= 1") }
  let axis = try normalizeAxis(ctx.attributes.int("axis", default: 0), rank: dims.count)
  if let d = dims[axis].value, d == 0 { throw GraphError("cannot take ArgMax/ArgMin over an empty axis") }
  return TensorType(.int64, reducedDims(dims, axes: [axis], keepdims: keepdims, one: Dim.fixed(1)))
}
