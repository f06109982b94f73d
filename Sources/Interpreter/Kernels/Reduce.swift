// Reduce.swift - The Reduce family (axes as an optional input), ArgMax/ArgMin and CumSum.

import GraphIR

let reduceKernels: [String: Kernel] = {
  var table: [String: Kernel] = [
    "onnx.ReduceSum": reduceKernel("ReduceSum"),
    "onnx.ReduceProd": reduceKernel("ReduceProd"),
    "onnx.ReduceMax": reduceKernel("ReduceMax"),
    "onnx.ReduceMin": reduceKernel("ReduceMin"),
    "onnx.ReduceMean": reduceKernel("ReduceMean"),
    "onnx.ReduceL1": reduceKernel("ReduceL1"),
    "onnx.ReduceSumSquare": reduceKernel("ReduceSumSquare"),
  ]
  table["onnx.ReduceL2"] = floatReduceKernel("ReduceL2")
  table["onnx.ReduceLogSum"] = floatReduceKernel("ReduceLogSum")
  table["onnx.ReduceLogSumExp"] = floatReduceKernel("ReduceLogSumExp")
  table["onnx.ArgMax"] = argKernel(isMax: true)
  table["onnx.ArgMin"] = argKernel(isMax: false)
  table["onnx.CumSum"] = cumSumKernel
  return table
}()

// MARK: Reduction operators

/// One reduction: fold `combine` from `initial`, then `finish` with the number of reduced
/// elements. `aux` is a per-output value (the running maximum for LogSumExp; unused elsewhere).
protocol ReduceOp {
  associatedtype T: NNNumber
  static var initial: T { get }
  static func combine(_ acc: T, _ x: T, _ aux: T) -> T
  static func finish(_ acc: T, count: Int, _ aux: T) -> T
  /// True when `aux` must hold the maximum of each output's inputs.
  static var needsMax: Bool { get }
}

extension ReduceOp {
  static var needsMax: Bool { false }
  @inline(__always) static func finish(_ acc: T, count: Int, _ aux: T) -> T { acc }
}

struct SumOp<T: NNNumber>: ReduceOp {
  static var initial: T { .nnZero }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { T.nnAdd(a, x) }
}
struct ProdOp<T: NNNumber>: ReduceOp {
  static var initial: T { .nnOne }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { T.nnMul(a, x) }
}
struct MaxOp<T: NNNumber>: ReduceOp {
  static var initial: T { .nnLowest }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { x > a ? x : a }
}
struct MinOp<T: NNNumber>: ReduceOp {
  static var initial: T { .nnHighest }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { x < a ? x : a }
}
struct MeanOp<T: NNNumber>: ReduceOp {
  static var initial: T { .nnZero }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { T.nnAdd(a, x) }
  @inline(__always) static func finish(_ a: T, count: Int, _: T) -> T { T(nnDouble: a.nnDouble / Double(count)) }
}
struct L1Op<T: NNNumber>: ReduceOp {
  static var initial: T { .nnZero }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { T.nnAdd(a, x.nnMagnitude) }
}
struct SumSquareOp<T: NNNumber>: ReduceOp {
  static var initial: T { .nnZero }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { T.nnAdd(a, T.nnMul(x, x)) }
}
struct L2Op<T: NNFloat>: ReduceOp {
  static var initial: T { 0 }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { a + x * x }
  @inline(__always) static func finish(_ a: T, count: Int, _: T) -> T { T.nnSqrt(a) }
}
struct LogSumOp<T: NNFloat>: ReduceOp {
  static var initial: T { 0 }
  @inline(__always) static func combine(_ a: T, _ x: T, _: T) -> T { a + x }
  @inline(__always) static func finish(_ a: T, count: Int, _: T) -> T { T.nnLog(a) }
}
struct LogSumExpOp<T: NNFloat>: ReduceOp {
  static var initial: T { 0 }
  static var needsMax: Bool { true }
  @inline(__always) static func combine(_ a: T, _ x: T, _ m: T) -> T { a + T.nnExp(x - m) }
  @inline(__always) static func finish(_ a: T, count: Int, _ m: T) -> T { T.nnLog(a) + m }
}

