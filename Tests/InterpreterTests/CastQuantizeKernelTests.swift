// CastQuantizeKernelTests.swift - Cast, CastLike, QuantizeLinear and DequantizeLinear kernels.

import GraphIR
import Interpreter
import Testing

struct CastQuantizeKernelTests {
  /// Float to integer follows C on x86-64 (what numpy and onnxruntime do): truncation, NaN and
  /// out-of-range values through the "integer indefinite". Expected values are numpy's and
  /// onnxruntime's (identical) for these inputs.
  @Test func floatToIntegerLikeC() throws {
    let x = EW.f32([8], [.nan, 1e10, -1e10, 300.7, -1.9, 2.9, -129.5, 65535.9])
    func cast(_ to: DType) throws -> Tensor { try EW.run("Cast", ["to": .int(Int(to.rawValue))], [x]) }
    let i32 = try cast(.int32)
    #expect(i32.scalars(as: Int32.self) == [.min, .min, .min, 300, -1, 2, -129, 65535])
    #expect(try cast(.int8).scalars(as: Int8.self) == [0, 0, 0, 44, -1, 2, 127, -1])
    #expect(try cast(.uint8).scalars(as: UInt8.self) == [0, 0, 0, 44, 255, 2, 127, 255])
    #expect(try cast(.int64).scalars(as: Int64.self) == [.min, 10_000_000_000, -10_000_000_000, 300, -1, 2, -129, 65535])
    #expect(try cast(.uint32).scalars(as: UInt32.self) == [2_147_483_648, 0, 2_147_483_648, 300, 4_294_967_295, 2, 4_294_967_167, 65535])
    #expect(try cast(.uint16).scalars(as: UInt16.self) == [0, 0, 0, 300, 65535, 2, 65407, 65535])
    EW.expectBools(try cast(.bool), [true, true, true, true, true, true, true, true])
  }

  @Test func float64ToUInt64LikeC() throws {
    // numpy: float64 -> uint64 for NaN, negatives, >= 2^63 and >= 2^64.
    let x = EW.f64([6], [.nan, -1.9, 1e19, 2e19, -.infinity, 300.7])
    let y = try EW.run("Cast", ["to": .int(13)], [x])
    #expect(y.scalars(as: UInt64.self) == [1 << 63, .max, 10_000_000_000_000_000_000, 0, 1 << 63, 300])
  }

  @Test func floatToHalfTypes() throws {
    // test_cast_FLOAT_to_FLOAT16 and test_cast_FLOAT_to_BFLOAT16 (first elements and specials).
    let x = EW.f32([7], [0.4789254665374756, 0.48033666610717773, 0.4996848702430725, 0.8191054463386536, .nan, .infinity, -.infinity])
    let h = try EW.run("Cast", ["to": .int(10)], [x])
    #expect(h.dtype == .float16)
    #expect(h.scalars(as: UInt16.self) == [14250, 14255, 14335, 14990, 32256, 31744, 64512])
    let b = try EW.run("Cast", ["to": .int(16)], [x])
    EW.expectClose(b, [0.478515625, 0.48046875, 0.5, 0.8203125, .nan, .infinity, -.infinity], dtype: .bfloat16, atol: 0, rtol: 0)
    // test_cast_DOUBLE_to_FLOAT16 gives the same bits from float64.
    let d = try EW.run("Cast", ["to": .int(10)], [EW.f64([2], [0.4789254665374756, 0.8191054463386536])])
    #expect(d.scalars(as: UInt16.self) == [14250, 14990])
    // And back: half values widen exactly.
    EW.expectClose(try EW.run("Cast", ["to": .int(1)], [h]), [0.47900390625, 0.480224609375, 0.499755859375, 0.8193359375, .nan, .infinity, -.infinity], atol: 0, rtol: 0)
  }

