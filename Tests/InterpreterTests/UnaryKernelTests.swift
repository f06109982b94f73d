// UnaryKernelTests.swift - Unary element-wise kernels: float math, integer paths, Clip, predicates.

import GraphIR
import Interpreter
import Testing

struct UnaryCase: CustomTestStringConvertible, Sendable {
  let op: String
  let attributes: AttributeMap
  let input: [Double]
  let expected: [Double]
  init(_ op: String, _ attributes: AttributeMap, _ input: [Double], _ expected: [Double]) {
    self.op = op; self.attributes = attributes; self.input = input; self.expected = expected
  }
  var testDescription: String { attributes.isEmpty ? op : "\(op) \(attributes.keys.sorted())" }
}

/// Expected values are onnxruntime 1.x outputs for the same float32 inputs (opset 22).
let unaryFloatCases: [UnaryCase] = [
    UnaryCase("Relu", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 2.5]),
    UnaryCase("LeakyRelu", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.02499999850988388, -0.009999999776482582, -0.004999999888241291, 0.0, 0.5, 1.0, 2.5]),
    UnaryCase("LeakyRelu", ["alpha": .float(0.2)], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.5, -0.20000000298023224, -0.10000000149011612, 0.0, 0.5, 1.0, 2.5]),
    UnaryCase("Sigmoid", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [0.07585817575454712, 0.2689414322376251, 0.3775407075881958, 0.5, 0.6224592924118042, 0.7310585975646973, 0.9241418242454529]),
    UnaryCase("Tanh", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.9866143465042114, -0.7615941762924194, -0.46211716532707214, 0.0, 0.46211716532707214, 0.7615941762924194, 0.9866143465042114]),
    UnaryCase("HardSigmoid", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [0.0, 0.30000001192092896, 0.4000000059604645, 0.5, 0.6000000238418579, 0.699999988079071, 1.0]),
    UnaryCase("HardSwish", [:], [-4.0, -3.0, -1.0, 0.0, 1.0, 3.0, 4.0], [-0.0, -0.0, -0.3333333134651184, 0.0, 0.6666666865348816, 3.0, 4.0]),
    UnaryCase("Gelu", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.015524104237556458, -0.15865525603294373, -0.1542687714099884, 0.0, 0.3457312285900116, 0.8413447141647339, 2.484476089477539]),
    UnaryCase("Gelu", ["approximate": .string("tanh")], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.015084296464920044, -0.15880796313285828, -0.1542859971523285, 0.0, 0.3457140028476715, 0.8411920070648193, 2.4849157333374023]),
    UnaryCase("Erf", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.9995930790901184, -0.8427007794380188, -0.5204998850822449, 0.0, 0.5204998850822449, 0.8427007794380188, 0.9995930790901184]),
    UnaryCase("Softplus", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5, 30.0, -30.0], [0.07888974249362946, 0.3132616877555847, 0.4740769863128662, 0.6931471824645996, 0.9740769863128662, 1.3132617473602295, 2.578889846801758, 30.0, 9.357622912219837e-14]),
    UnaryCase("Sqrt", [:], [0.0, 0.25, 0.5, 1.0, 2.0, 9.0], [0.0, 0.5, 0.7071067690849304, 1.0, 1.4142135381698608, 3.0]),
    UnaryCase("Exp", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [0.08208499848842621, 0.3678794503211975, 0.6065306663513184, 1.0, 1.6487212181091309, 2.7182817459106445, 12.182494163513184]),
    UnaryCase("Log", [:], [0.25, 0.5, 1.0, 2.0, 9.0], [-1.3862943649291992, -0.6931471824645996, 0.0, 0.6931471824645996, 2.1972246170043945]),
    UnaryCase("Neg", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [2.5, 1.0, 0.5, -0.0, -0.5, -1.0, -2.5]),
    UnaryCase("Abs", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [2.5, 1.0, 0.5, 0.0, 0.5, 1.0, 2.5]),
    UnaryCase("Reciprocal", [:], [-2.5, -1.0, -0.5, 0.5, 1.0, 2.5], [-0.4000000059604645, -1.0, -2.0, 2.0, 1.0, 0.4000000059604645]),
    UnaryCase("Softsign", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.7142857313156128, -0.5, -0.3333333432674408, 0.0, 0.3333333432674408, 0.5, 0.7142857313156128]),
    UnaryCase("Elu", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.9179149866104126, -0.6321205496788025, -0.39346933364868164, 0.0, 0.5, 1.0, 2.5]),
    UnaryCase("Elu", ["alpha": .float(0.5)], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.4589574933052063, -0.31606027483940125, -0.19673466682434082, 0.0, 0.5, 1.0, 2.5]),
    UnaryCase("Selu", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-1.613785743713379, -1.1113307476043701, -0.6917581558227539, 0.0, 0.5253505110740662, 1.0507010221481323, 2.6267526149749756]),
    UnaryCase("Celu", ["alpha": .float(2.0)], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-1.4269903898239136, -0.7869386672973633, -0.44239842891693115, 0.0, 0.5, 1.0, 2.5]),
    UnaryCase("ThresholdedRelu", ["alpha": .float(0.5)], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.5]),
    UnaryCase("Floor", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-3.0, -1.0, -1.0, 0.0, 0.0, 1.0, 2.0]),
    UnaryCase("Ceil", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-2.0, -1.0, -0.0, 0.0, 1.0, 1.0, 3.0]),
    UnaryCase("Round", [:], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.6], [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 3.0]),
    UnaryCase("Sign", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-1.0, -1.0, -1.0, 0.0, 1.0, 1.0, 1.0]),
    UnaryCase("Sin", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.5984721779823303, -0.8414709568023682, -0.4794255495071411, 0.0, 0.4794255495071411, 0.8414709568023682, 0.5984721183776855]),
    UnaryCase("Cos", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-0.8011435866355896, 0.5403022766113281, 0.8775825500488281, 1.0, 0.8775825500488281, 0.5403022766113281, -0.8011435866355896]),
    UnaryCase("Tan", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [0.7470223307609558, -1.5574077367782593, -0.5463024973869324, 0.0, 0.5463024973869324, 1.5574077367782593, -0.7470223307609558]),
    UnaryCase("Asin", [:], [-0.9, -0.5, 0.0, 0.5, 0.9], [-1.11976957321167, -0.5235987305641174, 0.0, 0.5235987305641174, 1.1197694540023804]),
    UnaryCase("Acos", [:], [-0.9, -0.5, 0.0, 0.5, 0.9], [2.690565824508667, 2.094395160675049, 1.5707963705062866, 1.0471975803375244, 0.4510268568992615]),
    UnaryCase("Atan", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-1.1902899742126465, -0.7853981256484985, -0.4636475443840027, 0.0, 0.46364760398864746, 0.7853981852531433, 1.1902899742126465]),
    UnaryCase("Sinh", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-6.050204753875732, -1.175201177597046, -0.5210952758789062, 0.0, 0.5210952758789062, 1.175201177597046, 6.050204753875732]),
    UnaryCase("Cosh", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [6.132289409637451, 1.5430805683135986, 1.1276259422302246, 1.0, 1.1276259422302246, 1.5430805683135986, 6.132289409637451]),
    UnaryCase("Asinh", [:], [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5], [-1.6472312211990356, -0.8813735842704773, -0.4812118411064148, 0.0, 0.4812118411064148, 0.8813735842704773, 1.6472312211990356]),
    UnaryCase("Acosh", [:], [1.0, 1.5, 2.0, 10.0], [0.0, 0.9624236822128296, 1.316957950592041, 2.993222951889038]),
    UnaryCase("Atanh", [:], [-0.9, -0.5, 0.0, 0.5, 0.9], [-1.4722193479537964, -0.5493061542510986, 0.0, 0.5493061542510986, 1.4722193479537964]),
]

