// AttentionTemperature.swift - `match-attention-temperature` (ATM) and `balance-output-heads`
// (OHB): calibrated per-head logit and per-layer output rescaling, folded into constants.

import Foundation
import GraphIR
import PassKit

/// The snapshot `quantize` saves before it changes anything: the float teacher.
let teacherSnapshot = "float"

/// Attention temperature matching (QuantVLA, PASSES.md §4). For each `graphc.Attention` and head
/// h, the teacher (the float graph `quantize` saved as snapshot `float`) and the student (the
/// graph now) run on the calibration samples; `sigma_h` is the population std of the logits
/// `scale * Q_h K_hᵀ` over the valid entries of a call (causal, unmasked), and
/// `alpha_h = clip(mean sigma_T,h / (mean sigma_S,h + 1e-6), clip-min, clip-max)`, 1 in the
/// neutral band. alpha is folded into the layer that produces Q, so inference has no new op:
///
///     %q  = onnx.MatMul(%x, %wq)               %q  = onnx.MatMul(%x, %wq')   (head h's columns * alpha_h)
///     %qb = onnx.Add(%q, %bq)            ->    %qb = onnx.Add(%q, %bq')      (same entries * alpha_h)
///     ... Reshape/Transpose/rotary ...         ...
///     %o  = graphc.Attention(%qh, %kh, %v)     %o  = graphc.Attention(...) {atm_alpha = [a0, a1, ...]}
///
/// When Q comes from a `graphc.QLinear`, its `DequantizeLinear` scale becomes per column
/// (`s * alpha_h`, `axis = -1`), or, when the QLinear dequantizes itself (`dequantize = 1`),
/// its weight scales do: the integers and their calibrated range are unchanged.
///
/// Limits: Q must be a homogeneous linear function of one layer's output (see `querySite`),
/// with output column n in head n / head_size, optionally concatenated on its last axis with
/// constants (scaled per head as well); a layer where it is not (QK-norm, a packed QKV
/// projection) is left alone with a warning, since the attention kernel has no per-head scale.
/// Softcapping, if any, sees the rescaled logits.
public let matchAttentionTemperature = GraphPass(
  name: "match-attention-temperature",
  summary: "Match per-head attention logit spread of the quantized graph to the float one (calibrated; after quantize)",
  options: MatchingOptions.specs,
  statistics: ["heads-scaled", "heads-neutral", "heads-clipped", "layers-skipped"]
) { graph, context in
  let options = try MatchingOptions(context.options, pass: context.passName)
  let teacher = try context.requireSnapshot(named: teacherSnapshot, hint: "run quantize before match-attention-temperature")
  var layers: [(student: Node, teacher: Node, site: QuerySite)] = []
  for (s, t) in attentionPairs(student: graph, teacher: teacher, context) {
    let heads = try s.attributes.int(AttentionAttr.heads, default: 0)
    guard let site = querySite(of: s, in: graph), site.site.columns == heads * site.headSize else {
      context.count("layers-skipped")
      context.diagnose(.warning, "alpha not applied: Q is not a per-head linear function of one linear layer (the kernel has no per-head scale)", at: s)
      continue
    }
    layers.append((s, t, site))
  }
  guard !layers.isEmpty else { return }
  warnIfSynthetic(context)
  let sigmaT = try logitSpread(of: layers.map(\.teacher), in: teacher, context)
  let sigmaS = try logitSpread(of: layers.map(\.student), in: graph, context)
  for (i, layer) in layers.enumerated() {
    let heads = sigmaS[i].sums.count
    let factors = (0..<heads).map { h in
      options.factor(teacher: sigmaT[i].mean(h) ?? 0, student: sigmaS[i].mean(h) ?? 0)
    }
    for f in factors {
      if f.clipped { context.count("heads-clipped") }
      context.count(f.value == 1 ? "heads-neutral" : "heads-scaled")
    }
    let alphas = factors.map(\.value), raw = factors.map(\.raw)
    if alphas.contains(where: { $0 != 1 }) { try layer.site.fold(alphas, context) }
    let earlier = (try? layer.student.attributes.floats(AttentionScalingAttr.alpha)).flatMap { $0?.count == heads ? $0 : nil }
    let recorded = zip(alphas, earlier ?? alphas.map { _ in 1 }).map(*)
    context.setAttribute(layer.student, AttentionScalingAttr.alpha, .floats(recorded))
    let also = layer.site.constants.isEmpty ? "" : " and the constant columns concatenated to Q"
    let folded = alphas.contains { $0 != 1 } ? "folded into '\(layer.site.site.linear.name)'\(also)" : "all neutral, nothing folded"
    context.diagnose(.remark, "alpha per head \(formatFactors(alphas)) (measured \(formatFactors(raw))): \(folded)", at: layer.student)
  }
}

