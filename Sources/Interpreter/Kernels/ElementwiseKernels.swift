// ElementwiseKernels.swift - Unary, binary (broadcasting) and variadic element-wise kernels.
//
// Each entry pairs an op name with a factory and a scalar definition from `ScalarOps`. The
// factories check types at prepare and return an eval specialized for the element type.

import CKernels
import GraphIR

private typealias S = ScalarOps

let elementwiseKernels: [String: Kernel] = {
  var k: [String: Kernel] = [
    "onnx.Sigmoid": floatUnary(S.Sigmoid.self),
    "onnx.Tanh": floatUnary(S.Tanh.self),
    "onnx.LeakyRelu": floatUnary(S.LeakyRelu.self),
    "onnx.HardSigmoid": floatUnary(S.HardSigmoid.self),
    "onnx.HardSwish": floatUnary(S.HardSwish.self),
    "onnx.Erf": vectorizedFloatUnary(S.Erf.self, graphc_verf_f32),
    "onnx.Softplus": floatUnary(S.Softplus.self),
    "onnx.Sqrt": floatUnary(S.Sqrt.self),
    "onnx.Exp": vectorizedFloatUnary(S.Exp.self, graphc_vexp_f32),
    "onnx.Log": floatUnary(S.Log.self),
    "onnx.Reciprocal": floatUnary(S.Reciprocal.self),
    "onnx.Softsign": floatUnary(S.Softsign.self),
    "onnx.Elu": floatUnary(S.Elu.self),
    "onnx.Selu": floatUnary(S.Selu.self),
    "onnx.Celu": floatUnary(S.Celu.self),
    "onnx.ThresholdedRelu": floatUnary(S.ThresholdedRelu.self),
    "onnx.Floor": floatUnary(S.Floor.self),
    "onnx.Ceil": floatUnary(S.Ceil.self),
    "onnx.Round": floatUnary(S.Round.self),
    "onnx.Sin": floatUnary(S.Sin.self),
    "onnx.Cos": floatUnary(S.Cos.self),
    "onnx.Tan": floatUnary(S.Tan.self),
    "onnx.Asin": floatUnary(S.Asin.self),
    "onnx.Acos": floatUnary(S.Acos.self),
    "onnx.Atan": floatUnary(S.Atan.self),
    "onnx.Sinh": floatUnary(S.Sinh.self),
    "onnx.Cosh": floatUnary(S.Cosh.self),
    "onnx.Asinh": floatUnary(S.Asinh.self),
    "onnx.Acosh": floatUnary(S.Acosh.self),
    "onnx.Atanh": floatUnary(S.Atanh.self),
    "onnx.IsNaN": floatPredicate(S.IsNaN.self),
    "onnx.IsInf": floatPredicate(S.IsInf.self),

    "onnx.Neg": numericUnary(S.Neg.self),
    "onnx.Abs": numericUnary(S.Abs.self),
    "onnx.Sign": numericUnary(S.Sign.self),
    "onnx.Relu": numericUnary(S.Relu.self),
    "onnx.Clip": clipKernel,
    "onnx.Not": notKernel,

    "onnx.Add": numericBinary(S.Add.self),
    "onnx.Sub": numericBinary(S.Sub.self),
    "onnx.Mul": numericBinary(S.Mul.self),
    "onnx.Div": numericBinary(S.Div.self),
    "onnx.PRelu": numericBinary(S.PRelu.self),
    "onnx.Pow": powKernel,
    "onnx.BitShift": bitShiftKernel,

    "onnx.Equal": comparison(S.Equal.self, allowBool: true),
    "onnx.Less": comparison(S.Less.self),
    "onnx.Greater": comparison(S.Greater.self),
    "onnx.LessOrEqual": comparison(S.LessOrEqual.self),
    "onnx.GreaterOrEqual": comparison(S.GreaterOrEqual.self),
    "onnx.And": logic(S.And.self),
    "onnx.Or": logic(S.Or.self),
    "onnx.Xor": logic(S.Xor.self),

    "onnx.Sum": variadic(S.Add.self),
    "onnx.Mean": variadic(S.Add.self, mean: true),
    "onnx.Min": variadic(S.Min.self),
    "onnx.Max": variadic(S.Max.self),
    "onnx.Where": whereKernel,
  ]
  k["onnx.Gelu"] = Kernel { ctx in
    switch try ctx.attributes.string("approximate", default: "none") {
    case "none": return try floatUnary(S.GeluErf.self).prepare(ctx)
    case "tanh": return try floatUnary(S.GeluTanh.self).prepare(ctx)
    case let a: throw GraphError("Gelu approximate must be 'none' or 'tanh', not '\(a)'")
    }
  }
  k["onnx.Mod"] = Kernel { ctx in
    try (ctx.attributes.int("fmod", default: 0) != 0 ? numericBinary(S.ModC.self) : numericBinary(S.ModPython.self)).prepare(ctx)
  }
  for (name, kernel) in castAndQuantizeKernels { k[name] = kernel }
  return k
}()

