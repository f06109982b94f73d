// NPULint.swift - Diagnostics for what NPUs handle badly, and the model's FLOPs split into
// compute-bound and memory-bound ops. Never rewrites.

import GraphIR
import PassKit

/// Reports, as diagnostics on the nodes concerned:
/// - ops NPUs lack or run slowly: GridSample, data-dependent gathers and scatters (Gather with
///   non-constant indices, GatherND, GatherElements, ScatterND, NonZero, TopK, Unique);
/// - values with dynamic (symbolic or unknown) shapes;
/// - unbounded activations (Relu, LeakyRelu, SiLU, HardSwish, or none) feeding a
///   QuantizeLinear, or every such fused activation with `assume-quantized`: suggest Relu6;
/// - a remark with the FLOPs per op kind, each op classed compute-bound when its arithmetic
///   intensity (FLOPs per byte of operands and results) reaches `intensity-threshold`.
///   The ANVIL paper's conv+relu net was 77% compute-bound, a flow-based net 5%.
///
/// The graph is never changed. Statistics carry the FLOP split (in MFLOP) for reports.
public let npuLint = GraphPass(
  name: "npu-lint",
  summary: "Diagnose ops NPUs handle badly and report compute-bound vs memory-bound FLOPs",
  options: [
    PassOptionSpec("intensity-threshold", .double, default: "4", help: "FLOPs per byte from which an op counts as compute-bound"),
    PassOptionSpec("assume-quantized", .bool, default: "false", help: "Flag every unbounded activation, as if the model will be quantized"),
    PassOptionSpec("flops-table", .bool, default: "true", help: "Emit the FLOPs table as a remark"),
  ],
  requires: [.shapesInferred],
  statistics: ["warnings", "mflops-compute-bound", "mflops-memory-bound", "percent-compute-bound"]
) { graph, context in
  func warn(_ message: String, _ node: Node) {
    context.diagnose(.warning, message, at: node)
    context.count("warnings")
  }
  let assumeQuantized = context.options.bool("assume-quantized")
  var dynamicReported = false
  for node in graph.nodes {
    if let why = node.npuUnfriendlyReason { warn(why, node) }
    if !dynamicReported, node.results.contains(where: { $0.type.staticShape == nil }) {
      warn("dynamic shape: \(node.results.map { "\($0.type)" }.joined(separator: ", ")) (NPUs compile static shapes; later nodes not reported)", node)
      dynamicReported = true
    }
    if let kind = node.unboundedActivation,
       assumeQuantized || node.results[0].users.contains(where: { $0.op == "onnx.QuantizeLinear" }) {
      warn("unbounded activation '\(kind)' before quantization: its range is set by outliers; prefer Relu6 (Clip 0..6)", node)
    }
  }
  guard context.options.bool("flops-table") else { return }
  let threshold = context.options.double("intensity-threshold")
  struct Row: Hashable { let op: String; let computeBound: Bool }
  var rows: [Row: (count: Int, flops: Double)] = [:]
  var compute = 0.0, memory = 0.0
  for node in graph.nodes {
    let flops = node.estimatedFlops, bytes = node.bytesMoved
    guard flops > 0 else { continue }
    let bound = bytes > 0 && flops / bytes >= threshold
    if bound { compute += flops } else { memory += flops }
    rows[Row(op: node.op, computeBound: bound), default: (0, 0)].count += 1
    rows[Row(op: node.op, computeBound: bound), default: (0, 0)].flops += flops
  }
  let total = compute + memory
  guard total > 0 else { return }
  context.count("mflops-compute-bound", by: Int((compute / 1e6).rounded()))
  context.count("mflops-memory-bound", by: Int((memory / 1e6).rounded()))
  context.count("percent-compute-bound", by: Int((100 * compute / total).rounded()))
  var table = "FLOPs by op (compute-bound at >= \(threshold) FLOP/byte):\n"
  table += "  op                           nodes      MFLOP   share  bound\n"
  for (key, r) in rows.sorted(by: { $0.value.flops != $1.value.flops ? $0.value.flops > $1.value.flops : $0.key.op < $1.key.op }) {
    let name = key.op + String(repeating: " ", count: max(0, 28 - key.op.count))
    table += "  \(name) \(pad(r.count, 6)) \(pad(fixed(r.flops / 1e6, 1), 10)) \(pad(fixed(100 * r.flops / total, 1) + "%", 7))  \(key.computeBound ? "compute" : "memory")\n"
  }
  table += "  total \(fixed(total / 1e6, 1)) MFLOP: \(fixed(100 * compute / total, 1))% compute-bound, \(fixed(100 * memory / total, 1))% memory-bound"
  context.diagnose(.remark, table)
}

