// TensorKernels.swift - Data-movement and shape kernels. They copy bytes by `dtype.byteSize`,
// so every element type works; geometry comes from the helpers the schemas use.

import Foundation
import GraphIR

let tensorKernels: [String: Kernel] = [
  "onnx.Identity": copyKernel,
  "onnx.Reshape": copyKernel,
  "onnx.Flatten": copyKernel,
  "onnx.Squeeze": copyKernel,
  "onnx.Unsqueeze": copyKernel,
  "onnx.Dropout": dropoutKernel,
  "onnx.Transpose": transposeKernel,
  "onnx.Concat": concatKernel,
  "onnx.Split": splitKernel,
  "onnx.Slice": sliceKernel,
  "onnx.Gather": gatherKernel,
  "onnx.GatherElements": gatherElementsKernel,
  "onnx.Shape": shapeKernel,
  "onnx.Size": sizeKernel,
  "onnx.ConstantOfShape": constantOfShapeKernel,
  "onnx.Expand": expandKernel,
  "onnx.Tile": tileKernel,
  "onnx.Range": rangeKernel,
  "onnx.Trilu": triluKernel,
  "onnx.Pad": padKernel,
  "onnx.Resize": resizeKernel,
  "onnx.DepthToSpace": depthToSpaceKernel,
  "onnx.SpaceToDepth": spaceToDepthKernel,
  "onnx.ReverseSequence": reverseSequenceKernel,
]

// MARK: Helpers

/// Input `i`, which must be present.
func required(_ inputs: [Tensor?], _ i: Int) throws -> Tensor {
  guard i < inputs.count, let t = inputs[i] else { throw GraphError("missing required input \(i)") }
  return t
}

/// Integer contents of input `i` ([] when empty); throws when absent or not integer.
func requiredInts(_ inputs: [Tensor?], _ i: Int) throws -> [Int] {
  let t = try required(inputs, i)
  guard let v = t.intValues() else { throw GraphError("input \(i) must hold integers, not \(t.dtype.shortName)") }
  return v
}

/// Integer contents of optional input `i`; nil when absent or empty.
func optionalInts(_ inputs: [Tensor?], _ i: Int) throws -> [Int]? {
  guard i < inputs.count, let t = inputs[i], t.count > 0 else { return nil }
  return try requiredInts(inputs, i)
}

/// Guards a kernel against a result allocated with a shape other than the one it computes.
func expectShape(_ t: Tensor, _ shape: [Int]) throws {
  guard t.shape == shape else { throw GraphError("result has shape \(t.shape), expected \(shape)") }
}

/// Copies `src`'s bytes into `dst`, which must have the same byte count.
func copyBytes(_ src: Tensor, to dst: Tensor) throws {
  guard src.byteCount == dst.byteCount else {
    throw GraphError("result holds \(dst.byteCount) bytes, input \(src.byteCount)")
  }
  if src.rawPointer != dst.rawPointer { memmove(dst.rawPointer, src.rawPointer, src.byteCount) }
}

private func product<C: Collection>(_ dims: C) -> Int where C.Element == Int { dims.reduce(1, *) }

// MARK: Byte-preserving ops

/// Ops whose result may be planned as a view of operand 0: `copyBytes` copies nothing when
/// the result already is the operand's bytes.
let viewOps: Set<String> = ["onnx.Identity", "onnx.Reshape", "onnx.Flatten", "onnx.Squeeze", "onnx.Unsqueeze"]

/// Reshape, Flatten, Squeeze, Unsqueeze, Identity: the bytes do not move.
private let copyKernel = Kernel { _ in
  { inputs, outputs in try copyBytes(try required(inputs, 0), to: outputs[0]) }
}

/// Inference-mode Dropout: identity, and an all-true mask when asked for. Training mode with a
/// non-zero ratio would need random masks; the schema rejects it when `training_mode` is a
/// constant, and the kernel when it arrives as a run-time input.
private let dropoutKernel = Kernel { _ in
  { inputs, outputs in
    if inputs.count > 2, let mode = inputs[2], mode.count == 1, mode.double(at: 0) != 0 {
      let ratio = inputs[1].flatMap { $0.count == 1 ? $0.double(at: 0) : nil } ?? 0.5
      guard ratio == 0 else { throw GraphError("training-mode Dropout is not supported (inference only)") }
    }
    try copyBytes(try required(inputs, 0), to: outputs[0])
    if outputs.count > 1 { memset(outputs[1].rawPointer, 1, outputs[1].byteCount) }
  }
}

