// Broadcast.swift - The strided broadcasting driver shared by every binary, ternary and variadic element-wise kernel.

import GraphIR

/// How to walk up to three contiguous operands broadcast against a contiguous output.
///
/// The output shape is collapsed: size-1 dims are dropped and adjacent dims merge when every
/// operand walks them as one, so equal shapes become a single row and a scalar operand is a
/// stride-0 row. Inner strides are therefore 0 (broadcast) or 1 (contiguous), which the row
/// loops specialize on.
struct BroadcastPlan {
  /// Collapsed output dims, innermost last. Empty means one element.
  private(set) var dims: [Int] = []
  /// Per operand, the element stride of each collapsed dim (0 where it broadcasts).
  private(set) var strides: [[Int]] = [[], [], []]
  /// Total output elements.
  let count: Int

  /// Throws when an operand cannot be broadcast to `output` (eval's guard against a runtime
  /// that hands over inconsistent shapes).
  init(output: [Int], operands: [[Int]]) throws {
    precondition(operands.count <= 3, "BroadcastPlan handles at most three operands")
    guard let n = checkedElementCount(output) else { throw GraphError("invalid output shape \(output)") }
    count = n
    let rank = output.count
    var full: [[Int]] = []
    for shape in operands {
      guard shape.count <= rank else { throw GraphError("operand shape \(shape) does not broadcast to \(output)") }
      let aligned = [Int](repeating: 1, count: rank - shape.count) + shape
      var s = contiguousStrides(aligned)
      for d in 0..<rank {
        if aligned[d] == 1 { s[d] = 0 } else if aligned[d] != output[d] {
          throw GraphError("operand shape \(shape) does not broadcast to \(output)")
        }
      }
      full.append(s)
    }
    while full.count < 3 { full.append([Int](repeating: 0, count: rank)) }
    guard n > 0 else { return }
    for d in 0..<rank where output[d] != 1 {
      if let last = dims.indices.last,
         (0..<3).allSatisfy({ strides[$0][last] == full[$0][d] * output[d] }) {
        dims[last] *= output[d]
        for k in 0..<3 { strides[k][last] = full[k][d] }
      } else {
        dims.append(output[d])
        for k in 0..<3 { strides[k].append(full[k][d]) }
      }
    }
  }

  /// Length of one contiguous output row, and how many rows there are.
  var rowLength: Int { dims.last ?? 1 }
  var rowCount: Int { count == 0 ? 0 : count / rowLength }

  /// Calls `body(o0, o1, o2, n, inner)` for each contiguous output row in `rows` (all by
  /// default): the operands' element offsets at the row start, the row length, and the
  /// operands' strides along the row. Rows come in output order, so row `i` starts at output
  /// offset `i * n`.
  @inline(__always)
  func forEachRow(rows: Range<Int>? = nil, _ body: (_ o0: Int, _ o1: Int, _ o2: Int, _ n: Int, _ inner: (Int, Int, Int)) -> Void) {
    guard count > 0 else { return }
    let rows = rows ?? 0..<rowCount
    guard !rows.isEmpty else { return }
    guard let r = dims.indices.last else { body(0, 0, 0, 1, (0, 0, 0)); return }
    let n = dims[r]
    let inner = (strides[0][r], strides[1][r], strides[2][r])
    if r == 0 { body(0, 0, 0, n, inner); return }
    // Start at row `rows.lowerBound`: its multi-index over the outer dims, innermost last.
    var index = [Int](repeating: 0, count: r)
    var o0 = 0, o1 = 0, o2 = 0
    var rest = rows.lowerBound
    for d in stride(from: r - 1, through: 0, by: -1) {
      index[d] = rest % dims[d]
      rest /= dims[d]
      o0 += index[d] * strides[0][d]; o1 += index[d] * strides[1][d]; o2 += index[d] * strides[2][d]
    }
    var remaining = rows.count
    while true {
      body(o0, o1, o2, n, inner)
      remaining -= 1
      if remaining == 0 { return }
      var d = r - 1
      while d >= 0 {
        index[d] += 1
        o0 += strides[0][d]; o1 += strides[1][d]; o2 += strides[2][d]
        if index[d] < dims[d] { break }
        o0 -= strides[0][d] * dims[d]; o1 -= strides[1][d] * dims[d]; o2 -= strides[2][d] * dims[d]
        index[d] = 0
        d -= 1
      }
      if d < 0 { return }
    }
  }
}

