// BinaryKernelTests.swift - Broadcasting binary, comparison, logic, variadic and Where kernels.

import GraphIR
import Interpreter
import Testing

/// A naive reference for numpy broadcasting: maps each output index back to each operand.
private func referenceBroadcast(_ a: [Int], _ b: [Int]) -> (shape: [Int], ia: [Int], ib: [Int]) {
  let r = max(a.count, b.count)
  let pa = Array(repeating: 1, count: r - a.count) + a, pb = Array(repeating: 1, count: r - b.count) + b
  let out = zip(pa, pb).map { $0 == 1 ? $1 : $0 }
  var ia: [Int] = [], ib: [Int] = []
  let n = out.reduce(1, *)
  for flat in 0..<n {
    var rem = flat, idx = [Int](repeating: 0, count: r)
    for d in stride(from: r - 1, through: 0, by: -1) { idx[d] = rem % out[d]; rem /= out[d] }
    func offset(_ s: [Int]) -> Int { (0..<r).reduce(0) { $0 * s[$1] + (s[$1] == 1 ? 0 : idx[$1]) } }
    ia.append(offset(pa)); ib.append(offset(pb))
  }
  return (out, ia, ib)
}

struct BroadcastCase: CustomTestStringConvertible, Sendable {
  let a: [Int], b: [Int]
  var testDescription: String { "\(a) with \(b)" }
}

struct BinaryKernelTests {
  @Test(arguments: [
    BroadcastCase(a: [2, 3, 4], b: [4]), BroadcastCase(a: [2, 1, 4], b: [3, 1]), BroadcastCase(a: [], b: [2, 3]),
    BroadcastCase(a: [2, 3], b: []), BroadcastCase(a: [1], b: [2, 3]), BroadcastCase(a: [3, 1, 1], b: [1, 2, 5]),
    BroadcastCase(a: [2, 3], b: [2, 3]), BroadcastCase(a: [0, 3], b: [3]), BroadcastCase(a: [2, 1], b: [1, 0]),
    BroadcastCase(a: [4, 1, 3], b: [1, 5, 1]), BroadcastCase(a: [1, 1], b: [1, 1]), BroadcastCase(a: [2, 3, 1, 2], b: [3, 4, 1]),
  ])
  func subtractBroadcastsLikeNumpy(_ c: BroadcastCase) throws {
    let na = c.a.reduce(1, *), nb = c.b.reduce(1, *)
    let av = (0..<na).map { Float($0 + 1) }, bv = (0..<nb).map { Float(100 * ($0 + 1)) }
    let ref = referenceBroadcast(c.a, c.b)
    let expected = zip(ref.ia, ref.ib).map { Double(av[$0] - bv[$1]) }
    EW.expectClose(try EW.run("Sub", [:], [EW.f32(c.a, av), EW.f32(c.b, bv)]), expected, shape: ref.shape, dtype: .float32)
    // The integer path shares the driver; check it on the same geometry.
    let ai = av.map { Int64($0) }, bi = bv.map { Int64($0) }
    EW.expectClose(try EW.run("Sub", [:], [EW.i64(c.a, ai), EW.i64(c.b, bi)]), expected, shape: ref.shape, dtype: .int64)
  }

  @Test func addMulAcrossTypes() throws {
    // test_add_bcast-like: [2,3] + [3].
    EW.expectClose(try EW.run("Add", [:], [EW.f64([2, 3], [1, 2, 3, 4, 5, 6]), EW.f64([3], [10, 20, 30])]), [11, 22, 33, 14, 25, 36])
    EW.expectExact(try EW.run("Add", [:], [EW.i8([2], [127, -128]), EW.i8([2], [1, -1])]), [-128, 127] as [Int], dtype: .int8)
    EW.expectExact(try EW.run("Mul", [:], [EW.u8([3], [16, 2, 255]), EW.u8([], [16])]), [0, 32, 240] as [Int], dtype: .uint8)
    EW.expectExact(try EW.run("Mul", [:], [EW.i32([2], [70000, -3]), EW.i32([2], [70000, 4])]), [605_032_704, -12] as [Int])
  }

  @Test func integerDivisionTruncatesAndRejectsZero() throws {
    EW.expectExact(try EW.run("Div", [:], [EW.i32([4], [-7, 7, -7, 7]), EW.i32([4], [2, 2, -2, -2])]), [-3, 3, 3, -3] as [Int])
    EW.expectExact(try EW.run("Div", [:], [EW.i32([1], [.min]), EW.i32([1], [-1])]), [Int(Int32.min)])
    // test_div_int8 (first elements).
    EW.expectExact(try EW.run("Div", [:], [EW.i8([4], [16, 6, 0, 3]), EW.i8([4], [11, 5, 23, 1])]), [1, 1, 0, 3] as [Int])
    EW.expectError("division by zero") { _ = try EW.run("Div", [:], [EW.i64([2], [1, 2]), EW.i64([2], [1, 0])]) }
    EW.expectError("division by zero") { _ = try EW.run("Mod", [:], [EW.u8([1], [1]), EW.u8([1], [0])]) }
    EW.expectClose(try EW.run("Div", [:], [EW.f32([3], [1, -1, 0]), EW.f32([], [0])]), [.infinity, -.infinity, .nan])
  }

