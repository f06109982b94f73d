// QuantizedKernelTests.swift - Fixed-point requantization, QLinear and QConv against a float
// simulation of the same quantized arithmetic, int4 against int8 bit for bit, and the C integer
// GEMM against the scalar fixed-point reference bit for bit.

import CKernels
import GraphIR
@testable import Interpreter
import Testing

/// Prepares and runs one integer op with quantized operand and result types (the one-op
/// `evaluate` sees plain tensors, which carry no quantization parameters).
/// With `constantWeights`, W (input 1) is presented as a model constant, which the kernel may
/// prepare at load.
private func runQuantized(
  _ op: String, _ attrs: AttributeMap = [:], _ inputs: [(Tensor, Quantization?)], result: TensorType,
  constantWeights: Bool = false
) throws -> Tensor {
  let kernel = try #require(KernelRegistry.shared.kernel(for: op))
  let types: [TensorType?] = inputs.map { t, q in TensorType(t.dtype, shape: t.shape, quant: q) }
  let ctx = KernelContext(op: op, nodeName: "n", attributes: attrs, inputTypes: types, outputTypes: [result],
                          constantInputs: constantWeights ? [nil, inputs[1].0] : [])
  let y = Tensor(zeros: result.dtype, shape: try #require(result.staticShape))
  try kernel.prepare(ctx)(inputs.map { $0.0 }, [y])
  return y
}

/// Integers in `range`, reproducibly.
private func ints(_ n: Int, _ range: ClosedRange<Int>, _ rng: inout SeededRandom) -> [Int] {
  (0..<n).map { _ in range.lowerBound + Int(rng.next() % UInt64(range.count)) }
}

private func tensor(_ dtype: DType, _ shape: [Int], _ v: [Int]) -> Tensor {
  let t = Tensor(zeros: dtype, shape: shape)
  for (i, x) in v.enumerated() {
    switch dtype {
    case .int8: t.pointer(as: Int8.self)[i] = Int8(x)
    case .uint8: t.pointer(as: UInt8.self)[i] = UInt8(x)
    case .int32: t.pointer(as: Int32.self)[i] = Int32(x)
    case .int4: storeInt4(Int8(x), at: i, in: t.rawPointer)
    default: break
    }
  }
  return t
}

/// The float simulation: `clamp(z_y + round(M * acc))` with `M` in double precision.
private func simulate(_ acc: Int, multiplier: Double, zy: Int, lo: Int, hi: Int) -> Int {
  min(max(zy + Int((multiplier * Double(acc)).rounded()), lo), hi)
}

private func expectWithinOneLSB(_ y: Tensor, _ expected: [Int], sourceLocation: SourceLocation = #_sourceLocation) {
  var worst = 0
  for i in 0..<expected.count { worst = max(worst, abs(Int(y.double(at: i)) - expected[i])) }
  #expect(worst <= 1, "largest difference \(worst) LSB", sourceLocation: sourceLocation)
}

struct FixedPointTests {
  @Test func roundingDivideByPowerOfTwoRoundsHalfAwayFromZero() {
    #expect(roundingDivideByPOT(5, 1) == 3)
    #expect(roundingDivideByPOT(-5, 1) == -3)
    #expect(roundingDivideByPOT(-4, 1) == -2)
    #expect(roundingDivideByPOT(7, 2) == 2)
    #expect(roundingDivideByPOT(-6, 2) == -2)  // -1.5 -> -2
    #expect(roundingDivideByPOT(Int32.max, 31) == 1)
    #expect(roundingDivideByPOT(123, 0) == 123)
  }

  @Test func doublingHighMulSaturatesOnlyTheMinTimesMinCase() {
    #expect(saturatingRoundingDoublingHighMul(.min, .min) == .max)
    #expect(saturatingRoundingDoublingHighMul(1 << 30, 1 << 30) == 1 << 29)  // 2^60 / 2^31
    #expect(saturatingRoundingDoublingHighMul(3, 1 << 30) == 2)  // 1.5 rounds up
    #expect(saturatingRoundingDoublingHighMul(.max, .max) == Int32.max - 1)  // (2^31-1)^2 / 2^31
  }

  @Test(arguments: [
    (0.5, Int32(1 << 30), 0), (1.0, Int32(1 << 30), 1), (0.75, Int32(1_610_612_736), 0),
    (0.0009765625, Int32(1 << 30), -9), (3.0, Int32(1_610_612_736), 2),
  ])
  func multipliersAreQ31WithAShift(m: Double, m0: Int32, shift: Int) {
    #expect(QuantizedMultiplier(m) == QuantizedMultiplier.init(m0: m0, shift: shift))
  }
}

extension QuantizedMultiplier {
  init(m0: Int32, shift: Int) {
    self.init(0)
    self.m0 = m0
    self.shift = shift
  }
}

struct QuantizedKernelTests {
  /// (m, k, n, signed activations, x zero point, output scale): odd sizes, negative zero
  /// points, and output scales that put the multiplier s_x s_w / s_y from 2^-24 to 2^6, that
  /// is every right-shift range and left shifts too.
  static let linearCases: [(Int, Int, Int, Bool, Int, Float)] = [
    (1, 1, 1, true, 0, 0.05), (3, 7, 5, true, -5, 0.05), (5, 33, 17, true, 17, 1e-3),
    (2, 19, 300, false, 131, 0.5), (17, 9, 3, true, -128, 40), (4, 13, 11, false, 0, 3e-6),
    (1, 64, 257, true, 3, 1e-5), (6, 5, 9, true, -1, 2e-4),
  ]

  @Test(arguments: linearCases)
  func qlinearMatchesTheFloatSimulation(m: Int, k: Int, n: Int, signed: Bool, zx: Int, sy: Float) throws {
    var rng = SeededRandom(seed: UInt64(m * 1000 + k * 10 + n))
    let xRange = signed ? -128...127 : 0...255
    let xv = ints(m * k, xRange, &rng), wv = ints(k * n, -127...127, &rng), bv = ints(n, -5000...5000, &rng)
    let sx: Float = 0.02
    let sw = (0..<n).map { Float(0.001 + 0.002 * Double($0 % 7)) }
    let zy = signed ? -7 : 120
    let dtype: DType = signed ? .int8 : .uint8
    let y = try runQuantized(
      "graphc.QLinear", [:],
      [(tensor(dtype, [m, k], xv), Quantization(scale: sx, zeroPoint: Int32(zx))),
       (tensor(.int8, [k, n], wv), Quantization(axis: 1, scales: sw)),
       (tensor(.int32, [n], bv), nil)],
      result: TensorType(dtype, shape: [m, n], quant: Quantization(scale: sy, zeroPoint: Int32(zy))))
    var expected: [Int] = []
    let range = signed ? (-128, 127) : (0, 255)
    for i in 0..<m {
      for j in 0..<n {
        var acc = bv[j]
        for kk in 0..<k { acc += xv[i * k + kk] * wv[kk * n + j] }
        let mult = Double(sx) * Double(sw[j]) / Double(sy)
        expected.append(simulate(acc, multiplier: mult, zy: zy, lo: range.0, hi: range.1))
      }
    }
    expectWithinOneLSB(y, expected)
  }

  @Test func fusedClipNarrowsTheOutputRange() throws {
    // Relu6 on an int8 output with s_y = 0.05, z_y = -10: [max(-128, -10 + 0), min(127, -10 + 120)].
    var rng = SeededRandom(seed: 7)
    let xv = ints(4 * 8, -128...127, &rng), wv = ints(8 * 6, -127...127, &rng)
    let y = try runQuantized(
      "graphc.QLinear", ["clip": .floats([0, 6])],
      [(tensor(.int8, [4, 8], xv), Quantization(scale: 0.05, zeroPoint: 3)),
       (tensor(.int8, [8, 6], wv), Quantization(scale: 0.01))],
      result: TensorType(.int8, shape: [4, 6], quant: Quantization(scale: 0.05, zeroPoint: -10)))
    var expected: [Int] = []
    for i in 0..<4 {
      for j in 0..<6 {
        var acc = 0
        for kk in 0..<8 { acc += xv[i * 8 + kk] * wv[kk * 6 + j] }
        // No bias operand: the kernel sums raw products (a bias would absorb -z_x * sum w).
        expected.append(simulate(acc, multiplier: 0.01, zy: -10, lo: -10, hi: 110))
      }
    }
    expectWithinOneLSB(y, expected)
    #expect((0..<24).allSatisfy { (-10...110).contains(Int(y.double(at: $0))) })
  }

  @Test(arguments: [(3, 5, 7), (2, 8, 256), (5, 3, 1)])
  func int4WeightsGiveExactlyTheInt8Result(m: Int, k: Int, n: Int) throws {
    var rng = SeededRandom(seed: UInt64(m + k + n))
    let xv = ints(m * k, -128...127, &rng), wv = ints(k * n, -7...7, &rng), bv = ints(n, -300...300, &rng)
    let wq = Quantization(axis: 1, scales: (0..<n).map { Float($0 + 1) * 0.01 })
    func run(_ wdtype: DType) throws -> Tensor {
      try runQuantized(
        "graphc.QLinear", [:],
        [(tensor(.int8, [m, k], xv), Quantization(scale: 0.1, zeroPoint: -3)),
         (tensor(wdtype, [k, n], wv), wq), (tensor(.int32, [n], bv), nil)],
        result: TensorType(.int8, shape: [m, n], quant: Quantization(scale: 0.3, zeroPoint: 4)))
    }
    #expect(try run(.int4).bitwiseEqual(try run(.int8)))
  }

  /// (batch, in channels, out channels, group, size, kernel, stride, pad, dilation, x zero point)
  static let convCases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)] = [
    (1, 3, 5, 1, 7, 3, 1, 1, 1, -9), (2, 4, 6, 2, 6, 3, 2, 1, 1, 100), (1, 3, 3, 3, 5, 3, 1, 2, 2, 0),
    (1, 5, 4, 1, 4, 1, 1, 0, 1, -128),
  ]

  @Test(arguments: convCases)
  func qconvMatchesTheFloatSimulation(
    n: Int, c: Int, mOut: Int, group: Int, size: Int, kernel: Int, stride: Int, pad: Int, dilation: Int, zx: Int
  ) throws {
    var rng = SeededRandom(seed: UInt64(c * 100 + mOut + size))
    let cg = c / group, mg = mOut / group
    let xv = ints(n * c * size * size, -128...127, &rng)
    let wv = ints(mOut * cg * kernel * kernel, -7...7, &rng), bv = ints(mOut, -2000...2000, &rng)
    let out = (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1
    let sw = (0..<mOut).map { Float($0 + 1) * 0.004 }
    let attrs: AttributeMap = ["strides": .ints([stride, stride]), "pads": .ints([pad, pad, pad, pad]),
                               "dilations": .ints([dilation, dilation]), "group": .int(group)]
    let resultType = TensorType(.int8, shape: [n, mOut, out, out], quant: Quantization(scale: 0.07, zeroPoint: 5))
    func run(_ wdtype: DType) throws -> Tensor {
      try runQuantized(
        "graphc.QConv", attrs,
        [(tensor(.int8, [n, c, size, size], xv), Quantization(scale: 0.03, zeroPoint: Int32(zx))),
         (tensor(wdtype, [mOut, cg, kernel, kernel], wv), Quantization(axis: 0, scales: sw)),
         (tensor(.int32, [mOut], bv), nil)],
        result: resultType)
    }
    let y = try run(.int8)
    // Direct convolution on real-zero-centred inputs: padding contributes (z_x - z_x) = 0, so
    // the accumulator is bias + sum w * (x - z_x) with the z_x term absorbed here by hand.
    var expected: [Int] = []
    for b in 0..<n { for o in 0..<mOut { for oh in 0..<out { for ow in 0..<out {
      let g = o / mg
      var acc = bv[o]
      for ci in 0..<cg { for kh in 0..<kernel { for kw in 0..<kernel {
        let ih = oh * stride - pad + kh * dilation, iw = ow * stride - pad + kw * dilation
        let xq = (ih < 0 || ih >= size || iw < 0 || iw >= size) ? zx : xv[((b * c + g * cg + ci) * size + ih) * size + iw]
        acc += wv[((o * cg + ci) * kernel + kh) * kernel + kw] * (xq - zx)
      } } }
      // The kernel adds the raw products; the caller's bias absorbs -z_x * sum(w).
      let wsum = (0..<(cg * kernel * kernel)).reduce(0) { $0 + wv[o * cg * kernel * kernel + $1] }
      expected.append(simulate(acc + zx * wsum, multiplier: 0.03 * Double(sw[o]) / 0.07, zy: 5, lo: -128, hi: 127))
    } } } }
    expectWithinOneLSB(y, expected)
    #expect(try run(.int4).bitwiseEqual(y))
  }

  @Test func missingResultParametersAreALoadError() throws {
    try expectQLinearLoadError(result: TensorType(.int8, shape: [1, 2]), saying: "per-tensor quantization parameters")
  }
}

