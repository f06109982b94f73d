// ImporterTests.swift - Valid models: values, names, inputs, constants, metadata, opset normalization.

import GraphIR
import ONNXImport
import Testing

struct ImporterTests {
  @Test func constantNodesBecomeGraphConstants() throws {
    let g = try importFixture("valid/constants.onnx")
    #expect(g.nodes.map(\.op) == ["onnx.Add"], "Constant nodes must not stay nodes")
    let add = try #require(g.node(named: "add"))
    #expect(constDoubles(add.operand(1)) == [1, 2, 3])
    #expect(add.operand(0)?.isGraphInput == true)
    #expect(g.output("c_float")?.constant?.type == TensorType(.float32, shape: []))
    #expect(constDoubles(g.output("c_float")) == [0.5])
    #expect(constDoubles(g.output("c_floats")) == [1, -1])
    #expect(g.output("c_int")?.constant?.type == TensorType(.int64, shape: []))
    #expect(constInts(g.output("c_int")) == [7])
    #expect(constInts(g.output("c_ints")) == [1, 2, 3])
    #expect(g.output("y")?.name == "y")
    #expect(g.output("y")?.type == TensorType(.float32, shape: [3]))
  }

  @Test func metadataRecordsSource() throws {
    let g = try importFixture("valid/constants.onnx")
    #expect(g.metadata["source.opset"] == "13")
    #expect(g.metadata["source.producer"] == "graphc-fixtures 1")
    // hashlib.sha256(open("fixtures/import/valid/constants.onnx", "rb").read()).hexdigest()
    #expect(g.metadata["source.sha256"] == "47200abd6d086a14205cec47586a65cdee8461719b1790077bac057d75fa28df")
    #expect(g.metadata["source.name"] == "constants.onnx")
  }

  @Test func initializersListedAsInputsAreConstants() throws {
    let g = try importFixture("valid/old_style_inputs.onnx")
    #expect(g.inputs.map(\.name) == ["x"])
    let add = try #require(g.node(named: "add"))
    #expect(constDoubles(add.operand(1)) == [0, 1, 2, 3, 4, 5])
    #expect(g.metadata["source.opset"] == "7")
  }

  @Test func symbolicDimsAndShapeOverrides() throws {
    let g = try importFixture("valid/symbolic_dims.onnx")
    let dims = try #require(g.inputs.first?.type.dims)
    #expect(dims.count == 3)
    #expect(dims[0] == .symbol("N") && dims[1] == .fixed(3))
    guard case .symbol = dims[2] else { Issue.record("anonymous dim should be a fresh symbol"); return }

    let fixed = try importFixture("valid/symbolic_dims.onnx", options: ImportOptions(shapes: ["x": [2, 3, 5]]))
    #expect(fixed.inputs.first?.type == TensorType(.float32, shape: [2, 3, 5]))
    #expect(fixed.output("y")?.type == TensorType(.float32, shape: [2, 3, 5]))
  }

  @Test(arguments: [
    (["x": [2, 3]], "has rank 2, but the input has rank 3"),
    (["x": [2, 4, 5]], "contradicts the input's fixed type"),
    (["nope": [1]], "names 'nope', which is not a graph input"),
  ])
  func badShapeOverrides(shapes: [String: [Int]], reason: String) {
    expectImportError("valid/symbolic_dims.onnx", code: .badOption, [reason], options: ImportOptions(shapes: shapes))
  }

  @Test func parseShapeArgument() throws {
    let (name, dims) = try ImportOptions.parseShape("input.1=1x3x224x224")
    #expect(name == "input.1" && dims == [1, 3, 224, 224])
    #expect(try ImportOptions.parseShape("s=").dims == [])
    #expect(throws: ImportError.self) { try ImportOptions.parseShape("x=1xNx3") }
    #expect(throws: ImportError.self) { try ImportOptions.parseShape("x") }
  }

  @Test func emptyNamesAreAbsentOperandsAndUnusedOutputsStillExist() throws {
    let g = try importFixture("valid/optional_io.onnx")
    let clip = try #require(g.node(named: "clip"))
    #expect(clip.operands.count == 3)
    #expect(clip.operands[1] == nil)
    #expect(constDoubles(clip.operand(2)) == [6])
    let drop = try #require(g.node(named: "drop"))
    #expect(drop.results.count == 2, "the unnamed mask output still gets a value")
    #expect(drop.results[0].name == "z")
    #expect(clip.result.name == "y")
  }

  @Test func outOfOrderNodesAreSorted() throws {
    let g = try importFixture("valid/out_of_order.onnx")
    #expect(g.nodes.map(\.name) == ["first", "second"])
    try g.verify(registry: testOps)
  }
}

/// Each opset normalization rule, checked on a model exported at the old opset.
struct NormalizationTests {
  @Test func slice9MovesAttributesToInputs() throws {
    let g = try importFixture("valid/slice_opset9.onnx")
    let n = try #require(g.node(named: "slice"))
    #expect(n.op == "onnx.Slice")
    #expect(n.attributes.isEmpty)
    #expect(n.operands.count == 4)
    #expect(constInts(n.operand(1)) == [0, 1])
    #expect(constInts(n.operand(2)) == [1, 3])
    #expect(constInts(n.operand(3)) == [0, 2])
    #expect(n.operand(1)?.constant?.dtype == .int64)
  }