struct UnaryKernelTests {
  @Test(arguments: unaryFloatCases)
  func float32MatchesOnnxRuntime(_ c: UnaryCase) throws {
    let y = try EW.run(c.op, c.attributes, [EW.f32([c.input.count], c.input.map { Float($0) })])
    EW.expectClose(y, c.expected, shape: [c.input.count], dtype: .float32, atol: 1e-6, rtol: 2e-6)
  }

  @Test(arguments: unaryFloatCases)
  func float64AgreesWithFloat32(_ c: UnaryCase) throws {
    // The float64 path computes the same math at higher precision.
    let y = try EW.run(c.op, c.attributes, [EW.f64([c.input.count], c.input)])
    EW.expectClose(y, c.expected, shape: [c.input.count], dtype: .float64, atol: 1e-6, rtol: 1e-6)
  }

  @Test func shapesAndRankZeroAndEmpty() throws {
    EW.expectClose(try EW.run("Exp", [:], [EW.f32([], [0])]), [1], shape: [])
    EW.expectClose(try EW.run("Sigmoid", [:], [EW.f32([2, 0, 3], [])]), [], shape: [2, 0, 3])
    EW.expectClose(try EW.run("Neg", [:], [EW.f32([2, 2], [1, -2, 3, -4])]), [-1, 2, -3, 4], shape: [2, 2])
  }

  @Test func sigmoidIsStableAtTheExtremes() throws {
    EW.expectClose(try EW.run("Sigmoid", [:], [EW.f32([4], [-200, -90, 90, 200])]), [0, 8.194012e-40, 1, 1], atol: 1e-45)
  }

  @Test func float16InputsAreComputedInFloat32() throws {
    let x = try convertTensor(EW.f32([3], [-1, 0, 2]), to: .float16)
    let y = try EW.run("Relu", [:], [x])
    #expect(y.dtype == .float16)
    EW.expectClose(y, [0, 0, 2])
    // test_isnan_float16: IsNaN of half values gives bools.
    let h = try convertTensor(EW.f32([3], [.nan, 1, .infinity]), to: .float16)
    EW.expectBools(try EW.run("IsNaN", [:], [h]), [true, false, false])
  }

