// AssignSparseAttention.swift - Choose a sparse attention pattern per head from calibration data (MInference).

import Foundation
import GraphIR
import PassKit

/// Writes a per-head pattern record on every causal `graphc.Attention`, chosen offline on the
/// calibration samples (PASSES.md §5):
///
///     %o = graphc.Attention(%q, %k, %v)          %o = graphc.Attention(%q, %k, %v)
///          {heads=4, mask="causal", ...}    ->        {heads=4, mask="causal", ...,
///                                                      pattern=["vertical-slash", "a-shape", ...],
///                                                      pattern_sizes=[6, 58, 12, 52, ...],
///                                                      pattern_score=[0.011, 0.004, ...],
///                                                      calibration_length=1024}
///
/// Q, K and V are captured on every sample with the graph as it is (upstream attention dense).
/// At the first sample's key length n, every candidate keeps about `B = density * (n + 1) / 2`
/// keys per query (the dense causal average times `density`): A-shape (B/5, 4B/5) and
/// (B/16, 15B/16); vertical-slash (k_v, B - k_v) for k_v = 5%, 25%, 50%, 90% of B; block-sparse
/// with B/64 - 1 key blocks plus the diagonal. Each candidate runs through the interpreter's
/// kernel on all heads at once; per head the pass keeps the candidate with the lowest output
/// relative error `‖O - O_dense‖ / ‖O_dense‖` over all samples (`criterion=recall`: the highest
/// mean attention mass kept), or dense when that error exceeds `max-error` (recall is below
/// `min-recall`). Sizes are recorded at length n; the kernel scales them to other lengths.
///
/// Limits: only causal attention (with or without an additive mask); `criterion=recall` builds [batch, heads, n, n] masks, so it is meant
/// for calibration lengths up to a few thousand. Heads below `min-seq-len` and layers in
/// `dense-layers` (indices of graphc.Attention nodes in graph order) stay dense.
public let assignSparseAttention = GraphPass(
  name: "assign-sparse-attention",
  summary: "Choose a sparse attention pattern per head (A-shape, vertical-slash, block-sparse, dense) from calibration data",
  options: [
    PassOptionSpec("density", .double, default: "0.125", help: "Kept keys per query as a fraction of dense causal attention"),
    PassOptionSpec("criterion", .string, default: "error", help: "error (output relative error vs dense) or recall (attention mass kept)"),
    PassOptionSpec("max-error", .double, default: "0.05", help: "A head stays dense when its best pattern's relative error is above this"),
    PassOptionSpec("min-recall", .double, default: "0.9", help: "With criterion=recall, a head stays dense below this recall"),
    PassOptionSpec("min-seq-len", .int, default: "512", help: "Calibration lengths below this leave every head dense"),
    PassOptionSpec("dense-layers", .list, default: "", help: "Attention layers (0-based, graph order) left dense, e.g. 0;5"),
  ],
  statistics: ["attention-layers"] + AttentionPatternKind.allCases.filter { $0 != .strided }.map { "heads-\($0.rawValue)" }
) { graph, context in
  let settings = try SparseAssignmentSettings(context.options)
  let nodes = graph.nodes(ofKind: "graphc.Attention")
  var layers: [AttentionLayer] = []
  for (index, node) in nodes.enumerated() {
    guard let layer = try AttentionLayer(node, index: index, context) else { continue }
    if settings.denseLayers.contains(index) {
      try layer.write(.init(repeating: .init(kind: .dense), count: layer.heads), length: 0, context)
      context.count("heads-dense", by: layer.heads)
      context.diagnose(.remark, "layer \(index): all \(layer.heads) heads dense (dense-layers)", at: node)
      continue
    }
    layers.append(layer)
  }
  guard !layers.isEmpty else { return }
  let captured = layers.flatMap(\.operands)
  var scores: [[CandidateScore]] = layers.map { _ in [] }
  var length = 0
  try context.forEachCalibrationSample(capturing: captured) { sample, tensors in
    var offset = 0
    for (l, layer) in layers.enumerated() {
      let inputs = Array(tensors[offset..<(offset + layer.operands.count)])
      offset += layer.operands.count
      if sample == 0 {
        length = inputs[1].shape[2]
        guard length >= settings.minSeqLen else { return }
        scores[l] = layer.candidates(length: length, density: settings.density).map { c in
          CandidateScore(pattern: c, heads: layer.heads)
        }
      }
      try layer.score(&scores[l], inputs: inputs, calibrationLength: length, criterion: settings.criterion, context)
    }
  }
  for (l, layer) in layers.enumerated() {
    context.count("attention-layers")
    guard length >= settings.minSeqLen else {
      try layer.write(.init(repeating: .init(kind: .dense), count: layer.heads), length: length, context)
      context.count("heads-dense", by: layer.heads)
      context.diagnose(.remark, "layer \(layer.index): calibration length \(length) < min-seq-len \(settings.minSeqLen), all heads dense", at: layer.node)
      continue
    }
    var chosen: [AttentionHeadPattern] = []
    for h in 0..<layer.heads {
      let (pattern, note) = settings.choose(head: h, scores[l])
      chosen.append(pattern)
      context.count("heads-\(pattern.kind.rawValue)")
      context.diagnose(.remark, "layer \(layer.index) head \(h): \(note)", at: layer.node)
    }
    try layer.write(chosen, length: length, context)
  }
}

