// ResizeKernel.swift - Resize: nearest (exact byte gather), and separable linear/cubic filters
// (with antialias and exclude_outside), following the ONNX reference implementation.

import Foundation
import GraphIR

/// Resize attributes, validated once at load.
private struct ResizeParams {
  var mode: String
  var coordinateMode: String
  var nearestMode: String
  var cubicA: Double
  var excludeOutside: Bool
  var extrapolation: Double
  var antialias: Bool

  init(_ a: AttributeMap) throws {
    mode = try a.string("mode", default: "nearest")
    coordinateMode = try a.string("coordinate_transformation_mode", default: "half_pixel")
    nearestMode = try a.string("nearest_mode", default: "round_prefer_floor")
    cubicA = Double(try a.float("cubic_coeff_a", default: -0.75))
    excludeOutside = try a.int("exclude_outside", default: 0) != 0
    extrapolation = Double(try a.float("extrapolation_value", default: 0))
    antialias = try a.int("antialias", default: 0) != 0
    guard resizeModes.contains(mode) else { throw GraphError("unknown Resize mode '\(mode)'") }
    guard resizeCoordinateModes.contains(coordinateMode) else {
      throw GraphError("unknown coordinate_transformation_mode '\(coordinateMode)'")
    }
    guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearestMode) else {
      throw GraphError("unknown nearest_mode '\(nearestMode)'")
    }
  }
}

/// One resized axis: for each output position, `taps` source indices and weights, and whether
/// the position lies outside the crop (tf_crop_and_resize writes the extrapolation value there).
private struct AxisFilter {
  var taps: Int
  var index: [Int]
  var weight: [Double]
  var extrapolated: [Bool]
}

let resizeKernel = Kernel { ctx in
  let params = try ResizeParams(ctx.attributes)
  let attrs = ctx.attributes
  return { inputs, outputs in
    let x = try required(inputs, 0), y = outputs[0]
    func doubles(_ i: Int) -> [Double]? {
      guard i < inputs.count, let t = inputs[i], t.count > 0 else { return nil }
      return (0..<t.count).map { t.double(at: $0) }
    }
    let g = try resizeGeometry(inputShape: x.shape, roi: doubles(1), scales: doubles(2),
                               sizes: try optionalInts(inputs, 3), attributes: attrs)
    try expectShape(y, g.outputShape)
    guard y.count > 0 else { return }
    let rank = x.rank
    let active = (0..<rank).filter { a in
      !(abs(g.scales[a] - 1) <= 1e-9 && g.outputShape[a] == x.shape[a]
        && (params.coordinateMode != "tf_crop_and_resize" || (abs(g.roi[a]) <= 1e-9 && abs(g.roi[a + rank] - 1) <= 1e-9)))
    }
    if active.isEmpty { return try copyBytes(x, to: y) }
    if params.mode == "nearest" {
      let tables = (0..<rank).map { a in
        active.contains(a) ? nearestTable(axis: a, x.shape[a], g, params) : Array(0..<x.shape[a])
      }
      let fill = scalarBytes(params.extrapolation, x.dtype)
      fill.withUnsafeBytes { f in
        guard let fp = f.baseAddress else { return }
        tableCopy(width: x.dtype.byteSize, inShape: x.shape, src: x.rawPointer, outShape: y.shape,
                  dst: y.rawPointer, tables: tables, fill: fp)
      }
      return
    }
    guard x.dtype.isFloat || x.dtype.isInteger else { throw GraphError("\(params.mode) Resize does not support \(x.dtype.shortName)") }
    let filters = try active.map { a in (a, try axisFilter(axis: a, x.shape[a], g, params)) }
    switch x.dtype {
    case .float32:
      resample(x.pointer(as: Float.self), shape: x.shape, filters, y.pointer(as: Float.self), Float(params.extrapolation))
    case .float64:
      resample(x.pointer(as: Double.self), shape: x.shape, filters, y.pointer(as: Double.self), params.extrapolation)
    default:
      // Other types go through float32 and are rounded (and saturated) on the way back.
      let src = UnsafeMutablePointer<Float>.allocate(capacity: x.count)
      let dst = UnsafeMutablePointer<Float>.allocate(capacity: y.count)
      defer { src.deallocate(); dst.deallocate() }
      for i in 0..<x.count { src[i] = Float(x.double(at: i)) }
      resample(src, shape: x.shape, filters, dst, Float(params.extrapolation))
      for i in 0..<y.count { storeScalar(Double(dst[i]), y.dtype, y.rawPointer, i) }
    }
  }
}

