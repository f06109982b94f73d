// FusedConvQuantizeTests.swift - quantize on graphc.FusedConv: the integer result against a
// float simulation of the same quantized arithmetic, and against float.

import Testing
import GraphIR
import GraphcTestSupport
import PassKit
@testable import QuantizeLayout

@Suite struct FusedConvQuantizeTests {
  /// x[1,3,6,6] (pads 1, 3x3, stride 1) -> FusedConv with 4 output channels, optionally a
  /// residual z[1,4,6,6].
  static func graph(_ attributes: String, residual: Bool) -> (String, [Float], [Float]) {
    var rng = SplitMix64(seed: 21)
    let w = (0..<4 * 3 * 9).map { _ in rng.uniform() / 2 }, b = (0..<4).map { _ in rng.uniform() / 4 }
    let text = "graph @fc(%x: f32[1,3,6,6]\(residual ? ", %z: f32[1,4,6,6]" : "")) {\n"
      + constantLine("w", [4, 3, 3, 3], w) + constantLine("b", [4], b)
      + "  %0 = graphc.FusedConv(%x, %w, %b\(residual ? ", %z" : "")) {\(attributes)kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,4,6,6] @\"c\"\n"
      + "  return %0 as \"y\"\n}\n"
    return (text, w, b)
  }

  /// (attributes, residual, activation applied in float after the add)
  static let cases: [(String, Bool, String)] = [
    ("activation = \"relu\", ", false, "none"),
    ("activation = \"clip\", activation_params = [-0.5, 0.5], ", false, "none"),
    ("activation = \"relu\", ", true, "relu"),
    ("", true, "none"),
    ("activation = \"clip\", activation_params = [0.0, 0.75], residual_after_activation = 1, ", true, "none"),
  ]

  @Test(arguments: cases)
  func integerResultMatchesAFloatSimulation(attributes: String, residual: Bool, floatActivation: String) throws {
    let (text, w, b) = Self.graph(attributes, residual: residual)
    let inputs: [(String, [Int])] = [("x", [1, 3, 6, 6])] + (residual ? [("z", [1, 4, 6, 6])] : [])
    let calibration = uniformSamples(8, inputs, seed: 4)
    let (graph, _) = try runQuantize(text, "quantize", samples: calibration)
    let qconv = try #require(graph.nodes.first { $0.op == "graphc.QConv" })
    #expect(!graph.nodes.contains { $0.op == "graphc.FusedConv" })
    let xq = try #require(qconv.operand(0)?.type.quant)
    // Its result is the graph output (or feeds the float residual add): it dequantizes in
    // the kernel, with no output quantization parameters.
    #expect(qconv.attributes["dequantize"] == .int(1) && qconv.result.type.dtype == .float32 && qconv.result.type.quant == nil)
    let clip = (qconv.attributes["clip"]).flatMap { if case .floats(let f) = $0 { f } else { nil } }
    let quantized = try load(graph), float = try load(try parseGraph(text))
    // Held-out inputs, some beyond the calibrated input range: the input clamp must agree too.
    for sample in uniformSamples(3, inputs, seed: 77) {
      let got = try #require(try quantized.run(sample)["y"])
      let expected = simulate(try #require(sample["x"]), sample["z"], w: w, b: b, sx: xq.scales[0], zx: xq.zeroPoint(0),
                              clip: clip, floatActivation: floatActivation)
      var worst: Float = 0, largest: Float = 0
      for i in 0..<got.count {
        worst = max(worst, abs(Float(got.double(at: i)) - expected[i]))
        largest = max(largest, abs(expected[i]))
      }
      // The same arithmetic, up to float rounding of the sum's conversion and the rescaling.
      #expect(worst <= 1e-6 * largest, "off by \(worst) (largest value \(largest))")
    }
    // Within the calibrated ranges (held-out inputs may clip), the result is close to float.
    for sample in calibration {
      let got = try #require(try quantized.run(sample)["y"]), reference = try #require(try float.run(sample)["y"])
      #expect(oneMinusCosine(reference, got) < 1e-4)
    }
  }

