// TensorKernelTests.swift - Data-movement and shape kernels, run through `evaluate`.

import Foundation
import GraphIR
import Interpreter
import Testing

/// One single-node case: the op, its attributes, inputs and expected outputs.
struct NodeCase: CustomStringConvertible, Sendable {
  let name: String
  let op: String
  let attributes: AttributeMap
  let inputs: [Tensor?]
  let outputs: [Tensor]
  init(_ name: String, _ op: String, _ attributes: AttributeMap, inputs: [Tensor?], outputs: [Tensor]) {
    self.name = name
    self.op = op
    self.attributes = attributes
    self.inputs = inputs
    self.outputs = outputs
  }
  var description: String { name }
}

/// A tensor from an ONNX type code, a shape and base64 little-endian bytes.
func T(_ code: UInt8, _ shape: [Int], _ base64: String) -> Tensor {
  guard let dtype = DType(rawValue: code), let data = Data(base64Encoded: base64) else {
    preconditionFailure("bad test tensor")
  }
  let t = Tensor(zeros: dtype, shape: shape)
  precondition(data.count == t.byteCount, "test tensor byte count")
  data.withUnsafeBytes { if let b = $0.baseAddress { t.rawPointer.copyMemory(from: b, byteCount: data.count) } }
  return t
}

/// Compares a result with its expectation: exact for non-float types, within tolerance for floats.
func expectClose(_ got: Tensor, _ want: Tensor, atol: Double = 1e-5, rtol: Double = 1e-4,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(got.dtype == want.dtype, "\(what) dtype", sourceLocation: sourceLocation)
  #expect(got.shape == want.shape, "\(what) shape", sourceLocation: sourceLocation)
  guard got.dtype == want.dtype, got.shape == want.shape else { return }
  if !want.dtype.isFloat {
    #expect(got.bitwiseEqual(want), "\(what) values", sourceLocation: sourceLocation)
    return
  }
  var bad = 0, first = ""
  for i in 0..<want.count {
    let a = got.double(at: i), b = want.double(at: i)
    if a.isNaN && b.isNaN { continue }
    if !(abs(a - b) <= atol + rtol * abs(b)) {
      if bad == 0 { first = "element \(i): got \(a), want \(b)" }
      bad += 1
    }
  }
  #expect(bad == 0, "\(what) \(bad) mismatches, first \(first)", sourceLocation: sourceLocation)
}

private func i64(_ v: [Int64]) -> Tensor { .int64([v.count], v) }
private func i64s(_ v: Int64) -> Tensor { .int64([], [v]) }
/// The message of the GraphError that `body` throws.
private func errorMessage(_ body: () throws -> Any) -> String? {
  do { _ = try body(); return nil } catch let e as GraphError { return e.message } catch { return "\(error)" }
}

@Suite struct TensorKernelTests {
  /// Every single-node ONNX backend test of these ops (see TensorNodeCases.swift).
  @Test(arguments: tensorNodeCases)
  func onnxNodeTest(_ c: NodeCase) throws {
    let got = try evaluate(op: c.op, attributes: c.attributes, inputs: c.inputs,
                           resultCount: c.outputs.count, nodeName: c.name)
    try #require(got.count == c.outputs.count)
    for (k, (g, w)) in zip(got, c.outputs).enumerated() { expectClose(g, w, "\(c.name) output \(k)") }
  }

  @Test func gatherRejectsOutOfRangeIndex() {
    let x = f32([3], [1, 2, 3])
    let msg = errorMessage { try run("Gather", [:], [x, i64([0, 3])]) }
    #expect(msg?.contains("out of range") == true)
    #expect(errorMessage { try run("Gather", [:], [x, i64([-4])]) } != nil)
  }

  @Test func gatherInt32IndicesAndInnerBlocks() throws {
    // data [[1,2],[3,4],[5,6]], indices int32 [2,-3] along axis 0 -> rows 2 and 0.
    let x = f32([3, 2], [1, 2, 3, 4, 5, 6])
    let idx = Tensor(.int32, shape: [2], values: [Int32(2), -3])
    let y = try run("Gather", [:], [x, idx])[0]
    expectClose(y, f32([2, 2], [5, 6, 1, 2]))
    // Scalar index along axis 1 drops the axis.
    let z = try run("Gather", ["axis": .int(1)], [x, i64s(1)])[0]
    expectClose(z, f32([3], [2, 4, 6]))
  }

