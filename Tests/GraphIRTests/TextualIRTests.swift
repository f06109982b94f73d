// TextualIRTests.swift - Printer and parser of the textual IR: exact text, round trips, errors.

import Testing
@testable import GraphIR

/// A graph exercising every textual feature. Its expected text is `kitchenSinkText`, written by
/// hand from Docs/TextualIR.md (digest and hex computed independently with Python).
private func makeKitchenSink() -> Graph {
  let g = Graph(name: "convnet")
  g.metadata["producer"] = "graphc-test"
  let image = g.addInput(name: "image", type: TensorType(.float32, [.symbol("batch"), .fixed(3), .fixed(4), .fixed(4)]))
  _ = g.addInput(name: "input:0", type: TensorType(.bool, nil))
  _ = g.addInput(name: "tokens", type: TensorType(.int64, [.symbol("seq len"), .symbol("?")]))
  let w = g.addConstant(.float32([4, 5], (0..<20).map(Float.init)), name: "w")
  _ = g.addConstant(.scalar(0), name: "clip.min")
  _ = g.addConstant(.int64([4], [1, 16, 4, 16]), name: "shape")
  _ = g.addConstant(.float32([32], Array(repeating: 0.5, count: 32)), name: "half")
  _ = g.addConstant(Tensor(.int32, shape: [2], values: [Int32(-1), 7]))
  _ = g.addConstant(.float32([3], [.nan, .infinity, -.infinity]), name: "c0")
  _ = g.addConstant(Tensor(.bool, shape: [2], values: [UInt8(1), 0]), name: "w")
  _ = g.addConstant(Tensor(.float16, shape: [2], values: [Float16(0.1).bitPattern, Float16(65504).bitPattern]), name: "h")
  _ = g.addConstant(Tensor(.uint64, shape: [1], values: [UInt64.max]), name: "big")
  _ = g.addConstant(.float32([0], []), name: "none")
  let conv = g.addNode(
    "onnx.Conv", name: "Conv_0", operands: [image, w, nil],
    attributes: ["dilations": .ints([1, 1]), "group": .int(1), "pads": .ints([1, 1, 1, 1])],
    resultTypes: [TensorType(.float32, [.symbol("batch"), .fixed(8), .fixed(4), .fixed(4)])])
  let half = TensorType(.float32, [.symbol("batch"), .fixed(4), .fixed(4), .fixed(4)])
  let split = g.addNode("onnx.Split", name: "split", operands: [conv.result, nil],
                        attributes: ["axis": .int(1)], resultTypes: [half, half])
  let all = g.addNode(
    "test.AllAttrs", operands: [split.results[0]],
    attributes: [
      "alpha": .float(1e-5), "data-format": .string("NCHW"), "empty": .ints([]),
      "fs": .floats([0.5, .nan, -.infinity]), "name": .string("a \"q\"\n"), "ss": .strings(["x", "y"]),
      "t": .tensor(.float32([2], [1, 2])), "weird": .floats([]), "nostr": .strings([]),
    ],
    resultTypes: [TensorType(.float32, nil)])
  g.addNode("test.Sink", name: "node \"1\"", operands: [split.results[1]], resultTypes: [])
  g.setOutputs([("probs", all.result), ("passthrough", image)])
  return g
}