// MARK: Strided copies

private let transposeKernel = Kernel { ctx in
  let perm = try ctx.attributes.ints("perm")
  return { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0]
    let p = try transposePermutation(perm, rank: x.rank)
    try expectShape(y, p.map { x.shape[$0] })
    let xs = contiguousStrides(x.shape)
    stridedCopy(width: x.dtype.byteSize, shape: y.shape, dst: y.rawPointer, dstStrides: contiguousStrides(y.shape),
                src: x.rawPointer, srcStrides: p.map { xs[$0] })
  }
}

private let concatKernel = Kernel { ctx in
  guard let rawAxis = try ctx.attributes.int("axis") else { throw GraphError("Concat needs an axis attribute") }
  return { inputs, outputs in
    let y = outputs[0], w = y.dtype.byteSize
    let axis = try tensorAxis(rawAxis, rank: y.rank)
    let ys = contiguousStrides(y.shape)
    var offset = 0
    for i in inputs.indices {
      let x = try required(inputs, i)
      var expected = y.shape
      expected[axis] = x.rank == y.rank ? x.shape[axis] : -1
      guard x.shape == expected, offset + x.shape[axis] <= y.shape[axis] else {
        throw GraphError("Concat input \(i) has shape \(x.shape), which does not fit result \(y.shape)")
      }
      stridedCopy(width: w, shape: x.shape, dst: y.rawPointer + offset * ys[axis] * w, dstStrides: ys,
                  src: x.rawPointer, srcStrides: contiguousStrides(x.shape))
      offset += x.shape[axis]
    }
  }
}

private let splitKernel = Kernel { ctx in
  let rawAxis = try ctx.attributes.int("axis", default: 0)
  return { inputs, outputs in
    let x = try required(inputs, 0), w = x.dtype.byteSize
    let axis = try tensorAxis(rawAxis, rank: x.rank)
    let sizes = try splitSizes(dim: x.shape[axis], split: try optionalInts(inputs, 1), count: outputs.count)
    let xs = contiguousStrides(x.shape)
    var offset = 0
    for (y, n) in zip(outputs, sizes) {
      var expected = x.shape
      expected[axis] = n
      try expectShape(y, expected)
      stridedCopy(width: w, shape: y.shape, dst: y.rawPointer, dstStrides: contiguousStrides(y.shape),
                  src: x.rawPointer + offset * xs[axis] * w, srcStrides: xs)
      offset += n
    }
  }
}

private let sliceKernel = Kernel { _ in
  { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0], w = x.dtype.byteSize
    let g = try sliceGeometry(shape: x.shape, starts: try requiredInts(inputs, 1), ends: try requiredInts(inputs, 2),
                              axes: try optionalInts(inputs, 3), steps: try optionalInts(inputs, 4))
    try expectShape(y, g.map(\.count))
    let xs = contiguousStrides(x.shape)
    let offset = g.reduce(0) { $0 + $1.start * xs[$1.axis] }
    stridedCopy(width: w, shape: y.shape, dst: y.rawPointer, dstStrides: contiguousStrides(y.shape),
                src: x.rawPointer + offset * w, srcStrides: g.map { xs[$0.axis] * $0.step })
  }
}

private let expandKernel = Kernel { _ in
  { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0]
    let lead = y.rank - x.rank
    guard lead >= 0 else { throw GraphError("Expand result rank \(y.rank) is below input rank \(x.rank)") }
    let xs = contiguousStrides(x.shape)
    let srcStrides = try (0..<y.rank).map { i -> Int in
      let j = i - lead
      if j < 0 || x.shape[j] == 1 { return 0 }
      guard x.shape[j] == y.shape[i] else { throw GraphError("cannot expand \(x.shape) to \(y.shape)") }
      return xs[j]
    }
    stridedCopy(width: x.dtype.byteSize, shape: y.shape, dst: y.rawPointer, dstStrides: contiguousStrides(y.shape),
                src: x.rawPointer, srcStrides: srcStrides)
  }
}