  @Test func reshapeValidation() {
    let x = f32([2, 3], [1, 2, 3, 4, 5, 6])
    #expect(errorMessage { try run("Reshape", [:], [x, i64([4, 2])]) }?.contains("cannot reshape") == true)
    #expect(errorMessage { try run("Reshape", [:], [x, i64([-1, -1])]) }?.contains("more than one -1") == true)
    #expect(errorMessage { try run("Reshape", [:], [x, i64([-2, 3])]) } != nil)
    #expect(errorMessage { try run("Reshape", ["allowzero": .int(1)], [x, i64([0, -1])]) } != nil)
  }

  @Test func reshapeCopiesAndInfers() throws {
    let x = f32([2, 3], [1, 2, 3, 4, 5, 6])
    let y = try run("Reshape", [:], [x, i64([0, -1, 1])])[0]
    expectClose(y, f32([2, 3, 1], [1, 2, 3, 4, 5, 6]))
  }

  @Test func transposeRejectsBadPermutation() {
    let x = f32([2, 3], [1, 2, 3, 4, 5, 6])
    #expect(errorMessage { try run("Transpose", ["perm": .ints([0, 0])], [x]) }?.contains("permutation") == true)
    #expect(errorMessage { try run("Transpose", ["perm": .ints([0, 1, 2])], [x]) } != nil)
  }

  @Test func transposeFloat16AndInt64() throws {
    // Byte copies work for any width: [[1,2,3],[4,5,6]]^T.
    let h = Tensor(.float16, shape: [2, 3], values: [1, 2, 3, 4, 5, 6].map { floatToHalf($0) })
    let y = try run("Transpose", [:], [h])[0]
    #expect(y.scalars(as: UInt16.self).map(halfToFloat) == [1, 4, 2, 5, 3, 6])
    let l = Tensor.int64([2, 1, 2], [1, 2, 3, 4])
    let z = try run("Transpose", ["perm": .ints([2, 0, 1])], [l])[0]
    #expect(z.shape == [2, 2, 1] && z.scalars(as: Int64.self) == [1, 3, 2, 4])
  }

  @Test func sliceReverseAndExtremes() throws {
    let x = f32([5], [0, 1, 2, 3, 4])
    // x[::-1] with INT64 extremes, numpy: [4,3,2,1,0].
    let y = try run("Slice", [:], [x, i64([-1]), i64([Int64.min]), i64([0]), i64([-1])])[0]
    expectClose(y, f32([5], [4, 3, 2, 1, 0]))
    // x[Int64.max:] is empty; x[-100:2:2] is [0].
    expectClose(try run("Slice", [:], [x, i64([Int64.max]), i64([Int64.max])])[0], f32([0], []))
    expectClose(try run("Slice", [:], [x, i64([-100]), i64([2]), nil, i64([2])])[0], f32([1], [0]))
    // x[3:0:-2] = [3, 1].
    expectClose(try run("Slice", [:], [x, i64([3]), i64([0]), i64([0]), i64([-2])])[0], f32([2], [3, 1]))
    #expect(errorMessage { try run("Slice", [:], [x, i64([0]), i64([1]), i64([0]), i64([0])]) }?.contains("step") == true)
    #expect(errorMessage { try run("Slice", [:], [x, i64([0, 0]), i64([1, 1]), i64([0, -1])]) }?.contains("twice") == true)
  }

  @Test func splitUnevenAndExplicit() throws {
    let x = f32([7], [0, 1, 2, 3, 4, 5, 6])
    let parts = try run("Split", [:], [x], results: 3)
    #expect(parts.map(\.shape) == [[3], [3], [1]])
    expectClose(parts[2], f32([1], [6]))
    #expect(errorMessage { try run("Split", [:], [x, i64([3, 3])], results: 2) }?.contains("sum") == true)
    #expect(errorMessage { try run("Split", ["num_outputs": .int(2)], [x], results: 3) } != nil)
  }

  @Test func concatAndExpandAndTile() throws {
    let a = f32([1, 2], [1, 2]), b = f32([2, 2], [3, 4, 5, 6])
    expectClose(try run("Concat", ["axis": .int(-2)], [a, b])[0], f32([3, 2], [1, 2, 3, 4, 5, 6]))
    #expect(errorMessage { try run("Concat", ["axis": .int(1)], [a, b]) } != nil)
    // Expand is bidirectional: [3,1] with shape [2,1,1] -> [2,3,1]... numpy broadcast of (3,1) and (2,1,1).
    let c = f32([3, 1], [1, 2, 3])
    expectClose(try run("Expand", [:], [c, i64([2, 1, 1])])[0], f32([2, 3, 1], [1, 2, 3, 1, 2, 3]))
    expectClose(try run("Expand", [:], [c, i64([1, 2])])[0], f32([3, 2], [1, 1, 2, 2, 3, 3]))
    #expect(errorMessage { try run("Expand", [:], [c, i64([2, 2])]) } != nil)
    // np.tile([[1,2]], (2,2)) = [[1,2,1,2],[1,2,1,2]].
    expectClose(try run("Tile", [:], [a, i64([2, 2])])[0], f32([2, 4], [1, 2, 1, 2, 1, 2, 1, 2]))
    #expect(errorMessage { try run("Tile", [:], [a, i64([2])]) } != nil)
  }