// MARK: The reduction engine

/// The input shape with unit dims dropped and neighbouring dims of the same kind (kept or
/// reduced) merged, so the loops run over few, long, contiguous runs.
struct ReduceLayout {
  var dims: [Int] = []
  var reduced: [Bool] = []
  /// Output stride of each merged dim (0 for reduced dims).
  var outStrides: [Int] = []
  var outCount = 1
  var reduceCount = 1

  init(shape: [Int], axes: [Int]) {
    for (i, d) in shape.enumerated() {
      let r = axes.contains(i)
      if r { reduceCount *= d } else { outCount *= d }
      if d == 1 { continue }
      if let last = reduced.last, last == r { dims[dims.count - 1] *= d } else { dims.append(d); reduced.append(r) }
    }
    outStrides = Array(repeating: 0, count: dims.count)
    var s = 1
    for i in stride(from: dims.count - 1, through: 0, by: -1) where !reduced[i] {
      outStrides[i] = s
      s *= dims[i]
    }
  }
}

/// Reduces `x` into `out` (outCount values) with `Op`; `aux` holds outCount values or is nil.
func runReduce<Op: ReduceOp>(_: Op.Type, _ x: UnsafePointer<Op.T>, _ out: UnsafeMutablePointer<Op.T>, _ aux: UnsafePointer<Op.T>?, _ layout: ReduceLayout) {
  typealias T = Op.T
  out.update(repeating: Op.initial, count: layout.outCount)
  let zero = [T.nnZero]
  zero.withUnsafeBufferPointer { zp in
    let auxAt = { (o: Int) -> T in aux?[o] ?? zp[0] }
    let r = layout.dims.count
    if layout.outCount > 0 && layout.reduceCount > 0 {
      if r == 0 {
        out[0] = Op.combine(out[0], x[0], auxAt(0))
      } else {
        let inner = layout.dims[r - 1], innerReduced = layout.reduced[r - 1]
        var index = [Int](repeating: 0, count: r - 1)
        var o = 0, off = 0
        let outerCount = product(layout.dims[..<(r - 1)])
        for _ in 0..<outerCount {
          if innerReduced {
            var a = out[o]
            let m = auxAt(o)
            for i in 0..<inner { a = Op.combine(a, x[off + i], m) }
            out[o] = a
          } else if let aux {
            for i in 0..<inner { out[o + i] = Op.combine(out[o + i], x[off + i], aux[o + i]) }
          } else {
            for i in 0..<inner { out[o + i] = Op.combine(out[o + i], x[off + i], zp[0]) }
          }
          off += inner
          // Advance the odometer over the outer dims, moving the output offset with it.
          var d = r - 2
          while d >= 0 {
            index[d] += 1
            o += layout.outStrides[d]
            if index[d] < layout.dims[d] { break }
            o -= layout.outStrides[d] * layout.dims[d]
            index[d] = 0
            d -= 1
          }
        }
      }
    }
    for i in 0..<layout.outCount { out[i] = Op.finish(out[i], count: layout.reduceCount, auxAt(i)) }
  }
}

