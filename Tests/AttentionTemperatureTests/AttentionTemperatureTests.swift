// AttentionTemperatureTests.swift - ATM and OHB: exact neutrality, matched logit spread and
// output RMS, folding equal to explicit scaling, the integer (QLinear) path, the missing teacher.

import Calibration
import Foundation
import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import Interpreter
import PassKit
@testable import AttentionTemperature

// MARK: The test model

/// One causal attention block: x [1, 6, 8] -> q/k/v projections (q and o with bias) -> 2 heads
/// of size 4 -> o-proj. Weights are seeded normals scaled by 0.5.
private let (seqLen, hidden, heads, headSize) = (6, 8, 2, 4)

private func weights(_ seed: UInt64, _ count: Int) -> [Float] {
  var rng = SplitMix64(seed: seed)
  return randomTensor(.float32, shape: [count], rng: &rng).scalars(as: Float.self).map { $0 * 0.5 }
}

private func dense(_ v: [Float]) -> String { "dense<[" + v.map { "\($0)" }.joined(separator: ", ") + "]>" }

/// With `concat`, Q and K each get one more column per head, constants concatenated on the
/// last axis as an ALiBi model writes its position bias (Q: 1, K: slope_h * position), so the
/// attention's head size is 5 for Q and K and V keeps 4.
private func blockIR(name: String = "block", concat: Bool = false) -> String {
  let n = hidden
  let qk = concat ? headSize + 1 : headSize
  let qIn = concat ? "%q4" : "%q3", kIn = concat ? "%k4" : "%k3"
  let extra = !concat ? "" : """
    %qc = const f32[1,\(heads),\(seqLen),1] \(dense([Float](repeating: 1, count: heads * seqLen)))
    %kc = const f32[1,\(heads),\(seqLen),1] \(dense((0..<heads * seqLen).map { Float($0 % seqLen) * -0.25 * Float($0 / seqLen + 1) }))
    %q4 = onnx.Concat(%q3, %qc) {axis = -1} : f32[1,\(heads),\(seqLen),\(qk)]
    %k4 = onnx.Concat(%k3, %kc) {axis = -1} : f32[1,\(heads),\(seqLen),\(qk)]

  """
  return """
  graph @\(name)(%x: f32[1,\(seqLen),\(n)]) {
    %wpre = const f32[\(n),\(n)] \(dense(weights(1, n * n)))
    %wq = const f32[\(n),\(n)] \(dense(weights(2, n * n)))
    %bq = const f32[\(n)] \(dense(weights(3, n)))
    %wk = const f32[\(n),\(n)] \(dense(weights(4, n * n)))
    %wv = const f32[\(n),\(n)] \(dense(weights(5, n * n)))
    %wo = const f32[\(n),\(n)] \(dense(weights(6, n * n)))
    %bo = const f32[\(n)] \(dense(weights(7, n)))
    %heads = const i64[4] dense<[1, \(seqLen), \(heads), \(headSize)]>
    %flat = const i64[3] dense<[1, \(seqLen), \(n)]>
    %h = onnx.MatMul(%x, %wpre) : f32[1,\(seqLen),\(n)] @"pre"
    %q0 = onnx.MatMul(%h, %wq) : f32[1,\(seqLen),\(n)] @"q"
    %q1 = onnx.Add(%q0, %bq) : f32[1,\(seqLen),\(n)] @"q.bias"
    %q2 = onnx.Reshape(%q1, %heads) : f32[1,\(seqLen),\(heads),\(headSize)]
    %q3 = onnx.Transpose(%q2) {perm = [0, 2, 1, 3]} : f32[1,\(heads),\(seqLen),\(headSize)]
    %k0 = onnx.MatMul(%h, %wk) : f32[1,\(seqLen),\(n)] @"k"
    %k2 = onnx.Reshape(%k0, %heads) : f32[1,\(seqLen),\(heads),\(headSize)]
    %k3 = onnx.Transpose(%k2) {perm = [0, 2, 1, 3]} : f32[1,\(heads),\(seqLen),\(headSize)]
    %v0 = onnx.MatMul(%h, %wv) : f32[1,\(seqLen),\(n)] @"v"
    %v2 = onnx.Reshape(%v0, %heads) : f32[1,\(seqLen),\(heads),\(headSize)]
    %v3 = onnx.Transpose(%v2) {perm = [0, 2, 1, 3]} : f32[1,\(heads),\(seqLen),\(headSize)]
  \(extra)  %a = graphc.Attention(\(qIn), \(kIn), %v3) {head_size = \(qk), heads = \(heads), kv_heads = \(heads), mask = "causal", scale = 0.5} : f32[1,\(heads),\(seqLen),\(headSize)] @"attn"
    %a1 = onnx.Transpose(%a) {perm = [0, 2, 1, 3]} : f32[1,\(seqLen),\(heads),\(headSize)]
    %a2 = onnx.Reshape(%a1, %flat) : f32[1,\(seqLen),\(n)]
    %o0 = onnx.MatMul(%a2, %wo) {graphc.role = "o-proj"} : f32[1,\(seqLen),\(n)] @"o"
    %o1 = onnx.Add(%o0, %bo) : f32[1,\(seqLen),\(n)] @"o.bias"
    return %o1 as "y"
  }
  """
}

