// NPULintTests.swift - npu-lint's diagnostics and its FLOPs split.

import Testing
import GraphIR
import GraphcDriver
import PassKit

@Suite struct NPULintTests {
  private func lint(_ text: String, options: String = "") throws -> PassReport {
    let graph = try parseGraph(text)
    try graph.inferTypes()
    let reports = try PassManager().run(try Pipeline(parsing: "npu-lint" + options, registry: builtinRegistry), on: graph)
    return try #require(reports.first)
  }

  @Test func flagsGathersAndUnboundedActivationsBeforeQuantization() throws {
    let report = try lint("""
      graph @g(%x: f32[1,2,4,4], %j: i64[1,2,4,4], %i: i64[3]) {
        %s = const f32[] dense<0.1>
        %z = const u8[] dense<0>
        %0 = onnx.GatherElements(%x, %j) {axis = 3} : f32[1,2,4,4] @"ge"
        %1 = onnx.Gather(%0, %i) {axis = 3} : f32[1,2,4,3] @"g"
        %2 = onnx.Relu(%1) : f32[1,2,4,3] @"r"
        %3 = onnx.QuantizeLinear(%2, %s, %z) : u8[1,2,4,3]
        return %3 as "y"
      }
      """)
    let warnings = report.diagnostics.filter { $0.severity == .warning }
    #expect(warnings.map(\.node) == ["ge", "g", "r"], "\(warnings)")
    #expect(warnings.last?.message.contains("Relu6") == true)
    #expect(report.statistics["warnings"] == 3)
  }

  /// A 3x3 conv [1,8,8,8] -> [1,8,8,8]: 2 * 512 * 72 = 73728 FLOPs over (512 + 576 + 512) * 4
  /// bytes = 11.5 FLOP/byte, compute-bound; the Relu after it: 512 FLOPs, memory-bound.
  @Test func splitsFlopsByArithmeticIntensity() throws {
    let report = try lint("""
      graph @g(%x: f32[1,8,8,8]) {
        %w = const f32[8,8,3,3] dense<splat 0.5>
        %0 = onnx.Conv(%x, %w) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,8,8,8]
        %1 = onnx.Relu(%0) : f32[1,8,8,8]
        return %1 as "y"
      }
      """)
    #expect(report.statistics["percent-compute-bound"] == Int((100.0 * 73728 / (73728 + 512)).rounded()))
    let table = try #require(report.diagnostics.first { $0.severity == .remark }?.message)
    #expect(table.contains("onnx.Conv") && table.contains("compute") && table.contains("memory"), "\(table)")
    #expect(report.statistics["warnings"] == 0)
  }

  @Test func assumeQuantizedFlagsEveryUnboundedActivation() throws {
    let report = try lint("""
      graph @g(%x: f32[1,2,4,4]) {
        %w = const f32[2,2,1,1] dense<splat 0.5>
        %0 = graphc.FusedConv(%x, %w) {activation = "relu", kernel_shape = [1, 1]} : f32[1,2,4,4] @"c"
        %1 = graphc.FusedConv(%0, %w) {activation = "clip", activation_params = [0.0, 6.0], kernel_shape = [1, 1]} : f32[1,2,4,4]
        return %1 as "y"
      }
      """, options: "{assume-quantized=true,flops-table=false}")
    #expect(report.diagnostics.map(\.node) == ["c"], "\(report.diagnostics)")
  }
}