/// Element-wise ops whose result may be planned over a dead operand of the same type and size:
/// `mapUnary` and `broadcastBinary` read element i of such an operand (it has the output's
/// shape) before writing element i, and `widenHalfTypes` converts operands before writing.
let inPlaceOps: Set<String> = [
  "onnx.Relu", "onnx.LeakyRelu", "onnx.Sigmoid", "onnx.Tanh", "onnx.HardSigmoid", "onnx.HardSwish", "onnx.Erf",
  "onnx.Gelu", "onnx.Softplus", "onnx.Sqrt", "onnx.Exp", "onnx.Log", "onnx.Reciprocal", "onnx.Neg", "onnx.Abs",
  "onnx.Clip", "onnx.Add", "onnx.Sub", "onnx.Mul", "onnx.Div", "onnx.PRelu",
]

// MARK: - Helpers shared by the factories

/// Input `i` checked against `dtype`.
@inline(__always)
func typedInput(_ inputs: [Tensor?], _ i: Int, _ dtype: DType) throws -> Tensor {
  try checkedTensor(i < inputs.count ? inputs[i] : nil, dtype, "input \(i)")
}
/// Output `i` checked against `dtype`.
@inline(__always)
func typedOutput(_ outputs: [Tensor], _ i: Int, _ dtype: DType) throws -> Tensor {
  try checkedTensor(i < outputs.count ? outputs[i] : nil, dtype, "output \(i)")
}

/// The common element type of inputs `0..<n` (all present), or a type-mismatch error.
func commonInputType(_ ctx: KernelContext, _ n: Int) throws -> DType {
  let t = try ctx.dtype(0)
  for i in 1..<max(n, 1) where try ctx.dtype(i) != t {
    throw GraphError("input type mismatch: \(t.shortName) and \(try ctx.dtype(i).shortName)")
  }
  return t
}

/// Throws if any element of an integer divisor is zero (floats divide to inf/NaN instead).
@inline(__always)
func rejectIntegerZero<T: ArithmeticElement>(_ t: Tensor, _: T.Type) throws {
  guard !T.isFloatingPoint else { return }
  let p = t.pointer(as: T.self)
  for i in 0..<t.count where T.isIntegerZero(p[i]) { throw GraphError("integer division by zero") }
}

// MARK: - Unary

private struct FloatUnaryEval<Op: FloatUnaryOp>: FloatVisitor {
  let params: UnaryParams
  func visit<T: FloatElement>(_: T.Type) -> KernelEval {
    let p = ScalarParams<T>(params)
    return { inputs, outputs in
      try mapUnary(try typedInput(inputs, 0, T.dtype), try typedOutput(outputs, 0, T.dtype)) { (x: T) in Op.f(x, p) }
    }
  }
}
private func floatUnary<Op: FloatUnaryOp>(_: Op.Type) -> Kernel {
  widenHalfTypes(Kernel { ctx in try dispatchFloat(ctx.dtype(0), FloatUnaryEval<Op>(params: try Op.params(ctx.attributes))) })
}

