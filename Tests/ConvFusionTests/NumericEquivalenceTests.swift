// NumericEquivalenceTests.swift - Fused graphs agree with the unfused ones on random inputs
// (fp32, max error 1e-5 relative to max(|expected|, 1)), through the interpreter's kernels.

import Testing
import GraphIR
import GraphcDriver
import Interpreter
import PassKit
import GraphcTestSupport

/// One case: IR whose `{W shape}` placeholders become seeded random constants, the pipeline,
/// and the op the fusion must produce.
struct FusionCase: CustomTestStringConvertible, Sendable {
  let name: String
  let pipeline: String
  let expectOp: String
  let ir: String
  var testDescription: String { name }
}

private let prelude = "canonicalize,"

let fusionCases: [FusionCase] = [
  FusionCase(name: "conv asym pads, stride 2, dilation 2 + BN + Relu", pipeline: "fold-batchnorm,fuse-conv-activation", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[2,3,9,8]) {
      %0 = onnx.Conv(%x, {4,3,3,3}, {4}) {kernel_shape = [3, 3], pads = [1, 0, 2, 1], strides = [2, 2], dilations = [2, 2]} : f32[2,4,4,3]
      %1 = onnx.BatchNormalization(%0, {4+}, {4}, {4}, {4+}) {epsilon = 1e-05} : f32[2,4,4,3]
      %2 = onnx.Relu(%1) : f32[2,4,4,3]
      return %2 as "y"
    }
    """),
  FusionCase(name: "grouped conv without bias + BN + Relu6", pipeline: "fold-batchnorm,fuse-conv-activation", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[1,4,6,7]) {
      %lo = const f32[] dense<0.0>
      %hi = const f32[] dense<0.5>
      %0 = onnx.Conv(%x, {6,2,3,3}) {group = 2, kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,6,6,7]
      %1 = onnx.BatchNormalization(%0, {6+}, {6}, {6}, {6+}) {epsilon = 1e-05} : f32[1,6,6,7]
      %2 = onnx.Clip(%1, %lo, %hi) : f32[1,6,6,7]
      return %2 as "y"
    }
    """),
  FusionCase(name: "depthwise stride 2 asym pads + LeakyRelu", pipeline: "fuse-conv-activation", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[2,5,9,9]) {
      %0 = onnx.Conv(%x, {5,1,3,3}, {5}) {group = 5, kernel_shape = [3, 3], pads = [0, 1, 2, 1], strides = [2, 2]} : f32[2,5,5,5]
      %1 = onnx.LeakyRelu(%0) {alpha = 0.1} : f32[2,5,5,5]
      return %1 as "y"
    }
    """),
  FusionCase(name: "conv + HardSigmoid", pipeline: "fuse-conv-activation", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[1,3,5,5]) {
      %0 = onnx.Conv(%x, {4,3,3,3}, {4}) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,4,5,5]
      %1 = onnx.HardSigmoid(%0) {alpha = 0.3, beta = 0.4} : f32[1,4,5,5]
      return %1 as "y"
    }
    """),
  FusionCase(name: "conv + HardSwish", pipeline: "fuse-conv-activation", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[1,3,5,5]) {
      %0 = onnx.Conv(%x, {4,3,1,1}, {4}) {kernel_shape = [1, 1]} : f32[1,4,5,5]
      %1 = onnx.HardSwish(%0) : f32[1,4,5,5]
      return %1 as "y"
    }
    """),
  FusionCase(name: "conv + Sigmoid", pipeline: "fuse-conv-activation", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[1,3,5,5]) {
      %0 = onnx.Conv(%x, {4,3,3,3}, {4}) {kernel_shape = [3, 3], pads = [2, 2, 2, 2], dilations = [2, 2]} : f32[1,4,5,5]
      %1 = onnx.Sigmoid(%0) : f32[1,4,5,5]
      return %1 as "y"
    }
    """),
  FusionCase(name: "conv + SiLU", pipeline: "fuse-conv-activation", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[1,3,5,5]) {
      %0 = onnx.Conv(%x, {4,3,3,3}, {4}) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,4,5,5]
      %1 = onnx.Sigmoid(%0) : f32[1,4,5,5]
      %2 = onnx.Mul(%0, %1) : f32[1,4,5,5]
      return %2 as "y"
    }
    """),
  FusionCase(name: "conv + residual Add + Relu", pipeline: "fuse-conv-activation,fuse-conv-add", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[1,4,6,6], %z: f32[1,4,6,6]) {
      %0 = onnx.Conv(%x, {4,4,3,3}, {4}) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,4,6,6]
      %1 = onnx.Add(%z, %0) : f32[1,4,6,6]
      %2 = onnx.Relu(%1) : f32[1,4,6,6]
      return %2 as "y"
    }
    """),
  FusionCase(name: "conv + Relu, then residual Add", pipeline: "fuse-conv-activation,fuse-conv-add", expectOp: "graphc.FusedConv", ir: """
    graph @g(%x: f32[1,4,6,6]) {
      %0 = onnx.Conv(%x, {4,4,3,3}, {4}) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,4,6,6]
      %1 = onnx.Relu(%0) : f32[1,4,6,6]
      %2 = onnx.Add(%1, %x) : f32[1,4,6,6]
      return %2 as "y"
    }
    """),
  FusionCase(name: "depthwise (dilated, stride 2) + Relu6 + pointwise + residual", pipeline: "fuse-conv-activation,fuse-conv-add,fuse-depthwise-pointwise",
             expectOp: "graphc.DepthwisePointwise", ir: """
    graph @g(%x: f32[2,6,11,10], %z: f32[2,5,5,5]) {
      %lo = const f32[] dense<0.0>
      %hi = const f32[] dense<0.6>
      %0 = onnx.Conv(%x, {6,1,3,3}, {6}) {group = 6, kernel_shape = [3, 3], pads = [2, 1, 1, 2], strides = [2, 2], dilations = [2, 2]} : f32[2,6,5,5]
      %1 = onnx.Clip(%0, %lo, %hi) : f32[2,6,5,5]
      %2 = onnx.Conv(%1, {5,6,1,1}, {5}) {kernel_shape = [1, 1]} : f32[2,5,5,5]
      %3 = onnx.Add(%2, %z) : f32[2,5,5,5]
      return %3 as "y"
    }
    """),
  FusionCase(name: "depthwise + pointwise + Relu, wide (several row tiles)", pipeline: "fuse-conv-activation,fuse-depthwise-pointwise",
             expectOp: "graphc.DepthwisePointwise", ir: """
    graph @g(%x: f32[1,48,40,40]) {
      %0 = onnx.Conv(%x, {48,1,3,3}) {group = 48, kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,48,40,40]
      %1 = onnx.Relu(%0) : f32[1,48,40,40]
      %2 = onnx.Conv(%1, {8,48,1,1}, {8}) {kernel_shape = [1, 1]} : f32[1,8,40,40]
      %3 = onnx.Relu(%2) : f32[1,8,40,40]
      return %3 as "y"
    }
    """),
  FusionCase(name: "Pad into conv", pipeline: "fold-pad", expectOp: "onnx.Conv", ir: """
    graph @g(%x: f32[1,3,6,5]) {
      %pads = const i64[8] dense<[0, 0, 1, 2, 0, 0, 2, 0]>
      %0 = onnx.Pad(%x, %pads) {mode = "constant"} : f32[1,3,9,7]
      %1 = onnx.Conv(%0, {4,3,3,3}, {4}) {kernel_shape = [3, 3], pads = [1, 0, 0, 1], strides = [2, 1]} : f32[1,4,4,6]
      return %1 as "y"
    }
    """),
  FusionCase(name: "Pad into MaxPool over Relu and AveragePool", pipeline: "fold-pad", expectOp: "onnx.MaxPool", ir: """
    graph @g(%x: f32[1,3,6,6]) {
      %pads = const i64[8] dense<[0, 0, 1, 1, 0, 0, 1, 1]>
      %0 = onnx.Relu(%x) : f32[1,3,6,6]
      %1 = onnx.Pad(%0, %pads) {mode = "constant"} : f32[1,3,8,8]
      %2 = onnx.MaxPool(%1) {kernel_shape = [3, 3], strides = [2, 2]} : f32[1,3,3,3]
      %3 = onnx.Pad(%x, %pads) {mode = "constant"} : f32[1,3,8,8]
      %4 = onnx.AveragePool(%3) {kernel_shape = [3, 3], count_include_pad = 1} : f32[1,3,6,6]
      return %2 as "m", %4 as "a"
    }
    """),
  FusionCase(name: "Mul/Add after conv, Mul and Add before", pipeline: "fold-batchnorm,fold-conv-affine", expectOp: "onnx.Conv", ir: """
    graph @g(%x: f32[1,3,6,6]) {
      %0 = onnx.Mul(%x, {1,3,1,1}) : f32[1,3,6,6]
      %1 = onnx.Conv(%0, {4,3,3,3}, {4}) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1,4,6,6]
      %2 = onnx.Mul(%1, {1,4,1,1}) : f32[1,4,6,6]
      %3 = onnx.Add({4,1,1}, %2) : f32[1,4,6,6]
      %4 = onnx.Add(%3, {1,4,1,1}) : f32[1,4,6,6]
      %5 = onnx.Conv(%4, {2,4,3,3}) {kernel_shape = [3, 3], strides = [2, 2]} : f32[1,2,2,2]
      return %5 as "y"
    }
    """),
  FusionCase(name: "ConvTranspose (groups, stride 2) + BN", pipeline: "fold-batchnorm", expectOp: "onnx.ConvTranspose", ir: """
    graph @g(%x: f32[1,4,3,3]) {
      %0 = onnx.ConvTranspose(%x, {4,3,3,3}, {6}) {group = 2, kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 0, 1]} : f32[1,6,6,6]
      %1 = onnx.BatchNormalization(%0, {6+}, {6}, {6}, {6+}) {epsilon = 1e-05} : f32[1,6,6,6]
      return %1 as "y"
    }
    """),
  FusionCase(name: "1-D conv + BN + Relu, then depthwise+pointwise", pipeline: "fold-batchnorm,fuse-conv-activation,fuse-depthwise-pointwise",
             expectOp: "graphc.DepthwisePointwise", ir: """
    graph @g(%x: f32[2,3,12]) {
      %0 = onnx.Conv(%x, {4,3,3}) {kernel_shape = [3], pads = [2, 1], strides = [2]} : f32[2,4,7]
      %1 = onnx.BatchNormalization(%0, {4+}, {4}, {4}, {4+}) {epsilon = 1e-05} : f32[2,4,7]
      %2 = onnx.Conv(%1, {4,1,3}, {4}) {group = 4, kernel_shape = [3], pads = [1, 1]} : f32[2,4,7]
      %3 = onnx.Relu(%2) : f32[2,4,7]
      %4 = onnx.Conv(%3, {3,4,1}) {kernel_shape = [1]} : f32[2,3,7]
      return %4 as "y"
    }
    """),
]

