// Normalize.swift - Opset normalization: each ONNX node (opset 7-21) becomes its canonical form.
//
// The canonical form of an op is its opset-21 definition (Docs/Ops.md). Attributes that later
// opsets turned into inputs become constant operands, renamed or retired ops are mapped to
// their successors, and semantics that changed are rewritten with equivalent canonical nodes.

import GraphIR

/// The Reduce family, whose `axes` attribute became an input in opset 18 (ReduceSum: 13).
private let reduceOps: Set<String> = [
  "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
  "ReduceProd", "ReduceSum", "ReduceSumSquare",
]

extension Importer {
  /// Emits the canonical nodes for `n`; returns one value per ONNX output (nil where the
  /// canonical op has no such result, such as BatchNormalization's training outputs).
  func lower(_ n: ONNXNode, _ operands: [Value?]) throws -> [Value?] {
    var attrs = n.attributes
    var args = operands
    var op = n.ref.opType
    let name = n.ref.name

    /// Moves attribute `key` to operand `index` as an int64 list (nil operand when absent).
    func intsToInput(_ key: String, at index: Int, required: Bool = false) throws {
      let v = try attrs.ints(key)
      attrs[key] = nil
      if v == nil && required { throw ImportFailure(.invalidModel, "missing attribute '\(key)'") }
      while args.count < index { args.append(nil) }
      args.insert(v.map(int64s), at: index)
    }
    /// Moves float attribute `key` to operand `index` as a scalar of the data's element type.
    func floatToInput(_ key: String, at index: Int, dtype: DType) throws {
      let v = try attrs.float(key)
      attrs[key] = nil
      while args.count < index { args.append(nil) }
      args.insert(v.map { floatScalar($0, dtype) }, at: index)
    }
    let dataType = type(of: operands.first ?? nil)?.dtype
    let floatType = dataType.flatMap { $0.isFloat ? $0 : nil } ?? .float32

    switch op {
    case "Slice" where opset < 10:
      args = Array(args.prefix(1))
      try intsToInput("starts", at: 1, required: true)
      try intsToInput("ends", at: 2, required: true)
      try intsToInput("axes", at: 3)
    case "Clip" where opset < 11:
      args = Array(args.prefix(1))
      try floatToInput("min", at: 1, dtype: floatType)
      try floatToInput("max", at: 2, dtype: floatType)
    case "Pad" where opset < 11:
      args = Array(args.prefix(1))
      try intsToInput("pads", at: 1, required: true)
      try floatToInput("value", at: 2, dtype: floatType)
    case "Split" where opset < 13:
      args = Array(args.prefix(1))
      try intsToInput("split", at: 1)
      if args[1] == nil { attrs["num_outputs"] = .int(n.outputs.count) }
    case "Split" where opset < 18:
      // Without `split`, opsets 13-17 split evenly into the result count: opset 18's num_outputs.
      if args.count < 2 || args[1] == nil { attrs["num_outputs"] = .int(n.outputs.count) }
    case "Squeeze" where opset < 13, "Unsqueeze" where opset < 13:
      args = Array(args.prefix(1))
      try intsToInput("axes", at: 1, required: op == "Unsqueeze")
    case _ where reduceOps.contains(op) && opset < (op == "ReduceSum" ? 13 : 18):
      args = Array(args.prefix(1))
      try intsToInput("axes", at: 1)
    case "Dropout" where opset < 12:
      args = Array(args.prefix(1))
      try floatToInput("ratio", at: 1, dtype: .float32)
    case "TopK" where opset < 10:
      args = Array(args.prefix(1))
      guard let k = try attrs.int("k") else { throw ImportFailure(.invalidModel, "missing attribute 'k'") }
      attrs["k"] = nil
      args.append(int64s([k]))
    case "Upsample":
      op = "Resize"
      var scales = args.count > 1 ? args[1] : nil
      if let s = try attrs.floats("scales") {  // opsets 7-8 give the scales as an attribute
        scales = graph.addConstant(.float32([s.count], s))
      }
      attrs["scales"] = nil
      guard scales != nil else { throw ImportFailure(.invalidModel, "Upsample needs scales") }
      args = [args.first ?? nil, nil, scales, nil]
      setOpset10ResizeSemantics(&attrs)
    case "Resize" where opset < 11:
      args = [args.first ?? nil, nil, args.count > 1 ? args[1] : nil, nil]
      setOpset10ResizeSemantics(&attrs)
    case "Scatter":
      op = "ScatterElements"  // deprecated in opset 11 under this name, same semantics
    case "Softmax" where opset < 13, "LogSoftmax" where opset < 13, "Hardmax" where opset < 13:
      return try lowerCoercedSoftmax(n, op: op, input: args.first ?? nil)
    case "BatchNormalization":
      if try attrs.int("training_mode") == 1 || n.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
        throw ImportFailure(.unsupported, "training-mode BatchNormalization (running mean/var outputs) is not supported")
      }
      attrs["training_mode"] = nil
      return try emit(op, name: name, args, attrs, results: [n.outputs.first ?? ""])
    default:
      break
    }
    return try emit(op, name: name, args, attrs, results: n.outputs)
  }

  /// Resize-10 and Upsample index the input as `x_resized / scale` and round nearest down,
  /// which Resize-11 spells with these two attributes.
  private func setOpset10ResizeSemantics(_ attrs: inout AttributeMap) {
    var mode = (try? attrs.string("mode")) ?? "nearest"
    if mode == "bilinear" { mode = "linear" }  // pre-opset-7 spelling still found in old exports
    attrs["mode"] = .string(mode)
    attrs["coordinate_transformation_mode"] = .string("asymmetric")
    if mode == "nearest" { attrs["nearest_mode"] = .string("floor") }
  }

  /// Softmax, LogSoftmax and Hardmax before opset 13 flatten the input to 2-D at `axis`
  /// (default 1) and normalize each row. When `axis` is already the last dim this is the
  /// opset-13 op over axis -1; otherwise it becomes
  ///
  ///     %f = Flatten(%x){axis}   %y = Softmax(%f){axis=-1}   %out = Reshape(%y, Shape(%x))
  private func lowerCoercedSoftmax(_ n: ONNXNode, op: String, input x: Value?) throws -> [Value?] {
    var attrs = n.attributes
    let axis = try attrs.int("axis", default: 1)
    attrs["axis"] = .int(-1)
    let rank = type(of: x)?.rank
    if let rank { _ = try normalizeAxis(axis, rank: rank) }
    if axis == -1 || (rank.map { axis == $0 - 1 } ?? false) {
      return try emit(op, name: n.ref.name, [x], attrs, results: n.outputs)
    }
    let base = n.ref.name
    let shape = try emit("Shape", name: base + "/shape", [x], results: [base + "/shape"])[0]
    let flat = try emit("Flatten", name: base + "/flatten", [x], ["axis": .int(axis)], results: [base + "/flat"])[0]
    let y = try emit(op, name: n.ref.name, [flat], attrs, results: [base + "/2d"])[0]
    return try emit("Reshape", name: base + "/reshape", [y, shape], results: n.outputs)
  }
}