/// The pass's options, checked.
private struct SparseAssignmentSettings {
  var density: Double, maxError: Double, minRecall: Double, minSeqLen: Int
  var criterion: Criterion
  var denseLayers: Set<Int>
  enum Criterion: String { case error, recall }

  init(_ o: PassOptions) throws {
    density = o.double("density"); maxError = o.double("max-error"); minRecall = o.double("min-recall")
    minSeqLen = o.int("min-seq-len")
    guard density > 0, density <= 1 else { throw GraphError("option density must be in (0, 1], got '\(o.string("density"))'") }
    guard let c = Criterion(rawValue: o.string("criterion")) else {
      throw GraphError("option criterion must be 'error' or 'recall', got '\(o.string("criterion"))'")
    }
    criterion = c
    denseLayers = Set(try o.list("dense-layers").map { s in
      guard let i = Int(s), i >= 0 else { throw GraphError("option dense-layers: '\(s)' is not a layer index") }
      return i
    })
  }

  /// The head's best candidate, or dense when it misses the threshold; and a remark.
  func choose(head h: Int, _ candidates: [CandidateScore]) -> (AttentionHeadPattern, String) {
    let values = candidates.map { criterion == .error ? $0.relativeError(h) : $0.recall(h) }
    let better: (Double, Double) -> Bool = criterion == .error ? { $0 < $1 } : { $0 > $1 }
    guard let best = values.indices.min(by: { better(values[$0], values[$1]) }) else {
      return (.init(kind: .dense), "dense (no candidate)")
    }
    var perKind: [String] = []
    for kind in AttentionPatternKind.allCases {
      let of = values.indices.filter { candidates[$0].pattern.kind == kind }
      if let i = of.min(by: { better(values[$0], values[$1]) }) {
        perKind.append("\(kind.rawValue) \(String(format: "%.4f", values[i]))")
      }
    }
    let name = criterion.rawValue, c = candidates[best].pattern
    let acceptable = criterion == .error ? values[best] <= maxError : values[best] >= minRecall
    guard acceptable else {
      return (.init(kind: .dense, score: criterion == .error ? 0 : 1),
              "dense (best \(name) \(String(format: "%.4f", values[best])) misses the threshold; \(perKind.joined(separator: ", ")))")
    }
    return (.init(kind: c.kind, sizes: c.sizes, score: Float(values[best])),
            "\(c.kind.rawValue) \(c.sizes) \(name) \(String(format: "%.4f", values[best])) (best per kind: \(perKind.joined(separator: ", ")))")
  }
}

