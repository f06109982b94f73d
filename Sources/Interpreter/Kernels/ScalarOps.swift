// ScalarOps.swift - The scalar definition of every element-wise op: the living reference the kernels specialize.
//
// As in tinygrad's `python_alu`, each op is one line of math. An op is a caseless enum so the
// kernel factories can take it as a static type parameter: every (op, dtype) pair compiles to
// its own loop with the math inlined, with no per-element dispatch.

import GraphIR

/// Attribute values of a unary op, read once at prepare.
struct UnaryParams {
  var alpha = 0.0, beta = 0.0, gamma = 0.0
  var flag1 = false, flag2 = false
}

/// `UnaryParams` converted to the element type once per eval, outside the loop.
struct ScalarParams<T: FloatElement> {
  let alpha: T, beta: T, gamma: T
  let flag1: Bool, flag2: Bool
  init(_ p: UnaryParams) {
    alpha = T(p.alpha); beta = T(p.beta); gamma = T(p.gamma)
    flag1 = p.flag1; flag2 = p.flag2
  }
}

/// A unary op on float32/float64.
protocol FloatUnaryOp {
  static func params(_ a: AttributeMap) throws -> UnaryParams
  static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T
}
extension FloatUnaryOp {
  static func params(_ a: AttributeMap) throws -> UnaryParams { UnaryParams() }
}

/// A unary float predicate (result bool).
protocol FloatPredicateOp {
  static func params(_ a: AttributeMap) throws -> UnaryParams
  static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> Bool
}

/// A unary op on every arithmetic type, integers included.
protocol NumericUnaryOp { static func f<T: ArithmeticElement>(_ x: T) -> T }

/// A binary op on two operands of one arithmetic type. `dividesBy` ops make eval reject an
/// integer zero in the second operand before running.
protocol NumericBinaryOp {
  static var dividesBy: Bool { get }
  static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T
}
extension NumericBinaryOp { static var dividesBy: Bool { false } }

/// A comparison (result bool).
protocol CompareOp { static func f<T: Comparable>(_ a: T, _ b: T) -> Bool }

/// A logic op on bools.
protocol LogicOp { static func f(_ a: Bool, _ b: Bool) -> Bool }

// MARK: - Unary float ops