/// Output head balancing (QuantVLA, PASSES.md §4). For each `graphc.Attention`, its output
/// projection (`graphc.role = o-proj`, found through head Transpose/Reshape) gives `Z_l`, the
/// projection's output before the residual add; `beta_l = clip(RMS(Z_T,l) / (RMS(Z_S,l) + 1e-6))`
/// over every element of every calibration sample, 1 in the neutral band, folded into the
/// layer: `W_o *= beta`, `b_o *= beta` for a float layer, the output `DequantizeLinear` scale
/// (or the weight scales of a dequantizing one) `*= beta` for a `graphc.QLinear` (the integers
/// do not change).
///
///     %z = onnx.MatMul(%a, %wo) {graphc.role = "o-proj"}  ->  %z = onnx.MatMul(%a, %wo') {graphc.role = "o-proj", ohb_beta = 1.07}
///
/// Limits: an attention with no o-proj found, or whose o-proj is not a foldable layer, is
/// left alone with a warning. Run it after `match-attention-temperature`, whose change to the
/// attention outputs it then measures.
public let balanceOutputHeads = GraphPass(
  name: "balance-output-heads",
  summary: "Match per-layer output-projection RMS of the quantized graph to the float one (calibrated; after quantize)",
  options: MatchingOptions.specs,
  statistics: ["layers-balanced", "layers-neutral", "layers-clipped", "layers-skipped"]
) { graph, context in
  let options = try MatchingOptions(context.options, pass: context.passName)
  let teacher = try context.requireSnapshot(named: teacherSnapshot, hint: "run quantize before balance-output-heads")
  var layers: [(student: FoldSite, teacher: FoldSite)] = []
  for (s, t) in attentionPairs(student: graph, teacher: teacher, context) {
    guard let so = s.attentionOutputProjection.flatMap(FoldSite.init(layer:)),
          let to = t.attentionOutputProjection.flatMap(FoldSite.init(layer:)) else {
      context.count("layers-skipped")
      context.diagnose(.warning, "beta not applied: no foldable o-proj layer reads this attention's output", at: s)
      continue
    }
    layers.append((so, to))
  }
  guard !layers.isEmpty else { return }
  warnIfSynthetic(context)
  let rmsT = try outputRMS(of: layers.map(\.teacher.output), in: teacher, context)
  let rmsS = try outputRMS(of: layers.map(\.student.output), in: graph, context)
  for (i, layer) in layers.enumerated() {
    let (beta, clipped, _) = options.factor(teacher: rmsT[i], student: rmsS[i])
    if clipped { context.count("layers-clipped") }
    context.count(beta == 1 ? "layers-neutral" : "layers-balanced")
    if beta != 1 { try layer.student.fold([beta], context) }
    let node = layer.student.linear
    let previous = (try? node.attributes.float(AttentionScalingAttr.beta)).flatMap { $0 } ?? 1
    context.setAttribute(node, AttentionScalingAttr.beta, .float(previous * beta))
    context.diagnose(.remark, "beta \(formatFactors([beta])): output RMS float \(String(format: "%.5g", rmsT[i])), quantized \(String(format: "%.5g", rmsS[i]))", at: node)
  }
}

/// The family's passes, for the driver's registry.
public let attentionTemperaturePasses: [GraphPass] = [matchAttentionTemperature, balanceOutputHeads]

/// Student attentions with the teacher attention of the same name (warning for the others).
private func attentionPairs(student: Graph, teacher: Graph, _ context: PassContext) -> [(Node, Node)] {
  var byName: [String: Node] = [:]
  for t in teacher.nodes(ofKind: "graphc.Attention") where !t.name.isEmpty { byName[t.name] = t }
  return student.nodes(ofKind: "graphc.Attention").compactMap { s in
    guard let t = byName[s.name], (try? t.attributes.int(AttentionAttr.heads)) == (try? s.attributes.int(AttentionAttr.heads)) else {
      context.count("layers-skipped")
      context.diagnose(.warning, "no float attention of this name and head count in the '\(teacherSnapshot)' snapshot", at: s)
      return nil
    }
    return (s, t)
  }
}

private func warnIfSynthetic(_ context: PassContext) {
  if context.calibration?.isSynthetic == true {
    context.diagnose(.warning, "calibrating on SYNTHETIC random inputs: the factors describe noise, not real data")
  }
}

/// Per attention, the mean over calibration calls of each head's logit std.
private func logitSpread(of attentions: [Node], in graph: Graph, _ context: PassContext) throws -> [MeanOverCalls] {
  var captured: [Value] = [], offsets: [Int] = []
  for a in attentions {
    offsets.append(captured.count)
    captured += a.operands.prefix(2).compactMap { $0 }
    if let m = a.operand(3) { captured.append(m) }
  }
  var spreads = try attentions.map { MeanOverCalls(try $0.attributes.int(AttentionAttr.heads, default: 0)) }
  try context.forEachCalibrationSample(of: graph, capturing: captured) { _, tensors in
    for (i, a) in attentions.enumerated() {
      let kind = AttentionMaskKind(rawValue: try a.attributes.string(AttentionAttr.mask, default: "none")) ?? .none
      let q = tensors[offsets[i]], k = tensors[offsets[i] + 1]
      let scale = try a.attributes.float(AttentionAttr.scale) ?? 1 / Float(q.shape.last ?? 1).squareRoot()
      let mask = kind.hasOperand && a.operand(3) != nil ? tensors[offsets[i] + 2] : nil
      do {
        spreads[i].add(try headLogitStd(q: q, k: k, mask: mask, scale: scale, causal: kind.isCausal))
      } catch {
        throw GraphError("\(error)", node: a.name, op: a.op)
      }
    }
  }
  return spreads
}

/// Per value, the RMS of its elements over every calibration sample.
private func outputRMS(of values: [Value], in graph: Graph, _ context: PassContext) throws -> [Double] {
  var sums = [Double](repeating: 0, count: values.count), counts = [Int](repeating: 0, count: values.count)
  try context.forEachCalibrationSample(of: graph, capturing: values) { _, tensors in
    for (i, t) in tensors.enumerated() {
      let (s, n) = try sumOfSquares(t)
      sums[i] += s
      counts[i] += n
    }
  }
  return zip(sums, counts).map { $1 > 0 ? ($0 / Double($1)).squareRoot() : 0 }
}

private func formatFactors(_ f: [Float]) -> String {
  "[" + f.map { String(format: "%.4f", $0) }.joined(separator: ", ") + "]"
}