/// The eval of one Reduce op for element type `Op.T`.
private func reduceEval<Op: ReduceOp>(_: Op.Type, _ attrs: AttributeMap) throws -> KernelEval {
  let noop = try attrs.int("noop_with_empty_axes", default: 0) != 0
  return { inputs, outputs in
    guard let x = inputs[0] else { throw GraphError("missing required input") }
    let axesInput = inputs.count > 1 ? inputs[1] : nil
    guard let axesValues = axesInput.map({ $0.intValues() }) ?? [] else { throw GraphError("axes must hold integers") }
    let axes = try resolveReduceAxes(axesValues, rank: x.rank, noopWithEmptyAxes: noop)
    let y = outputs[0]
    if axes.isEmpty && noop {
      guard y.count == x.count else { throw GraphError("result shape \(y.shape) does not match the input") }
      y.rawPointer.copyMemory(from: x.rawPointer, byteCount: x.byteCount)
      return
    }
    let layout = ReduceLayout(shape: x.shape, axes: axes)
    guard y.count == layout.outCount else { throw GraphError("result shape \(y.shape) does not match the reduction") }
    let src = UnsafePointer(x.pointer(as: Op.T.self)), dst = y.pointer(as: Op.T.self)
    if Op.needsMax {
      let maxes = UnsafeMutablePointer<Op.T>.allocate(capacity: max(layout.outCount, 1))
      defer { maxes.deallocate() }
      runReduce(MaxOp<Op.T>.self, src, maxes, nil, layout)
      // An all -inf (or empty) row would give -inf - -inf = NaN; shift by 0 there instead.
      for i in 0..<layout.outCount where maxes[i] == Op.T.nnLowest || maxes[i] == Op.T.nnHighest { maxes[i] = .nnZero }
      runReduce(Op.self, src, dst, maxes, layout)
    } else {
      runReduce(Op.self, src, dst, nil, layout)
    }
  }
}

/// Builds the Reduce kernel `name` for every element type it supports.
private func reduceKernel(_ name: String) -> Kernel {
  Kernel { ctx in
    let t = try ctx.dtype(0)
    func make<T: NNNumber>(_: T.Type) throws -> KernelEval {
      // The operator for T is one of the generic structs above, specialized here.
      switch name {
      case "ReduceSum": return try reduceEval(SumOp<T>.self, ctx.attributes)
      case "ReduceProd": return try reduceEval(ProdOp<T>.self, ctx.attributes)
      case "ReduceMax": return try reduceEval(MaxOp<T>.self, ctx.attributes)
      case "ReduceMin": return try reduceEval(MinOp<T>.self, ctx.attributes)
      case "ReduceMean": return try reduceEval(MeanOp<T>.self, ctx.attributes)
      case "ReduceL1": return try reduceEval(L1Op<T>.self, ctx.attributes)
      default: return try reduceEval(SumSquareOp<T>.self, ctx.attributes)
      }
    }
    switch t {
    case .float32: return try make(Float.self)
    case .float64: return try make(Double.self)
    case .int32: return try make(Int32.self)
    case .int64: return try make(Int64.self)
    case .uint32: return try make(UInt32.self)
    case .uint64: return try make(UInt64.self)
    case .int8 where name == "ReduceMax" || name == "ReduceMin": return try make(Int8.self)
    case .uint8 where name == "ReduceMax" || name == "ReduceMin", .bool where name == "ReduceMax" || name == "ReduceMin":
      return try make(UInt8.self)
    default: throw unsupported(name, t)
    }
  }
}

private func floatReduceKernel(_ name: String) -> Kernel {
  Kernel { ctx in
    func make<T: NNFloat>(_: T.Type) throws -> KernelEval {
      switch name {
      case "ReduceL2": return try reduceEval(L2Op<T>.self, ctx.attributes)
      case "ReduceLogSum": return try reduceEval(LogSumOp<T>.self, ctx.attributes)
      default: return try reduceEval(LogSumExpOp<T>.self, ctx.attributes)
      }
    }
    switch try ctx.dtype(0) {
    case .float32: return try make(Float.self)
    case .float64: return try make(Double.self)
    case let t: throw unsupported(name, t)
    }
  }
}

// MARK: ArgMax / ArgMin

