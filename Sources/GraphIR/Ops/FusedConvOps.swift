// FusedConvOps.swift - Schemas of graphc's fused convolution ops and their activation attribute.

/// The activation a fused op applies before it stores, read from the attributes
/// `<prefix>activation` (a kind name) and `<prefix>activation_params` (its constants).
///
/// Kinds and their parameters (the ONNX op each one stands for):
/// `none`, `relu`, `clip [lo, hi]`, `leaky_relu [alpha]`, `hard_sigmoid [alpha, beta]`,
/// `hard_swish`, `sigmoid`, `silu` (x * sigmoid(x)).
public struct FusedActivation: Equatable, Sendable {
  public enum Kind: String, CaseIterable, Sendable {
    case none, relu, clip, leakyRelu = "leaky_relu", hardSigmoid = "hard_sigmoid", hardSwish = "hard_swish", sigmoid, silu

    /// How many constants the kind takes.
    public var parameterCount: Int {
      switch self {
      case .clip, .hardSigmoid: 2
      case .leakyRelu: 1
      case .none, .relu, .hardSwish, .sigmoid, .silu: 0
      }
    }
  }

  public var kind: Kind
  public var params: [Float]

  public static let none = FusedActivation(uncheckedKind: .none)

  private init(uncheckedKind kind: Kind) {
    self.kind = kind
    self.params = []
  }

  /// Checks that `params` has the kind's arity.
  public init(kind: Kind, params: [Float] = []) throws {
    guard params.count == kind.parameterCount else {
      throw GraphError("activation '\(kind.rawValue)' takes \(kind.parameterCount) parameters, got \(params.count)")
    }
    self.kind = kind
    self.params = params
  }

  /// Reads `<prefix>activation` and `<prefix>activation_params` (absent means `none`).
  public init(attributes: AttributeMap, prefix: String = "") throws {
    let name = try attributes.string(prefix + "activation", default: "none")
    guard let kind = Kind(rawValue: name) else {
      let valid = Kind.allCases.map(\.rawValue).joined(separator: ", ")
      throw GraphError("unknown \(prefix)activation '\(name)' (valid: \(valid))")
    }
    try self.init(kind: kind, params: try attributes.floats(prefix + "activation_params") ?? [])
  }

  /// The attributes that describe this activation (none for `none`).
  public func attributes(prefix: String = "") -> AttributeMap {
    guard kind != .none else { return [:] }
    var a: AttributeMap = [prefix + "activation": .string(kind.rawValue)]
    if !params.isEmpty { a[prefix + "activation_params"] = .floats(params) }
    return a
  }
}

let fusedConvOpSchemas: [OpSchema] = [
  /// `graphc.FusedConv(X, W, B?, Z?)`: `Y = act(conv(X, W) + B + Z)`, or
  /// `Y = act(conv(X, W) + B) + Z` with `residual_after_activation = 1`. Conv attributes as
  /// `onnx.Conv`; Z, the residual, has Y's shape.
  OpSchema("graphc.FusedConv", inputs: 2...4) { ctx in
    _ = try FusedActivation(attributes: ctx.attributes)
    let y = try inferConv(InferenceContext(op: "onnx.Conv", operands: Array(ctx.operands.prefix(3)),
                                           attributes: ctx.attributes, resultCount: 1), transposed: false)
    try nnRequireDType(y, [.float32], "X")
    try checkResidual(ctx.optional(3), y)
    try checkResidualFlag(ctx.attributes)
    return [y]
  },
  /// `graphc.DepthwisePointwise(X, Wd, Bd?, Wp, Bp?, Z?)`: a depthwise conv (`Wd` is
  /// `[C, 1, k...]`, window attributes as `onnx.Conv`, activation `dw_activation`) feeding a
  /// 1x1 conv (`Wp` is `[M, C, 1...]`) with activation and residual as `graphc.FusedConv`.
  OpSchema("graphc.DepthwisePointwise", inputs: 4...6) { ctx in
    _ = try FusedActivation(attributes: ctx.attributes, prefix: "dw_")
    _ = try FusedActivation(attributes: ctx.attributes)
    let x = try ctx.type(0)
    let wdDims = try ctx.type(1).dims
    guard let c = x.dims?[1].value ?? wdDims?[0].value else {
      throw GraphError("the channel count of X must be known")
    }
    if let wd = wdDims, wd.count >= 2 {
      try nnRequireDim(wd[0], equals: c, "Wd dim 0 (depthwise)")
      try nnRequireDim(wd[1], equals: 1, "Wd dim 1 (depthwise)")
    }
    var dwAttrs = ctx.attributes
    dwAttrs["group"] = .int(c)
    let dw = try inferConv(InferenceContext(op: "onnx.Conv", operands: Array(ctx.operands.prefix(3)),
                                            attributes: dwAttrs, resultCount: 1), transposed: false)
    try nnRequireDType(dw, [.float32], "X")
    let wp = try ctx.type(3)
    try nnRequireSameDType(wp, as: x, "Wp", "X")
    guard let wpDims = wp.dims, let dwDims = dw.dims else { return [TensorType(x.dtype, nil)] }
    guard wpDims.count == dwDims.count, wpDims.dropFirst(2).allSatisfy({ $0.value == 1 }) else {
      throw GraphError("Wp must be [M, \(c), 1...] with rank \(dwDims.count), got \(wpDims)")
    }
    try nnRequireDim(wpDims[1], equals: c, "Wp input channels")
    if let bp = ctx.optional(4) {
      try nnRequireSameDType(bp.type, as: x, "Bp", "X")
      if let bd = bp.type.dims, let m = wpDims[0].value {
        guard bd.count == 1 else { throw GraphError("Bp must be 1-D, got rank \(bd.count)") }
        try nnRequireDim(bd[0], equals: m, "Bp length")
      }
    }
    let y = TensorType(x.dtype, [dwDims[0], wpDims[0]] + dwDims.dropFirst(2))
    try checkResidual(ctx.optional(5), y)
    try checkResidualFlag(ctx.attributes)
    return [y]
  },
]

/// The residual operand must have exactly the result's type (no broadcasting).
private func checkResidual(_ z: OperandInfo?, _ y: TensorType) throws {
  guard let z else { return }
  try nnRequireSameDType(z.type, as: y, "Z", "Y")
  guard let zd = z.type.dims, let yd = y.dims else { return }
  guard zd.count == yd.count, zip(zd, yd).allSatisfy({ $0.value == nil || $1.value == nil || $0 == $1 }) else {
    throw GraphError("residual Z has shape \(zd) but the result is \(yd)")
  }
}

private func checkResidualFlag(_ attrs: AttributeMap) throws {
  let f = try attrs.int("residual_after_activation", default: 0)
  guard f == 0 || f == 1 else { throw GraphError("residual_after_activation must be 0 or 1, got \(f)") }
}
