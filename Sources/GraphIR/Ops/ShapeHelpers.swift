// ShapeHelpers.swift - Shape arithmetic shared by schemas (compile time) and kernels (run time).

/// Multidirectional (numpy-style) broadcasting of two dim lists.
public func broadcastDims(_ a: [Dim], _ b: [Dim]) throws -> [Dim] {
  let n = max(a.count, b.count)
  var out: [Dim] = []
  out.reserveCapacity(n)
  for i in 0..<n {
    let x = i < n - a.count ? Dim.fixed(1) : a[i - (n - a.count)]
    let y = i < n - b.count ? Dim.fixed(1) : b[i - (n - b.count)]
    switch (x, y) {
    case (.fixed(1), _): out.append(y)
    case (_, .fixed(1)): out.append(x)
    case (.fixed(let p), .fixed(let q)):
      guard p == q else { throw GraphError("shapes \(a) and \(b) cannot be broadcast (dim \(p) vs \(q))") }
      out.append(x)
    case (.symbol(let s), .symbol(let t)) where s == t: out.append(x)
    case (.fixed, .symbol): out.append(x)
    case (.symbol, .fixed): out.append(y)
    default: out.append(.symbol("?"))
    }
  }
  return out
}

/// Broadcasts the types of several operands; unknown rank anywhere gives unknown rank.
public func broadcastTypes(_ types: [TensorType], dtype: DType) throws -> TensorType {
  var dims: [Dim]? = []
  for t in types {
    guard let d = t.dims, let acc = dims else { dims = nil; continue }
    dims = try broadcastDims(acc, d)
  }
  return TensorType(dtype, dims)
}

/// Concrete broadcasting of two shapes.
public func broadcastShapes(_ a: [Int], _ b: [Int]) throws -> [Int] {
  try broadcastDims(a.map { .fixed($0) }, b.map { .fixed($0) }).map { $0.value ?? 0 }
}

/// Row-major strides of a shape, in elements.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
  var s = [Int](repeating: 1, count: shape.count)
  var acc = 1
  for i in stride(from: shape.count - 1, through: 0, by: -1) {
    s[i] = acc
    acc *= shape[i]
  }
  return s
}

/// The resolved geometry of a sliding-window op (Conv, pooling) over the spatial dims.
public struct WindowGeometry: Equatable, Sendable {
  public var kernel: [Int]
  public var strides: [Int]
  public var dilations: [Int]
  /// Begin pads for each spatial dim, then end pads (ONNX order).
  public var pads: [Int]
  public var outputSpatial: [Int]
}

/// Resolves kernel, strides, dilations, pads (including `auto_pad`) and the output spatial
/// size of a sliding-window op, validating every value.
public func windowGeometry(
  inputSpatial: [Int], kernel: [Int], attributes attrs: AttributeMap, ceilMode: Bool = false
) throws -> WindowGeometry {
  let n = inputSpatial.count
  guard kernel.count == n else { throw GraphError("kernel_shape has \(kernel.count) dims, input has \(n) spatial dims") }
  let strides = try attrs.ints("strides") ?? Array(repeating: 1, count: n)
  let dilations = try attrs.ints("dilations") ?? Array(repeating: 1, count: n)
  var pads = try attrs.ints("pads") ?? Array(repeating: 0, count: 2 * n)
  guard strides.count == n, dilations.count == n, pads.count == 2 * n else {
    throw GraphError("strides/dilations/pads do not match \(n) spatial dims")
  }
  guard strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }) else {
    throw GraphError("strides, dilations and kernel sizes must be positive")
  }
  guard pads.allSatisfy({ $0 >= 0 }) else { throw GraphError("pads must not be negative") }
  let autoPad = try attrs.string("auto_pad", default: "NOTSET")
  var out = [Int](repeating: 0, count: n)
  for i in 0..<n {
    let ek = (kernel[i] - 1) * dilations[i] + 1
    switch autoPad {
    case "SAME_UPPER", "SAME_LOWER":
      let o = (inputSpatial[i] + strides[i] - 1) / strides[i]
      let total = max(0, (o - 1) * strides[i] + ek - inputSpatial[i])
      let small = total / 2, big = total - small
      pads[i] = autoPad == "SAME_UPPER" ? small : big
      pads[i + n] = autoPad == "SAME_UPPER" ? big : small
      out[i] = o
    case "VALID":
      pads[i] = 0; pads[i + n] = 0
      out[i] = (inputSpatial[i] - ek) / strides[i] + 1
    case "NOTSET":
      let span = inputSpatial[i] + pads[i] + pads[i + n] - ek
      guard span >= 0 else { throw GraphError("window \(ek) is larger than the padded input \(inputSpatial[i] + pads[i] + pads[i + n])") }
      if ceilMode {
        var o = (span + strides[i] - 1) / strides[i] + 1
        // The last window must start inside the input or the begin padding.
        if (o - 1) * strides[i] >= inputSpatial[i] + pads[i] { o -= 1 }
        out[i] = o
      } else {
        out[i] = span / strides[i] + 1
      }
    default:
      throw GraphError("unknown auto_pad '\(autoPad)'")
    }
    guard out[i] > 0 else { throw GraphError("output spatial size would be \(out[i])") }
  }
  return WindowGeometry(kernel: kernel, strides: strides, dilations: dilations, pads: pads, outputSpatial: out)
}