  @Test func modSignConventions() throws {
    // test_mod_mixed_sign_int64 (Python sign) and test_mod_int64_fmod (C sign).
    let a = EW.i64([6], [-4, 7, 5, 4, -7, 8]), b = EW.i64([6], [2, -3, 8, -2, 3, 5])
    EW.expectExact(try EW.run("Mod", [:], [a, b]), [0, -2, 5, 0, 2, 3] as [Int])
    EW.expectExact(try EW.run("Mod", ["fmod": .int(1)], [a, b]), [0, 1, 5, 0, -1, 3] as [Int])
    // test_mod_mixed_sign_float64.
    let x = EW.f64([6], [-4.3, 7.2, 5.0, 4.3, -7.2, 8.0]), y = EW.f64([6], [2.1, -3.4, 8.0, -2.1, 3.4, 5.0])
    EW.expectClose(try EW.run("Mod", ["fmod": .int(1)], [x, y]),
                   [-0.09999999999999964, 0.40000000000000036, 5.0, 0.09999999999999964, -0.40000000000000036, 3.0], atol: 1e-12)
    EW.expectClose(try EW.run("Mod", [:], [EW.f32([2], [-4, 4]), EW.f32([2], [3, -3])]), [2, -2])
    EW.expectExact(try EW.run("Mod", [:], [EW.i8([1], [-128]), EW.i8([1], [-1])]), [0])
  }

  @Test func powTypes() throws {
    // test_pow_types_int32_float32, test_pow_types_int64_int64, test_pow_types_float32_int64.
    EW.expectExact(try EW.run("Pow", [:], [EW.i32([3], [1, 2, 3]), EW.f32([3], [4, 5, 6])]), [1, 32, 729] as [Int], dtype: .int32)
    EW.expectExact(try EW.run("Pow", [:], [EW.i64([3], [1, 2, 3]), EW.i64([3], [4, 5, 6])]), [1, 32, 729] as [Int], dtype: .int64)
    EW.expectClose(try EW.run("Pow", [:], [EW.f32([3], [1, 2, 3]), EW.i64([3], [4, 5, 6])]), [1, 32, 729], dtype: .float32)
    // test_pow_bcast_scalar: [1,2,3] ** 2; fractional and negative exponents.
    EW.expectClose(try EW.run("Pow", [:], [EW.f32([3], [1, 2, 3]), EW.f32([], [2])]), [1, 4, 9])
    EW.expectClose(try EW.run("Pow", [:], [EW.f64([3], [4, 2, -8]), EW.f64([3], [0.5, -1, 3])]), [2, 0.5, -512])
    // Integer powers are exact past 2^53 and truncate negative exponents.
    let p = try EW.run("Pow", [:], [EW.i64([3], [3, 2, -1]), EW.i32([3], [39, -1, -3])])
    #expect(p.scalars(as: Int64.self) == [4_052_555_153_018_976_267, 0, -1])
  }

  @Test func preluBroadcastsSlope() throws {
    // test_prelu_broadcast semantics on a small case: slope [3] broadcast over [2,3].
    let y = try EW.run("PRelu", [:], [EW.f32([2, 3], [-1, 2, -3, 4, -5, 6]), EW.f32([3], [0.5, 0.25, 0.1])])
    EW.expectClose(y, [-0.5, 2, -0.3, 4, -1.25, 6], shape: [2, 3])
  }

  @Test func bitShift() throws {
    // test_bitshift_right_uint8, test_bitshift_left_uint16; overshift gives 0.
    EW.expectExact(try EW.run("BitShift", ["direction": .string("RIGHT")], [EW.u8([3], [16, 4, 1]), EW.u8([3], [1, 2, 3])]), [8, 1, 0] as [Int])
    let x = Tensor(.uint16, shape: [3], values: [UInt16(16), 4, 1]), s = Tensor(.uint16, shape: [3], values: [UInt16(1), 2, 16])
    EW.expectExact(try EW.run("BitShift", ["direction": .string("LEFT")], [x, s]), [32, 16, 0] as [Int], dtype: .uint16)
    EW.expectError("unsigned") { _ = try EW.run("BitShift", ["direction": .string("LEFT")], [EW.i32([1], [1]), EW.i32([1], [1])]) }
  }