private let kitchenSinkText = """
  graph @convnet(%image: f32[batch,3,4,4], %"input:0": bool[*], %tokens: i64["seq len",?]) {
    meta "producer" = "graphc-test"
    %w = const f32[4,5] dense<elided 80 bytes fnv=0xfe02fbae86e089e0>
    %clip.min = const f32[] dense<0.0>
    %shape = const i64[4] dense<[1, 16, 4, 16]>
    %half = const f32[32] dense<splat 0.5>
    %c0 = const i32[2] dense<[-1, 7]>
    %"c0" = const f32[3] dense<[nan, inf, -inf]>
    %w.1 = const bool[2] dense<[true, false]>
    %h = const f16[2] dense<[0.1, 65504.0]>
    %big = const u64[1] dense<[18446744073709551615]>
    %none = const f32[0] dense<[]>
    %0 = onnx.Conv(%image, %w, _) {dilations = [1, 1], group = 1, pads = [1, 1, 1, 1]} : f32[batch,8,4,4] @"Conv_0"
    %1, %2 = onnx.Split(%0, _) {axis = 1} : f32[batch,4,4,4], f32[batch,4,4,4] @"split"
    %3 = test.AllAttrs(%1) {alpha = 1e-05, "data-format" = "NCHW", empty = ints[], fs = [0.5, nan, -inf], name = "a \\"q\\"\\n", nostr = strings[], ss = ["x", "y"], t = f32[2] dense<[1.0, 2.0]>, weird = floats[]} : f32[*]
    test.Sink(%2) @"node \\"1\\""
    return %3 as "probs", %image as "passthrough"
  }

  """

private let wHex = "000000000000803f0000004000004040000080400000a0400000c0400000e040000000410000104100002041000030410000404100005041000060410000704100008041000088410000904100009841"

@Suite struct TextualIRPrinterTests {
  @Test func printsEveryFeatureExactly() {
    let text = printGraph(makeKitchenSink())
    #expect(text == kitchenSinkText, "printed:\n\(text)")
  }

  @Test func textPropertyUsesDefaultOptions() {
    let g = makeKitchenSink()
    #expect(g.text == printGraph(g))
  }

  @Test func fullConstantsPrintLittleEndianHex() {
    let text = printGraph(makeKitchenSink(), options: PrintOptions(fullConstants: true))
    #expect(text.contains("  %w = const f32[4,5] dense<0x\(wHex)>\n"))
    // Small and splat constants keep their short forms.
    #expect(text.contains("%half = const f32[32] dense<splat 0.5>"))
  }

  @Test func optionsDropNamesAndMetadata() {
    let text = printGraph(makeKitchenSink(), options: PrintOptions(nodeNames: false, metadata: false))
    #expect(!text.contains("@\""))
    #expect(!text.contains("meta "))
  }

  @Test func smallConstantLimitIsConfigurable() {
    let g = Graph(name: "g")
    let c = g.addConstant(.int64([3], [1, 2, 3]), name: "k")
    g.setOutputs([("k", c)])
    let text = printGraph(g, options: PrintOptions(smallConstantLimit: 2))
    // 3 elements > limit 2 and not a splat: elided. Digest computed with Python.
    #expect(text.contains("%k = const i64[3] dense<elided 24 bytes fnv=0x"))
  }

