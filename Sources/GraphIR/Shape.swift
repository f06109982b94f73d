// Shape.swift - Dimensions and tensor types, static or symbolic.

/// One dimension: a known size, a named symbol (`batch`), or unknown.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
  case fixed(Int)
  case symbol(String)

  public var value: Int? { if case .fixed(let v) = self { v } else { nil } }
  public var description: String {
    switch self {
    case .fixed(let v): String(v)
    case .symbol(let s): s
    }
  }
}

/// The type of a value: element type, dims and, for quantized values, the quantization
/// parameters. `dims == nil` means the rank is unknown.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
  public var dtype: DType
  public var dims: [Dim]?
  /// Scale, zero point and axis of a quantized value; nil for ordinary tensors.
  public var quant: Quantization?

  public init(_ dtype: DType, _ dims: [Dim]?, quant: Quantization? = nil) {
    self.dtype = dtype
    self.dims = dims
    self.quant = quant
  }
  public init(_ dtype: DType, shape: [Int], quant: Quantization? = nil) {
    self.init(dtype, shape.map { .fixed($0) }, quant: quant)
  }

  public var rank: Int? { dims?.count }
  /// The concrete shape when every dim is known.
  public var staticShape: [Int]? {
    guard let dims else { return nil }
    var out: [Int] = []
    out.reserveCapacity(dims.count)
    for d in dims {
      guard let v = d.value else { return nil }
      out.append(v)
    }
    return out
  }

  /// Textual form: `f32[1,3,224,224]`, `i64[]` for a scalar, `f32[batch,?]` with symbolic
  /// dims (names that are not identifiers are quoted), `f32[*]` for unknown rank, and a
  /// `q<…>` suffix on quantized types (see `formatType`).
  public var description: String { formatType(self, options: .init()) }
}

/// Overflow-checked element count of a shape; nil on overflow or a negative dim.
public func checkedElementCount(_ shape: [Int]) -> Int? {
  var n = 1
  for d in shape {
    guard d >= 0 else { return nil }
    let (p, o) = n.multipliedReportingOverflow(by: d)
    if o { return nil }
    n = p
  }
  return n
}