  @Test func integerNegAbsSignRelu() throws {
    let x = EW.i8([5], [-128, -3, 0, 3, 127])
    // The minimum wraps to itself under negation, as in C and numpy.
    EW.expectExact(try EW.run("Neg", [:], [x]), [-128, 3, 0, -3, -127] as [Int], dtype: .int8)
    EW.expectExact(try EW.run("Abs", [:], [x]), [-128, 3, 0, 3, 127] as [Int], dtype: .int8)
    EW.expectExact(try EW.run("Sign", [:], [x]), [-1, -1, 0, 1, 1] as [Int], dtype: .int8)
    EW.expectExact(try EW.run("Relu", [:], [x]), [0, 0, 0, 3, 127] as [Int], dtype: .int8)
    let y = EW.i64([3], [-5_000_000_000, 0, 7])
    EW.expectExact(try EW.run("Abs", [:], [y]), [5_000_000_000, 0, 7] as [Int], dtype: .int64)
    EW.expectExact(try EW.run("Relu", [:], [EW.i32([3], [-1, 0, 9])]), [0, 0, 9] as [Int], dtype: .int32)
    EW.expectExact(try EW.run("Abs", [:], [EW.u8([2], [0, 255])]), [0, 255] as [Int], dtype: .uint8)
  }

  @Test func floatSpecialValues() throws {
    EW.expectClose(try EW.run("Abs", [:], [EW.f32([2], [-0.0, .nan])]), [0, .nan])
    EW.expectClose(try EW.run("Sign", [:], [EW.f32([2], [.nan, -.infinity])]), [.nan, -1])
    EW.expectClose(try EW.run("Relu", [:], [EW.f32([1], [.nan])]), [.nan])
  }

  @Test func isInfFlags() throws {
    // test_isinf, test_isinf_negative, test_isinf_positive.
    let x = EW.f32([6], [-1.7, .nan, .infinity, -3.6, -.infinity, .infinity])
    EW.expectBools(try EW.run("IsInf", [:], [x]), [false, false, true, false, true, true])
    EW.expectBools(try EW.run("IsInf", ["detect_positive": .int(0)], [x]), [false, false, false, false, true, false])
    EW.expectBools(try EW.run("IsInf", ["detect_negative": .int(0)], [x]), [false, false, true, false, false, true])
    EW.expectBools(try EW.run("IsNaN", [:], [x]), [false, true, false, false, false, false])
  }

  @Test func notOnBools() throws {
    EW.expectBools(try EW.run("Not", [:], [EW.bools([3], [true, false, true])]), [false, true, false])
  }

  @Test func clip() throws {
    // test_clip_example, test_clip_min_greater_than_max.
    EW.expectClose(try EW.run("Clip", [:], [EW.f32([3], [-2, 0, 2]), EW.f32([], [-1]), EW.f32([], [1])]), [-1, 0, 1])
    EW.expectClose(try EW.run("Clip", [:], [EW.f32([3], [-2, 0, 6]), EW.f32([], [2]), EW.f32([], [1])]), [1, 1, 1])
    // Absent bounds: only max (min is nil), only min, neither.
    EW.expectClose(try EW.run("Clip", [:], [EW.f32([3], [-2, 0, 6]), nil, EW.f32([1], [1])]), [-2, 0, 1])
    EW.expectClose(try EW.run("Clip", [:], [EW.f32([3], [-2, .nan, 6]), EW.f32([], [0])]), [0, .nan, 6])
    EW.expectClose(try EW.run("Clip", [:], [EW.f32([2], [-2, 6])]), [-2, 6])
    // test_clip_default_int8_min and an int8 max-only case.
    EW.expectExact(try EW.run("Clip", [:], [EW.i8([4], [-128, -1, 5, 127]), EW.i8([], [0])]), [0, 0, 5, 127] as [Int], dtype: .int8)
    EW.expectExact(try EW.run("Clip", [:], [EW.i8([4], [-128, -1, 5, 127]), nil, EW.i8([], [4])]), [-128, -1, 4, 4] as [Int])
    EW.expectExact(try EW.run("Clip", [:], [EW.i64([3], [-9, 3, 9]), EW.i64([], [-2]), EW.i64([], [4])]), [-2, 3, 4] as [Int])
  }

  @Test func clipRejectsBadBounds() {
    EW.expectError("scalar") { _ = try EW.run("Clip", [:], [EW.f32([3], [1, 2, 3]), EW.f32([2], [0, 1])]) }
    EW.expectError("type mismatch") { _ = try EW.run("Clip", [:], [EW.f32([1], [1]), EW.i32([], [0])]) }
  }

  @Test func rejectsWrongTypes() {
    EW.expectError("expected a float type") { _ = try EW.run("Sigmoid", [:], [EW.i32([1], [1])]) }
    EW.expectError("bool") { _ = try EW.run("Not", [:], [EW.f32([1], [1])]) }
    EW.expectError("approximate") { _ = try EW.run("Gelu", ["approximate": .string("fast")], [EW.f32([1], [1])]) }
  }
}
