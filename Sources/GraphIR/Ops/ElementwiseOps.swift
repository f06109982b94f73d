// ElementwiseOps.swift - Schemas of unary, binary (broadcasting) and variadic element-wise ops.

/// Which element types an operand may have.
private enum ElementClass: String {
  case float = "a float type"
  case numeric = "a numeric type"
  case numericOrBool = "a numeric or bool type"
  case bool = "bool"
  case unsigned = "an unsigned integer type"
  case any = "a storable type"

  func contains(_ t: DType) -> Bool {
    switch self {
    case .float: t.isFloat
    case .numeric: t.isFloat || t.isInteger
    case .numericOrBool: t.isFloat || t.isInteger || t == .bool
    case .bool: t == .bool
    case .unsigned: t.isInteger && !t.isSigned
    case .any: t != .string
    }
  }
}

/// Throws unless `t` belongs to `cls`.
private func requireType(_ t: DType, _ cls: ElementClass, _ what: String = "input") throws {
  guard cls.contains(t) else { throw GraphError("\(what) has type \(t.shortName), expected \(cls.rawValue)") }
}

/// The types of operands `indices`, all present and of one element type in `cls`.
private func sameTypeOperands(_ ctx: InferenceContext, _ indices: Range<Int>, _ cls: ElementClass) throws -> [TensorType] {
  let types = try indices.map { try ctx.type($0) }
  guard let first = types.first else { return [] }
  for t in types.dropFirst() where t.dtype != first.dtype {
    throw GraphError("input type mismatch: \(first.dtype.shortName) and \(t.dtype.shortName)")
  }
  try requireType(first.dtype, cls)
  return types
}

/// Same type and shape out as in.
private func unarySchema(_ op: String, _ cls: ElementClass, result: DType? = nil) -> OpSchema {
  OpSchema("onnx." + op, inputs: 1...1) { ctx in
    let t = try ctx.type(0)
    try requireType(t.dtype, cls)
    return [TensorType(result ?? t.dtype, t.dims)]
  }
}

/// Two operands of one type, broadcast; the result type is `result` or the operands'.
private func binarySchema(_ op: String, _ cls: ElementClass, result: DType? = nil) -> OpSchema {
  OpSchema("onnx." + op, inputs: 2...2) { ctx in
    let types = try sameTypeOperands(ctx, 0..<2, cls)
    return [try broadcastTypes(types, dtype: result ?? types[0].dtype)]
  }
}

/// One or more operands of one numeric type, broadcast together.
private func variadicSchema(_ op: String) -> OpSchema {
  OpSchema("onnx." + op, inputs: 1...Int.max) { ctx in
    let types = try sameTypeOperands(ctx, 0..<ctx.operands.count, .numeric)
    return [try broadcastTypes(types, dtype: types[0].dtype)]
  }
}

/// A valid `to` / output dtype code, or throws.
private func dtypeAttribute(_ ctx: InferenceContext, _ name: String) throws -> DType? {
  guard let code = try ctx.attributes.int(name), code != 0 else { return nil }
  guard let t = UInt8(exactly: code).flatMap(DType.init(rawValue:)), t != .string, !t.isPacked else {
    throw GraphError("attribute '\(name)' = \(code) is not a supported element type")
  }
  return t
}

private let unaryFloatOps = [
  "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Gelu", "Erf", "Softplus", "Sqrt", "Exp",
  "Log", "Reciprocal", "Softsign", "Elu", "Selu", "Celu", "ThresholdedRelu", "Floor", "Ceil", "Round",
  "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
]

let elementwiseOpSchemas: [OpSchema] =
  unaryFloatOps.map { unarySchema($0, .float) }
  + ["Neg", "Abs", "Sign", "Relu"].map { unarySchema($0, .numeric) }
  + [unarySchema("IsNaN", .float, result: .bool), unarySchema("IsInf", .float, result: .bool),
     unarySchema("Not", .bool)]
  + ["Add", "Sub", "Mul", "Div", "Mod", "PRelu"].map { binarySchema($0, .numeric) }
  + [binarySchema("BitShift", .unsigned), binarySchema("Equal", .numericOrBool, result: .bool)]
  + ["Less", "Greater", "LessOrEqual", "GreaterOrEqual"].map { binarySchema($0, .numeric, result: .bool) }
  + ["And", "Or", "Xor"].map { binarySchema($0, .bool, result: .bool) }
  + ["Sum", "Mean", "Min", "Max"].map(variadicSchema)
  + [clipSchema, powSchema, whereSchema, castSchema, castLikeSchema, quantizeLinearSchema, dequantizeLinearSchema]

