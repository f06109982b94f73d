// Sensitivity.swift - `quantize{sensitivity-budget=B}`: keep in float the layers that hurt the
// output most, until the measured output error is within the budget.

import GraphIR
import PassKit

/// A layer chosen for quantization with its calibrated input and int8 output parameters (none
/// for a layer with a residual, which dequantizes in its kernel).
struct PlannedLayer {
  let layer: Layer
  let input: ActivationParameters
  let output: ActivationParameters?
}

/// Rewrites `planned` (in schedule order) through `context`: the same code for the pipeline's
/// graph and for the scratch copies sensitivity measures, so a measured layout is exactly the
/// layout that ships.
func applyLayout(_ planned: [PlannedLayer], weightType: DType, context: PassContext) throws {
  var rewriter = LayerRewriter(context: context, weightType: weightType)
  for p in planned { try rewriter.rewrite(p.layer, input: p.input, output: p.output) }
  try rewriter.finishDequantizations()
}

/// The sensitivity-driven layout (PASSES.md §3).
///
/// **Output error** of a layout: `E = mean over calibration samples of (1 - cos(f, q))`, where
/// `f` and `q` are all float32 graph outputs, concatenated, of the float graph and of the graph
/// with the layout applied (a sample whose outputs are both zero counts 0; non-finite counts 2).
/// For small noise `1 - cos ≈ relL2² / 2`, so a budget of 1e-4 is a relative L2 error of about 1.4%.
///
/// **Method: each layer quantized alone**, on a copy of the float graph (`e_i`), rather than
/// leave-one-out from the fully quantized graph. Both cost one calibration sweep per layer, but
/// alone a layer's error is its own (not mixed with the upstream noise of layers that may end
/// up float), and independent rounding noises add in `1 - cos` to first order, which is what
/// the choice needs: sort by `e_i`, keep the worst layers float until the sum of the others'
/// `e_i` is within the budget, then **measure** that layout: while over budget keep the next
/// worst too; while within it, try quantizing the least harmful kept layer back (the sum
/// overestimates when errors partly cancel). Additivity only guides the choice; the reported
/// error is measured on the exact graph the pass then produces.
///
/// Cost: `1 + L + r` sweeps over the samples (float reference, L layers, r ≥ 1 checks), each
/// on a freshly packed copy; float reference outputs are held for every sample. Limits: one
/// greedy order, not a search over subsets; the layout is chosen on the calibration samples.
struct SensitivityLayout {
  let context: PassContext
  let samples: CalibrationSamples
  let candidates: [PlannedLayer]
  let weightType: DType
  /// Position of each candidate's node in the schedule (the copy has the same positions).
  private let positions: [Int]
  /// Concatenated float32 outputs of the float graph, per sample.
  private var references: [[Float]] = []
  /// Sweeps done and expected, for the progress line (a reference: sweeps run in non-mutating code).
  private let count = SweepCount()
  var sweeps: Int { count.done }

  init(context: PassContext, samples: CalibrationSamples, candidates: [PlannedLayer], weightType: DType) throws {
    self.context = context
    self.samples = samples
    self.candidates = candidates
    self.weightType = weightType
    let index = Dictionary(uniqueKeysWithValues: context.graph.nodes.enumerated().map { (ObjectIdentifier($1), $0) })
    positions = try candidates.map { c in
      guard let i = index[ObjectIdentifier(c.layer.node)] else {
        throw GraphError("sensitivity: the layer is not in the graph", node: c.layer.node.name, op: c.layer.node.op)
      }
      return i
    }
    count.planned = candidates.count + 2
    var refs: [[Float]] = []
    try sweep(try context.compile(context.graph.copy())) { refs.append($1) }
    references = refs
  }

  /// The output error `E` of quantizing the candidates at `indices` (into `candidates`).
  func error(quantizing indices: [Int]) throws -> Double {
    guard !indices.isEmpty else { return 0 }
    let copy = context.graph.copy()
    let scratch = context.scratchContext(for: copy)
    let planned = try indices.sorted().map { i -> PlannedLayer in
      guard let layer = Layer(matching: copy.nodes[positions[i]]) else {
        throw GraphError("sensitivity: the layer did not match on the copy", node: candidates[i].layer.node.name)
      }
      return PlannedLayer(layer: layer, input: candidates[i].input, output: candidates[i].output)
    }
    try applyLayout(planned, weightType: weightType, context: scratch)
    var total = 0.0
    try sweep(try context.compile(copy)) { s, outputs in total += outputError(references[s], outputs) }
    return total / Double(samples.count)
  }

  /// Chooses which candidates stay float: returns their indices, every candidate's error
  /// alone, and the measured error of the chosen layout.
  func choose(budget: Double) throws -> (keep: [Int], alone: [Double], error: Double) {
    let alone = try candidates.indices.map { try error(quantizing: [$0]) }
    let order = candidates.indices.sorted { alone[$0] != alone[$1] ? alone[$0] > alone[$1] : $0 < $1 }
    // Smallest k with sum(alone[order[k...]]) <= budget.
    var k = 0, rest = alone.reduce(0, +)
    while k < order.count, rest > budget { rest -= alone[order[k]]; k += 1 }
    var measured = try error(quantizing: Array(order[k...]))
    if measured <= budget {
      // The sum is pessimistic when errors partly cancel: quantize kept layers back, least
      // harmful first, while the measured error stays within the budget.
      while k > 0 {
        count.planned += 1
        let m = try error(quantizing: Array(order[(k - 1)...]))
        guard m <= budget else { break }
        k -= 1
        measured = m
      }
    } else {
      while measured > budget, k < order.count {
        k += 1
        count.planned += 1
        measured = try error(quantizing: Array(order[k...]))
      }
    }
    return (Array(order[..<k]), alone, measured)
  }

  /// Runs `model` on every sample, handing `body` the sample index and its concatenated
  /// float32 outputs; reports progress per sample.
  private func sweep(_ model: CompiledGraph, _ body: (Int, [Float]) throws -> Void) throws {
    let n = samples.count, names = context.graph.outputs.map(\.name)
    for s in 0..<n {
      context.reportProgress("sensitivity", done: count.done * n + s, total: count.planned * n)
      let outputs: [String: Tensor]
      do { outputs = try model.run(try samples.sample(s)) } catch { throw GraphError("calibration sample \(s): \(error)") }
      var flat: [Float] = []
      for name in names {
        guard let t = outputs[name], t.dtype == .float32 else { continue }
        flat.append(contentsOf: UnsafeBufferPointer(start: t.pointer(as: Float.self), count: t.count))
      }
      try body(s, flat)
    }
    count.done += 1
    context.reportProgress("sensitivity", done: count.done * n, total: max(count.planned, count.done) * n)
  }
}

private final class SweepCount {
  var done = 0
  var planned = 0
}

/// `1 - cos(f, q)` over two output vectors; 0 when both are zero, 2 when anything is not finite
/// or the lengths differ.
func outputError(_ f: [Float], _ q: [Float]) -> Double {
  guard f.count == q.count else { return 2 }
  var dot = 0.0, ff = 0.0, qq = 0.0
  for i in f.indices {
    let a = Double(f[i]), b = Double(q[i])
    dot += a * b; ff += a * a; qq += b * b
  }
  guard dot.isFinite, ff.isFinite, qq.isFinite else { return 2 }
  if ff == 0 && qq == 0 { return 0 }
  guard ff > 0, qq > 0 else { return 1 }
  return max(0, 1 - dot / (ff * qq).squareRoot())
}
