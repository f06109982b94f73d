// Quantize.swift - The `quantize` pass: calibrated W8A8/W4A8 integerization of linear layers.

import Calibration
import Foundation
import GraphIR
import PassKit

/// Integerizes MatMul/Gemm/Conv layers with constant weights (PASSES.md §2-§3). Weights become
/// symmetric per-output-channel int8 or packed int4 constants; activations int8, asymmetric
/// per tensor, from ranges measured on the calibration samples. A following bias Add and Relu
/// are absorbed (bias into the int32 bias, Relu as the fused clip).
///
///     %h = onnx.MatMul(%x, %w)              %xq = onnx.QuantizeLinear(%x, %sx, %zx) : i8[4,64] q<…>
///     %b = onnx.Add(%h, %bias)        ->    %yq = graphc.QLinear(%xq, %wq, %bq) {clip = [0.0, inf]} : i8[4,128] q<…>
///     %r = onnx.Relu(%b)                    %r  = onnx.DequantizeLinear(%yq, %sy, %zy) : f32[4,128]
///
/// Consecutive quantized layers share one integer value: a layer whose input is another's
/// DequantizeLinear with the same parameters reads the integers directly, so quantize and
/// dequantize remain only at float boundaries. A layer whose integers only a DequantizeLinear
/// reads (its result feeds float ops or a graph output) dequantizes in its kernel instead
/// (`dequantize = 1`, f32 result straight from the int32 sums): its output is rounded once, not
/// again to an int8 step (see `LayerRewriter.finishDequantizations`).
///
/// Conv fusion's `graphc.FusedConv` (the `default` preset runs before this pass) becomes a
/// QConv when its activation is none, relu or clip: the activation folds into the
/// requantization clamp. With a residual Z, the QConv dequantizes `conv + B` in its kernel and
/// the add stays in float after it (so the conv's output has no calibrated range of its own);
/// a relu/clip applied after the add follows it as a float op (`residual_after_activation = 1`:
/// the activation folds into the QConv, then the add):
///
///     %r = graphc.FusedConv(%x, %w, %b, %z)       %c = graphc.QConv(%xq, %wq, %bq) {dequantize = 1} : f32[…]
///          {activation = "relu"}             ->   %s = onnx.Add(%c, %z)
///                                                 %r = onnx.Relu(%s)
///
/// Layout policy: `keep-float` patterns name layers to leave in float, matched against the
/// `graphc.role` attribute (`q-proj`, `mlp-up`, … tagged by attention fusion) or, as globs with
/// `*` and `?`, against node names. `sensitivity-budget=B` then keeps in float the layers that
/// hurt the output most until the measured output error is at most B (see `SensitivityLayout`
/// for the error's definition and the method). Each layer gets a remark with its bits, bytes
/// saved and (with a budget) its output error alone; a total remark and the statistics give the
/// weight bytes of the quantized layers and the constant bytes of the whole model.
///
/// Limits: 2-D weights only for MatMul/Gemm (`transA = 0`); Gemm's C must be a constant of
/// `N` values (or a scalar); Conv needs explicit pads (no `auto_pad`). Activations are int8
/// only. Layers whose input or output never held a finite value in calibration stay float.
/// `graphc.DepthwisePointwise` and FusedConv with other activations (leaky_relu, hard_swish,
/// sigmoid, silu, …) stay float with a remark saying why.
/// Saves the graph as it enters as snapshot `float`, the teacher of later calibrated passes.
public let quantize = GraphPass(
  name: "quantize",
  summary: "Quantize MatMul/Gemm/Conv layers to int8/int4 weights and int8 activations (calibrated)",
  options: [
    PassOptionSpec("weights", .string, default: "int8", help: "Weight type: int8 or int4 (symmetric, per output channel)"),
    PassOptionSpec("activations", .string, default: "int8", help: "Activation type: int8 (asymmetric, per tensor)"),
    PassOptionSpec("keep-float", .list, default: "q-proj;k-proj;v-proj;o-proj",
                   help: "Roles (graphc.role) or node-name globs to keep in float, separated by ';'"),
    PassOptionSpec("method", .string, default: "minmax", help: "Activation range: minmax, percentile or entropy"),
    PassOptionSpec("percentile", .double, default: "99.9", help: "Percentile kept by method=percentile"),
    PassOptionSpec("calibration-random", .int, default: "0",
                   help: "Without calibration data, use N synthetic uniform samples (smoke tests only)"),
    PassOptionSpec("sensitivity-budget", .double, default: "0",
                   help: "Keep the layers that hurt most in float until the output error (mean 1 - cosine vs float) is at most this; 0 = off"),
  ],
  establishes: ["quantized"],
  statistics: ["layers-quantized", "layers-kept-float", "layers-kept-sensitive", "layers-uncalibrated",
               "weight-bytes-before", "weight-bytes-after", "model-bytes-before", "model-bytes-after",
               "sensitivity-sweeps", "output-error-ppm"]
) { graph, context in
  context.saveSnapshot(named: "float")
  let options = try QuantizeOptions(context.options)
  var layers: [Layer] = []
  for node in graph.nodes {
    guard let layer = Layer(matching: node) else {
      if let reason = Layer.unsupportedReason(node) {
        context.count("layers-kept-float")
        context.diagnose(.remark, reason, at: node)
      }
      continue
    }
    if let pattern = options.keepFloat.first(where: { node.matches($0) }) {
      context.count("layers-kept-float")
      context.diagnose(.remark, "kept in float (keep-float '\(pattern)')", at: node)
      continue
    }
    layers.append(layer)
  }
  guard !layers.isEmpty else { return }

  var samples = context.calibration
  if samples == nil, options.randomSamples > 0 {
    samples = try CalibrationSet.random(count: options.randomSamples,
                                        inputs: graph.inputs.map { .init(name: $0.name, type: $0.type) })
  }
  if samples?.isSynthetic == true {
    context.diagnose(.warning, "calibrating on SYNTHETIC random inputs: activation ranges are not those of real data")
  }
  let constantBytesBefore = liveConstantBytes(graph)
  var planned: [PlannedLayer] = []
  for (layer, range) in zip(layers, try calibratedRanges(layers, method: options.method, samples: samples, context: context)) {
    guard let x = range.input, layer.hasResidual || range.output != nil else {
      context.count("layers-uncalibrated")
      context.diagnose(.warning, "kept in float: calibration saw no finite values around this layer", at: layer.node)
      continue
    }
    planned.append(PlannedLayer(layer: layer, input: ActivationParameters(x), output: range.output.map(ActivationParameters.init)))
  }

  // Sensitivity: which layers stay float, and each layer's error alone (by node).
  var errorAlone: [ObjectIdentifier: Double] = [:]
  var layoutError: Double? = nil
  if options.budget > 0, let samples = samples ?? context.calibration, !planned.isEmpty {
    let layout = try SensitivityLayout(context: context, samples: samples, candidates: planned, weightType: options.weightType)
    let choice = try layout.choose(budget: options.budget)
    for (i, e) in choice.alone.enumerated() { errorAlone[ObjectIdentifier(planned[i].layer.node)] = e }
    for i in choice.keep {
      let layer = planned[i].layer, bytes = layer.weightBytes(quantizedTo: options.weightType)
      context.count("layers-kept-sensitive")
      context.diagnose(.remark, "kept in float (sensitivity): quantized alone, output error \(format(choice.alone[i])) (1 - cos); would save \(bytes.before - bytes.after) bytes", at: layer.node)
    }
    let keep = Set(choice.keep)
    planned = planned.indices.filter { !keep.contains($0) }.map { planned[$0] }
    layoutError = choice.error
    context.count("sensitivity-sweeps", by: layout.sweeps)
    context.count("output-error-ppm", by: Int((choice.error * 1e6).rounded()))
  }

  try applyLayout(planned, weightType: options.weightType, context: context)
  let bits = options.weightType == .int4 ? "W4A8" : "W8A8"
  for p in planned {
    let saved = p.layer.weightBytes(quantizedTo: options.weightType)
    context.count("layers-quantized")
    context.count("weight-bytes-before", by: saved.before)
    context.count("weight-bytes-after", by: saved.after)
    let alone = errorAlone[ObjectIdentifier(p.layer.node)].map { "; quantized alone, output error \(format($0)) (1 - cos)" } ?? ""
    context.diagnose(.remark, "\(bits): weights \(saved.before) -> \(saved.after) bytes (saved \(percent(saved.before - saved.after, of: saved.before)))\(alone)", at: p.layer.node)
  }
  let before = context.statistics["weight-bytes-before"] ?? 0, after = context.statistics["weight-bytes-after"] ?? 0
  let modelAfter = liveConstantBytes(graph)
  context.count("model-bytes-before", by: constantBytesBefore)
  context.count("model-bytes-after", by: modelAfter)
  let measured = layoutError.map { "; output error \(format($0)) (mean 1 - cos over \(samples?.count ?? context.calibration?.count ?? 0) calibration samples, budget \(format(options.budget)))" } ?? ""
  context.diagnose(.remark, """
    quantized \(context.statistics["layers-quantized"] ?? 0) layers: \(before) -> \(after) weight bytes \
    (saved \(percent(before - after, of: before))); model constants \(constantBytesBefore) -> \(modelAfter) bytes \
    (saved \(percent(constantBytesBefore - modelAfter, of: constantBytesBefore)))\(measured)
    """)
}