private let tileKernel = Kernel { _ in
  { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0]
    let reps = try requiredInts(inputs, 1)
    guard reps.count == x.rank else { throw GraphError("Tile repeats has \(reps.count) values for rank \(x.rank)") }
    try expectShape(y, try zip(x.shape, reps).map { n, r in
      let (p, o) = n.multipliedReportingOverflow(by: r)
      guard !o, r >= 0 else { throw GraphError("Tile repeats \(reps) are out of range") }
      return p
    })
    // View the result as [r0, n0, r1, n1, ...]: repeat index k reads the source with stride 0.
    let xs = contiguousStrides(x.shape), ys = contiguousStrides(y.shape)
    var shape: [Int] = [], dst: [Int] = [], src: [Int] = []
    for d in 0..<x.rank {
      shape += [reps[d], x.shape[d]]
      dst += [x.shape[d] * ys[d], ys[d]]
      src += [0, xs[d]]
    }
    stridedCopy(width: x.dtype.byteSize, shape: shape, dst: y.rawPointer, dstStrides: dst, src: x.rawPointer, srcStrides: src)
  }
}

/// DepthToSpace and SpaceToDepth are a 6-D transpose: `srcOrder` lists which dim of the
/// input's 6-D view each dim of the result's 6-D view reads.
private func depthSpaceKernel(toSpace: Bool) -> Kernel {
  Kernel { ctx in
    guard let b = try ctx.attributes.int("blocksize"), b > 0, b <= 1 << 20 else { throw GraphError("blocksize must be a positive integer") }
    let crd = try ctx.attributes.string("mode", default: "DCR") == "CRD"
    return { inputs, outputs in
      let x = try required(inputs, 0), y = outputs[0]
      guard x.rank == 4, y.rank == 4 else { throw GraphError("input must have rank 4") }
      let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
      let view: [Int], outView: [Int], order: [Int]
      if toSpace {
        guard c % (b * b) == 0 else { throw GraphError("channels \(c) are not divisible by \(b * b)") }
        let cc = c / (b * b)
        view = crd ? [n, cc, b, b, h, w] : [n, b, b, cc, h, w]
        outView = [n, cc, h, b, w, b]
        order = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2]
      } else {
        guard h % b == 0, w % b == 0 else { throw GraphError("spatial dims \(h)x\(w) are not divisible by \(b)") }
        view = [n, c, h / b, b, w / b, b]
        outView = [n, b, b, c, h / b, w / b]
        order = [0, 3, 5, 1, 2, 4]
      }
      guard checkedElementCount(outView) == y.count else { throw GraphError("result shape \(y.shape) does not match") }
      let vs = contiguousStrides(view)
      stridedCopy(width: x.dtype.byteSize, shape: outView, dst: y.rawPointer, dstStrides: contiguousStrides(outView),
                  src: x.rawPointer, srcStrides: order.map { vs[$0] })
    }
  }
}
private let depthToSpaceKernel = depthSpaceKernel(toSpace: true)
private let spaceToDepthKernel = depthSpaceKernel(toSpace: false)

/// Reverses the first `sequence_lens[b]` steps of each batch entry; later steps are copied.
private let reverseSequenceKernel = Kernel { ctx in
  let (batchAxis, timeAxis) = try reverseSequenceAxes(ctx.attributes)
  return { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0]
    guard x.rank >= 2 else { throw GraphError("ReverseSequence input must have rank at least 2") }
    try expectShape(y, x.shape)
    let lens = try requiredInts(inputs, 1)
    let steps = x.shape[timeAxis], batches = x.shape[batchAxis]
    guard lens.count == batches else { throw GraphError("sequence_lens has \(lens.count) values for a batch of \(batches)") }
    let xs = contiguousStrides(x.shape), w = x.dtype.byteSize
    let block = product(x.shape[2...]) * w
    for (b, n) in lens.enumerated() {
      guard n >= 0 && n <= steps else { throw GraphError("sequence length \(n) is out of range for \(steps) steps") }
      for t in 0..<steps {
        let from = t < n ? n - 1 - t : t
        memcpy(y.rawPointer + (b * xs[batchAxis] + t * xs[timeAxis]) * w,
               x.rawPointer + (b * xs[batchAxis] + from * xs[timeAxis]) * w, block)
      }
    }
  }
}

// MARK: Gathers

/// Normalizes gather indices against a dim of size `n`, or throws on one out of range.
private func checkedIndices(_ t: Tensor, dim n: Int, op: String) throws -> [Int] {
  guard let raw = t.intValues() else { throw GraphError("\(op) indices must be integers") }
  return try raw.map { i in
    let j = i < 0 ? i + n : i
    guard j >= 0 && j < n else { throw GraphError("\(op) index \(i) is out of range for an axis of size \(n)") }
    return j
  }
}