/// Preparing a 1 x 2 by 2 x 2 QLinear whose result has type `result` fails with `text`.
private func expectQLinearLoadError(result: TensorType, _ attributes: AttributeMap = [:], saying text: String) throws {
  let kernel = try #require(KernelRegistry.shared.kernel(for: "graphc.QLinear"))
  let ctx = KernelContext(
    op: "graphc.QLinear", nodeName: "n", attributes: attributes,
    inputTypes: [TensorType(.int8, shape: [1, 2], quant: Quantization(scale: 1)),
                 TensorType(.int8, shape: [2, 2], quant: Quantization(scale: 1))],
    outputTypes: [result])
  #expect { _ = try kernel.prepare(ctx) } throws: { "\($0)".contains(text) }
}

/// The C integer GEMM behind QLinear and QConv against the scalar fixed-point reference
/// (`QuantizedMultiplier.apply`, itself checked by hand above), bit for bit: odd sizes around
/// the 6 x 16 tile, B read in place (m <= 12) and packed, int8 and int4 weights, signed and
/// unsigned activations, multipliers from 2^-31 to 2^6 (every right shift, left shifts), biases
/// near the int32 limits (wrapping sums, saturating left shifts), weights packed per call or once
/// as a constant, one and two threads, AVX2 and portable code.
struct QuantizedGemmExactTests {
  static let sizes: [(Int, Int, Int)] = [
    (1, 1, 1), (1, 7, 17), (3, 1, 16), (5, 33, 31), (12, 64, 300), (13, 9, 33), (40, 65, 47),
    (97, 130, 70), (2, 513, 20), (25, 3, 1), (130, 20, 257), (7, 0, 5),
  ]

