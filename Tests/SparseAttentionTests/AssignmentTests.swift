// AssignmentTests.swift - assign-sparse-attention on heads built to have a known best pattern.

import Foundation
import GraphIR
import GraphcDriver
import Interpreter
import PassKit
import Testing

/// Fixed calibration samples given as tensors.
private final class FixedSamples: CalibrationSamples, @unchecked Sendable {
  let samples: [[String: Tensor]]
  init(_ samples: [[String: Tensor]]) { self.samples = samples }
  var count: Int { samples.count }
  var isSynthetic: Bool { false }
  var summary: String { "\(samples.count) fixed samples" }
  func sample(_ index: Int) throws -> [String: Tensor] { samples[index] }
}

private let n = 512, d = 8, heads = 3

/// Q, K, V [1, 3, n, d] with three heads of known structure:
/// - head 0 is local: q_i = k_i = (cos ω i, sin ω i) over four incommensurate ω, so the score
///   depends on i - j only and peaks at 0 (attention to the last few dozen keys);
/// - head 1 is vertical: every query points at keys 5, 200 and 400, the other keys are near zero;
/// - head 2 is scattered: large random q and k, so each row's mass sits on a few random keys.
private func structuredInputs(seed: UInt64) -> [String: Tensor] {
  var g = SystemRandomNumberGenerator64(seed: seed)
  var q = [Float](repeating: 0, count: heads * n * d), k = q, v = q
  let omegas: [Float] = [0.013, 0.031, 0.057, 0.11]
  for i in 0..<n {
    for (f, w) in omegas.enumerated() {
      let c = 4 * cos(w * Float(i)), s = 4 * sin(w * Float(i))
      q[i * d + 2 * f] = c; q[i * d + 2 * f + 1] = s
      k[i * d + 2 * f] = c; k[i * d + 2 * f + 1] = s
    }
    q[(n + i) * d] = 3
    for x in 0..<d { k[(n + i) * d + x] = 0.05 * g.normal() }
    for x in 0..<d { q[(2 * n + i) * d + x] = 3 * g.normal(); k[(2 * n + i) * d + x] = 3 * g.normal() }
  }
  for j in [5, 200, 400] { k[(n + j) * d] = 10 }
  for x in v.indices { v[x] = g.normal() }
  return ["q_in": .float32([1, heads, n, d], q), "k_in": .float32([1, heads, n, d], k), "v_in": .float32([1, heads, n, d], v)]
}

/// A small deterministic generator (xorshift) with Box-Muller normals.
private struct SystemRandomNumberGenerator64 {
  var state: UInt64
  init(seed: UInt64) { state = seed | 1 }
  mutating func uniform() -> Float {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17
    return (Float(state >> 40) + 0.5) / Float(1 << 24)
  }
  mutating func normal() -> Float { (-2 * log(uniform())).squareRoot() * cos(2 * Float.pi * uniform()) }
}

private let graphText = """
  graph @heads(%q_in: f32[1,3,512,8], %k_in: f32[1,3,512,8], %v_in: f32[1,3,512,8]) {
    %one = const f32[] dense<1.0>
    %q = onnx.Mul(%q_in, %one) : f32[1,3,512,8]
    %k = onnx.Mul(%k_in, %one) : f32[1,3,512,8]
    %v = onnx.Mul(%v_in, %one) : f32[1,3,512,8]
    %o = graphc.Attention(%q, %k, %v) {heads = 3, mask = "causal"} : f32[1,3,512,8]
    return %o as "y"
  }
  """

private func assign(_ options: String, samples: [[String: Tensor]]) throws -> (Node, PassReport) {
  let graph = try parseGraph(graphText)
  try graph.inferTypes()
  var manager = PassManager()
  manager.calibration = FixedSamples(samples)
  let report = try manager.run(try Pipeline(parsing: "assign-sparse-attention\(options)", registry: builtinRegistry), on: graph)
  return (try #require(graph.nodes(ofKind: "graphc.Attention").first), try #require(report.first))
}

@Suite struct SparseAssignmentTests {
  @Test func choosesByOutputError() throws {
    let samples = [structuredInputs(seed: 1), structuredInputs(seed: 2)]
    // density 1/4: 64 keys per query at this length, so vertical-slash can afford 57 columns.
    let (node, report) = try assign("{density=0.25}", samples: samples)
    let patterns = try #require(try attentionPatterns(node.attributes, heads: heads))
    #expect([.aShape, .verticalSlash].contains(patterns[0].kind), "local head: \(patterns[0])")
    #expect(patterns[1].kind == .verticalSlash, "vertical head: \(patterns[1])")
    #expect(patterns[1].sizes.0 >= 32, "the vertical head needs columns beyond the 30 forced ones: \(patterns[1])")
    #expect(patterns[2].kind == .dense, "scattered head: \(patterns[2])")
    #expect(try node.attributes.int(AttentionAttr.calibrationLength) == n)
    #expect(report.statistics["heads-dense"] == 1 && report.statistics["attention-layers"] == 1)
    #expect(report.diagnostics.filter { $0.severity == .remark }.count == heads)

    // The recorded score is the output relative error the kernel then has on the samples.
    for sample in samples {
      let inputs: [Tensor?] = ["q_in", "k_in", "v_in"].map { sample[$0] }
      var denseAttrs = node.attributes
      denseAttrs[AttentionAttr.pattern] = nil
      let dense = try evaluate(op: "graphc.Attention", attributes: denseAttrs, inputs: inputs)[0].scalars(as: Float.self)
      let sparse = try evaluate(op: "graphc.Attention", attributes: node.attributes, inputs: inputs)[0].scalars(as: Float.self)
      for h in 0..<heads {
        let r = h * n * d..<(h + 1) * n * d
        let e = zip(dense[r], sparse[r]).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
        let ref = dense[r].map { Double($0) * Double($0) }.reduce(0, +)
        let err = (e / ref).squareRoot()
        #expect(err <= Double(patterns[h].score) * 2 + 1e-6, "head \(h): error \(err), recorded \(patterns[h].score)")
        #expect(err < 0.05)
      }
    }
  }

  @Test func choosesByRecall() throws {
    let (node, _) = try assign("{criterion=recall,density=0.25}", samples: [structuredInputs(seed: 3)])
    let patterns = try #require(try attentionPatterns(node.attributes, heads: heads))
    #expect(patterns[1].kind == .verticalSlash, "\(patterns[1])")
    #expect(patterns[1].score > 0.9)
    #expect(patterns[2].kind == .dense && patterns[2].score == 1)
  }

  @Test(arguments: [
    ("{density=0}", "option density must be in (0, 1]"),
    ("{criterion=mass}", "option criterion must be 'error' or 'recall'"),
    ("{dense-layers=first}", "option dense-layers: 'first' is not a layer index"),
  ])
  func rejectsBadOptions(_ options: String, _ message: String) {
    #expect {
      _ = try assign(options, samples: [structuredInputs(seed: 4)])
    } throws: { "\($0)".contains(message) }
  }

  @Test func needsCalibration() throws {
    let graph = try parseGraph(graphText)
    try graph.inferTypes()
    #expect {
      _ = try PassManager().run(try Pipeline(parsing: "assign-sparse-attention", registry: builtinRegistry), on: graph)
    } throws: { "\($0)".contains("needs calibration data") }
  }
}
