// TensorGeometry.swift - Value-dependent shape rules of data-movement ops, shared by the
// schemas (compile time and run time) and the interpreter kernels.

/// The most elements a data-movement op may produce (2^40); more means a malformed model.
public let maxShapeOpElements = 1 << 40

/// The unknown dim used by inference when a size depends on a value not known yet.
public let unknownDim = Dim.symbol("?")

/// `n` unknown dims.
public func unknownDims(_ n: Int) -> [Dim] { Array(repeating: unknownDim, count: n) }

/// Validates the known dims of a result: none negative, and their product at most 2^40.
@discardableResult
public func checkedResultDims(_ dims: [Dim], what: String = "result") throws -> [Dim] {
  var n = 1
  for d in dims {
    guard let v = d.value else { continue }
    guard v >= 0 else { throw GraphError("\(what) dim \(v) is negative") }
    let (p, o) = n.multipliedReportingOverflow(by: v)
    guard !o, p <= maxShapeOpElements else { throw GraphError("\(what) shape \(dims) is too large") }
    n = p
  }
  return dims
}

/// Normalizes a list of axes against `rank`, rejecting out-of-range and duplicate axes.
public func normalizeAxes(_ axes: [Int], rank: Int, what: String = "axes") throws -> [Int] {
  var seen = Set<Int>()
  return try axes.map { a in
    let n = a < 0 ? a + rank : a
    guard n >= 0 && n < rank else { throw GraphError("\(what) value \(a) is out of range for rank \(rank)") }
    guard seen.insert(n).inserted else { throw GraphError("\(what) contains axis \(a) twice") }
    return n
  }
}

/// Normalizes one axis of a tensor of `rank` (which must be at least 1), or throws.
public func tensorAxis(_ axis: Int, rank: Int) throws -> Int {
  guard rank > 0 else { throw GraphError("axis \(axis) needs an input of rank at least 1") }
  return try normalizeAxes([axis], rank: rank, what: "axis")[0]
}

/// Overflow-checked sum of sizes, or throws.
public func checkedSum(_ values: [Int], what: String) throws -> Int {
  var s = 0
  for v in values {
    let (r, o) = s.addingReportingOverflow(v)
    guard !o else { throw GraphError("\(what) overflows") }
    s = r
  }
  return s
}

/// A Double size converted to Int, rejecting NaN, negative or absurd values.
public func checkedSize(_ v: Double, what: String) throws -> Int {
  guard v.isFinite, v >= 0, v <= Double(maxShapeOpElements) else { throw GraphError("\(what) \(v) is out of range") }
  return Int(v)
}

// MARK: Reshape

/// The result dims of `Reshape(data, shape)`: 0 copies the input dim (unless `allowZero`), -1 is
/// inferred from the element count. Works on symbolic input dims; `input == nil` is unknown rank.
public func reshapeDims(input: [Dim]?, shape: [Int], allowZero: Bool) throws -> [Dim] {
  guard shape.allSatisfy({ $0 >= -1 }) else { throw GraphError("reshape target \(shape) has a dim below -1") }
  let inferIndex = shape.firstIndex(of: -1)
  guard shape.filter({ $0 == -1 }).count <= 1 else { throw GraphError("reshape target \(shape) has more than one -1") }
  if allowZero && inferIndex != nil && shape.contains(0) {
    throw GraphError("reshape target \(shape) mixes 0 and -1 with allowzero=1")
  }
  var dims: [Dim] = []
  for (i, v) in shape.enumerated() {
    if v == 0 && !allowZero {
      guard let input else { dims.append(unknownDim); continue }
      guard i < input.count else { throw GraphError("reshape target \(shape) copies dim \(i) of a rank-\(input.count) input") }
      dims.append(input[i])
    } else {
      dims.append(.fixed(v))  // -1 is replaced below
    }
  }
  let total = input.flatMap { TensorType(.float32, $0).staticShape }.flatMap(checkedElementCount)
  var known = 1
  var allKnown = true
  for (i, d) in dims.enumerated() where i != inferIndex {
    guard let v = d.value else { allKnown = false; continue }
    let (p, o) = known.multipliedReportingOverflow(by: v)
    guard !o else { throw GraphError("reshape target \(shape) is too large") }
    known = p
  }
  if let k = inferIndex {
    dims[k] = unknownDim
    if let total, allKnown {
      guard known != 0 else { throw GraphError("cannot infer the -1 dim of \(shape): the other dims have 0 elements") }
      guard total % known == 0 else {
        throw GraphError("cannot reshape \(total) elements into \(shape)")
      }
      dims[k] = .fixed(total / known)
    }
  } else if let total, allKnown, total != known {
    throw GraphError("cannot reshape \(total) elements into \(shape) (\(known) elements)")
  }
  return try checkedResultDims(dims)
}