@Suite struct NumericEquivalenceTests {
  @Test(arguments: fusionCases)
  func fusedMatchesUnfused(_ c: FusionCase) throws {
    var rng = SplitMix64(seed: c.name.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })
    let text = instantiate(c.ir, &rng)
    let reference = try parseGraph(text)
    try reference.inferTypes()
    let fused = try parseGraph(text)
    try fused.inferTypes()
    _ = try PassManager(instrumentation: PassInstrumentation(verifyEach: true))
      .run(try Pipeline(parsing: prelude + c.pipeline, registry: builtinRegistry), on: fused)
    #expect(fused.nodes.contains { $0.op == c.expectOp }, "expected \(c.expectOp) after \(c.pipeline):\n\(printGraph(fused))")
    let mustGo = ["onnx.BatchNormalization", "onnx.Pad"] + (c.expectOp.hasPrefix("graphc.") ? ["onnx.Relu", "onnx.Clip", "onnx.Add"] : [])
    #expect(!fused.nodes.contains { mustGo.contains($0.op) }, "unfused ops left:\n\(printGraph(fused))")

    let inputs = reference.inputs.map { randomTensor($0.type.staticShape ?? [], &rng, scale: 2) }
    let want = try execute(reference, inputs)
    let got = try execute(fused, inputs)
    for (g, w) in zip(got, want) {
      let err = maxRelativeError(g, w)
      #expect(err <= 1e-5, "max relative error \(err)")
    }
  }

  @Test func multiThreadedFusedKernelsMatchOneThread() throws {
    for c in fusionCases where c.expectOp.hasPrefix("graphc.") {
      var rng = SplitMix64(seed: 7)
      let graph = try parseGraph(instantiate(c.ir, &rng))
      try graph.inferTypes()
      _ = try PassManager().run(try Pipeline(parsing: c.pipeline, registry: builtinRegistry), on: graph)
      let inputs = graph.inputs.map { randomTensor($0.type.staticShape ?? [], &rng, scale: 2) }
      let saved = InterpreterThreads.count
      defer { InterpreterThreads.count = saved }
      InterpreterThreads.count = 1
      let one = try execute(graph, inputs)
      InterpreterThreads.count = 2
      let two = try execute(graph, inputs)
      for (a, b) in zip(one, two) { #expect(maxRelativeError(a, b) <= 1e-6, "\(c.name)") }
    }
  }
}