/// `out = f(a, b)` with multidirectional broadcasting. `out` must already have the broadcast
/// shape (the runtime allocates it from inference). Specialized per call site: `f` inlines.
/// Large outputs are split across threads by rows, or within the row when there is only one.
/// Element i of an operand with the output's shape is read before element i of `out` is
/// written, so `out` may be such an operand (in-place plans rely on this).
@inline(__always)
func broadcastBinary<A, B, R>(_ a: Tensor, _ b: Tensor, _ out: Tensor, _ f: (A, B) -> R) throws {
  let plan = try BroadcastPlan(output: out.shape, operands: [a.shape, b.shape])
  let pa = UnsafePointer(a.pointer(as: A.self)), pb = UnsafePointer(b.pointer(as: B.self))
  let po = out.pointer(as: R.self)
  @inline(__always) func row(_ x: UnsafePointer<A>, _ y: UnsafePointer<B>, _ o: UnsafeMutablePointer<R>, _ n: Int, _ inner: (Int, Int, Int)) {
    switch (inner.0, inner.1) {
    case (1, 1): for i in 0..<n { o[i] = f(x[i], y[i]) }
    case (0, 1): let s = x[0]; for i in 0..<n { o[i] = f(s, y[i]) }
    case (1, 0): let s = y[0]; for i in 0..<n { o[i] = f(x[i], s) }
    default: let v = f(x[0], y[0]); for i in 0..<n { o[i] = v }
    }
  }
  let rows = plan.rowCount, n = plan.rowLength
  if rows == 1 {
    plan.forEachRow { oa, ob, _, n, inner in
      parallelChunks(n, minChunk: elementwiseGrain) { r in
        let s0 = inner.0 * r.lowerBound, s1 = inner.1 * r.lowerBound
        row(pa + oa + s0, pb + ob + s1, po + r.lowerBound, r.count, inner)
      }
    }
    return
  }
  parallelChunks(rows, minChunk: max(1, elementwiseGrain / max(n, 1))) { chunk in
    var o = po + chunk.lowerBound * n
    plan.forEachRow(rows: chunk) { oa, ob, _, n, inner in
      row(pa + oa, pb + ob, o, n, inner)
      o += n
    }
  }
}

/// `out = f(a, b, c)` with three-way broadcasting (Where).
@inline(__always)
func broadcastTernary<A, B, C, R>(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ out: Tensor, _ f: (A, B, C) -> R) throws {
  let plan = try BroadcastPlan(output: out.shape, operands: [a.shape, b.shape, c.shape])
  let pa = UnsafePointer(a.pointer(as: A.self)), pb = UnsafePointer(b.pointer(as: B.self))
  let pc = UnsafePointer(c.pointer(as: C.self))
  var po = out.pointer(as: R.self)
  plan.forEachRow { oa, ob, oc, n, inner in
    let x = pa + oa, y = pb + ob, z = pc + oc
    if inner == (1, 1, 1) {
      for i in 0..<n { po[i] = f(x[i], y[i], z[i]) }
    } else {
      for i in 0..<n { po[i] = f(x[i &* inner.0], y[i &* inner.1], z[i &* inner.2]) }
    }
    po += n
  }
}

/// `out = f(a)` over contiguous tensors of equal element count, split across threads when
/// large. `out` may be `a` (each element is read before it is written).
@inline(__always)
func mapUnary<A, R>(_ a: Tensor, _ out: Tensor, _ f: (A) -> R) throws {
  guard a.count == out.count else { throw GraphError("input has \(a.count) elements, output \(out.count)") }
  let pa = UnsafePointer(a.pointer(as: A.self))
  let po = out.pointer(as: R.self)
  parallelChunks(out.count, minChunk: elementwiseGrain) { r in
    for i in r { po[i] = f(pa[i]) }
  }
}

/// Copies `src` broadcast into `out` (element width only matters): the single-input case of
/// the variadic ops, and Expand-like uses.
func broadcastCopy(_ src: Tensor, into out: Tensor) throws {
  func run<T>(_: T.Type) throws { try broadcastBinary(src, src, out) { (x: T, _: T) in x } }
  switch src.dtype.byteSize {
  case 1: try run(UInt8.self)
  case 2: try run(UInt16.self)
  case 4: try run(UInt32.self)
  case 8: try run(UInt64.self)
  default: throw GraphError("cannot copy elements of type \(src.dtype.shortName)")
  }
}