  @Test func integerAndBoolConversions() throws {
    #expect(try EW.run("Cast", ["to": .int(3)], [EW.i32([3], [300, -129, 127])]).scalars(as: Int8.self) == [44, 127, 127])
    #expect(try EW.run("Cast", ["to": .int(3)], [EW.u8([2], [200, 7])]).scalars(as: Int8.self) == [-56, 7])
    #expect(try EW.run("Cast", ["to": .int(12)], [EW.i8([2], [-1, 5])]).scalars(as: UInt32.self) == [4_294_967_295, 5])
    EW.expectClose(try EW.run("Cast", ["to": .int(1)], [EW.i64([2], [16_777_217, -3])]), [16_777_216, -3], dtype: .float32, atol: 0, rtol: 0)
    EW.expectBools(try EW.run("Cast", ["to": .int(9)], [EW.i64([3], [0, -5, 2])]), [false, true, true])
    EW.expectBools(try EW.run("Cast", ["to": .int(9)], [EW.f32([3], [0, -0.0, 0.1])]), [false, false, true])
    EW.expectClose(try EW.run("Cast", ["to": .int(11)], [EW.bools([2], [true, false])]), [1, 0], dtype: .float64)
    EW.expectClose(try EW.run("Cast", ["to": .int(1)], [EW.f64([1], [0.1])]), [Double(Float(0.1))], atol: 0, rtol: 0)
    // Same type is a copy; rank 0 and empty tensors keep their shapes.
    EW.expectClose(try EW.run("Cast", ["to": .int(1)], [EW.f32([], [2.5])]), [2.5], shape: [])
    EW.expectExact(try EW.run("Cast", ["to": .int(7)], [EW.f32([0, 2], [])]), [Int](), shape: [0, 2], dtype: .int64)
  }

  @Test func castLikeTakesTheSecondInputsType() throws {
    let y = try EW.run("CastLike", [:], [EW.f32([3], [1.9, -1.9, 0]), EW.i32([0], [])])
    #expect(y.scalars(as: Int32.self) == [1, -1, 0])
  }

  @Test func castRejectsBadTargets() {
    EW.expectError("'to'") { _ = try EW.run("Cast", [:], [EW.f32([1], [1])]) }
    EW.expectError("not a supported element type") { _ = try EW.run("Cast", ["to": .int(8)], [EW.f32([1], [1])]) }
    EW.expectError("not a supported element type") { _ = try EW.run("Cast", ["to": .int(300)], [EW.f32([1], [1])]) }
  }

  @Test func quantizePerTensor() throws {
    // test_quantizelinear.
    let y = try EW.run("QuantizeLinear", [:], [EW.f32([6], [0, 2, 3, 1000, -254, -1000]), EW.f32([], [2]), EW.u8([], [128])])
    EW.expectExact(y, [128, 129, 130, 255, 1, 0] as [Int], dtype: .uint8)
    // Round half to even; no zero point means uint8 with zero point 0; NaN goes to the zero point.
    let z = try EW.run("QuantizeLinear", [:], [EW.f32([6], [0.5, 1.5, 2.5, -0.5, 3.49, 300]), EW.f32([], [1])])
    EW.expectExact(z, [0, 2, 2, 0, 3, 255] as [Int], dtype: .uint8)
    let s = try EW.run("QuantizeLinear", [:], [EW.f32([5], [-1.5, -2.5, .nan, -1000, .infinity]), EW.f32([], [1]), EW.i8([], [1])])
    EW.expectExact(s, [-1, -1, 1, -128, 127] as [Int], dtype: .int8)
  }

  @Test func quantizeInt16Saturates() throws {
    // test_quantizelinear_int16.
    let x = EW.f32([16], [0.0, -514.0, 3.0, -3.0, 2.9, -2.9, 3.1, -3.1, 65022.0, -66046.0, 65023.0, -66047.0, 65024.0, -66048.0, 70000.0, -70000.0])
    let y = try EW.run("QuantizeLinear", [:], [x, EW.f32([], [2]), EW.i16([], [256])])
    EW.expectExact(y, [256, -1, 258, 254, 257, 255, 258, 254, 32767, -32767, 32767, -32768, 32767, -32768, 32767, -32768] as [Int], dtype: .int16)
  }

  @Test func quantizePerAxis() throws {
    // test_quantizelinear_axis (axis defaults to 1).
    let x = EW.f32([1, 3, 3, 2], [-162, 10, -100, 232, -20, -50, -76, 0, 0, 252, 32, -44, 245, -485, -960, -270, -375, -470])
    let y = try EW.run("QuantizeLinear", [:], [x, EW.f32([3], [2, 4, 5]), EW.u8([3], [84, 24, 196])])
    EW.expectExact(y, [3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 99, 4, 142, 121, 102] as [Int], shape: [1, 3, 3, 2])
    EW.expectError("per-axis scale") { _ = try EW.run("QuantizeLinear", [:], [x, EW.f32([2], [2, 4])]) }
  }