/// The source coordinate of output position `o` along an axis, and whether tf_crop_and_resize
/// puts it outside the input.
private func sourceCoordinate(_ o: Int, inSize: Int, outSize: Int, scale: Double, roi: (Double, Double),
                              mode: String) -> (Double, Bool) {
  let y = Double(o), n = Double(inSize)
  let outWidth = scale * n
  switch mode {
  case "align_corners":
    return (outWidth == 1 ? 0 : y * (n - 1) / (outWidth - 1), false)
  case "asymmetric":
    return (y / scale, false)
  case "tf_crop_and_resize":
    let span = roi.1 - roi.0
    var x = outWidth == 1 ? span * (n - 1) / 2 : y * span * (n - 1) / (outWidth - 1)
    x += roi.0 * (n - 1)
    return (x, x < 0 || x > n - 1)
  case "pytorch_half_pixel":
    return (outWidth == 1 ? -0.5 : (y + 0.5) / scale - 0.5, false)
  case "half_pixel_symmetric":
    let adjustment = Double(outSize) / outWidth
    let offset = n / 2 * (1 - adjustment)
    return (offset + (y + 0.5) / scale - 0.5, false)
  default:  // half_pixel
    return ((y + 0.5) / scale - 0.5, false)
  }
}

/// Nearest source index per output position (-1 where tf_crop_and_resize extrapolates).
private func nearestTable(axis a: Int, _ inSize: Int, _ g: ResizeGeometry, _ p: ResizeParams) -> [Int] {
  let rank = g.outputShape.count
  return (0..<g.outputShape[a]).map { o in
    let (raw, outside) = sourceCoordinate(o, inSize: inSize, outSize: g.outputShape[a], scale: g.scales[a],
                                          roi: (g.roi[a], g.roi[a + rank]), mode: p.coordinateMode)
    if outside { return -1 }
    // Clamp before converting so absurd coordinates cannot trap; the index is clamped anyway.
    let x = min(max(raw, -2), Double(inSize) + 1)
    let f = x.rounded(.down)
    var i = Int(f)
    if x != f {
      let frac = x - f
      switch p.nearestMode {
      case "round_prefer_ceil": if frac >= 0.5 { i += 1 }
      case "floor": break
      case "ceil": i += 1
      default: if frac > 0.5 { i += 1 }
      }
    }
    return min(max(i, 0), inSize - 1)
  }
}