// MARK: - Helpers

/// Replaces each `{d0,d1,...}` with a random constant of that shape (`{C+}`: positive, for
/// BN scales and variances), giving every constant a fresh name.
func instantiate(_ template: String, _ rng: inout SplitMix64) -> String {
  var out = "", constants = "", counter = 0
  var rest = Substring(template)
  while let close = rest.firstIndex(of: "}"), let open = rest[..<close].lastIndex(of: "{") {
    let body = rest[rest.index(after: open)..<close]
    guard body.allSatisfy({ $0.isNumber || $0 == "," || $0 == "+" }) else {
      out += rest[...close]
      rest = rest[rest.index(after: close)...]
      continue
    }
    let positive = body.hasSuffix("+")
    let shape = body.replacingOccurrences(of: "+", with: "").split(separator: ",").compactMap { Int($0) }
    let t = randomTensor(shape, &rng, scale: 1, positive: positive)
    let name = "%k\(counter)"
    counter += 1
    let values = t.scalars(as: Float.self).map { "\($0)" }.joined(separator: ", ")
    constants += "  \(name) = const f32[\(shape.map(String.init).joined(separator: ","))] dense<[\(values)]>\n"
    out += rest[..<open] + name
    rest = rest[rest.index(after: close)...]
  }
  out += rest
  // Constants go right after the graph header line.
  guard let firstNewline = out.firstIndex(of: "\n") else { return out }
  return String(out[...firstNewline]) + constants + String(out[out.index(after: firstNewline)...])
}