/// A float unary op whose float32 case runs a vectorized CKernels routine (in chunks across
/// threads); other float types use the scalar op.
private func vectorizedFloatUnary<Op: FloatUnaryOp>(
  _: Op.Type, _ f32: @escaping (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void
) -> Kernel {
  let scalar = floatUnary(Op.self)
  return Kernel { ctx in
    guard try ctx.dtype(0) == .float32 else { return try scalar.prepare(ctx) }
    return { inputs, outputs in
      let x = try typedInput(inputs, 0, .float32), y = try typedOutput(outputs, 0, .float32)
      guard x.count == y.count else { throw GraphError("input has \(x.count) elements, output \(y.count)") }
      let px = UnsafePointer(x.pointer(as: Float.self)), py = y.pointer(as: Float.self)
      parallelChunks(y.count, minChunk: elementwiseGrain) { r in f32(px + r.lowerBound, py + r.lowerBound, r.count) }
    }
  }
}

private struct FloatPredicateEval<Op: FloatPredicateOp>: FloatVisitor {
  let params: UnaryParams
  func visit<T: FloatElement>(_: T.Type) -> KernelEval {
    let p = ScalarParams<T>(params)
    return { inputs, outputs in
      try mapUnary(try typedInput(inputs, 0, T.dtype), try typedOutput(outputs, 0, .bool)) { (x: T) -> UInt8 in Op.f(x, p) ? 1 : 0 }
    }
  }
}
private func floatPredicate<Op: FloatPredicateOp>(_: Op.Type) -> Kernel {
  widenHalfTypes(Kernel { ctx in try dispatchFloat(ctx.dtype(0), FloatPredicateEval<Op>(params: try Op.params(ctx.attributes))) })
}

private struct NumericUnaryEval<Op: NumericUnaryOp>: ArithmeticVisitor {
  func visit<T: ArithmeticElement>(_: T.Type) -> KernelEval {
    { inputs, outputs in try mapUnary(try typedInput(inputs, 0, T.dtype), try typedOutput(outputs, 0, T.dtype)) { (x: T) in Op.f(x) } }
  }
}
private func numericUnary<Op: NumericUnaryOp>(_: Op.Type) -> Kernel {
  widenHalfTypes(Kernel { ctx in try dispatchArithmetic(ctx.dtype(0), NumericUnaryEval<Op>()) })
}

/// Not on bools.
private let notKernel = Kernel { ctx in
  guard try ctx.dtype(0) == .bool else { throw GraphError("Not expects bool, got \(try ctx.dtype(0).shortName)") }
  return { inputs, outputs in
    try mapUnary(try typedInput(inputs, 0, .bool), try typedOutput(outputs, 0, .bool)) { (x: UInt8) -> UInt8 in x == 0 ? 1 : 0 }
  }
}

/// Clip(x, min?, max?): min and max are optional one-element tensors of x's type; an absent
/// bound is the type's extreme. When min > max every element becomes max (ONNX).
private struct ClipEval: ArithmeticVisitor {
  func visit<T: ArithmeticElement>(_: T.Type) -> KernelEval {
    { inputs, outputs in
      func bound(_ i: Int, _ d: T) throws -> T {
        guard i < inputs.count, inputs[i] != nil else { return d }
        let t = try typedInput(inputs, i, T.dtype)
        guard t.count == 1 else { throw GraphError("Clip bound \(i) must be a scalar, has shape \(t.shape)") }
        return t.pointer(as: T.self)[0]
      }
      let lo = try bound(1, T.lowest), hi = try bound(2, T.highest)
      try mapUnary(try typedInput(inputs, 0, T.dtype), try typedOutput(outputs, 0, T.dtype)) { (x: T) -> T in S.clip(x, lo, hi) }
    }
  }
}
private let clipKernel = widenHalfTypes(Kernel { ctx in
  let t = try ctx.dtype(0)
  for i in 1..<3 where i < ctx.inputTypes.count {
    if let b = ctx.inputTypes[i], b.dtype != t {
      throw GraphError("Clip bound type mismatch: \(b.dtype.shortName) for \(t.shortName) input")
    }
  }
  return try dispatchArithmetic(t, ClipEval())
})

// MARK: - Binary

private struct NumericBinaryEval<Op: NumericBinaryOp>: ArithmeticVisitor {
  func visit<T: ArithmeticElement>(_: T.Type) -> KernelEval {
    { inputs, outputs in
      let a = try typedInput(inputs, 0, T.dtype), b = try typedInput(inputs, 1, T.dtype)
      if Op.dividesBy { try rejectIntegerZero(b, T.self) }
      try broadcastBinary(a, b, try typedOutput(outputs, 0, T.dtype)) { (x: T, y: T) in Op.f(x, y) }
    }
  }
}
private func numericBinary<Op: NumericBinaryOp>(_: Op.Type) -> Kernel {
  widenHalfTypes(Kernel { ctx in try dispatchArithmetic(commonInputType(ctx, 2), NumericBinaryEval<Op>()) })
}

private struct CompareEval<Op: CompareOp>: ArithmeticVisitor {
  /// The operands' DType: `T.dtype`, or bool when bools compare as their bytes.
  let operandType: DType
  func visit<T: ArithmeticElement>(_: T.Type) -> KernelEval {
    let operandType = self.operandType
    return { inputs, outputs in
      let a = try typedInput(inputs, 0, operandType), b = try typedInput(inputs, 1, operandType)
      try broadcastBinary(a, b, try typedOutput(outputs, 0, .bool)) { (x: T, y: T) -> UInt8 in Op.f(x, y) ? 1 : 0 }
    }
  }
}
private func comparison<Op: CompareOp>(_: Op.Type, allowBool: Bool = false) -> Kernel {
  widenHalfTypes(Kernel { ctx in
    let t = try commonInputType(ctx, 2)
    // Bools compare as canonical 0/1 bytes.
    return try dispatchArithmetic(t == .bool && allowBool ? .uint8 : t, CompareEval<Op>(operandType: t))
  })
}

private func logic<Op: LogicOp>(_: Op.Type) -> Kernel {
  Kernel { ctx in
    guard try commonInputType(ctx, 2) == .bool else { throw GraphError("expects bool inputs, got \(try ctx.dtype(0).shortName)") }
    return { inputs, outputs in
      try broadcastBinary(try typedInput(inputs, 0, .bool), try typedInput(inputs, 1, .bool), try typedOutput(outputs, 0, .bool)) {
        (x: UInt8, y: UInt8) -> UInt8 in Op.f(x != 0, y != 0) ? 1 : 0
      }
    }
  }
}

/// BitShift on unsigned integers; shifting by the bit width or more gives 0.
private let bitShiftKernel = Kernel { ctx in
  let left: Bool
  switch try ctx.attributes.string("direction") {
  case "LEFT": left = true
  case "RIGHT": left = false
  case let d: throw GraphError("BitShift direction must be LEFT or RIGHT, not '\(d ?? "")'")
  }
  func make<T: FixedWidthInteger & UnsignedInteger & ArithmeticElement>(_: T.Type) -> KernelEval {
    { inputs, outputs in
      let a = try typedInput(inputs, 0, T.dtype), b = try typedInput(inputs, 1, T.dtype), o = try typedOutput(outputs, 0, T.dtype)
      if left { try broadcastBinary(a, b, o) { (x: T, s: T) in x << s } } else { try broadcastBinary(a, b, o) { (x: T, s: T) in x >> s } }
    }
  }
  switch try commonInputType(ctx, 2) {
  case .uint8: return make(UInt8.self)
  case .uint16: return make(UInt16.self)
  case .uint32: return make(UInt32.self)
  case .uint64: return make(UInt64.self)
  case let t: throw GraphError("BitShift expects an unsigned integer type, got \(t.shortName)")
  }
}

/// Pow(base, exponent): the result has the base's type. Float bases compute in their own type
/// (the exponent is converted to it); integer bases use exact integer powers for integer
/// exponents and C's `pow` then truncation for float exponents.
private let powKernel = widenHalfTypes(Kernel { ctx in
  let base = try ctx.dtype(0), exponent = try ctx.dtype(1)
  guard exponent.isFloat || exponent.isInteger else { throw GraphError("Pow exponent type \(exponent.shortName) is not numeric") }
  func floating<T: FloatElement>(_: T.Type) -> KernelEval {
    { inputs, outputs in
      let e = try convertTensor(try typedInput(inputs, 1, exponent), to: T.dtype)
      try broadcastBinary(try typedInput(inputs, 0, T.dtype), e, try typedOutput(outputs, 0, T.dtype)) { (x: T, y: T) in T.pow(x, y) }
    }
  }
  func integer<T: FixedWidthInteger & ArithmeticElement & ConvertibleElement>(_: T.Type) -> KernelEval {
    { inputs, outputs in
      let x = try typedInput(inputs, 0, T.dtype), o = try typedOutput(outputs, 0, T.dtype)
      if exponent.isInteger {
        let e = try convertTensor(try typedInput(inputs, 1, exponent), to: .int64)
        try broadcastBinary(x, e, o) { (b: T, n: Int64) in integerPower(b, n) }
      } else {
        let e = try convertTensor(try typedInput(inputs, 1, exponent), to: .float64)
        try broadcastBinary(x, e, o) { (b: T, y: Double) in T.from(float: Double.pow(Double(b), y)) }
      }
    }
  }
  switch base {
  case .float32: return floating(Float.self)
  case .float64: return floating(Double.self)
  case .int32: return integer(Int32.self)
  case .int64: return integer(Int64.self)
  default: throw GraphError("Pow base type \(base.shortName) is not supported")
  }
})

// MARK: - Variadic and ternary

/// Sum/Mean/Min/Max over 1...N broadcast inputs: the output accumulates pairwise in place.
private struct VariadicEval<Op: NumericBinaryOp>: ArithmeticVisitor {
  let mean: Bool
  func visit<T: ArithmeticElement>(_: T.Type) -> KernelEval {
    let mean = self.mean
    return { inputs, outputs in
      let out = try typedOutput(outputs, 0, T.dtype)
      guard !inputs.isEmpty else { throw GraphError("expects at least one input") }
      if inputs.count == 1 {
        try broadcastCopy(try typedInput(inputs, 0, T.dtype), into: out)
      } else {
        try broadcastBinary(try typedInput(inputs, 0, T.dtype), try typedInput(inputs, 1, T.dtype), out) { (x: T, y: T) in Op.f(x, y) }
        for i in 2..<inputs.count {
          try broadcastBinary(out, try typedInput(inputs, i, T.dtype), out) { (x: T, y: T) in Op.f(x, y) }
        }
      }
      if mean {
        let n = T.fromInt(inputs.count)
        try mapUnary(out, out) { (x: T) in T.div(x, n) }
      }
    }
  }
}
private func variadic<Op: NumericBinaryOp>(_: Op.Type, mean: Bool = false) -> Kernel {
  widenHalfTypes(Kernel { ctx in try dispatchArithmetic(commonInputType(ctx, ctx.inputTypes.count), VariadicEval<Op>(mean: mean)) })
}

/// Where(cond, x, y): selects whole elements, so any element type is moved by its width.
private let whereKernel = Kernel { ctx in
  guard try ctx.dtype(0) == .bool else { throw GraphError("Where condition must be bool, got \(try ctx.dtype(0).shortName)") }
  let t = try ctx.dtype(1)
  guard try ctx.dtype(2) == t else { throw GraphError("Where type mismatch: \(t.shortName) and \(try ctx.dtype(2).shortName)") }
  func make<E>(_: E.Type) -> KernelEval {
    { inputs, outputs in
      try broadcastTernary(try typedInput(inputs, 0, .bool), try typedInput(inputs, 1, t), try typedInput(inputs, 2, t), try typedOutput(outputs, 0, t)) {
        (c: UInt8, x: E, y: E) in c != 0 ? x : y
      }
    }
  }
  switch t.byteSize {
  case 1: return make(UInt8.self)
  case 2: return make(UInt16.self)
  case 4: return make(UInt32.self)
  case 8: return make(UInt64.self)
  default: throw GraphError("Where does not support element type \(t.shortName)")
  }
}