  @Test func clip7MovesBoundsToInputsOfTheDataType() throws {
    let g = try importFixture("valid/clip_opset7.onnx")
    let n = try #require(g.node(named: "clip"))
    #expect(n.attributes.isEmpty)
    #expect(constDoubles(n.operand(1)) == [-1] && constDoubles(n.operand(2)) == [6])
    #expect(n.operand(1)?.constant?.type == TensorType(.float32, shape: []))

    let d = try #require(try importFixture("valid/clip_opset7_f64.onnx").node(named: "clip"))
    #expect(d.operands.count == 3 && d.operands[1] == nil)
    #expect(d.operand(2)?.constant?.dtype == .float64)
    #expect(constDoubles(d.operand(2)) == [2])
  }

  @Test func softmax11CoercionBecomesFlattenSoftmaxReshape() throws {
    let g = try importFixture("valid/softmax_opset11.onnx")
    // axis=1 on a rank-3 input: Flatten(axis=1) -> Softmax(axis=-1) -> Reshape(Shape(x)).
    let sm = try #require(g.node(named: "sm"))
    #expect(sm.op == "onnx.Softmax")
    #expect(sm.attributes["axis"] == .int(-1))
    let flatten = try #require(sm.operand(0)?.producer(ofKind: "onnx.Flatten"))
    #expect(flatten.attributes["axis"] == .int(1))
    #expect(flatten.operand(0)?.name == "x")
    let reshape = try #require(sm.result.singleUser)
    #expect(reshape.op == "onnx.Reshape")
    #expect(reshape.operand(1)?.producer?.op == "onnx.Shape")
    #expect(reshape.operand(1)?.producer?.operand(0)?.name == "x")
    #expect(g.output("y") === reshape.result)
    // axis=2 is already the last axis: a single LogSoftmax over axis -1.
    let lsm = try #require(g.node(named: "lsm"))
    #expect(lsm.op == "onnx.LogSoftmax" && lsm.attributes["axis"] == .int(-1))
    #expect(lsm.operand(0)?.name == "x")
    #expect(g.output("z") === lsm.result)
    #expect(g.nodes.count == 5)
  }

  @Test func split11MovesSplitToInputAndCountsOutputs() throws {
    let g = try importFixture("valid/split_opset11.onnx")
    let n = try #require(g.node(named: "split"))
    #expect(constInts(n.operand(1)) == [1, 3])
    #expect(n.attributes["axis"] == .int(2) && n.attributes["split"] == nil)
    #expect(n.results.map(\.name) == ["a", "b"])
    let even = try #require(g.node(named: "even"))
    #expect(even.operands.count == 2 && even.operands[1] == nil)
    #expect(even.attributes["num_outputs"] == .int(2))
  }

  @Test func reduce11MovesAxesToInput() throws {
    let g = try importFixture("valid/reducesum_opset11.onnx")
    let sum = try #require(g.node(named: "sum"))
    #expect(constInts(sum.operand(1)) == [1])
    #expect(sum.attributes == ["keepdims": .int(0)])
    let mean = try #require(g.node(named: "mean"))
    #expect(mean.operands.count == 2 && mean.operands[1] == nil, "no axes: reduce over all")
  }

  @Test(arguments: ["valid/upsample_opset9.onnx", "valid/upsample_opset7.onnx", "valid/resize_opset10.onnx"])
  func upsampleAndResize10BecomeResize(path: String) throws {
    let g = try importFixture(path)
    let n = try #require(g.nodes.first)
    #expect(g.nodes.count == 1)
    #expect(n.op == "onnx.Resize")
    #expect(n.operands.count == 4)
    #expect(n.operands[1] == nil && n.operands[3] == nil)
    #expect(constDoubles(n.operand(2)) == [1, 1, 2, 2])
    #expect(n.attributes["coordinate_transformation_mode"] == .string("asymmetric"))
    #expect(n.attributes["scales"] == nil)
    let mode = n.attributes["mode"]
    #expect(mode == .string(path.contains("opset7") ? "linear" : "nearest"))
    if mode == .string("nearest") { #expect(n.attributes["nearest_mode"] == .string("floor")) }
  }

  @Test func pad10MovesPadsAndValueToInputs() throws {
    let n = try #require(try importFixture("valid/pad_opset10.onnx").node(named: "pad"))
    #expect(constInts(n.operand(1)) == [0, 1, 0, 0, 1, 0])
    #expect(constDoubles(n.operand(2)) == [2.5])
    #expect(n.attributes["pads"] == nil && n.attributes["value"] == nil)
  }

  @Test func squeezeAndUnsqueeze11MoveAxesToInputs() throws {
    let g = try importFixture("valid/unsqueeze_opset11.onnx")
    #expect(constInts(g.node(named: "unsq")?.operand(1)) == [0])
    let sq = try #require(g.node(named: "sq"))
    #expect(sq.operands.count == 2 && sq.operands[1] == nil)
  }

  @Test func dropout10RatioBecomesInput() throws {
    let g = try importFixture("valid/dropout_opset10.onnx")  // a node's results live as long as its graph
    let n = try #require(g.node(named: "drop"))
    #expect(constDoubles(n.operand(1)) == [0.25])
    #expect(n.attributes["ratio"] == nil)
    #expect(n.results.count == 2)
  }

  @Test func topK9MovesKToInput() throws {
    let g = try importFixture("valid/topk_opset9.onnx")  // a node's results live as long as its graph
    let n = try #require(g.node(named: "topk"))
    #expect(constInts(n.operand(1)) == [2])
    #expect(n.results[1].type.dtype == .int64)
  }

  @Test func batchNorm7DropsSpatial() throws {
    let g = try importFixture("valid/batchnorm_opset7.onnx")  // a node's results live as long as its graph
    let n = try #require(g.node(named: "bn"))
    #expect(n.attributes == ["epsilon": .float(1e-3)])
    #expect(n.results.count == 1)
  }
}