  @Test func unsupportedFusedOpsStayFloatWithAReason() throws {
    let text = """
      graph @float(%x: f32[1,2,4,4]) {
        %w = const f32[2,2,1,1] dense<[1.0, -1.0, 0.5, 0.5]>
        %wd = const f32[2,1,1,1] dense<[1.0, 0.5]>
        %0 = graphc.FusedConv(%x, %w) {activation = "leaky_relu", activation_params = [0.1], kernel_shape = [1, 1]} : f32[1,2,4,4] @"lr"
        %1 = graphc.DepthwisePointwise(%0, %wd, _, %w) : f32[1,2,4,4] @"dwpw"
        %2 = graphc.FusedConv(%1, %w) {kernel_shape = [1, 1]} : f32[1,2,4,4] @"plain"
        return %2 as "y"
      }
      """
    let (graph, reports) = try runQuantize(text, "quantize", samples: uniformSamples(2, [("x", [1, 2, 4, 4])], seed: 1))
    let report = try #require(reports.last)
    let reasons = Dictionary(uniqueKeysWithValues: report.diagnostics.compactMap { d in d.node.map { ($0, d.message) } })
    #expect(reasons["lr"]?.contains("activation 'leaky_relu' has no integer form") == true)
    #expect(reasons["dwpw"]?.contains("graphc.DepthwisePointwise has no integer kernel") == true)
    #expect(reasons["plain"]?.hasPrefix("W8A8") == true)
    #expect(report.statistics["layers-kept-float"] == 2 && report.statistics["layers-quantized"] == 1)
    #expect(graph.nodes.map(\.op).filter { $0.hasPrefix("graphc.") } == ["graphc.FusedConv", "graphc.DepthwisePointwise", "graphc.QConv"])
  }

  /// The quantized arithmetic in floats: x and w rounded to their grids (w symmetric per
  /// output channel, max|w| / 127), the int32 bias `round(b / (sx sw))`, the sum rescaled by
  /// `sx sw` (dequantized straight from the sum) and clamped to the clip, then the residual and
  /// the float activation.
  private func simulate(
    _ x: Tensor, _ z: Tensor?, w: [Float], b: [Float], sx: Float, zx: Int32, clip: [Float]?, floatActivation: String
  ) -> [Float] {
    func q(_ v: Float) -> Float { min(127, max(-128, (v / sx).rounded(.toNearestOrEven) + Float(zx))) - Float(zx) }
    let lo = clip?[0] ?? -.infinity, hi = clip?[1] ?? .infinity
    var out = [Float](repeating: 0, count: 4 * 36)
    for o in 0..<4 {
      let sw = (0..<27).map { abs(w[o * 27 + $0]) }.reduce(0, max) / 127
      var acc = [Double](repeating: (Double(b[o]) / (Double(sx) * Double(sw))).rounded(), count: 36)
      for c in 0..<3 {
        for ky in 0..<3 {
          for kx in 0..<3 {
            let wq = Double((w[o * 27 + c * 9 + ky * 3 + kx] / sw).rounded())
            for oy in 0..<6 {
              for ox in 0..<6 {
                let iy = oy + ky - 1, ix = ox + kx - 1
                guard (0..<6).contains(iy), (0..<6).contains(ix) else { continue }
                acc[oy * 6 + ox] += wq * Double(q(Float(x.double(at: c * 36 + iy * 6 + ix))))
              }
            }
          }
        }
      }
      for p in 0..<36 {
        var v = Float(min(Double(hi), max(Double(lo), acc[p] * Double(sx) * Double(sw))))
        if let z { v += Float(z.double(at: o * 36 + p)) }
        if floatActivation == "relu" { v = max(0, v) }
        out[o * 36 + p] = v
      }
    }
    return out
  }
}