// MARK: Transpose

/// The permutation of `Transpose` (default: reversed axes), validated.
public func transposePermutation(_ perm: [Int]?, rank: Int) throws -> [Int] {
  guard let perm else { return Array((0..<rank).reversed()) }
  guard perm.count == rank, Set(perm) == Set(0..<rank) else {
    throw GraphError("perm \(perm) is not a permutation of 0..<\(rank)")
  }
  return perm
}

// MARK: Split

/// The part sizes of `Split` along a dim of size `dim` into `count` parts: the given `split`,
/// or equal parts with a smaller last one (opset 18).
public func splitSizes(dim: Int, split: [Int]?, count: Int) throws -> [Int] {
  if let split {
    guard split.count == count else { throw GraphError("split has \(split.count) parts but the node has \(count) results") }
    guard split.allSatisfy({ $0 >= 0 }) else { throw GraphError("split \(split) has a negative part") }
    guard try checkedSum(split, what: "split") == dim else { throw GraphError("split \(split) does not sum to the dim size \(dim)") }
    return split
  }
  guard count > 0 else { throw GraphError("split needs at least one result") }
  if dim % count == 0 { return Array(repeating: dim / count, count: count) }
  let part = dim / count + 1
  let last = dim - part * (count - 1)
  guard last >= 0 else { throw GraphError("cannot split a dim of \(dim) into \(count) parts of \(part)") }
  return Array(repeating: part, count: count - 1) + [last]
}

// MARK: Slice

/// One sliced axis: the first source index, the step, and the number of elements taken.
public struct SliceAxis: Equatable, Sendable {
  public var axis: Int
  public var start: Int
  public var step: Int
  public var count: Int
}