  @Test(arguments: sizes, [(threads: 1, portable: false), (threads: 2, portable: false),
                           (threads: 1, portable: true), (threads: 2, portable: true)])
  func qlinearIsBitExact(size: (Int, Int, Int), config: (threads: Int, portable: Bool)) throws {
    graphc_qgemm_force_portable(config.portable ? 1 : 0)
    defer { graphc_qgemm_force_portable(0) }
    try InterpreterThreads.with(config.threads) {
      for (signed, int4, perChannel, constant) in [(true, false, true, false), (false, false, true, true), (true, true, false, true),
                                                   (false, true, true, false), (true, false, false, true)] {
        try checkQLinear(size, signed: signed, int4: int4, perChannel: perChannel, constantWeights: constant)
      }
    }
  }

  func checkQLinear(_ size: (Int, Int, Int), signed: Bool, int4: Bool, perChannel: Bool, constantWeights: Bool) throws {
    let (m, k, n) = size
    var rng = SeededRandom(seed: UInt64(m * 7919 + k * 31 + n) &+ (signed ? 1 : 0) &+ (int4 ? 2 : 0))
    let xv = ints(m * k, signed ? -128...127 : 0...255, &rng)
    let wv = ints(k * n, int4 ? -8...7 : -128...127, &rng)
    let bv = (0..<n).map { j in j % 5 == 0 ? ints(1, 2_147_000_000...2_147_483_647, &rng)[0] * (j % 10 == 0 ? -1 : 1)
                                           : ints(1, -20000...20000, &rng)[0] }
    // s_x = s_y = 1, so the multiplier of channel j is s_w[j]: 2^-31 ... 2^6 across channels.
    let sw = (0..<(perChannel ? n : 1)).map { j in Float(sign: .plus, exponent: -31 + (j * 7) % 38, significand: 1 + Float(j % 3) * 0.37) }
    let zy = signed ? -3 : 131
    let dtype: DType = signed ? .int8 : .uint8
    let clip: [Float]? = signed ? nil : [-40, 90]
    let y = try runQuantized(
      "graphc.QLinear", clip.map { ["clip": .floats($0)] } ?? [:],
      [(tensor(dtype, [m, k], xv), Quantization(scale: 1, zeroPoint: -7)),
       (tensor(int4 ? .int4 : .int8, [k, n], wv), perChannel ? Quantization(axis: 1, scales: sw) : Quantization(scale: sw[0])),
       (tensor(.int32, [n], bv), nil)],
      result: TensorType(dtype, shape: [m, n], quant: Quantization(scale: 1, zeroPoint: Int32(zy))),
      constantWeights: constantWeights)
    let (lo, hi) = clip.map { (max(signed ? -128 : 0, zy + Int($0[0])), min(signed ? 127 : 255, zy + Int($0[1]))) }
      ?? (signed ? -128 : 0, signed ? 127 : 255)
    var mismatches = 0
    for i in 0..<m {
      for j in 0..<n {
        var acc = Int32(bv[j])
        for p in 0..<k { acc &+= Int32(xv[i * k + p] * wv[p * n + j]) }
        let mult = QuantizedMultiplier(Double(sw[perChannel ? j : 0]))
        let want = min(max(Int(Int32(zy) &+ mult.apply(acc)), lo), hi)
        if Int(y.double(at: i * n + j)) != want { mismatches += 1 }
      }
    }
    #expect(mismatches == 0, "\(mismatches) of \(m * n) differ (m \(m) k \(k) n \(n) signed \(signed) int4 \(int4))")
  }

