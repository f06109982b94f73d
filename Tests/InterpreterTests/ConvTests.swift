// ConvTests.swift - Conv and ConvTranspose: ONNX node-test values and randomized comparisons
// with naive direct (scatter) references written here.

import GraphIR
@testable import Interpreter
import Testing

struct ConvTests {
  @Test func basicConvWithPadding() throws {
    // onnx test_basic_conv_with_padding: 5x5 iota input, 3x3 ones, pads 1.
    let y = try run("Conv", ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])],
                    [iota([1, 1, 5, 5]), f32([1, 1, 3, 3], Array(repeating: 1, count: 9))])[0]
    expectClose(y, [1, 1, 5, 5], [12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                                  93, 144, 153, 162, 111, 72, 111, 117, 123, 84])
  }

  @Test func stridesAndAsymmetricPadding() throws {
    // onnx test_conv_with_strides_and_asymmetric_padding: 7x5 iota, pads [1,0,1,0], strides 2.
    let y = try run("Conv", ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 0, 1, 0]), "strides": .ints([2, 2])],
                    [iota([1, 1, 7, 5]), f32([1, 1, 3, 3], Array(repeating: 1, count: 9))])[0]
    expectClose(y, [1, 1, 4, 2], [21, 33, 99, 117, 189, 207, 171, 183])
  }

  @Test func convTranspose1D() throws {
    // onnx test_convtranspose_1d.
    let y = try run("ConvTranspose", [:], [f32([1, 1, 3], [0, 1, 2]), f32([1, 2, 3], Array(repeating: 1, count: 6))])[0]
    expectClose(y, [1, 2, 5], [0, 1, 3, 3, 2, 0, 1, 3, 3, 2])
  }

  @Test func convTransposeOutputShapePadsAtStart() throws {
    // Full output [1,2,13,20,130,200,300] is cropped to 6 with the odd pad at the start
    // (checked against onnxruntime 1.23).
    let y = try run("ConvTranspose", ["strides": .ints([2]), "output_shape": .ints([6])],
                    [f32([1, 1, 3], [1, 10, 100]), f32([1, 1, 3], [1, 2, 3])])[0]
    expectClose(y, [1, 1, 6], [2, 13, 20, 130, 200, 300])
  }

  /// One random convolution configuration.
  struct Case: CustomStringConvertible {
    var spatial: [Int], kernel: [Int], strides: [Int], dilations: [Int], pads: [Int]
    var batch: Int, inC: Int, outC: Int, group: Int
    var description: String { "x\(spatial) k\(kernel) s\(strides) d\(dilations) p\(pads) c\(inC)->\(outC) g\(group)" }
  }

  static let cases: [Case] = [
    Case(spatial: [9, 11], kernel: [3, 2], strides: [2, 1], dilations: [1, 2], pads: [1, 0, 2, 1], batch: 2, inC: 4, outC: 6, group: 2),
    Case(spatial: [8, 8], kernel: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], batch: 1, inC: 5, outC: 5, group: 5),
    Case(spatial: [10, 7], kernel: [3, 3], strides: [2, 3], dilations: [2, 1], pads: [0, 2, 1, 0], batch: 1, inC: 3, outC: 3, group: 3),
    Case(spatial: [6, 6], kernel: [1, 1], strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0], batch: 2, inC: 7, outC: 9, group: 1),
    Case(spatial: [13], kernel: [4], strides: [3], dilations: [2], pads: [2, 1], batch: 2, inC: 6, outC: 4, group: 2),
    Case(spatial: [5, 6, 4], kernel: [2, 3, 2], strides: [1, 2, 1], dilations: [2, 1, 1], pads: [1, 0, 1, 0, 1, 1], batch: 1, inC: 4, outC: 6, group: 2),
    Case(spatial: [12, 12], kernel: [5, 5], strides: [1, 1], dilations: [1, 1], pads: [2, 2, 2, 2], batch: 1, inC: 16, outC: 20, group: 1),
  ]

  /// Naive direct convolution: for each output, sum over its group's channels and taps.
  func referenceConv(_ c: Case, x: [Float], w: [Float], b: [Float], outSpatial: [Int]) -> [Float] {
    let n = c.spatial.count
    let inPlane = c.spatial.reduce(1, *), outPlane = outSpatial.reduce(1, *), kPlane = c.kernel.reduce(1, *)
    let cg = c.inC / c.group, mg = c.outC / c.group
    var y = [Float](repeating: 0, count: c.batch * c.outC * outPlane)
    func unravel(_ i: Int, _ shape: [Int]) -> [Int] {
      var r = [Int](repeating: 0, count: shape.count), v = i
      for d in stride(from: shape.count - 1, through: 0, by: -1) { r[d] = v % shape[d]; v /= shape[d] }
      return r
    }
    for bi in 0..<c.batch { for m in 0..<c.outC { for o in 0..<outPlane {
      let op = unravel(o, outSpatial)
      var s = Double(b[m])
      for ci in 0..<cg { for k in 0..<kPlane {
        let kp = unravel(k, c.kernel)
        var idx = 0, inside = true
        for d in 0..<n {
          let pos = op[d] * c.strides[d] - c.pads[d] + kp[d] * c.dilations[d]
          if pos < 0 || pos >= c.spatial[d] { inside = false }
          idx = idx * c.spatial[d] + pos
        }
        guard inside else { continue }
        let ch = (m / mg) * cg + ci
        s += Double(x[(bi * c.inC + ch) * inPlane + idx]) * Double(w[(m * cg + ci) * kPlane + k])
      } }
      y[(bi * c.outC + m) * outPlane + o] = Float(s)
    } } }
    return y
  }

  @Test(arguments: cases)
  func randomizedConvMatchesDirectReference(_ c: Case) throws {
    var rng = SeededRandom(seed: UInt64(c.description.hashValue & 0xffff) + 7)
    let xs = [c.batch, c.inC] + c.spatial, ws = [c.outC, c.inC / c.group] + c.kernel
    let x = rng.floats(xs.reduce(1, *)), w = rng.floats(ws.reduce(1, *)), b = rng.floats(c.outC)
    let attrs: AttributeMap = ["strides": .ints(c.strides), "dilations": .ints(c.dilations), "pads": .ints(c.pads), "group": .int(c.group)]
    let y = try run("Conv", attrs, [f32(xs, x), f32(ws, w), f32([c.outC], b)])[0]
    let outSpatial = Array(y.shape.dropFirst(2))
    for d in 0..<c.spatial.count {
      let ek = (c.kernel[d] - 1) * c.dilations[d] + 1
      #expect(outSpatial[d] == (c.spatial[d] + c.pads[d] + c.pads[d + c.spatial.count] - ek) / c.strides[d] + 1)
    }
    expectClose(y, [c.batch, c.outC] + outSpatial, referenceConv(c, x: x, w: w, b: b, outSpatial: outSpatial).map(Double.init))
  }

  @Test func randomizedConvTransposeMatchesScatterReference() throws {
    // 2-D, group 2, stride (2,1), dilation (1,2), asymmetric pads, output_padding.
    var rng = SeededRandom(seed: 42)
    let (n, c, mg, g) = (2, 4, 3, 2)
    let spatial = [4, 5], kernel = [3, 2], strides = [2, 1], dil = [1, 2], pads = [1, 0, 0, 1], outPad = [1, 0]
    let x = rng.floats(n * c * 20), w = rng.floats(c * mg * 6), b = rng.floats(mg * g)
    let attrs: AttributeMap = ["strides": .ints(strides), "dilations": .ints(dil), "pads": .ints(pads),
                               "output_padding": .ints(outPad), "group": .int(g)]
    let y = try run("ConvTranspose", attrs, [f32([n, c, 4, 5], x), f32([c, mg, 3, 2], w), f32([mg * g], b)])[0]
    let oh = strides[0] * 3 + outPad[0] + (kernel[0] - 1) * dil[0] + 1 - pads[0] - pads[2]
    let ow = strides[1] * 4 + outPad[1] + (kernel[1] - 1) * dil[1] + 1 - pads[1] - pads[3]
    var ref = [Float](repeating: 0, count: n * mg * g * oh * ow)
    for bi in 0..<n { for m in 0..<(mg * g) { for i in 0..<(oh * ow) { ref[(bi * mg * g + m) * oh * ow + i] = b[m] } } }
    for bi in 0..<n { for ci in 0..<c { for ih in 0..<spatial[0] { for iw in 0..<spatial[1] {
      let xv = x[((bi * c + ci) * 4 + ih) * 5 + iw], grp = ci / (c / g)
      for mi in 0..<mg { for kh in 0..<3 { for kw in 0..<2 {
        let yh = ih * strides[0] - pads[0] + kh * dil[0], yw = iw * strides[1] - pads[1] + kw * dil[1]
        guard yh >= 0, yh < oh, yw >= 0, yw < ow else { continue }
        let m = grp * mg + mi
        ref[((bi * mg * g + m) * oh + yh) * ow + yw] += xv * w[((ci * mg + mi) * 3 + kh) * 2 + kw]
      } } }
    } } } }
    expectClose(y, [n, mg * g, oh, ow], ref.map(Double.init))
  }

  @Test func rejectsMismatchedChannelsAndGroups() {
    let x = iota([1, 4, 5, 5])
    #expect(throws: GraphError.self) { try run("Conv", [:], [x, iota([2, 3, 3, 3])]) }
    #expect(throws: GraphError.self) { try run("Conv", ["group": .int(3)], [x, iota([3, 1, 3, 3])]) }
    #expect(throws: GraphError.self) { try run("Conv", ["strides": .ints([0, 1])], [x, iota([2, 4, 3, 3])]) }
    #expect(throws: GraphError.self) { try run("Conv", ["kernel_shape": .ints([2, 2])], [x, iota([2, 4, 3, 3])]) }
    #expect(throws: GraphError.self) { try run("Conv", [:], [x, iota([2, 4, 7, 7])]) }
    #expect(throws: GraphError.self) { try run("Conv", ["dilations": .ints([1 << 40, 1])], [x, iota([2, 4, 3, 3])]) }
  }
}