/// Calibrated ranges of each layer's input and int8 result (none for a layer with a residual,
/// whose result is dequantized in its kernel before the float add).
private func calibratedRanges(
  _ layers: [Layer], method: RangeMethod, samples: CalibrationSamples?, context: PassContext
) throws -> [(input: (lo: Float, hi: Float)?, output: (lo: Float, hi: Float)?)] {
  let observed = layers.flatMap { $0.hasResidual ? [$0.input] : [$0.input, $0.output] }
  var ranges = try context.activationRanges(for: observed, method: method, samples: samples)[...]
  return layers.map { layer in
    let input = ranges.removeFirst()
    return (input, layer.hasResidual ? nil : ranges.removeFirst())
  }
}

/// The family's passes, for the driver's registry.
public let quantizeLayoutPasses: [GraphPass] = [quantize]

/// Parsed and checked options; a bad value is an error naming the option.
private struct QuantizeOptions {
  var weightType: DType
  var keepFloat: [String]
  var method: RangeMethod
  var randomSamples: Int
  var budget: Double

  init(_ o: PassOptions) throws {
    switch o.string("weights") {
    case "int8": weightType = .int8
    case "int4": weightType = .int4
    case let v: throw GraphError("quantize: option 'weights' must be int8 or int4, not '\(v)'")
    }
    guard o.string("activations") == "int8" else {
      throw GraphError("quantize: option 'activations' must be int8, not '\(o.string("activations"))'")
    }
    let p = o.double("percentile")
    switch o.string("method") {
    case "minmax": method = .minMax
    case "percentile":
      guard p > 50, p <= 100 else { throw GraphError("quantize: option 'percentile' must be in (50, 100], not \(p)") }
      method = .percentile(p)
    case "entropy": method = .entropy
    case let v: throw GraphError("quantize: option 'method' must be minmax, percentile or entropy, not '\(v)'")
    }
    keepFloat = o.list("keep-float")
    randomSamples = o.int("calibration-random")
    guard randomSamples >= 0, randomSamples <= 4096 else {
      throw GraphError("quantize: option 'calibration-random' must be in 0...4096, not \(randomSamples)")
    }
    budget = o.double("sensitivity-budget")
    guard budget >= 0, budget <= 2 else {
      throw GraphError("quantize: option 'sensitivity-budget' must be in [0, 2] (mean 1 - cosine; 0 = off), not \(budget)")
    }
  }
}