  @Test func comparisons() throws {
    let a = EW.f32([2, 2], [1, 2, .nan, 4]), b = EW.f32([2], [2, 2])
    EW.expectBools(try EW.run("Equal", [:], [a, b]), [false, true, false, false], shape: [2, 2])
    EW.expectBools(try EW.run("Less", [:], [a, b]), [true, false, false, false])
    EW.expectBools(try EW.run("Greater", [:], [a, b]), [false, false, false, true])
    EW.expectBools(try EW.run("LessOrEqual", [:], [a, b]), [true, true, false, false])
    EW.expectBools(try EW.run("GreaterOrEqual", [:], [a, b]), [false, true, false, true])
    // test_equal_bcast-like on integers, and Equal on bools.
    EW.expectBools(try EW.run("Equal", [:], [EW.i32([2, 2], [1, -3, 5, 1]), EW.i32([2], [1, 5])]), [true, false, false, false])
    EW.expectBools(try EW.run("Equal", [:], [EW.bools([2], [true, false]), EW.bools([], [true])]), [true, false])
    EW.expectBools(try EW.run("Less", [:], [EW.u8([2], [0, 200]), EW.u8([2], [255, 100])]), [true, false])
  }

  @Test func logic() throws {
    let a = EW.bools([2, 2], [true, true, false, false]), b = EW.bools([2], [true, false])
    EW.expectBools(try EW.run("And", [:], [a, b]), [true, false, false, false], shape: [2, 2])
    EW.expectBools(try EW.run("Or", [:], [a, b]), [true, true, true, false])
    EW.expectBools(try EW.run("Xor", [:], [a, b]), [false, true, true, false])
    EW.expectError("bool") { _ = try EW.run("And", [:], [EW.f32([1], [1]), EW.f32([1], [1])]) }
  }

  @Test func variadic() throws {
    // test_sum_example, test_mean_two_inputs, test_min_example, test_max_one_input.
    let a = EW.f32([3], [3, 0, 2]), b = EW.f32([3], [1, 3, 4]), c = EW.f32([3], [2, 6, 6])
    EW.expectClose(try EW.run("Sum", [:], [a, b, c]), [6, 9, 12])
    EW.expectClose(try EW.run("Mean", [:], [a, b]), [2, 1.5, 3])
    EW.expectClose(try EW.run("Min", [:], [EW.f32([3], [3, 2, 1]), EW.f32([3], [1, 4, 4]), EW.f32([3], [2, 5, 0])]), [1, 2, 0])
    EW.expectClose(try EW.run("Max", [:], [EW.f32([3], [3, 2, 1])]), [3, 2, 1])
    // Broadcasting across inputs of different ranks: [2,1] + [3] + [] -> [2,3].
    let s = try EW.run("Sum", [:], [EW.f32([2, 1], [1, 2]), EW.f32([3], [10, 20, 30]), EW.f32([], [100])])
    EW.expectClose(s, [111, 121, 131, 112, 122, 132], shape: [2, 3])
    // A single input still broadcasts to nothing but itself; Max propagates NaN either way.
    EW.expectClose(try EW.run("Max", [:], [EW.f32([2], [.nan, 1]), EW.f32([2], [1, .nan])]), [.nan, .nan])
    EW.expectExact(try EW.run("Min", [:], [EW.i16([3], [5, -7, 0]), EW.i16([1], [-1])]), [-1, -7, -1] as [Int], dtype: .int16)
    EW.expectExact(try EW.run("Mean", [:], [EW.i32([2], [3, -3]), EW.i32([2], [4, -4])]), [3, -3] as [Int])
  }

  @Test func whereSelectsWithThreeWayBroadcast() throws {
    // test_where_example.
    let y = try EW.run("Where", [:], [EW.bools([2, 2], [true, false, true, true]), EW.f32([2, 2], [1, 2, 3, 4]), EW.f32([2, 2], [9, 8, 7, 6])])
    EW.expectClose(y, [1, 8, 3, 4], shape: [2, 2])
    // cond [2,1], x [1,3], y scalar -> [2,3]; int64 elements move whole.
    let w = try EW.run("Where", [:], [EW.bools([2, 1], [true, false]), EW.i64([1, 3], [1, 2, 3]), EW.i64([], [-1])])
    EW.expectExact(w, [1, 2, 3, -1, -1, -1] as [Int], shape: [2, 3], dtype: .int64)
    let z = try EW.run("Where", [:], [EW.bools([3], [false, true, false]), EW.bools([], [true]), EW.bools([3], [true, false, false])])
    EW.expectBools(z, [true, true, false])
    EW.expectClose(try EW.run("Where", [:], [EW.bools([0], []), EW.f32([1], [1]), EW.f32([1], [2])]), [], shape: [0])
  }

  @Test func rejectsMismatchedOperands() {
    EW.expectError("type mismatch") { _ = try EW.run("Add", [:], [EW.f32([1], [1]), EW.i32([1], [1])]) }
    EW.expectError("cannot be broadcast") { _ = try EW.run("Mul", [:], [EW.f32([2], [1, 2]), EW.f32([3], [1, 2, 3])]) }
    EW.expectError("expects 2 inputs") { _ = try EW.run("Add", [:], [EW.f32([1], [1])]) }
    EW.expectError("type mismatch") { _ = try EW.run("Sum", [:], [EW.f32([1], [1]), EW.f64([1], [1])]) }
    EW.expectError("condition") { _ = try EW.run("Where", [:], [EW.f32([1], [1]), EW.f32([1], [1]), EW.f32([1], [1])]) }
  }
}