private let gatherKernel = Kernel { ctx in
  let rawAxis = try ctx.attributes.int("axis", default: 0)
  return { inputs, outputs in
    let x = try required(inputs, 0), indices = try required(inputs, 1), y = outputs[0]
    let axis = try tensorAxis(rawAxis, rank: x.rank)
    try expectShape(y, Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...]))
    let n = x.shape[axis]
    let idx = try checkedIndices(indices, dim: n, op: "Gather")
    let outer = product(x.shape[..<axis]), inner = product(x.shape[(axis + 1)...])
    let w = x.dtype.byteSize, block = inner * w
    guard block > 0, !idx.isEmpty else { return }
    for o in 0..<outer {
      let src = x.rawPointer + o * n * block, dst = y.rawPointer + o * idx.count * block
      switch (inner, w) {
      case (1, 4): gatherScalars(UInt32.self, idx, src, dst)
      case (1, 8): gatherScalars(UInt64.self, idx, src, dst)
      default:
        for (k, j) in idx.enumerated() { memcpy(dst + k * block, src + j * block, block) }
      }
    }
  }
}

@inline(__always)
private func gatherScalars<T>(_: T.Type, _ idx: [Int], _ src: UnsafeMutableRawPointer, _ dst: UnsafeMutableRawPointer) {
  let s = src.assumingMemoryBound(to: T.self), d = dst.assumingMemoryBound(to: T.self)
  for (k, j) in idx.enumerated() { d[k] = s[j] }
}

private let gatherElementsKernel = Kernel { ctx in
  let rawAxis = try ctx.attributes.int("axis", default: 0)
  return { inputs, outputs in
    let x = try required(inputs, 0), indices = try required(inputs, 1), y = outputs[0]
    let rank = x.rank
    let axis = try tensorAxis(rawAxis, rank: rank)
    guard indices.rank == rank else { throw GraphError("GatherElements indices have rank \(indices.rank), data rank \(rank)") }
    for d in 0..<rank where d != axis && indices.shape[d] > x.shape[d] {
      throw GraphError("GatherElements indices dim \(d) (\(indices.shape[d])) exceeds data dim \(x.shape[d])")
    }
    try expectShape(y, indices.shape)
    let idx = try checkedIndices(indices, dim: x.shape[axis], op: "GatherElements")
    let xs = contiguousStrides(x.shape), w = x.dtype.byteSize
    var counter = [Int](repeating: 0, count: rank)
    var base = 0  // source offset of the current position, without the axis term
    for k in 0..<idx.count {
      memcpy(y.rawPointer + k * w, x.rawPointer + (base + idx[k] * xs[axis]) * w, w)
      var d = rank - 1
      while d >= 0 {
        counter[d] += 1
        if d != axis { base += xs[d] }
        if counter[d] < indices.shape[d] { break }
        if d != axis { base -= xs[d] * indices.shape[d] }
        counter[d] = 0
        d -= 1
      }
    }
  }
}

// MARK: Shape-valued and generated tensors

private let shapeKernel = Kernel { ctx in
  let attrs = ctx.attributes
  return { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0]
    let r = try shapeOpRange(rank: x.rank, attributes: attrs)
    try expectShape(y, [r.count])
    let p = y.pointer(as: Int64.self)
    for (k, d) in r.enumerated() { p[k] = Int64(x.shape[d]) }
  }
}

private let sizeKernel = Kernel { _ in
  { inputs, outputs in
    let x = try required(inputs, 0)
    try expectShape(outputs[0], [])
    outputs[0].pointer(as: Int64.self).pointee = Int64(x.count)
  }
}

private let constantOfShapeKernel = Kernel { ctx in
  let value = try constantOfShapeValue(ctx.attributes)
  return { _, outputs in
    let y = outputs[0]
    guard y.dtype == value.dtype else { throw GraphError("result type differs from the value attribute") }
    fillRow(width: y.dtype.byteSize, count: y.count, dst: y.rawPointer, fill: value.rawPointer)
  }
}

