// Quantize.swift - The `quantize` pass: calibrated W8A8/W4A8 integerization of linear layers.

import Calibration
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
/// dequantize remain only at float boundaries.
///
/// Layout policy: `keep-float` patterns name layers to leave in float, matched against the
/// `graphc.role` attribute (`q-proj`, `mlp-up`, … tagged by attention fusion) or, as globs with
/// `*` and `?`, against node names. Each layer gets a remark with its bits and bytes saved.
///
/// Limits: 2-D weights only for MatMul/Gemm (`transA = 0`); Gemm's C must be a constant of
/// `N` values (or a scalar); Conv needs explicit pads (no `auto_pad`). Activations are int8
/// only. Layers whose input or output never held a finite value in calibration stay float.
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
  ],
  establishes: ["quantized"],
  statistics: ["layers-quantized", "layers-kept-float", "layers-uncalibrated", "weight-bytes-before", "weight-bytes-after"]
) { graph, context in
  context.saveSnapshot(named: "float")
  let options = try QuantizeOptions(context.options)
  var layers: [Layer] = []
  for node in graph.nodes {
    guard let layer = Layer(matching: node) else { continue }
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
  let ranges = try context.activationRanges(for: layers.flatMap { [$0.input, $0.output] }, method: options.method, samples: samples)

  var rewriter = LayerRewriter(context: context, weightType: options.weightType)
  for (i, layer) in layers.enumerated() {
    guard let x = ranges[2 * i], let y = ranges[2 * i + 1] else {
      context.count("layers-uncalibrated")
      context.diagnose(.warning, "kept in float: calibration saw no finite values around this layer", at: layer.node)
      continue
    }
    let saved = try rewriter.rewrite(layer, input: ActivationParameters(x), output: ActivationParameters(y))
    context.count("layers-quantized")
    context.count("weight-bytes-before", by: saved.before)
    context.count("weight-bytes-after", by: saved.after)
    let bits = options.weightType == .int4 ? "W4A8" : "W8A8"
    context.diagnose(.remark, "\(bits): weights \(saved.before) -> \(saved.after) bytes (saved \(percent(saved.before - saved.after, of: saved.before)))", at: layer.node)
  }
  rewriter.eraseDeadDequantizations()
  let before = context.statistics["weight-bytes-before"] ?? 0, after = context.statistics["weight-bytes-after"] ?? 0
  let modelAfter = liveConstantBytes(graph)
  context.diagnose(.remark, """
    quantized \(context.statistics["layers-quantized"] ?? 0) layers: \(before) -> \(after) weight bytes \
    (saved \(percent(before - after, of: before))); model constants \(constantBytesBefore) -> \(modelAfter) bytes \
    (saved \(percent(constantBytesBefore - modelAfter, of: constantBytesBefore)))
    """)
}

/// The family's passes, for the driver's registry.
public let quantizeLayoutPasses: [GraphPass] = [quantize]

/// Parsed and checked options; a bad value is an error naming the option.
private struct QuantizeOptions {
  var weightType: DType
  var keepFloat: [String]
  var method: RangeMethod
  var randomSamples: Int

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