private func argKernel(isMax: Bool) -> Kernel {
  Kernel { ctx in
    let a = ctx.attributes
    let axisAttr = try a.int("axis", default: 0), last = try a.int("select_last_index", default: 0) != 0
    func make<T: NNNumber>(_: T.Type) -> KernelEval {
      return { inputs, outputs in
        guard let x = inputs[0] else { throw GraphError("missing required input") }
        let axis = try normalizeAxis(axisAttr, rank: x.rank)
        let (outer, n, inner) = splitAround(x.shape, axis: axis)
        guard n > 0 else { throw GraphError("cannot take ArgMax/ArgMin over an empty axis") }
        guard outputs[0].count == outer * inner else { throw GraphError("result shape \(outputs[0].shape) does not match") }
        argReduce(x.pointer(as: T.self), outputs[0].pointer(as: Int64.self), outer: outer, n: n, inner: inner, isMax: isMax, last: last)
      }
    }
    switch try ctx.dtype(0) {
    case .float32: return make(Float.self)
    case .float64: return make(Double.self)
    case .int32: return make(Int32.self)
    case .int64: return make(Int64.self)
    case .uint32: return make(UInt32.self)
    case .uint64: return make(UInt64.self)
    case .int8: return make(Int8.self)
    case .uint8: return make(UInt8.self)
    case .int16: return make(Int16.self)
    case .uint16: return make(UInt16.self)
    case let t: throw unsupported(isMax ? "ArgMax" : "ArgMin", t)
    }
  }
}

/// Index of the first (or, with `last`, the last) extreme value along the middle dim.
func argReduce<T: NNNumber>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<Int64>, outer: Int, n: Int, inner: Int, isMax: Bool, last: Bool) {
  @inline(__always) func better(_ v: T, _ best: T) -> Bool {
    if isMax { return last ? v >= best : v > best }
    return last ? v <= best : v < best
  }
  let best = UnsafeMutablePointer<T>.allocate(capacity: inner)
  defer { best.deallocate() }
  for o in 0..<outer {
    let base = x + o * n * inner, out = y + o * inner
    for i in 0..<inner { best[i] = base[i]; out[i] = 0 }
    for k in 1..<max(n, 1) {
      let row = base + k * inner
      for i in 0..<inner where better(row[i], best[i]) { best[i] = row[i]; out[i] = Int64(k) }
    }
  }
}

// MARK: CumSum

private let cumSumKernel = Kernel { ctx in
  let exclusive = try ctx.attributes.int("exclusive", default: 0) != 0
  let reverse = try ctx.attributes.int("reverse", default: 0) != 0
  func make<T: NNNumber>(_: T.Type) -> KernelEval {
    return { inputs, outputs in
      guard let x = inputs[0], let a = inputs[1] else { throw GraphError("missing required input") }
      guard let av = a.intValues(), av.count == 1 else { throw GraphError("axis must hold one integer") }
      let axis = try normalizeAxis(av[0], rank: x.rank)
      let (outer, n, inner) = splitAround(x.shape, axis: axis)
      let src = x.pointer(as: T.self), dst = outputs[0].pointer(as: T.self)
      for o in 0..<outer {
        var prev: UnsafeMutablePointer<T>? = nil
        for step in 0..<n {
          let k = reverse ? n - 1 - step : step
          let off = (o * n + k) * inner
          // dst[k] = dst[prev] + (exclusive ? x[prev] : x[k]); the first step is 0 or x[k].
          if let p = prev {
            let addend = exclusive ? src + (p - dst) : src + off
            for i in 0..<inner { dst[off + i] = T.nnAdd(p[i], addend[i]) }
          } else {
            for i in 0..<inner { dst[off + i] = exclusive ? .nnZero : src[off + i] }
          }
          prev = dst + off
        }
      }
    }
  }
  switch try ctx.dtype(0) {
  case .float32: return make(Float.self)
  case .float64: return make(Double.self)
  case .int32: return make(Int32.self)
  case .int64: return make(Int64.self)
  case .uint32: return make(UInt32.self)
  case .uint64: return make(UInt64.self)
  case let t: throw unsupported("CumSum", t)
  }
}