private let rangeKernel = Kernel { _ in
  { inputs, outputs in
    let s = try required(inputs, 0), l = try required(inputs, 1), d = try required(inputs, 2), y = outputs[0]
    try expectShape(y, [try rangeCount(start: s, limit: l, delta: d)])
    let n = y.count
    switch y.dtype {
    case .float32:
      let a = s.pointer(as: Float.self).pointee, b = d.pointer(as: Float.self).pointee
      let p = y.pointer(as: Float.self)
      for i in 0..<n { p[i] = a + Float(i) * b }
    case .float64:
      let a = s.pointer(as: Double.self).pointee, b = d.pointer(as: Double.self).pointee
      let p = y.pointer(as: Double.self)
      for i in 0..<n { p[i] = a + Double(i) * b }
    case .int64: fillIntRange(Int64.self, s, d, y)
    case .int32: fillIntRange(Int32.self, s, d, y)
    case .int16: fillIntRange(Int16.self, s, d, y)
    case .int8: fillIntRange(Int8.self, s, d, y)
    case .uint64: fillIntRange(UInt64.self, s, d, y)
    case .uint32: fillIntRange(UInt32.self, s, d, y)
    case .uint16: fillIntRange(UInt16.self, s, d, y)
    case .uint8: fillIntRange(UInt8.self, s, d, y)
    default:
      let a = s.double(at: 0), b = d.double(at: 0)
      for i in 0..<n { storeScalar(a + Double(i) * b, y.dtype, y.rawPointer, i) }
    }
  }
}

/// start + i * delta in wrapping integer arithmetic (the count keeps it inside [start, limit)).
private func fillIntRange<T: FixedWidthInteger>(_: T.Type, _ s: Tensor, _ d: Tensor, _ y: Tensor) {
  let a = s.intValues()?.first ?? 0, b = d.intValues()?.first ?? 0
  let p = y.pointer(as: T.self)
  for i in 0..<y.count { p[i] = T(truncatingIfNeeded: a &+ i &* b) }
}

private let triluKernel = Kernel { ctx in
  let upper = try ctx.attributes.int("upper", default: 1) != 0
  return { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0]
    guard x.rank >= 2 else { throw GraphError("Trilu input must have rank at least 2") }
    try copyBytes(x, to: y)
    let rows = x.shape[x.rank - 2], cols = x.shape[x.rank - 1], w = x.dtype.byteSize
    guard rows > 0, cols > 0 else { return }
    let rawK = try optionalInts(inputs, 1)?.first ?? 0
    let k = min(max(rawK, -(rows + cols)), rows + cols)
    let batch = x.count / (rows * cols)
    for m in 0..<batch {
      for i in 0..<rows {
        let row = y.rawPointer + ((m * rows + i) * cols) * w
        // Zero the columns outside the kept triangle: j < i + k (upper) or j > i + k (lower).
        let range = upper ? 0..<min(max(i + k, 0), cols) : min(max(i + k + 1, 0), cols)..<cols
        if !range.isEmpty { memset(row + range.lowerBound * w, 0, range.count * w) }
      }
    }
  }
}

// MARK: Pad

private let padKernel = Kernel { ctx in
  let mode = try ctx.attributes.string("mode", default: "constant")
  guard padModes.contains(mode) else { throw GraphError("unknown Pad mode '\(mode)'") }
  return { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0], rank = x.rank
    let pads = try padAmounts(rank: rank, pads: try requiredInts(inputs, 1), axes: try optionalInts(inputs, 3))
    try expectShape(y, try (0..<rank).map { try checkedSum([x.shape[$0], pads[$0], pads[$0 + rank]], what: "padded dim") })
    let tables = try (0..<rank).map { a -> [Int] in
      let n = x.shape[a], before = pads[a]
      if y.shape[a] > 0 && n == 0 && mode != "constant" { throw GraphError("cannot \(mode)-pad an empty dim") }
      return (0..<y.shape[a]).map { o in
        let s = o - before
        if s >= 0 && s < n { return s }
        switch mode {
        case "edge": return min(max(s, 0), n - 1)
        case "wrap": return ((s % n) + n) % n
        case "reflect":
          if n == 1 { return 0 }
          let period = 2 * (n - 1)
          let m = ((s % period) + period) % period
          return m < n ? m : period - m
        default: return -1
        }
      }
    }
    var fill = [UInt8](repeating: 0, count: max(x.dtype.byteSize, 1))
    if inputs.count > 2, let c = inputs[2], c.count > 0 {
      guard c.dtype == x.dtype else { throw GraphError("Pad constant_value type differs from the data type") }
      fill.withUnsafeMutableBytes { $0.baseAddress?.copyMemory(from: c.rawPointer, byteCount: x.dtype.byteSize) }
    }
    fill.withUnsafeBytes { f in
      guard let fp = f.baseAddress else { return }
      tableCopy(width: x.dtype.byteSize, inShape: x.shape, src: x.rawPointer, outShape: y.shape,
                dst: y.rawPointer, tables: tables, fill: fp)
    }
  }
}