  @Test func quantizeBlocked() throws {
    // test_quantizelinear_blocked_asymmetric and test_quantizelinear_blocked_symmetric (int16 via output_dtype).
    let x = EW.f32([3, 4], [6, 12, 50, 5, 1, 8, 4, 5, 0, 20, 10, 4])
    let scale = EW.f32([3, 2], [1.5, 2.5, 3, 4.9, 5.1, 6.9])
    let a = try EW.run("QuantizeLinear", ["axis": .int(1), "block_size": .int(2)], [x, scale, EW.u8([3, 2], [0, 1, 1, 0, 2, 3])])
    EW.expectExact(a, [4, 8, 21, 3, 1, 4, 1, 1, 2, 6, 4, 4] as [Int], dtype: .uint8)
    let xs = EW.f32([3, 4], [6, -8, -10, 5, 1, 8, 4, 5, 0, 20, 10, 4])
    let s = try EW.run("QuantizeLinear", ["axis": .int(1), "block_size": .int(2), "output_dtype": .int(5)], [xs, scale])
    EW.expectExact(s, [4, -5, -4, 2, 0, 3, 1, 1, 0, 4, 1, 1] as [Int], dtype: .int16)
  }

  @Test func dequantize() throws {
    // test_dequantizelinear, test_dequantizelinear_axis, test_dequantizelinear_blocked.
    let y = try EW.run("DequantizeLinear", [:], [EW.u8([4], [0, 3, 128, 255]), EW.f32([], [2]), EW.u8([], [128])])
    EW.expectClose(y, [-256, -250, 0, 254], dtype: .float32)
    let xa = EW.u8([1, 3, 3, 2], [3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 99, 4, 142, 121, 102])
    let a = try EW.run("DequantizeLinear", [:], [xa, EW.f32([3], [2, 4, 5]), EW.u8([3], [84, 24, 196])])
    EW.expectClose(a, [-162, 10, -100, 232, -20, -50, -76, 0, 0, 252, 32, -44, 245, -485, -960, -270, -375, -470], shape: [1, 3, 3, 2])
    let xb = EW.u8([1, 4, 3, 2], [3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 5, 12, 12, 33, 65, 42, 245, 99, 4, 142, 121, 102])
    let b = try EW.run("DequantizeLinear", ["axis": .int(1), "block_size": .int(2)], [
      xb, EW.f32([1, 2, 3, 2], [3, 2, 4, 1, 2, 2, 5, 2, 4, 3, 5, 2]), EW.u8([1, 2, 3, 2], [1, 0, 0, 1, 2, 20, 3, 2, 4, 3, 15, 2]),
    ])
    EW.expectClose(b, [6, 178, 136, 199, 144, 78, 12, 48, 96, 86, 60, -14, 10, 20, 32, 90, 250, 80, 1210, 194, 0, 417, 530, 200])
    // int32 data without a zero point, and int8 with one.
    EW.expectClose(try EW.run("DequantizeLinear", [:], [EW.i32([2], [-1000, 7]), EW.f32([], [0.5])]), [-500, 3.5])
    EW.expectClose(try EW.run("DequantizeLinear", [:], [EW.i8([2], [-128, 127]), EW.f32([], [0.1]), EW.i8([], [-1])]), [-12.7, 12.8])
  }

  @Test func quantizeRejectsMismatches() {
    EW.expectError("zero point type") {
      _ = try EW.run("QuantizeLinear", ["output_dtype": .int(3)], [EW.f32([1], [1]), EW.f32([], [1]), EW.u8([], [0])])
    }
    EW.expectError("not supported") { _ = try EW.run("DequantizeLinear", [:], [EW.f32([1], [1]), EW.f32([], [1])]) }
    EW.expectError("zero point shape") {
      _ = try EW.run("DequantizeLinear", [:], [EW.u8([2, 2], [1, 2, 3, 4]), EW.f32([2], [1, 1]), EW.u8([], [0])])
    }
  }
}