  /// (in channels, out channels, group, size, kernel, stride, pad, unsigned): packed and in-place
  /// column matrices, grouped, pointwise.
  static let convCases: [(Int, Int, Int, Int, Int, Int, Int, Bool)] = [
    (3, 20, 1, 9, 3, 1, 1, false), (4, 8, 2, 7, 3, 2, 1, true), (6, 6, 6, 5, 3, 1, 1, true), (5, 17, 1, 6, 1, 1, 0, false),
  ]

  @Test(arguments: convCases, [false, true])
  func qconvIsBitExact(_ c: (Int, Int, Int, Int, Int, Int, Int, Bool), portable: Bool) throws {
    graphc_qgemm_force_portable(portable ? 1 : 0)
    defer { graphc_qgemm_force_portable(0) }
    let (cin, cout, group, size, kernel, stride, pad, unsigned) = c
    var rng = SeededRandom(seed: UInt64(cin * 100 + cout * 7 + size))
    let cg = cin / group, mg = cout / group, zx = unsigned ? 140 : -20
    let xv = ints(cin * size * size, unsigned ? 0...255 : -128...127, &rng)
    let wv = ints(cout * cg * kernel * kernel, -127...127, &rng), bv = ints(cout, -90000...90000, &rng)
    let out = (size + 2 * pad - kernel) / stride + 1
    let sw = (0..<cout).map { Float(sign: .plus, exponent: -20 + $0 % 12, significand: 1.3) }
    let dtype: DType = unsigned ? .uint8 : .int8
    let y = try runQuantized(
      "graphc.QConv", ["strides": .ints([stride, stride]), "pads": .ints([pad, pad, pad, pad]), "group": .int(group)],
      [(tensor(dtype, [1, cin, size, size], xv), Quantization(scale: 1, zeroPoint: Int32(zx))),
       (tensor(.int8, [cout, cg, kernel, kernel], wv), Quantization(axis: 0, scales: sw)),
       (tensor(.int32, [cout], bv), nil)],
      result: TensorType(dtype, shape: [1, cout, out, out], quant: Quantization(scale: 1, zeroPoint: 9)))
    var mismatches = 0
    for o in 0..<cout { for oh in 0..<out { for ow in 0..<out {
      let g = o / mg
      var acc = Int32(bv[o])
      for ci in 0..<cg { for kh in 0..<kernel { for kw in 0..<kernel {
        let ih = oh * stride - pad + kh, iw = ow * stride - pad + kw
        let xq = (ih < 0 || ih >= size || iw < 0 || iw >= size) ? zx : xv[((g * cg + ci) * size + ih) * size + iw]
        acc &+= Int32(wv[((o * cg + ci) * kernel + kh) * kernel + kw] * xq)
      } } }
      let want = min(max(Int(9 &+ QuantizedMultiplier(Double(sw[o])).apply(acc)), unsigned ? 0 : -128), unsigned ? 255 : 127)
      if Int(y.double(at: (o * out + oh) * out + ow)) != want { mismatches += 1 }
    } } }
    #expect(mismatches == 0, "\(mismatches) of \(cout * out * out) differ")
  }
}