/// Clip(x, min?, max?): bounds are scalars of x's type.
private let clipSchema = OpSchema("onnx.Clip", inputs: 1...3) { ctx in
  let t = try ctx.type(0)
  try requireType(t.dtype, .numeric)
  for i in 1..<3 {
    guard let b = ctx.optional(i)?.type else { continue }
    guard b.dtype == t.dtype else { throw GraphError("input type mismatch: \(t.dtype.shortName) and \(b.dtype.shortName)") }
    if let s = b.staticShape, s.reduce(1, *) != 1 { throw GraphError("Clip bound \(i) must be a scalar, has shape \(s)") }
  }
  return [t]
}

/// Pow(base, exponent): the exponent may have any numeric type; the result has the base's.
private let powSchema = OpSchema("onnx.Pow", inputs: 2...2) { ctx in
  let base = try ctx.type(0), exponent = try ctx.type(1)
  try requireType(base.dtype, .numeric, "base")
  try requireType(exponent.dtype, .numeric, "exponent")
  return [try broadcastTypes([base, exponent], dtype: base.dtype)]
}

/// Where(cond, x, y): bool condition, x and y of one type, three-way broadcast.
private let whereSchema = OpSchema("onnx.Where", inputs: 3...3) { ctx in
  let cond = try ctx.type(0)
  try requireType(cond.dtype, .bool, "condition")
  let values = try sameTypeOperands(ctx, 1..<3, .any)
  return [try broadcastTypes([cond] + values, dtype: values[0].dtype)]
}

private let castSchema = OpSchema("onnx.Cast", inputs: 1...1) { ctx in
  let t = try ctx.type(0)
  try requireType(t.dtype, .numericOrBool)
  guard let to = try dtypeAttribute(ctx, "to") else { throw GraphError("Cast needs the 'to' attribute") }
  return [TensorType(to, t.dims)]
}

private let castLikeSchema = OpSchema("onnx.CastLike", inputs: 2...2) { ctx in
  let t = try ctx.type(0), like = try ctx.type(1)
  try requireType(t.dtype, .numericOrBool)
  try requireType(like.dtype, .numericOrBool, "target_type")
  return [TensorType(like.dtype, t.dims)]
}

private let quantizedTypes: Set<DType> = [.int8, .uint8, .int16, .uint16, .int32]

/// QuantizeLinear(x, y_scale, y_zero_point?): the result type is `output_dtype` if set, else
/// the zero point's, else uint8.
private let quantizeLinearSchema = OpSchema("onnx.QuantizeLinear", inputs: 2...3) { ctx in
  let x = try ctx.type(0), scale = try ctx.type(1)
  try requireType(x.dtype, .numeric)
  try requireType(scale.dtype, .float, "scale")
  let zp = ctx.optional(2)?.type.dtype
  let out = try dtypeAttribute(ctx, "output_dtype") ?? zp ?? .uint8
  if let zp, zp != out { throw GraphError("zero point type \(zp.shortName) differs from output_dtype \(out.shortName)") }
  guard quantizedTypes.contains(out) else { throw GraphError("quantized type \(out.shortName) is not supported") }
  var result = TensorType(out, x.dims)
  result.quant = constantQuantization(ctx, result)
  return [result]
}

/// The quantization parameters a QuantizeLinear with constant scale and zero point gives its
/// result, so that the result's type states them; nil when they are not constant or not valid.
private func constantQuantization(_ ctx: InferenceContext, _ type: TensorType) -> Quantization? {
  guard let scale = ctx.optional(1)?.value, scale.dtype == .float32, scale.rank <= 1 else { return nil }
  let zp = ctx.optional(2)?.value
  if let zp, zp.count != scale.count { return nil }
  let scales = (0..<scale.count).map { Float(scale.double(at: $0)) }
  let zps = (0..<scale.count).map { i in zp.map { Int32(clamping: Int64($0.double(at: i))) } ?? 0 }
  let q: Quantization
  if scale.rank == 0 {
    q = Quantization(scale: scales[0], zeroPoint: zps[0])
  } else {
    guard let rank = type.rank, let a = try? ctx.attributes.int("axis", default: 1) else { return nil }
    q = Quantization(axis: a < 0 ? a + rank : a, scales: scales, zeroPoints: zps)
  }
  return (try? q.check(type)) == nil ? nil : q
}

/// DequantizeLinear(x, x_scale, x_zero_point?): the result has the scale's float type.
private let dequantizeLinearSchema = OpSchema("onnx.DequantizeLinear", inputs: 2...3) { ctx in
  let x = try ctx.type(0), scale = try ctx.type(1)
  guard quantizedTypes.contains(x.dtype) else { throw GraphError("quantized type \(x.dtype.shortName) is not supported") }
  try requireType(scale.dtype, .float, "scale")
  if let zp = ctx.optional(2)?.type.dtype, zp != x.dtype {
    throw GraphError("input type mismatch: zero point \(zp.shortName) for \(x.dtype.shortName) data")
  }
  return [TensorType(try dtypeAttribute(ctx, "output_dtype") ?? scale.dtype, x.dims)]
}