private func block(concat: Bool = false) throws -> Graph {
  let g = try parseGraph(blockIR(concat: concat))
  try g.inferTypes()
  return g
}

private let samples: [[String: Tensor]] = (0..<3).map { i in
  var rng = SplitMix64(seed: 100 + UInt64(i))
  return ["x": randomTensor(.float32, shape: [1, seqLen, hidden], rng: &rng)]
}

/// Saves the `float` snapshot, then makes the student: W_q's head-h columns (and b_q entries)
/// times `q[h]` plus small noise (seeded), and W_o, b_o times `o`. Stands in for quantization.
private func perturbPass(q: [Float], o: Float, noise: Float = 0.01) -> GraphPass {
  GraphPass(name: "test-perturb", summary: "test: save the teacher, then detune W_q and W_o") { graph, context in
    context.saveSnapshot(named: "float")
    let noiseValues = weights(99, hidden * hidden)
    for node in graph.nodes {
      switch node.name {
      case "q", "q.bias", "o", "o.bias":
        let k = 1  // the weight or bias operand
        guard let c = node.operand(k)?.constant else { continue }
        let n = c.shape.last ?? 1
        let v = c.scalars(as: Float.self).enumerated().map { i, x -> Float in
          node.name.hasPrefix("o") ? x * o : x * q[(i % n) / headSize] + (node.name == "q" ? noise * noiseValues[i] : 0)
        }
        context.setOperand(node, k, to: context.makeConstant(.float32(c.shape, v)))
      default: break
      }
    }
  }
}

private func registry(with passes: [GraphPass]) throws -> PassRegistry {
  let r = PassRegistry()
  try registerBuiltins(into: r)
  for p in passes { try r.register(p) }
  return r
}

/// Runs `pipeline` over `graph` in place with the test samples; returns the reports.
@discardableResult
private func run(_ pipeline: String, on graph: Graph, extra: [GraphPass] = []) throws -> [PassReport] {
  var manager = PassManager(instrumentation: PassInstrumentation(verifyEach: true))
  manager.calibration = CalibrationSampleList(samples)
  return try manager.run(try Pipeline(parsing: pipeline, registry: try registry(with: extra)), on: graph)
}

// MARK: Independent measures (plain loops over interpreter outputs, not the pass's code)