/// The dequantizing epilogue (`dequantize = 1`, f32 result) against the same arithmetic done
/// here: `y = clamp(Float(acc) * Float(s_x s_w[c]), clip)`, where `acc` is the exact int32 sum
/// of bias and raw products (the bias absorbs the zero-point term), bit for bit on AVX2 and
/// portable code, one and two threads; and against the real value `s_x s_w[c] acc` in double
/// precision to within float rounding (relative 2^-23 of the conversion and the multiply).
struct QuantizedDequantizeTests {
  static let sizes: [(Int, Int, Int)] = [(1, 1, 1), (1, 7, 17), (5, 33, 31), (13, 9, 33), (40, 65, 47), (2, 513, 20)]
  static let configs: [(threads: Int, portable: Bool)] = [(1, false), (2, false), (1, true), (2, true)]

  @Test(arguments: sizes, configs)
  func qlinearDequantizesTheSums(size: (Int, Int, Int), config: (threads: Int, portable: Bool)) throws {
    graphc_qgemm_force_portable(config.portable ? 1 : 0)
    defer { graphc_qgemm_force_portable(0) }
    try InterpreterThreads.with(config.threads) {
      for (signed, int4, constant, clip) in [(true, false, false, [Float]?.none), (false, true, true, [0, Float.infinity]),
                                             (true, false, true, [-0.5, 0.75])] {
        let (m, k, n) = size
        var rng = SeededRandom(seed: UInt64(m * 131 + k * 17 + n) &+ (signed ? 5 : 0))
        let zx = signed ? -9 : 130
        let xv = ints(m * k, signed ? -128...127 : 0...255, &rng)
        let wv = ints(k * n, int4 ? -7...7 : -127...127, &rng), bv = ints(n, -40000...40000, &rng)
        let sx: Float = 0.0173
        let sw = (0..<n).map { Float(0.0004 + 0.0003 * Double($0 % 11)) }
        let dtype: DType = signed ? .int8 : .uint8
        let y = try runQuantized(
          "graphc.QLinear", ["dequantize": .int(1)].merging(clip.map { ["clip": .floats($0)] } ?? [:]) { $1 },
          [(tensor(dtype, [m, k], xv), Quantization(scale: sx, zeroPoint: Int32(zx))),
           (tensor(int4 ? .int4 : .int8, [k, n], wv), Quantization(axis: 1, scales: sw)),
           (tensor(.int32, [n], bv), nil)],
          result: TensorType(.float32, shape: [m, n]), constantWeights: constant)
        var mismatches = 0, worst = 0.0
        for i in 0..<m {
          for j in 0..<n {
            var acc = bv[j]
            for p in 0..<k { acc += xv[i * k + p] * wv[p * n + j] }
            let (lo, hi) = (clip?[0] ?? -.infinity, clip?[1] ?? .infinity)
            let want = min(max(Float(acc) * Float(Double(sx) * Double(sw[j])), lo), hi)
            let got = y.pointer(as: Float.self)[i * n + j]
            if got.bitPattern != want.bitPattern { mismatches += 1 }
            let real = min(max(Double(sx) * Double(sw[j]) * Double(acc), Double(lo)), Double(hi))
            worst = max(worst, abs(Double(got) - real) / max(abs(real), 1e-30))
          }
        }
        #expect(mismatches == 0, "\(mismatches) of \(m * n) differ (m \(m) k \(k) n \(n) signed \(signed) int4 \(int4))")
        #expect(worst <= 2.5e-7, "relative error \(worst) vs the real value")
      }
    }
  }