  @Test func padModesWithNegativePads() throws {
    let x = f32([4], [1, 2, 3, 4])
    // numpy: np.pad([1,2,3,4], (3,2), mode) then crop for negative pads.
    expectClose(try run("Pad", ["mode": .string("reflect")], [x, i64([3, 2])])[0], f32([9], [4, 3, 2, 1, 2, 3, 4, 3, 2]))
    expectClose(try run("Pad", ["mode": .string("edge")], [x, i64([2, 1])])[0], f32([7], [1, 1, 1, 2, 3, 4, 4]))
    expectClose(try run("Pad", ["mode": .string("wrap")], [x, i64([5, 1])])[0], f32([10], [4, 1, 2, 3, 4, 1, 2, 3, 4, 1]))
    expectClose(try run("Pad", [:], [x, i64([-1, 2]), .scalar(9)])[0], f32([5], [2, 3, 4, 9, 9]))
    #expect(errorMessage { try run("Pad", [:], [x, i64([-3, -2])]) }?.contains("negative") == true)
    #expect(errorMessage { try run("Pad", ["mode": .string("mirror")], [x, i64([1, 1])]) } != nil)
  }

  @Test func rangeTypes() throws {
    expectClose(try run("Range", [:], [i64s(10), i64s(2), i64s(-3)])[0], Tensor.int64([3], [10, 7, 4]))
    expectClose(try run("Range", [:], [i64s(2), i64s(10), i64s(-3)])[0], Tensor.int64([0], []))
    let h = try run("Range", [:], [.scalar(0.5), .scalar(2), .scalar(0.5)])[0]
    expectClose(h, f32([3], [0.5, 1, 1.5]))
    let u = try run("Range", [:], [Tensor(.uint8, shape: [], values: [UInt8(250)]), Tensor(.uint8, shape: [], values: [UInt8(255)]),
                                   Tensor(.uint8, shape: [], values: [UInt8(2)])])[0]
    #expect(u.scalars(as: UInt8.self) == [250, 252, 254])
    #expect(errorMessage { try run("Range", [:], [i64s(0), i64s(1), i64s(0)]) }?.contains("delta") == true)
  }

  @Test func shapeOpsAndConstantOfShape() throws {
    let x = f32([2, 3, 4], Array(repeating: 0, count: 24))
    #expect(try run("Shape", ["start": .int(-2)], [x])[0].scalars(as: Int64.self) == [3, 4])
    #expect(try run("Size", [:], [x])[0].scalars(as: Int64.self) == [24])
    let z = try run("ConstantOfShape", [:], [i64([2, 2])])[0]
    expectClose(z, f32([2, 2], [0, 0, 0, 0]))
    #expect(errorMessage { try run("ConstantOfShape", [:], [i64([1 << 21, 1 << 21])]) }?.contains("too large") == true)
    #expect(errorMessage { try run("ConstantOfShape", [:], [i64([-1])]) } != nil)
  }

  @Test func squeezeUnsqueezeFlatten() throws {
    let x = f32([1, 3, 1], [1, 2, 3])
    #expect(try run("Squeeze", [:], [x])[0].shape == [3])
    #expect(try run("Squeeze", [:], [x, i64([-1])])[0].shape == [1, 3])
    #expect(errorMessage { try run("Squeeze", [:], [x, i64([1])]) }?.contains("size 3") == true)
    #expect(try run("Unsqueeze", [:], [x, i64([0, -1])])[0].shape == [1, 1, 3, 1, 1])
    #expect(errorMessage { try run("Unsqueeze", [:], [x, i64([0, 0])]) }?.contains("twice") == true)
    #expect(errorMessage { try run("Unsqueeze", [:], [x, i64([5])]) } != nil)
    #expect(try run("Flatten", ["axis": .int(0)], [x])[0].shape == [1, 3])
    #expect(errorMessage { try run("Flatten", ["axis": .int(4)], [x]) } != nil)
  }

  @Test func dropoutMaskAndTrainingRejected() throws {
    let x = f32([2], [1, 2])
    let r = try run("Dropout", [:], [x], results: 2)
    expectClose(r[0], x)
    #expect(r[1].dtype == .bool && r[1].scalars(as: UInt8.self) == [1, 1])
    let training = Tensor(.bool, shape: [], values: [UInt8(1)])
    #expect(errorMessage { try run("Dropout", [:], [x, .scalar(0.5), training]) }?.contains("training") == true)
  }