  @Test func duplicateAndReservedNamesStayDistinct() {
    let g = Graph(name: "g")
    let a = g.addConstant(.scalar(1), name: "w")
    let b = g.addConstant(.scalar(2), name: "w")
    let c = g.addConstant(.scalar(3), name: "w.1")
    let d = g.addConstant(.scalar(4), name: "7")
    let e = g.addConstant(.scalar(5), name: "arg0")
    let f = g.addInput(name: "", type: TensorType(.float32, shape: []))
    g.setOutputs([("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("f", f)])
    let expected = """
      graph @g(%arg0: f32[]) {
        %w = const f32[] dense<1.0>
        %w.2 = const f32[] dense<2.0>
        %w.1 = const f32[] dense<3.0>
        %"7" = const f32[] dense<4.0>
        %"arg0" = const f32[] dense<5.0>
        return %w as "a", %w.2 as "b", %w.1 as "c", %"7" as "d", %"arg0" as "e", %arg0 as "f"
      }

      """
    #expect(printGraph(g) == expected)
  }

  @Test func quotesOddGraphAndOpNames() {
    let g = Graph(name: "my graph")
    let x = g.addInput(name: "x", type: TensorType(.float32, shape: [1]))
    let n = g.addNode("return", operands: [x], resultTypes: [x.type])
    g.setOutputs([("y", n.result)])
    #expect(printGraph(g) == """
      graph @"my graph"(%x: f32[1]) {
        %0 = "return"(%x) : f32[1]
        return %0 as "y"
      }

      """)
  }

  @Test func bfloat16PrintsShortestSpelling() {
    let g = Graph(name: "g")
    let c = g.addConstant(Tensor(.bfloat16, shape: [3], values: [floatToBfloat16(0.1), floatToBfloat16(1), floatToBfloat16(-3.5)]), name: "b")
    g.setOutputs([("b", c)])
    // bfloat16(0.1) is 0.10009765625; "0.1" is the shortest decimal that rounds back to it.
    #expect(printGraph(g).contains("dense<[0.1, 1.0, -3.5]>"))
  }

  @Test func typeDescriptionMatchesPrinter() {
    #expect(TensorType(.float32, nil).description == "f32[*]")
    #expect(TensorType(.int64, []).description == "i64[]")
    #expect(TensorType(.float32, [.symbol("n"), .symbol("?"), .symbol("a b"), .fixed(2)]).description == "f32[n,?,\"a b\",2]")
  }
}

@Suite struct TextualIRRoundTripTests {
  @Test func programmaticGraphRoundTripsWithFullConstants() throws {
    let g = makeKitchenSink()
    let options = PrintOptions(fullConstants: true)
    let text = printGraph(g, options: options)
    let parsed = try parseGraph(text)
    #expect(printGraph(parsed, options: options) == text)
    // The parsed graph holds the same data, not just the same text.
    #expect(parsed.constants.count == g.constants.count)
    for (a, b) in zip(g.constants, parsed.constants) {
      #expect(try #require(a.constant).bitwiseEqual(try #require(b.constant)), "constant \(a.name)")
    }
    for (a, b) in zip(g.nodes, parsed.nodes) {
      #expect(a.op == b.op && a.name == b.name && a.attributes == b.attributes)
      #expect(a.operands.map { $0 == nil } == b.operands.map { $0 == nil })
      #expect(a.results.map(\.type) == b.results.map(\.type))
    }
    #expect(parsed.inputs.map(\.name) == ["image", "input:0", "tokens"])
    #expect(parsed.constants.map(\.name) == ["w", "clip.min", "shape", "half", "", "c0", "w.1", "h", "big", "none"])
    #expect(parsed.outputs.map(\.name) == ["probs", "passthrough"])
    #expect(parsed.outputs[1].value === parsed.inputs[0])
    #expect(parsed.metadata == ["producer": "graphc-test"])
  }

  @Test func parsedUseListsAreExact() throws {
    let parsed = try parseGraph(printGraph(makeKitchenSink(), options: PrintOptions(fullConstants: true)))
    let image = parsed.inputs[0]
    #expect(image.uses.count == 1 && image.uses[0].node.op == "onnx.Conv" && image.uses[0].operandIndex == 0)
    #expect(parsed.nodes[1].results.map { $0.users.map(\.op) } == [["test.AllAttrs"], ["test.Sink"]])
  }

  @Test func elidedConstantsParseAsZeros() throws {
    let parsed = try parseGraph(kitchenSinkText)
    let w = try #require(parsed.constants[0].constant)
    #expect(w.type == TensorType(.float32, shape: [4, 5]))
    #expect(w.scalars(as: Float.self) == Array(repeating: 0, count: 20))
    // Elided text does not round-trip: the zeros now print as a splat.
    #expect(printGraph(parsed).contains("%w = const f32[4,5] dense<splat 0.0>"))
  }

  static let canonicalTexts = [
    // Elided text round-trips when every constant is small or a splat.
    """
    graph @mlp(%x: f32[batch,4]) {
      %w = const f32[4,2] dense<[0.5, -1.0, 2.0, 1e-05, 3.25, 0.0, -0.0, 1e+10]>
      %b = const f32[2] dense<[0.25, 0.25]>
      %big = const f32[64,64] dense<splat 1.0>
      %c0 = const i64[] dense<-9223372036854775808>
      %0 = onnx.MatMul(%x, %w) : f32[batch,2] @"fc/MatMul"
      %1 = onnx.Add(%0, %b) : f32[batch,2]
      %2 = onnx.LeakyRelu(%1) {alpha = 0.01} : f32[batch,2] @"act"
      %3 = onnx.Reshape(%2, %c0) {allowzero = 0} : f32[*]
      return %3 as "y", %2 as "hidden"
    }

    """,
    """
    graph @empty() {
      return
    }

    """,
    """
    graph @"odd \\\\ names\\t"(%"a/b:0": u8[2], %"0": i8[]) {
      %0, %1 = com.microsoft.Thing(%"a/b:0", _, %"0", _) {"key with space" = "\\u{1}"} : u8[2], i8[]
      return %0 as "\\u{7f}"
    }

    """,
  ]

  @Test(arguments: canonicalTexts)
  func handwrittenTextRoundTrips(_ text: String) throws {
    let printed = printGraph(try parseGraph(text))
    #expect(printed == text, "printed:\n\(printed)")
  }

  @Test func acceptsNonCanonicalSpellingAndPrintsCanonically() throws {
    let text = """
      // RUN: graphc opt %s --pipeline 'canonicalize'
      graph @g (  %x : f32 [ 2 , n ] ) {   // trailing comment
        %k = const f32[2] dense<0x0000803f00000040>   // hex for a small constant
        %s = const f32[] dense< 3 >
        %t = const i8[3] dense<splat -2>
        %sum = onnx.Add(%x, %k)
          { z = 1, a = [1.5, 2e3], m = "m" } : f32[2,n]
        %r = onnx.Relu(%sum) : f32[2,n] @"relu"
        return %r as "out"
      }
      // CHECK: onnx.Relu
      """
    let expected = """
      graph @g(%x: f32[2,n]) {
        %k = const f32[2] dense<[1.0, 2.0]>
        %s = const f32[] dense<3.0>
        %t = const i8[3] dense<[-2, -2, -2]>
        %0 = onnx.Add(%x, %k) {a = [1.5, 2000.0], m = "m", z = 1} : f32[2,n]
        %1 = onnx.Relu(%0) : f32[2,n] @"relu"
        return %1 as "out"
      }

      """
    #expect(printGraph(try parseGraph(text)) == expected)
  }

  @Test func specialFloatsParseExactly() throws {
    let g = try parseGraph("""
      graph @g() {
        %f = const f32[4] dense<[nan, inf, -inf, -nan]>
        %0 = t.Op() {a = -inf, b = [inf, nan]} : f32[]
        return %0 as "y", %f as "f"
      }
      """)
    let f = try #require(g.constants[0].constant).scalars(as: Float.self)
    #expect(f[0].isNaN && f[1] == .infinity && f[2] == -.infinity && f[3].isNaN)
    #expect(g.nodes[0].attributes["a"] == .float(-.infinity))
    let b = try #require(try g.nodes[0].attributes.floats("b"))
    #expect(b[0] == .infinity && b[1].isNaN)
  }
}

@Suite struct TextualIRErrorTests {
  struct Case: CustomStringConvertible, Sendable {
    var text: String
    var message: String
    var description: String { message }
  }

  static let cases: [Case] = [
    Case(text: "graph @g(%x: f32[2]) {\n  %0 = onnx.Relu(%y) : f32[2]\n  return %0 as \"y\"\n}",
         message: "2:18: unknown value '%y'"),
    Case(text: "graph @g(%x: f32[2]) {\n  %x = const f32[] dense<1.0>\n  return %x as \"y\"\n}",
         message: "2:3: redefinition of value '%x'"),
    Case(text: "graph @g(%x: f32[2], %\"x\": f32[2]) {\n  return\n}",
         message: "1:22: redefinition of value '%\"x\"'"),
    Case(text: "graph @g(%x: f33[2]) {\n  return\n}",
         message: "1:14: unknown element type 'f33'"),
    Case(text: "graph @g(%x: f32[2) {\n  return\n}",
         message: "1:19: expected ']' to close the shape, found ')'"),
    Case(text: "graph @g(%x: f32[-1]) {\n  return\n}",
         message: "1:18: dimension '-1' must be a non-negative integer"),
    Case(text: "graph @g(%x: f32[2]) {\n  return %x as \"y\"\n",
         message: "3:1: expected '}' to close the graph opened at 1:1"),
    Case(text: "graph @g() {\n  return\n}\n}",
         message: "4:1: unexpected '}' after the end of the graph"),
    Case(text: "graph @g(%x: f32[2]) {\n  %0 = onnx.Relu(%x)\n}",
         message: "2:8: op onnx.Relu defines 1 value(s) but lists 0 result type(s)"),
    Case(text: "graph @g(%x: f32[2]) {\n  %0 = onnx.Relu(%x : f32[2]\n  return\n}",
         message: "2:21: expected ')' to close the operand list, found ':'"),
    Case(text: "graph @g() {\n  %c = const f32[3] dense<[1.0, 2.0]>\n  return\n}",
         message: "2:27: 2 element(s) given for f32[3], which holds 3"),
    Case(text: "graph @g() {\n  %c = const i8[1] dense<[300]>\n  return\n}",
         message: "2:27: '300' is not a valid i8 value"),
    Case(text: "graph @g() {\n  %c = const i32[1] dense<[1.5]>\n  return\n}",
         message: "2:28: '1.5' is not a valid i32 value"),
    Case(text: "graph @g() {\n  %c = const f32[n] dense<[1.0]>\n  return\n}",
         message: "2:14: a constant needs a static shape, not f32[n]"),
    Case(text: "graph @g() {\n  %c = const f32[100000,100000,100000] dense<splat 0.0>\n  return\n}",
         message: "2:14: constant of type f32[100000,100000,100000] is too large to materialize"),
    Case(text: "graph @g() {\n  %c = const f32[2] dense<0x0000>\n  return\n}",
         message: "2:27: hex payload has 2 byte(s), f32[2] needs 8"),
    Case(text: "graph @g() {\n  %c = const f32[2] dense<elided 4 bytes fnv=0x12>\n  return\n}",
         message: "2:34: elided size 4 does not match f32[2], which has 8 bytes"),
    Case(text: "graph @g() {\n  %0 = t.Op() {a = \"x} : f32[]\n  return\n}",
         message: "2:20: unterminated string"),
    Case(text: "graph @g() {\n  %0 = t.Op() {a = [1, 2.0]} : f32[]\n  return\n}",
         message: "2:20: a list mixes integers and floats (write 1.0 for a float)"),
    Case(text: "graph @g() {\n  %0 = t.Op() {a = 1, a = 2} : f32[]\n  return\n}",
         message: "2:23: duplicate attribute 'a'"),
    Case(text: "graph @g() {\n  %0 = t.Op() {a = 99999999999999999999} : f32[]\n  return\n}",
         message: "2:20: integer '99999999999999999999' is out of range"),
    Case(text: "graph @g() {\n  %0 = t.Op() : f32[]\n}",
         message: "3:1: expected 'return' before '}'"),
    Case(text: "graph @g() {\n  return\n  t.Sink()\n}",
         message: "3:3: expected '}' after 'return', found 't.Sink'"),
    Case(text: "graph @g() {\n  %0 = t.Op() : f32[]\n  return %0 \"y\"\n}",
         message: "3:13: expected 'as' after a returned value, found \"y\""),
    Case(text: "graph @g() {\n  %0 = t.Op() : f32[] # \n  return\n}",
         message: "2:23: unexpected character '#'"),
    Case(text: "grph @g() {\n  return\n}",
         message: "1:1: expected 'graph' at the start of the text, found 'grph'"),
    Case(text: "", message: "1:1: expected 'graph' at the start of the text, found end of input"),
    Case(text: "graph @g() {\n  %a, %a = t.Op() : f32[], f32[]\n  return\n}",
         message: "2:7: redefinition of value '%a'"),
    Case(text: "graph @g() {\n  meta \"k\" = \"1\"\n  meta \"k\" = \"2\"\n  return\n}",
         message: "3:8: duplicate metadata key \"k\""),
    Case(text: "graph @g() {\n  %0 = t.Op() {s = \"\\q\"} : f32[]\n  return\n}",
         message: "2:21: unknown escape '\\q'"),
  ]

  @Test(arguments: cases)
  func malformedTextIsRejected(_ c: Case) {
    do {
      let g = try parseGraph(c.text)
      Issue.record("parsed without error:\n\(printGraph(g))")
    } catch let e as GraphError {
      #expect(e.message == c.message)
    } catch {
      Issue.record("unexpected error type: \(error)")
    }
  }
}

@Suite struct TextualIRRobustnessTests {
  /// Every truncation of a valid text is rejected with a GraphError, never a crash.
  @Test func everyTruncationFailsCleanly() {
    let text = printGraph(makeKitchenSink(), options: PrintOptions(fullConstants: true))
    let bytes = Array(text.utf8)
    // The text ends in "}\n": every prefix shorter than "…}" lacks the closing brace.
    for n in 0..<(bytes.count - 1) {
      let prefix = String(decoding: bytes[..<n], as: UTF8.self)
      #expect(throws: GraphError.self, "prefix of \(n) bytes") { try parseGraph(prefix) }
    }
  }

  /// Single-byte corruptions either parse or throw GraphError (a crash fails the test run).
  @Test func corruptedBytesNeverCrash() {
    let bytes = Array(printGraph(makeKitchenSink()).utf8)
    var state: UInt64 = 0x9e37_79b9_7f4a_7c15
    let replacements = Array("%@\"\\[]{}()<>,=:*?_-0x9.e".utf8)
    for _ in 0..<1000 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      var mutated = bytes
      let at = Int(state >> 33) % mutated.count
      mutated[at] = replacements[Int(state >> 13) % replacements.count]
      do { _ = try parseGraph(String(decoding: mutated, as: UTF8.self)) } catch is GraphError {} catch {
        Issue.record("non-GraphError \(error)")
      }
    }
  }

  @Test func largeConstantRoundTripsInFull() throws {
    let n = 1 << 16
    let g = Graph(name: "big")
    let c = g.addConstant(.float32([n], (0..<n).map { Float($0) * 0.25 }), name: "w")
    g.setOutputs([("w", c)])
    let options = PrintOptions(fullConstants: true)
    let text = printGraph(g, options: options)
    let parsed = try parseGraph(text)
    #expect(try #require(parsed.constants[0].constant).bitwiseEqual(try #require(c.constant)))
    #expect(printGraph(parsed, options: options) == text)
  }
}

@Suite struct TextualIRVerifierTests {
  /// Parsed graphs are ordinary graphs: use-lists are exact and the verifier accepts them.
  /// (A private op keeps this independent of the built-in schemas.)
  @Test func parsedGraphVerifies() throws {
    let op = "textualirtest.AddSame"
    if OpRegistry.shared.schema(op) == nil {
      try OpRegistry.shared.register(OpSchema(op, inputs: 2...2) { ctx in [try ctx.type(0)] })
    }
    let g = try parseGraph("""
      graph @g(%x: f32[batch,2]) {
        %b = const f32[2] dense<[0.25, 0.25]>
        %0 = textualirtest.AddSame(%x, %b) : f32[batch,2]
        %1 = textualirtest.AddSame(%0, %0) : f32[batch,2] @"twice"
        return %1 as "y"
      }
      """)
    try g.verify()
    try g.inferTypes()
    #expect(g.nodes.map { $0.result.type.description } == ["f32[batch,2]", "f32[batch,2]"])
    #expect(g.nodes[0].result.uses.map(\.operandIndex) == [0, 1])
  }
}
