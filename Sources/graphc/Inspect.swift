// Inspect.swift - `graphc inspect` and `graphc print`.

import ArgumentParser
import Foundation
import GraphcDriver
import GraphIR

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Summarize an .onnx or .gcb: inputs, outputs, ops, parameters, memory plan, metadata.")

  @Argument(help: "An .onnx or .gcb file.")
  var file: String

  @Option(name: .customLong("shape"), help: ArgumentHelp("Fix a symbolic input shape (.onnx only).", valueName: "NAME=DIMS"))
  var shapes: [String] = []

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func run() throws {
    reportingErrors {
      var fixed: [String: [Int]] = [:]
      for s in shapes {
        let (n, d) = try parseShapeArgument(s)
        fixed[n] = d
      }
      let s = try summarizeModel(file, shapes: fixed)
      let ops = s.ops.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
      if json {
        func io(_ list: [(name: String, type: TensorType)]) -> String {
          "[" + list.map { "{\"name\":\(jsonString($0.name)),\"type\":\(jsonString($0.type.description))}" }.joined(separator: ",") + "]"
        }
        let opsJSON = "{" + ops.map { "\(jsonString($0.key)):\($0.value)" }.joined(separator: ",") + "}"
        let meta = "{" + s.metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",") + "}"
        let attention = "[" + s.attention.map { l in
          let heads = l.heads.enumerated().map { h, p in
            "{\"pattern\":\(jsonString(p.kind.rawValue)),\"sizes\":[\(p.sizes.0),\(p.sizes.1)],\"score\":\(p.score.isFinite ? "\(p.score)" : "null"),\"atm_alpha\":\(l.alpha.map { "\($0[h])" } ?? "null")}"
          }
          return "{\"layer\":\(l.layer),\"node\":\(jsonString(l.node)),\"calibration_length\":\(l.calibrationLength),\"ohb_beta\":\(l.beta.map { "\($0)" } ?? "null"),\"heads\":[\(heads.joined(separator: ","))]}"
        }.joined(separator: ",") + "]"
        print("{\"file\":\(jsonString(s.path)),\"format\":\(jsonString(s.format)),\"bytes\":\(s.fileBytes),\"inputs\":\(io(s.inputs)),\"outputs\":\(io(s.outputs)),\"nodes\":\(s.ops.values.reduce(0, +)),\"ops\":\(opsJSON),\"constants\":\(s.constantCount),\"parameter_bytes\":\(s.parameterBytes),\"arena_bytes\":\(s.arenaBytes),\"unshared_bytes\":\(s.unsharedBytes),\"metadata\":\(meta),\"attention\":\(attention)}")
        return
      }
      print("\(s.path)  (\(s.format), \(formatBytes(s.fileBytes)))")
      print("inputs:")
      for i in s.inputs { print("  \(i.name)  \(i.type)") }
      print("outputs:")
      for o in s.outputs { print("  \(o.name)  \(o.type)") }
      print("ops: \(s.ops.values.reduce(0, +)) nodes")
      for (op, n) in ops { print("  \(String(n).leftPad(5))  \(op)") }
      print("parameters: \(s.constantCount) constants, \(formatBytes(s.parameterBytes))")
      print("memory plan: arena \(formatBytes(s.arenaBytes)) for \(formatBytes(s.unsharedBytes)) of planned tensors")
      if !s.attention.isEmpty { printAttentionTable(s.attention) }
      if !s.metadata.isEmpty {
        print("metadata:")
        for (k, v) in s.metadata.sorted(by: { $0.key < $1.key }) { print("  \(k) = \(v.count > 120 ? String(v.prefix(117)) + "..." : v)") }
      }
    }
  }
}

/// The per-layer, per-head sparse attention choice as a table, with the temperature factor
/// alpha per head and the output balance beta per layer when they were folded in.
private func printAttentionTable(_ layers: [AttentionLayerSummary]) {
  let scaled = layers.contains { $0.alpha != nil || $0.beta != nil }
  print("attention patterns:")
  print("  layer  head  pattern          sizes          score  calibrated at" + (scaled ? "    alpha     beta" : ""))
  for l in layers {
    for (h, p) in l.heads.enumerated() {
      let sizes = p.kind == .dense ? "-" : "\(p.sizes.0), \(p.sizes.1)"
      let score = p.kind == .dense ? "-" : String(format: "%.4f", p.score)
      let at = l.calibrationLength > 0 ? String(l.calibrationLength) : "-"
      let alpha = l.alpha.map { String(format: "%.4f", $0[h]) } ?? "-"
      let beta = h == 0 ? l.beta.map { String(format: "%.4f", $0) } ?? "-" : ""
      print("  \(String(l.layer).leftPad(5))  \(String(h).leftPad(4))  \(p.kind.rawValue.rightPad(15))  \(sizes.leftPad(12))  \(score.leftPad(7))  \(at.leftPad(13))"
            + (scaled ? "  \(alpha.leftPad(7))  \(beta.leftPad(7))" : ""))
    }
  }
}

struct PrintIR: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "print", abstract: "Print the textual IR of an .onnx (as imported) or a .gcb.")

  @Argument(help: "An .onnx or .gcb file.")
  var file: String

  @Flag(help: "Print every constant in full (hex) instead of eliding large ones.")
  var fullConstants = false

  func run() throws {
    reportingErrors {
      let (graph, _) = try loadModelFile(file)
      print(printGraph(graph, options: PrintOptions(fullConstants: fullConstants)), terminator: "")
    }
  }
}

extension String {
  func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
  /// Pads on the right to `n` characters; never truncates, so long names stay whole.
  func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