/// The validated (axis, start, end, step) entries of `Slice`, before clamping to dims.
public func sliceEntries(rank: Int, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> [(axis: Int, start: Int, end: Int, step: Int)] {
  guard starts.count == ends.count else { throw GraphError("starts has \(starts.count) values, ends \(ends.count)") }
  let axes = try normalizeAxes(axes ?? Array(0..<starts.count), rank: rank)
  guard axes.count == starts.count else { throw GraphError("axes has \(axes.count) values, starts \(starts.count)") }
  let steps = steps ?? Array(repeating: 1, count: starts.count)
  guard steps.count == starts.count else { throw GraphError("steps has \(steps.count) values, starts \(starts.count)") }
  guard !steps.contains(0) else { throw GraphError("slice step must not be 0") }
  return (0..<starts.count).map { (axes[$0], starts[$0], ends[$0], steps[$0]) }
}

/// Clamps one slice entry to a dim of size `dim` (ONNX rules; negative steps walk backwards).
public func clampSlice(dim: Int, axis: Int, start: Int, end: Int, step: Int) -> SliceAxis {
  var s = start < 0 ? start + dim : start
  var e = end < 0 ? end + dim : end
  let count: Int
  if step > 0 {
    s = min(max(s, 0), dim)
    e = min(max(e, 0), dim)
    count = e > s ? (e - s - 1) / step + 1 : 0
  } else {
    s = min(max(s, 0), dim - 1)
    e = min(max(e, -1), dim - 1)
    let m = step == Int.min ? Int.max : -step
    count = s > e ? (s - e - 1) / m + 1 : 0
  }
  return SliceAxis(axis: axis, start: count > 0 ? s : 0, step: step, count: count)
}

/// The full per-axis geometry of a `Slice` of a tensor of `shape` (unsliced axes take all).
public func sliceGeometry(shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> [SliceAxis] {
  var out = shape.enumerated().map { SliceAxis(axis: $0, start: 0, step: 1, count: $1) }
  for e in try sliceEntries(rank: shape.count, starts: starts, ends: ends, axes: axes, steps: steps) {
    out[e.axis] = clampSlice(dim: shape[e.axis], axis: e.axis, start: e.start, end: e.end, step: e.step)
  }
  return out
}

// MARK: Pad

/// The full begin/end pads (2 x rank, ONNX order) of `Pad(data, pads, _, axes?)`.
public func padAmounts(rank: Int, pads: [Int], axes: [Int]?) throws -> [Int] {
  let axes = try normalizeAxes(axes ?? Array(0..<rank), rank: rank)
  guard pads.allSatisfy({ $0 >= -maxShapeOpElements && $0 <= maxShapeOpElements }) else {
    throw GraphError("pads \(pads) are out of range")
  }
  guard pads.count == 2 * axes.count else {
    throw GraphError("pads has \(pads.count) values, expected \(2 * axes.count)")
  }
  var full = [Int](repeating: 0, count: 2 * rank)
  for (i, a) in axes.enumerated() {
    full[a] = pads[i]
    full[a + rank] = pads[i + axes.count]
  }
  return full
}

// MARK: Range

/// The element count of `Range(start, limit, delta)`: max(ceil((limit - start) / delta), 0).
public func rangeCount(start: Double, limit: Double, delta: Double) throws -> Int {
  guard delta != 0 else { throw GraphError("Range delta must not be 0") }
  let n = ((limit - start) / delta).rounded(.up)
  guard n.isFinite else { throw GraphError("Range count is not finite") }
  return n <= 0 ? 0 : try checkedSize(n, what: "Range element count")
}

/// The element count of an integer `Range`, computed exactly.
public func rangeCount(start: Int, limit: Int, delta: Int) throws -> Int {
  guard delta != 0 else { throw GraphError("Range delta must not be 0") }
  let (span, o) = limit.subtractingReportingOverflow(start)
  guard !o else { throw GraphError("Range span overflows") }
  if (span > 0) != (delta > 0) || span == 0 { return 0 }
  let m = delta.magnitude, s = span.magnitude
  let n = (s - 1) / m + 1
  guard n <= UInt(maxShapeOpElements) else { throw GraphError("Range would produce \(n) elements") }
  return Int(n)
}

// MARK: Resize

/// The resolved geometry of `Resize`: output shape, per-axis scale used for coordinate mapping,
/// and the region of interest (begins then ends, full rank).
public struct ResizeGeometry: Equatable, Sendable {
  public var outputShape: [Int]
  public var scales: [Double]
  public var roi: [Double]
}

/// Reads `Resize`'s optional operands and attributes: `axes`, `keep_aspect_ratio_policy`.
/// `roi`, `scales` and `sizes` are nil when absent (an empty tensor counts as absent).
public func resizeGeometry(inputShape: [Int], roi: [Double]?, scales: [Double]?, sizes: [Int]?,
                           attributes: AttributeMap) throws -> ResizeGeometry {
  let rank = inputShape.count
  let axes = try resizeAxes(attributes, rank: rank)
  var outShape = inputShape
  var fullScales = [Double](repeating: 1, count: rank)
  switch (scales, sizes) {
  case (.some, .some): throw GraphError("Resize takes scales or sizes, not both")
  case (nil, nil): throw GraphError("Resize needs scales or sizes")
  case (let s?, nil):
    guard s.count == axes.count else { throw GraphError("scales has \(s.count) values for \(axes.count) axes") }
    for (i, a) in axes.enumerated() {
      guard s[i] > 0, s[i].isFinite else { throw GraphError("scale \(s[i]) must be positive") }
      fullScales[a] = s[i]
      outShape[a] = try checkedSize((s[i] * Double(inputShape[a])).rounded(.down), what: "Resize output dim")
    }
  case (nil, let z?):
    guard z.count == axes.count else { throw GraphError("sizes has \(z.count) values for \(axes.count) axes") }
    for (i, a) in axes.enumerated() {
      guard z[i] >= 0 else { throw GraphError("size \(z[i]) is negative") }
      guard inputShape[a] > 0 || z[i] == 0 else { throw GraphError("cannot resize an empty dim to \(z[i])") }
      fullScales[a] = inputShape[a] > 0 ? Double(z[i]) / Double(inputShape[a]) : 1
      outShape[a] = z[i]
    }
    let policy = try attributes.string("keep_aspect_ratio_policy", default: "stretch")
    if policy != "stretch" {
      guard policy == "not_larger" || policy == "not_smaller" else {
        throw GraphError("unknown keep_aspect_ratio_policy '\(policy)'")
      }
      let chosen = axes.map { fullScales[$0] }
      guard let scale = policy == "not_larger" ? chosen.min() : chosen.max() else { break }
      for a in axes {
        fullScales[a] = scale
        outShape[a] = try checkedSize((scale * Double(inputShape[a]) + 0.5).rounded(.down), what: "Resize output dim")
      }
    }
  }
  var fullRoi = [Double](repeating: 0, count: rank) + [Double](repeating: 1, count: rank)
  if let roi {
    guard roi.allSatisfy(\.isFinite) else { throw GraphError("roi values must be finite") }
    guard roi.count == 2 * axes.count else { throw GraphError("roi has \(roi.count) values for \(axes.count) axes") }
    for (i, a) in axes.enumerated() {
      fullRoi[a] = roi[i]
      fullRoi[a + rank] = roi[i + axes.count]
    }
  }
  try checkedResultDims(outShape.map { .fixed($0) })
  return ResizeGeometry(outputShape: outShape, scales: fullScales, roi: fullRoi)
}

/// The axes `Resize` acts on (attribute `axes`, default all), normalized.
public func resizeAxes(_ attributes: AttributeMap, rank: Int) throws -> [Int] {
  try normalizeAxes(attributes.ints("axes") ?? Array(0..<rank), rank: rank)
}