/// One candidate's running sums over the samples, per head.
private struct CandidateScore {
  let pattern: AttentionHeadPattern
  var errorSquares: [Double], denseSquares: [Double], keptMass: [Double], rows: [Double]
  init(pattern: AttentionHeadPattern, heads: Int) {
    self.pattern = pattern
    errorSquares = .init(repeating: 0, count: heads); denseSquares = errorSquares; keptMass = errorSquares; rows = errorSquares
  }
  func relativeError(_ h: Int) -> Double { denseSquares[h] > 0 ? (errorSquares[h] / denseSquares[h]).squareRoot() : 0 }
  func recall(_ h: Int) -> Double { rows[h] > 0 ? keptMass[h] / rows[h] : 1 }
}

/// A causal graphc.Attention the pass assigns.
private struct AttentionLayer {
  let node: Node, index: Int, heads: Int
  /// q, k, v and the mask when there is one: what the pass captures on each sample.
  let operands: [Value]

  init?(_ node: Node, index: Int, _ context: PassContext) throws {
    let kind = AttentionMaskKind(rawValue: try node.attributes.string(AttentionAttr.mask, default: "none")) ?? .none
    guard kind.isCausal else {
      context.diagnose(.remark, "layer \(index): not causal, left dense", at: node)
      return nil
    }
    var operands: [Value] = []
    for i in 0..<(kind.hasOperand ? 4 : 3) {
      guard let v = node.operand(i) else { return nil }
      operands.append(v)
    }
    self.node = node; self.index = index; self.operands = operands
    heads = try node.attributes.int(AttentionAttr.heads, default: 0)
  }

  /// The candidates at key length `n` (see the pass's doc comment).
  func candidates(length n: Int, density: Double) -> [AttentionHeadPattern] {
    let b = max(2, Int((density * Double(n + 1) / 2).rounded()))
    var list: [AttentionHeadPattern] = [.init(kind: .aShape, sizes: (b / 5, b - b / 5)), .init(kind: .aShape, sizes: (b / 16, b - b / 16))]
    for f in [0.05, 0.25, 0.5, 0.9] {
      let kv = max(1, Int(Double(b) * f))
      list.append(.init(kind: .verticalSlash, sizes: (kv, b - kv)))
    }
    list.append(.init(kind: .blockSparse, sizes: (max(0, b / 64 - 1), 0)))
    return list
  }

  /// Adds one sample to every candidate's sums.
  func score(_ scores: inout [CandidateScore], inputs: [Tensor], calibrationLength: Int,
             criterion: SparseAssignmentSettings.Criterion, _ context: PassContext) throws {
    var denseAttrs = node.attributes
    for key in [AttentionAttr.pattern, AttentionAttr.patternSizes, AttentionAttr.patternScore, AttentionAttr.calibrationLength] {
      denseAttrs[key] = nil
    }
    let operands: [Tensor?] = inputs
    let dense = try context.evaluate(op: node.op, attributes: denseAttrs, inputs: operands, nodeName: node.name)[0]
    let perHead = dense.count / max(heads * dense.shape[0], 1), batch = dense.shape[0]
    let d = dense.pointer(as: Float.self)
    let probabilities = criterion == .recall ? try DenseProbabilities(inputs, attributes: denseAttrs, heads: heads) : nil
    for c in scores.indices {
      var attrs = denseAttrs
      for (key, value) in attentionPatternAttributes(Array(repeating: scores[c].pattern, count: heads), calibrationLength: calibrationLength) {
        attrs[key] = value
      }
      if let probabilities {
        let keep = try context.attentionKeepMask(attributes: attrs, q: inputs[0], k: inputs[1], mask: inputs.count > 3 ? inputs[3] : nil)
        probabilities.addRecall(keep, into: &scores[c])
        continue
      }
      let out = try context.evaluate(op: node.op, attributes: attrs, inputs: operands, nodeName: node.name)[0]
      let o = out.pointer(as: Float.self)
      for b in 0..<batch {
        for h in 0..<heads {
          let base = (b * heads + h) * perHead
          var e = 0.0, n = 0.0
          for x in base..<base + perHead {
            let ref = Double(d[x]), diff = Double(o[x]) - ref
            e += diff * diff; n += ref * ref
          }
          scores[c].errorSquares[h] += e; scores[c].denseSquares[h] += n
        }
      }
    }
  }