private func pad(_ v: Any, _ width: Int) -> String {
  let s = "\(v)"
  return String(repeating: " ", count: max(0, width - s.count)) + s
}

private func fixed(_ v: Double, _ digits: Int) -> String {
  let scale = Double([1, 10, 100, 1000][min(digits, 3)])
  let r = (v * scale).rounded() / scale
  var s = "\(r)"
  if let dot = s.firstIndex(of: "."), s.distance(from: dot, to: s.endIndex) - 1 < digits { s += "0" }
  return s
}

private extension Node {
  var npuUnfriendlyReason: String? {
    switch op {
    case "onnx.GridSample": return "GridSample: NPUs lack bilinear gathers at data-dependent positions; run it on the CPU or replace it"
    case "onnx.GatherND", "onnx.GatherElements", "onnx.ScatterND", "onnx.ScatterElements":
      return "\(op.dropFirst(5)): data-dependent gather/scatter, which NPUs lack or run slowly"
    case "onnx.Gather" where operand(1)?.constant == nil:
      return "Gather with run-time indices: a data-dependent gather, which NPUs lack or run slowly"
    case "onnx.NonZero", "onnx.TopK", "onnx.Unique":
      return "\(op.dropFirst(5)): data-dependent output size, which NPUs cannot plan statically"
    default: return nil
    }
  }

  /// The name of the unbounded activation this node applies, if any.
  var unboundedActivation: String? {
    switch op {
    case "onnx.Relu", "onnx.LeakyRelu", "onnx.HardSwish", "onnx.Elu", "onnx.Selu", "onnx.Gelu", "onnx.Softplus":
      return String(op.dropFirst(5))
    case "graphc.FusedConv", "graphc.DepthwisePointwise":
      guard let act = try? FusedActivation(attributes: attributes) else { return nil }
      switch act.kind {
      case .relu, .leakyRelu, .hardSwish, .silu: return act.kind.rawValue
      case .clip where act.params[1] == .infinity: return "clip to +inf"
      default: return nil
      }
    default: return nil
    }
  }

  /// Multiply-adds count 2. Convs and matmuls from their shapes; other ops one FLOP per
  /// result element (0 for pure data movement is not distinguished: it is memory-bound anyway).
  var estimatedFlops: Double {
    guard let y = results.first?.type.staticShape else { return 0 }
    let outCount = Double(y.reduce(1, *))
    switch op {
    case "onnx.Conv", "graphc.FusedConv":
      guard let w = operand(1)?.type.staticShape else { return 0 }
      return 2 * outCount * Double(w.dropFirst().reduce(1, *))
    case "graphc.DepthwisePointwise":
      guard let wd = operand(1)?.type.staticShape, let wp = operand(3)?.type.staticShape, y.count >= 3 else { return 0 }
      let positions = Double(y[0] * y.dropFirst(2).reduce(1, *))
      return 2 * positions * Double(wd.dropFirst(2).reduce(1, *) * wd[0] + wp[0] * wp[1])
    case "onnx.ConvTranspose":
      guard let x = operand(0)?.type.staticShape, let w = operand(1)?.type.staticShape else { return 0 }
      return 2 * Double(x.reduce(1, *)) * Double(w.dropFirst().reduce(1, *))
    case "onnx.MatMul", "onnx.Gemm":
      guard let a = operand(0)?.type.staticShape, a.count >= 1 else { return 0 }
      let transA = op == "onnx.Gemm" && ((try? attributes.int("transA", default: 0)) ?? 0) == 1
      let k = transA ? a[0] : a[a.count - 1]
      return 2 * outCount * Double(k)
    default:
      return outCount
    }
  }

  /// Bytes of all operands and results (static shapes only).
  var bytesMoved: Double {
    let values = operands.compactMap { $0 } + results
    return values.reduce(0) { acc, v in
      guard let s = v.type.staticShape else { return acc }
      return acc + Double(s.reduce(1, *) * max(1, v.type.dtype.byteSize))
    }
  }
}