func randomTensor(_ shape: [Int], _ rng: inout SplitMix64, scale: Float, positive: Bool = false) -> Tensor {
  let n = shape.reduce(1, *)
  let values = (0..<n).map { _ in positive ? 0.5 + abs(rng.uniform()) : scale * rng.uniform() }
  return Tensor.float32(shape, values)
}

/// Runs a graph node by node with the interpreter's kernels.
func execute(_ graph: Graph, _ inputs: [Tensor]) throws -> [Tensor] {
  var env: [ObjectIdentifier: Tensor] = [:]
  for (v, t) in zip(graph.inputs, inputs) { env[ObjectIdentifier(v)] = t }
  for c in graph.constants { env[ObjectIdentifier(c)] = c.constant }
  for n in graph.nodes {
    let args = n.operands.map { $0.flatMap { env[ObjectIdentifier($0)] } }
    let outs = try Interpreter.evaluate(op: n.op, attributes: n.attributes, inputs: args, resultCount: n.results.count, nodeName: n.name)
    for (r, t) in zip(n.results, outs) { env[ObjectIdentifier(r)] = t }
  }
  return try graph.outputs.map { o in try #require(env[ObjectIdentifier(o.value)]) }
}

/// max_i |a_i - b_i| / max(|b_i|, 1).
func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
  guard a.shape == b.shape else { return .infinity }
  let x = a.scalars(as: Float.self), y = b.scalars(as: Float.self)
  return zip(x, y).reduce(0) { m, p in max(m, abs(p.0 - p.1) / max(abs(p.1), 1)) }
}