  @Test(arguments: [false, true])
  func qconvDequantizesTheSums(portable: Bool) throws {
    graphc_qgemm_force_portable(portable ? 1 : 0)
    defer { graphc_qgemm_force_portable(0) }
    let (cin, cout, size, kernel, pad, zx) = (3, 20, 7, 3, 1, -20)
    var rng = SeededRandom(seed: 99)
    let xv = ints(2 * cin * size * size, -128...127, &rng)
    let wv = ints(cout * cin * kernel * kernel, -127...127, &rng), bv = ints(cout, -9000...9000, &rng)
    let sw = (0..<cout).map { Float($0 + 1) * 0.0007 }, sx: Float = 0.05
    let y = try runQuantized(
      "graphc.QConv", ["pads": .ints([pad, pad, pad, pad]), "clip": .floats([0, .infinity]), "dequantize": .int(1)],
      [(tensor(.int8, [2, cin, size, size], xv), Quantization(scale: sx, zeroPoint: Int32(zx))),
       (tensor(.int8, [cout, cin, kernel, kernel], wv), Quantization(axis: 0, scales: sw)),
       (tensor(.int32, [cout], bv), nil)],
      result: TensorType(.float32, shape: [2, cout, size, size]))
    var mismatches = 0
    for b in 0..<2 { for o in 0..<cout { for oh in 0..<size { for ow in 0..<size {
      var acc = bv[o]
      for ci in 0..<cin { for kh in 0..<kernel { for kw in 0..<kernel {
        let ih = oh - pad + kh, iw = ow - pad + kw
        // Padding holds the zero point (real zero); the kernel sums raw products.
        let xq = (ih < 0 || ih >= size || iw < 0 || iw >= size) ? zx : xv[((b * cin + ci) * size + ih) * size + iw]
        acc += wv[((o * cin + ci) * kernel + kh) * kernel + kw] * xq
      } } }
      let want = max(Float(acc) * Float(Double(sx) * Double(sw[o])), 0)
      if y.pointer(as: Float.self)[((b * cout + o) * size + oh) * size + ow].bitPattern != want.bitPattern { mismatches += 1 }
    } } } }
    #expect(mismatches == 0, "\(mismatches) of \(2 * cout * size * size) differ")
  }

  @Test func resultTypeAndDequantizeMustAgree() throws {
    try expectQLinearLoadError(result: TensorType(.float32, shape: [1, 2]), saying: "an f32 result needs dequantize = 1")
    try expectQLinearLoadError(result: TensorType(.int8, shape: [1, 2], quant: Quantization(scale: 1)), ["dequantize": .int(1)],
                               saying: "dequantize = 1 needs an f32 result")
  }
}