  /// Stores the record on the node.
  func write(_ patterns: [AttentionHeadPattern], length: Int, _ context: PassContext) throws {
    for (key, value) in attentionPatternAttributes(patterns, calibrationLength: length) {
      context.setAttribute(node, key, value)
    }
  }
}

/// Dense causal attention probabilities of one sample, for recall: `softmax(scale q kᵀ (+ mask))`
/// row by row (softcap applied as the kernel does), stored [batch, heads, sq, skv].
private struct DenseProbabilities {
  let p: [Float], shape: (b: Int, h: Int, sq: Int, skv: Int)

  init(_ inputs: [Tensor], attributes a: AttributeMap, heads: Int) throws {
    let q = inputs[0], k = inputs[1]
    let (b, sq, d, kvHeads, skv) = (q.shape[0], q.shape[2], q.shape[3], k.shape[1], k.shape[2])
    guard b * heads * sq * skv <= 1 << 28 else {
      throw GraphError("criterion=recall at calibration length \(skv) needs too much memory; use criterion=error or shorter samples")
    }
    let scale = Double(try a.float(AttentionAttr.scale) ?? 1 / Float(d).squareRoot())
    let softcap = Double(try a.float(AttentionAttr.softcap, default: 0))
    let mask = inputs.count > 3 ? inputs[3] : nil
    let maskShape = mask.map { Array(repeating: 1, count: 4 - $0.rank) + $0.shape } ?? []
    var p = [Float](repeating: 0, count: b * heads * sq * skv)
    let qp = q.pointer(as: Float.self), kp = k.pointer(as: Float.self)
    var row = [Double](repeating: 0, count: skv)
    for bi in 0..<b { for h in 0..<heads {
      let kvh = bi * kvHeads + h / (heads / kvHeads)
      for i in 0..<sq {
        let visible = min(skv, i + 1)
        for j in 0..<visible {
          var s = 0.0
          for x in 0..<d { s += Double(qp[((bi * heads + h) * sq + i) * d + x]) * Double(kp[(kvh * skv + j) * d + x]) }
          s *= scale
          if softcap > 0 { s = softcap * tanh(s / softcap) }
          if let mask {
            let idx = [bi, h, i, j].enumerated().reduce(0) { acc, e in
              acc * maskShape[e.offset] + (maskShape[e.offset] == 1 ? 0 : e.element)
            }
            s += mask.double(at: idx)
          }
          row[j] = s
        }
        let m = row[0..<visible].max() ?? 0
        var sum = 0.0
        for j in 0..<visible { row[j] = exp(row[j] - m); sum += row[j] }
        guard sum > 0 else { continue }
        for j in 0..<visible { p[((bi * heads + h) * sq + i) * skv + j] = Float(row[j] / sum) }
      }
    } }
    self.p = p
    shape = (b, heads, sq, skv)
  }

  /// Adds per head the probability mass `keep` retains, and the row count.
  func addRecall(_ keep: Tensor, into score: inout CandidateScore) {
    let k = keep.pointer(as: Bool.self), n = shape.sq * shape.skv
    for bi in 0..<shape.b { for h in 0..<shape.h {
      let base = (bi * shape.h + h) * n
      var mass = 0.0
      for x in base..<base + n where k[x] { mass += Double(p[x]) }
      score.keptMass[h] += mass
      score.rows[h] += Double(shape.sq)
    } }
  }
}