  @Test func triluHugeK() throws {
    let x = f32([2, 2], [1, 2, 3, 4])
    expectClose(try run("Trilu", [:], [x, i64s(Int64.max)])[0], f32([2, 2], [0, 0, 0, 0]))
    expectClose(try run("Trilu", ["upper": .int(0)], [x, i64s(Int64.min)])[0], f32([2, 2], [0, 0, 0, 0]))
  }

  @Test func gatherElementsBoundsChecked() {
    let x = f32([2, 2], [1, 2, 3, 4])
    #expect(errorMessage { try run("GatherElements", ["axis": .int(1)], [x, Tensor.int64([2, 2], [0, 2, 1, 0])]) }?
      .contains("out of range") == true)
  }

  @Test func resizeIntegerAndEdgeCases() throws {
    // uint8 linear upsampling 2x (half_pixel): numpy/onnx reference gives [10, 15, 25, 30] for [10, 30]
    // (coords -0.25, 0.25, 0.75, 1.25 -> clamped edges) after rounding.
    let u = Tensor(.uint8, shape: [1, 2], values: [UInt8(10), 30])
    let y = try run("Resize", ["mode": .string("linear")], [u, nil, Tensor.float32([2], [1, 2])])[0]
    #expect(y.scalars(as: UInt8.self) == [10, 15, 25, 30])
    // Nearest on int64 copies exact values.
    let l = Tensor.int64([1, 2], [Int64.max, -1])
    let z = try run("Resize", [:], [l, nil, Tensor.float32([2], [1, 2])])[0]
    #expect(z.scalars(as: Int64.self) == [Int64.max, Int64.max, -1, -1])
    #expect(errorMessage { try run("Resize", [:], [u, nil, Tensor.float32([2], [1, 0])]) }?.contains("positive") == true)
    #expect(errorMessage { try run("Resize", [:], [u, nil, Tensor.float32([1], [2])]) } != nil)
    #expect(errorMessage { try run("Resize", [:], [u, nil, nil, nil]) } != nil)
  }

  /// Malformed values must throw, never trap.
  @Test func hostileValuesThrow() {
    let scalar = Tensor.scalar(1), x = f32([2], [1, 2])
    #expect(errorMessage { try run("Split", [:], [scalar], results: 2) } != nil)
    #expect(errorMessage { try run("Gather", [:], [scalar, i64s(0)]) } != nil)
    #expect(errorMessage { try run("Concat", ["axis": .int(0)], [scalar, scalar]) } != nil)
    #expect(errorMessage { try run("Split", [:], [x, i64([Int64.max, Int64.max, 4])], results: 3) } != nil)
    #expect(errorMessage { try run("Pad", [:], [x, i64([Int64.min + 10, Int64.max - 10])]) } != nil)
    #expect(errorMessage { try run("Tile", [:], [x, i64([Int64.max])]) } != nil)
    #expect(errorMessage { try run("Reshape", [:], [x, i64([Int64.max, Int64.max, 0])]) } != nil)
    #expect(errorMessage { try run("Range", [:], [.scalar(0), .scalar(-1e30), .scalar(1e-30)]) } == nil)
    #expect(errorMessage { try run("Range", [:], [.scalar(0), .scalar(.infinity), .scalar(1)]) } != nil)
    let img = f32([1, 1, 2, 2], [1, 2, 3, 4])
    #expect(errorMessage { try run("Resize", ["coordinate_transformation_mode": .string("tf_crop_and_resize")],
                                   [img, Tensor.float32([8], [0, 0, .nan, 0, 1, 1, 1, 1]), nil, i64([1, 1, 3, 3])]) } != nil)
    #expect(errorMessage { try run("Resize", [:], [img, nil, Tensor.float32([4], [1, 1, 1e30, 1])]) } != nil)
    #expect(errorMessage { try run("DepthToSpace", ["blocksize": .int(Int.max)], [img]) } != nil)
  }

  @Test func depthToSpaceRoundTrip() throws {
    let x = f32([1, 8, 1, 1], (0..<8).map(Float.init))
    for mode in ["DCR", "CRD"] {
      let y = try run("DepthToSpace", ["blocksize": .int(2), "mode": .string(mode)], [x])[0]
      #expect(y.shape == [1, 2, 2, 2])
    }
    let y = try run("DepthToSpace", ["blocksize": .int(2)], [x])[0]
    let back = try run("SpaceToDepth", ["blocksize": .int(2)], [y])[0]
    expectClose(back, x)
  }
}