/// The filter of one axis. Taps and weights follow the ONNX reference: ratio is 1 at integer
/// coordinates (prefer the left pixel), antialias widens the kernel by 1/scale when
/// downsampling, and indices outside the input clamp to the edge after exclude_outside.
private func axisFilter(axis a: Int, _ inSize: Int, _ g: ResizeGeometry, _ p: ResizeParams) throws -> AxisFilter {
  let rank = g.outputShape.count, outSize = g.outputShape[a]
  let cubic = p.mode == "cubic"
  let support = cubic ? 2.0 : 1.0
  let s = p.antialias ? min(g.scales[a], 1) : 1
  // Offset of the first tap from floor(x); scale >= 1/inSize whenever the output is non-empty.
  let firstTap = (-support / s).rounded(.down)
  guard firstTap > -Double(maxShapeOpElements) else { throw GraphError("Resize scale \(s) is too small for antialias") }
  let first = Int(firstTap) + 1
  let taps = 2 - 2 * first
  let A = p.cubicA
  func kernel(_ t: Double) -> Double {
    let x = abs(t)
    if !cubic { return max(0, 1 - x) }
    if x <= 1 { return ((A + 2) * x - (A + 3)) * x * x + 1 }
    if x < 2 { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A }
    return 0
  }
  var f = AxisFilter(taps: taps, index: [], weight: [], extrapolated: [])
  f.index.reserveCapacity(outSize * taps)
  f.weight.reserveCapacity(outSize * taps)
  let pad = (taps + 1) / 2
  for o in 0..<outSize {
    let (raw, outside) = sourceCoordinate(o, inSize: inSize, outSize: outSize, scale: g.scales[a],
                                          roi: (g.roi[a], g.roi[a + rank]), mode: p.coordinateMode)
    f.extrapolated.append(outside)
    let x = min(max(raw, -Double(taps + 4)), Double(inSize + taps + 4))
    let fl = x.rounded(.down)
    let ratio = x == fl ? 1 : x - fl
    // Window start (reference `_interpolate_1d_along_axis`): the `taps` pixels nearest to x.
    let xp = x + Double(pad), pp = xp.rounded(.down), frac = xp - pp
    let offset: Int
    if taps % 2 == 0 {
      offset = frac == 0 ? -(taps / 2) : -(taps / 2) + 1
    } else {
      offset = frac <= 0.5 ? -((taps - 1) / 2) : -((taps - 1) / 2) + 1
    }
    let start = Int(pp) + offset - pad
    var w = (0..<taps).map { k in kernel(s * (Double(first + k) - ratio)) }
    if p.antialias {
      let sum = w.reduce(0, +)
      if sum != 0 { w = w.map { $0 / sum } }
    }
    if p.excludeOutside {
      for k in 0..<taps where start + k < 0 || start + k >= inSize { w[k] = 0 }
      let sum = w.reduce(0, +)
      if sum != 0 { w = w.map { $0 / sum } }
    }
    for k in 0..<taps { f.index.append(min(max(start + k, 0), inSize - 1)) }
    f.weight += w
  }
  return f
}

/// Applies the filters one axis at a time (separable), from `input` of `shape` into `output`.
private func resample<T: BinaryFloatingPoint>(_ input: UnsafeMutablePointer<T>, shape: [Int], _ filters: [(Int, AxisFilter)],
                                              _ output: UnsafeMutablePointer<T>, _ extrapolation: T) {
  var src = UnsafePointer(input)
  var owned: UnsafeMutablePointer<T>? = nil
  var cur = shape
  for (k, (axis, f)) in filters.enumerated() {
    var next = cur
    next[axis] = f.extrapolated.count
    let last = k == filters.count - 1
    let count = checkedElementCount(next) ?? 0
    let dst = last ? output : UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
    resampleAxis(src, shape: cur, axis: axis, f, dst, extrapolation)
    owned?.deallocate()
    owned = last ? nil : dst
    src = UnsafePointer(dst)
    cur = next
  }
}

/// out[o, j, i] = Σ_k w[j, k] · in[o, index[j, k], i] over one axis.
private func resampleAxis<T: BinaryFloatingPoint>(_ src: UnsafePointer<T>, shape: [Int], axis: Int, _ f: AxisFilter,
                                                  _ dst: UnsafeMutablePointer<T>, _ extrapolation: T) {
  let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
  let n = shape[axis], m = f.extrapolated.count, taps = f.taps
  let weights = f.weight.map { T($0) }
  weights.withUnsafeBufferPointer { w in
    f.index.withUnsafeBufferPointer { idx in
      for o in 0..<outer {
        let s = src + o * n * inner, d = dst + o * m * inner
        for j in 0..<m {
          let row = d + j * inner
          if f.extrapolated[j] {
            row.update(repeating: extrapolation, count: inner)
            continue
          }
          if inner == 1 {
            var acc: T = 0
            for k in 0..<taps { acc += w[j * taps + k] * s[idx[j * taps + k]] }
            row[0] = acc
          } else {
            row.update(repeating: 0, count: inner)
            for k in 0..<taps {
              let wk = w[j * taps + k]
              if wk == 0 { continue }
              let srow = s + idx[j * taps + k] * inner
              for i in 0..<inner { row[i] += wk * srow[i] }
            }
          }
        }
      }
    }
  }
}