enum ScalarOps {
  enum Sigmoid: FloatUnaryOp {
    // Split by sign so exp never overflows to inf/inf.
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T {
      if x >= 0 { return 1 / (1 + T.exp(-x)) }
      let e = T.exp(x)
      return e / (1 + e)
    }
  }
  /// SiLU (swish), `x * sigmoid(x)`: no ONNX op of its own before opset 22's Swish; fused convs apply it.
  enum SiLU: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x * Sigmoid.f(x, p) } }
  enum Tanh: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.tanh(x) } }
  enum LeakyRelu: FloatUnaryOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams { UnaryParams(alpha: Double(try a.float("alpha", default: 0.01))) }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x < 0 ? p.alpha * x : x }
  }
  enum HardSigmoid: FloatUnaryOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams {
      UnaryParams(alpha: Double(try a.float("alpha", default: 0.2)), beta: Double(try a.float("beta", default: 0.5)))
    }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { Swift.max(0, Swift.min(1, p.alpha * x + p.beta)) }
  }
  enum HardSwish: FloatUnaryOp {
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x * Swift.max(0, Swift.min(1, x / 6 + T(0.5))) }
  }
  enum GeluErf: FloatUnaryOp {
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T(0.5) * x * (1 + T.erf(x * T(0.7071067811865476))) }
  }
  enum GeluTanh: FloatUnaryOp {
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T {
      T(0.5) * x * (1 + T.tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)))
    }
  }
  enum Erf: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.erf(x) } }
  enum Softplus: FloatUnaryOp {
    // log(1 + e^x), arranged so neither branch overflows.
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x > 0 ? x + T.log1p(T.exp(-x)) : T.log1p(T.exp(x)) }
  }
  enum Sqrt: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.sqrt(x) } }
  enum Exp: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.exp(x) } }
  enum Log: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.log(x) } }
  enum Reciprocal: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { 1 / x } }
  enum Softsign: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x / (1 + x.magnitude) } }
  enum Elu: FloatUnaryOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams { UnaryParams(alpha: Double(try a.float("alpha", default: 1))) }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x < 0 ? p.alpha * T.expm1(x) : x }
  }
  enum Selu: FloatUnaryOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams {
      UnaryParams(alpha: Double(try a.float("alpha", default: 1.67326319217681884765625)),
                  gamma: Double(try a.float("gamma", default: 1.05070102214813232421875)))
    }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x > 0 ? p.gamma * x : p.gamma * p.alpha * T.expm1(x) }
  }
  enum Celu: FloatUnaryOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams { UnaryParams(alpha: Double(try a.float("alpha", default: 1))) }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { Swift.max(0, x) + Swift.min(0, p.alpha * T.expm1(x / p.alpha)) }
  }
  enum ThresholdedRelu: FloatUnaryOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams { UnaryParams(alpha: Double(try a.float("alpha", default: 1))) }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x > p.alpha ? x : 0 }
  }
  enum Floor: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x.rounded(.down) } }
  enum Ceil: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x.rounded(.up) } }
  enum Round: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { x.rounded(.toNearestOrEven) } }
  enum Sin: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.sin(x) } }
  enum Cos: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.cos(x) } }
  enum Tan: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.tan(x) } }
  enum Asin: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.asin(x) } }
  enum Acos: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.acos(x) } }
  enum Atan: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.atan(x) } }
  enum Sinh: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.sinh(x) } }
  enum Cosh: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.cosh(x) } }
  enum Asinh: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.asinh(x) } }
  enum Acosh: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.acosh(x) } }
  enum Atanh: FloatUnaryOp { static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> T { T.atanh(x) } }

  // MARK: Float predicates

  enum IsNaN: FloatPredicateOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams { UnaryParams() }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> Bool { x.isNaN }
  }
  /// flag1 = detect_negative, flag2 = detect_positive.
  enum IsInf: FloatPredicateOp {
    static func params(_ a: AttributeMap) throws -> UnaryParams {
      UnaryParams(flag1: try a.int("detect_negative", default: 1) != 0, flag2: try a.int("detect_positive", default: 1) != 0)
    }
    static func f<T: FloatElement>(_ x: T, _ p: ScalarParams<T>) -> Bool {
      (p.flag1 && x == -.infinity) || (p.flag2 && x == .infinity)
    }
  }

  // MARK: Unary ops on every numeric type

  enum Neg: NumericUnaryOp { static func f<T: ArithmeticElement>(_ x: T) -> T { T.neg(x) } }
  // `neg` of the smallest signed integer wraps to itself, as in C and numpy.
  enum Abs: NumericUnaryOp { static func f<T: ArithmeticElement>(_ x: T) -> T { x < T.zero || x == T.zero ? T.sub(T.zero, x) : x } }
  // NaN and signed zeros pass through unchanged.
  enum Sign: NumericUnaryOp { static func f<T: ArithmeticElement>(_ x: T) -> T { x > T.zero ? T.one : x < T.zero ? T.neg(T.one) : x } }
  enum Relu: NumericUnaryOp { static func f<T: ArithmeticElement>(_ x: T) -> T { x < T.zero ? T.zero : x } }

  /// Clip's clamp: below `lo` gives `lo`, then above `hi` gives `hi` (so `lo > hi` gives `hi`,
  /// as ONNX says); NaN passes through.
  @inline(__always)
  static func clip<T: Comparable>(_ x: T, _ lo: T, _ hi: T) -> T {
    var v = x
    if v < lo { v = lo }
    if v > hi { v = hi }
    return v
  }

  // MARK: Binary arithmetic

  enum Add: NumericBinaryOp { static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { T.add(a, b) } }
  enum Sub: NumericBinaryOp { static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { T.sub(a, b) } }
  enum Mul: NumericBinaryOp { static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { T.mul(a, b) } }
  enum Div: NumericBinaryOp {
    static var dividesBy: Bool { true }
    static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { T.div(a, b) }
  }
  enum ModPython: NumericBinaryOp {
    static var dividesBy: Bool { true }
    static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { T.mod(a, b, fmod: false) }
  }
  enum ModC: NumericBinaryOp {
    static var dividesBy: Bool { true }
    static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { T.mod(a, b, fmod: true) }
  }
  enum PRelu: NumericBinaryOp { static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { a < T.zero ? T.mul(a, b) : a } }
  // NaN wins, as in numpy's minimum/maximum (`a != a` is false for integers and folds away).
  enum Min: NumericBinaryOp { static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { a < b || a != a ? a : b } }
  enum Max: NumericBinaryOp { static func f<T: ArithmeticElement>(_ a: T, _ b: T) -> T { a > b || a != a ? a : b } }

  // MARK: Comparisons and logic

  enum Equal: CompareOp { static func f<T: Comparable>(_ a: T, _ b: T) -> Bool { a == b } }
  enum Less: CompareOp { static func f<T: Comparable>(_ a: T, _ b: T) -> Bool { a < b } }
  enum Greater: CompareOp { static func f<T: Comparable>(_ a: T, _ b: T) -> Bool { a > b } }
  enum LessOrEqual: CompareOp { static func f<T: Comparable>(_ a: T, _ b: T) -> Bool { a <= b } }
  enum GreaterOrEqual: CompareOp { static func f<T: Comparable>(_ a: T, _ b: T) -> Bool { a >= b } }

  enum And: LogicOp { static func f(_ a: Bool, _ b: Bool) -> Bool { a && b } }
  enum Or: LogicOp { static func f(_ a: Bool, _ b: Bool) -> Bool { a || b } }
  enum Xor: LogicOp { static func f(_ a: Bool, _ b: Bool) -> Bool { a != b } }
}

/// Integer power by squaring with wrapping multiplication. A negative exponent truncates
/// 1/base^-e toward zero (0 unless |base| is 1; a zero base gives 0 rather than a trap).
@inline(__always)
func integerPower<T: FixedWidthInteger>(_ base: T, _ exponent: Int64) -> T {
  if exponent < 0 {
    if base == 1 { return 1 }
    if T.isSigned && base == -1 { return exponent & 1 == 0 ? 1 : base }
    return 0
  }
  var result: T = 1, b = base, e = exponent
  while e > 0 {
    if e & 1 == 1 { result = result &* b }
    b = b &* b
    e >>= 1
  }
  return result
}