/// Int8 asymmetric per-tensor parameters for a calibrated `[lo, hi]` (widened to hold 0, so
/// that real zero is exactly representable): `s = (hi - lo) / 255`, `z = round(-128 - lo / s)`.
struct ActivationParameters: Equatable {
  var scale: Float
  var zeroPoint: Int32

  init(_ r: (lo: Float, hi: Float)) {
    let lo = min(r.lo, 0), hi = max(r.hi, 0)
    let s = (hi - lo) / 255
    scale = s > 0 && s.isFinite ? s : 1
    zeroPoint = Int32(max(-128, min(127, (-128 - lo / scale).rounded())))
  }

  var quantization: Quantization { Quantization(scale: scale, zeroPoint: zeroPoint) }
}

private func liveConstantBytes(_ graph: Graph) -> Int {
  graph.constants.filter { !$0.uses.isEmpty || graph.isOutput($0) }.reduce(0) { $0 + ($1.constant?.byteCount ?? 0) }
}

/// A small error in scientific notation, `1.23e-05`.
private func format(_ x: Double) -> String {
  guard x != 0 else { return "0" }
  let e = Int(log10(abs(x)).rounded(.down)), m = x / pow(10, Double(e))
  return "\((m * 100).rounded() / 100)e\(e < 0 ? "-" : "+")\(abs(e) < 10 ? "0" : "")\(abs(e))"
}

private func percent(_ part: Int, of whole: Int) -> String {
  whole > 0 ? "\((Double(part) * 1000 / Double(whole)).rounded() / 10)%" : "0%"
}

private extension Node {
  /// A keep-float pattern names this node's `graphc.role` or globs its name.
  func matches(_ pattern: String) -> Bool {
    if case .string(let role)? = attributes["graphc.role"], role == pattern { return true }
    return glob(pattern, name)
  }
}

/// `*` matches any run of characters, `?` one character; everything else literally.
func glob(_ pattern: String, _ text: String) -> Bool {
  let p = Array(pattern), t = Array(text)
  var pi = 0, ti = 0, star = -1, mark = 0
  while ti < t.count {
    if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
      pi += 1; ti += 1
    } else if pi < p.count && p[pi] == "*" {
      star = pi; mark = ti; pi += 1
    } else if star >= 0 {
      pi = star + 1; mark += 1; ti = mark
    } else {
      return false
    }
  }
  while pi < p.count && p[pi] == "*" { pi += 1 }
  return pi == p.count
}