/// Per head, the population std of 0.5 * q_i . k_j over j <= i, averaged over the samples,
/// with Q and K read by running a copy of `graph` with the attention's operands as outputs.
private func meanLogitStd(_ graph: Graph) throws -> [Double] {
  let g = graph.copy()
  let att = try #require(g.nodes(ofKind: "graphc.Attention").first)
  g.setOutputs([("q", try #require(att.operand(0))), ("k", try #require(att.operand(1)))])
  var sums = [Double](repeating: 0, count: heads)
  for s in samples {
    let out = try executeGraph(g, inputs: s)
    let qt = try #require(out["q"]), q = qt.scalars(as: Float.self), k = try #require(out["k"]).scalars(as: Float.self)
    let d = qt.shape[3]
    for h in 0..<heads {
      var logits: [Double] = []
      for i in 0..<seqLen {
        for j in 0...i {
          var dot = 0.0
          for c in 0..<d { dot += Double(q[(h * seqLen + i) * d + c]) * Double(k[(h * seqLen + j) * d + c]) }
          logits.append(0.5 * dot)
        }
      }
      let mean = logits.reduce(0, +) / Double(logits.count)
      sums[h] += (logits.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(logits.count)).squareRoot()
    }
  }
  return sums.map { $0 / Double(samples.count) }
}

/// RMS of output `y` over all samples.
private func outputRMS(_ graph: Graph) throws -> Double {
  var s = 0.0, n = 0
  for x in samples {
    for v in try #require(try executeGraph(graph, inputs: x)["y"]).scalars(as: Float.self) { s += Double(v * v); n += 1 }
  }
  return (s / Double(n)).squareRoot()
}

private func alphas(_ g: Graph) throws -> [Float]? {
  try g.nodes(ofKind: "graphc.Attention").first?.attributes.floats(AttentionScalingAttr.alpha)
}

private func beta(_ g: Graph) throws -> Float? {
  try g.nodes.first { $0.attributes[AttentionScalingAttr.beta] != nil }?.attributes.float(AttentionScalingAttr.beta)
}

// MARK: Tests

@Suite struct MatchingTests {
  /// Student == teacher: both factors are exactly 1 and no constant changes.
  @Test func identicalStudentGivesExactlyOne() throws {
    let g = try block()
    let save = GraphPass(name: "test-save", summary: "test: save the teacher only") { _, c in c.saveSnapshot(named: "float") }
    let before = printGraph(g)
    try run("test-save,match-attention-temperature,balance-output-heads", on: g, extra: [save])
    #expect(try alphas(g) == [1, 1])
    #expect(try beta(g) == 1)
    // Only the two records differ from the input.
    let after = printGraph(g).replacingOccurrences(of: ", atm_alpha = [1.0, 1.0]", with: "")
      .replacingOccurrences(of: "atm_alpha = [1.0, 1.0], ", with: "").replacingOccurrences(of: ", ohb_beta = 1.0", with: "")
    #expect(after == before)
  }

  /// A detuned W_q (x0.8 and x1.25 per head, plus noise): after ATM the student's per-head
  /// logit std equals the teacher's within 1e-3.
  @Test func atmMatchesTeacherLogitSpread() throws {
    let teacher = try block()
    let g = try block()
    let reports = try run("test-perturb,match-attention-temperature", on: g, extra: [perturbPass(q: [0.8, 1.25], o: 1)])
    let t = try meanLogitStd(teacher), s = try meanLogitStd(g)
    for h in 0..<heads { #expect(abs(s[h] / t[h] - 1) < 1e-3, "head \(h): \(s[h]) vs \(t[h])") }
    let a = try #require(try alphas(g))
    #expect(abs(a[0] - 1.25) < 0.05 && abs(a[1] - 0.8) < 0.05, "\(a)")
    #expect(reports.last?.statistics["heads-scaled"] == 2)
  }

  /// Q concatenated with a constant column per head (the fixture LM's ALiBi form): alpha
  /// folds into W_q, b_q and that column (per head), so the whole logit spread, position
  /// term included, matches the teacher's within 1e-3; K's column is untouched.
  @Test func queryConcatenatedWithConstants() throws {
    let teacher = try block(concat: true)
    let g = try block(concat: true)
    // The unperturbed position term dilutes the detuning: no neutral band, so both heads fold.
    let reports = try run("test-perturb,match-attention-temperature{neutral-band=0}", on: g, extra: [perturbPass(q: [0.8, 1.25], o: 1)])
    #expect(reports.last?.statistics["heads-scaled"] == 2 && (reports.last?.statistics["layers-skipped"] ?? 0) == 0)
    let t = try meanLogitStd(teacher), s = try meanLogitStd(g)
    for h in 0..<heads { #expect(abs(s[h] / t[h] - 1) < 1e-3, "head \(h): \(s[h]) vs \(t[h])") }
    let a = try #require(try alphas(g))
    let concat = try #require(g.nodes.first { $0.op == "onnx.Concat" && $0.result === g.nodes(ofKind: "graphc.Attention").first?.operand(0) })
    let column = try #require(concat.operand(1)?.constant).scalars(as: Float.self)
    #expect(column == (0..<heads * seqLen).map { a[$0 / seqLen] })
    let kConcat = try #require(g.nodes.first { $0.op == "onnx.Concat" && $0 !== concat })
    #expect(kConcat.operand(1)?.name == "kc")
  }

  /// A head detuned by 0.5 needs alpha 2: clipped to clip-max (1.4), and counted.
  @Test func clippedHead() throws {
    let g = try block()
    let reports = try run("test-perturb,match-attention-temperature", on: g, extra: [perturbPass(q: [0.5, 1], o: 1, noise: 0)])
    let a = try #require(try alphas(g))
    #expect(a[0] == 1.4)
    #expect(a[1] == 1)
    #expect(reports.last?.statistics["heads-clipped"] == 1)
  }

  /// The clip bounds and the neutral band are options.
  @Test func optionsChangeClipAndBand() throws {
    let g = try block()
    try run("test-perturb,match-attention-temperature{clip-max=3,neutral-band=0.5}", on: g,
            extra: [perturbPass(q: [0.5, 1.25], o: 1, noise: 0)])
    let a = try #require(try alphas(g))
    #expect(abs(a[0] - 2) < 1e-3)  // not clipped at 3
    #expect(a[1] == 1)              // |log 0.8| = 0.22 < 0.5
  }

  /// W_o detuned by 0.85: after OHB the output RMS ratio is 1 within 1e-3.
  @Test func ohbMatchesTeacherOutputRMS() throws {
    let teacher = try block()
    let g = try block()
    try run("test-perturb,match-attention-temperature,balance-output-heads", on: g,
            extra: [perturbPass(q: [1, 1], o: 0.85, noise: 0)])
    let ratio = try outputRMS(g) / outputRMS(teacher)
    #expect(abs(ratio - 1) < 1e-3, "ratio \(ratio)")
    #expect(abs((try #require(try beta(g))) - 1 / 0.85) < 0.05)
  }

  /// The folded graph computes what explicit scaling computes (Q times alpha per head after
  /// the head transpose, o-proj output times beta), within 1e-5 in fp32.
  @Test func foldingEqualsExplicitScaling() throws {
    let detuned = try block()
    let perturb = perturbPass(q: [0.8, 1.2], o: 0.9)
    try run("test-perturb", on: detuned, extra: [perturb])
    let g = try block()
    try run("test-perturb,match-attention-temperature,balance-output-heads", on: g, extra: [perturb])
    let a = try #require(try alphas(g)), b = try #require(try beta(g))
    #expect(a.allSatisfy { $0 != 1 } && b != 1)
    // Explicit: detuned graph with Mul nodes inserted.
    let att = try #require(detuned.nodes(ofKind: "graphc.Attention").first)
    let q = try #require(att.operand(0))
    let alpha = detuned.addConstant(.float32([1, heads, 1, 1], a))
    let scaledQ = detuned.insertNode("onnx.Mul", before: att, name: "explicit.alpha", operands: [q, alpha], resultTypes: [q.type])
    detuned.setOperand(att, 0, to: scaledQ.result)
    let y = try #require(detuned.outputs.first).value
    let scaledY = detuned.addNode("onnx.Mul", name: "explicit.beta", operands: [y, detuned.addConstant(.scalar(b))], resultTypes: [y.type])
    detuned.setOutputs([("y", scaledY.result)])
    try detuned.inferTypes()
    for s in samples {
      let folded = try #require(try executeGraph(g, inputs: s)["y"]), explicit = try #require(try executeGraph(detuned, inputs: s)["y"])
      #expect(compareTensors(folded, explicit, rtol: 1e-5, atol: 1e-5) == nil)
    }
  }

  /// With a quantized q-proj (a QLinear dequantizing in its kernel, its result feeding the
  /// float head reshape), alpha goes into its weight scales per column: the logit spread still
  /// matches the teacher's within 1e-3 and the integer weights do not change.
  @Test func integerQueryProjection() throws {
    let teacher = try block()
    let g = try block()
    let before = try block()
    try run("quantize{keep-float=k;v;o;pre},test-shrink-q", on: before, extra: [shrinkDequant("q", by: 0.8)])
    try run("quantize{keep-float=k;v;o;pre},test-shrink-q,match-attention-temperature", on: g, extra: [shrinkDequant("q", by: 0.8)])
    func qWeights(_ graph: Graph) throws -> Value {
      let q = try #require(graph.nodes.first { $0.op == "graphc.QLinear" && $0.name == "q" })
      #expect(q.attributes["dequantize"] == .int(1))
      return try #require(q.operand(1))
    }
    let w0 = try qWeights(before), w1 = try qWeights(g)
    #expect(try #require(w1.constant).bitwiseEqual(try #require(w0.constant)))
    #expect(w1.type.quant?.axis == 1 && w1.type.quant?.scales.count == hidden && w1.type.quant != w0.type.quant)
    let t = try meanLogitStd(teacher), s = try meanLogitStd(g)
    for h in 0..<heads { #expect(abs(s[h] / t[h] - 1) < 1e-3, "head \(h): \(s[h]) vs \(t[h])") }
  }

  /// With a quantized o-proj, beta goes into its output DequantizeLinear scale: the output
  /// RMS ratio is 1 within 1e-3 and the QLinear's integers are untouched.
  @Test func integerOutputProjection() throws {
    let teacher = try block()
    let g = try block()
    try run("quantize{keep-float=q;k;v;pre},test-shrink-o,balance-output-heads", on: g, extra: [shrinkDequant("o", by: 0.85)])
    let o = try #require(g.nodes.first { $0.name == "o" })
    #expect(o.op == "graphc.QLinear")
    #expect(abs((try #require(try o.attributes.float(AttentionScalingAttr.beta))) - 1 / 0.85) < 0.05)
    let ratio = try outputRMS(g) / outputRMS(teacher)
    #expect(abs(ratio - 1) < 1e-3, "ratio \(ratio)")
  }

  @Test func missingSnapshotIsAClearError() throws {
    for pass in ["match-attention-temperature", "balance-output-heads"] {
      let error = #expect(throws: PassFailure.self) { try run(pass, on: try block()) }
      let text = "\(error.map { "\($0)" } ?? "")"
      #expect(text.contains("'float' graph snapshot") && text.contains("run quantize before \(pass)"), "\(text)")
    }
  }

  @Test func badOptionIsAnError() throws {
    let save = GraphPass(name: "test-save", summary: "test: save the teacher only") { _, c in c.saveSnapshot(named: "float") }
    let error = #expect(throws: PassFailure.self) { try run("test-save,match-attention-temperature{clip-min=1.5}", on: try block(), extra: [save]) }
    #expect("\(error.map { "\($0)" } ?? "")".contains("clip-min"))
  }
}

/// After quantize: the dequantization scale of layer `layer` times `factor`, so its output
/// is a uniformly shrunk copy (the kind of drift ATM and OHB correct) while the integers stay.
private func shrinkDequant(_ layer: String, by factor: Float) -> GraphPass {
  GraphPass(name: "test-shrink-\(layer)", summary: "test: shrink a layer's dequantization scale") { graph, context in
    for d in graph.nodes where d.op == "onnx.DequantizeLinear" && d.operand(0)?.producer?.name == layer {
      guard let s = d.operand(1)?.constant else { continue }
      context.setOperand(d, 1, to: context.makeConstant(.scalar(Float(s.double(at: 0)) * factor)))
    }
    // A QLinear that dequantizes itself: its weight scales are its dequantization scales.
    for q in graph.nodes where q.op == "graphc.QLinear" && q.name == layer && q.result.type.dtype == .float32 {
      guard let w = q.operand(1), let t = w.constant, let wq = w.type.quant else { continue }
      context.setOperand(q, 1, to: context.makeConstant(t, name: w.name, quant: Quantization(axis: 1, scales: wq.scales.map { $0 * factor })))
    }
  }
}

@Suite struct SnapshotTests {
  /// A snapshot is a copy: later rewrites of the graph do not reach it, it runs alone, and a
  /// snapshot of another name is absent.
  @Test func snapshotIsIndependentCopy() throws {
    let g = try block()
    final class Box: @unchecked Sendable { var graph: Graph? }
    let seen = Box()
    let save = GraphPass(name: "test-save", summary: "test") { _, c in c.saveSnapshot(named: "float") }
    let mutate = perturbPass(q: [2, 2], o: 2)
    let read = GraphPass(name: "test-read", summary: "test") { _, c in
      seen.graph = c.snapshot(named: "float")
      #expect(c.snapshot(named: "other") == nil)
    }
    try run("test-save,test-perturb,test-read", on: g, extra: [save, mutate, read])
    let snap = try #require(seen.graph)
    #expect(printGraph(snap) != printGraph(g))
    let original = try block()
    for s in samples {
      #expect(compareTensors(try #require(try executeGraph(snap, inputs: s)["y"]), try #require(try executeGraph(original, inputs: s)["y"]),
                             rtol: 0, atol: 0) == nil)
    }
  }
}

private let girTests = packageRoot + "/fixtures/passes/attention-temperature"

@Suite struct AttentionTemperatureGirTests {
  static let files = girFiles(under: girTests)

  @Test func thereAreTests() { #expect(Self.files.count >= 1) }

  /// Each case is calibrated on three synthetic samples of its graph's inputs.
  @Test(arguments: files)
  func girFile(_ path: String) {
    let failures = runGirFile(path, registry: builtinRegistry, calibration: syntheticCalibration(count: 3))
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }
}

@Suite struct DynamicShapeQuantizedTests {
  /// A quantized layer whose sequence dim is symbolic runs at any length: the interpreter
  /// keeps the declared quantization of results (and operands) inferred at run time. The
  /// teacher and student runs of the calibrated passes depend on it (the fixture LM's
  /// `tokens` is `[1, seq]`). Expected: float MatMul within one output LSB.
  @Test func runsAtAnotherLength() throws {
    let g = try parseGraph("""
      graph @dyn(%x: f32[seq,8]) {
        %w = const f32[8,4] \(dense(weights(11, 32)))
        %y = onnx.MatMul(%x, %w) : f32[seq,4] @"fc"
        return %y as "y"
      }
      """)
    try g.inferTypes()
    let float = g.copy()
    var rng = SplitMix64(seed: 5)
    let calibration = (0..<2).map { _ in ["x": randomTensor(.float32, shape: [4, 8], rng: &rng)] }
    var manager = PassManager()
    manager.calibration = CalibrationSampleList(calibration)
    _ = try manager.run(try Pipeline(parsing: "quantize", registry: builtinRegistry), on: g)
    #expect(g.nodes.contains { $0.op == "graphc.QLinear" })
    let x = randomTensor(.float32, shape: [3, 8], rng: &rng)
    let q = try #require(try executeGraph(g, inputs: ["x": x])["y"]), f = try #require(try executeGraph(float, inputs: ["x": x])["y"])
    #expect(q.shape == [3, 4])
    // The result dequantizes in the kernel: the error is the input's and the weights' rounding,
    // |dy| <= sum_k (|w| s_x / 2 + |x| s_w / 2 + s_x s_w / 4), bounded here with the largest |w|, |x|.
    let layer = try #require(g.nodes.first { $0.op == "graphc.QLinear" })
    let sx = Double(try #require(layer.operand(0)?.type.quant?.scales.first))
    let sw = Double(try #require(layer.operand(1)?.type.quant?.scales.max()))
    let maxW = weights(11, 32).map { abs(Double($0)) }.max() ?? 0
    let maxX = (0..<x.count).map { abs(x.double(at: $0)) }.max() ?? 0
    #expect(compareTensors(q, f, rtol: 0, atol: 8 * (maxW * sx / 2 + maxX * sw / 2 + sx * sw / 4)) == nil)
  }
}
