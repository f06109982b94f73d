// Layers.swift - Which nodes `quantize` integerizes, and the rewrite of one layer.

import GraphIR
import PassKit

/// One quantizable layer: a linear op with a constant float weight, plus the bias Add and
/// Relu it absorbs. Matching reads the graph only; nothing changes until `LayerRewriter`.
struct Layer {
  enum Kind { case linear, conv }
  let node: Node
  let kind: Kind
  /// The float activation the layer reads when matched (calibration observes this value).
  let input: Value
  /// Linear: `[K, N]` (alpha and transB applied). Conv: `[M, C/group, k...]`.
  let weight: Tensor
  /// `[channels]` float bias, if any.
  let bias: [Float]?
  /// Nodes after `node` folded into the layer (bias Add, Relu), in order.
  let absorbed: [Node]
  /// The float value the layer's users read (the last absorbed node's result).
  let output: Value
  /// The fused activation in real units, folded into the requantization clamp.
  let clip: [Float]?
  /// `graphc.FusedConv` with a residual Z: the QConv dequantizes in its kernel and the add
  /// (and, when `floatActivation` is set, the activation after it) stays in float after it.
  let hasResidual: Bool
  let floatActivation: FusedActivation?

  var channels: Int { kind == .linear ? weight.shape[1] : weight.shape[0] }

  /// Matchers by op.
  init?(matching node: Node) {
    switch node.op {
    case "onnx.MatMul": self.init(matMul: node)
    case "onnx.Gemm": self.init(gemm: node)
    case "onnx.Conv": self.init(conv: node)
    case "graphc.FusedConv": self.init(fusedConv: node)
    default: return nil
    }
  }

  /// Why a fused conv op that looks like a layer stays float, for a remark; nil otherwise.
  static func unsupportedReason(_ node: Node) -> String? {
    switch node.op {
    case "graphc.DepthwisePointwise":
      return "kept in float: graphc.DepthwisePointwise has no integer kernel (its depthwise intermediate never reaches memory, so it has no calibrated range to requantize to)"
    case "graphc.FusedConv":
      guard let a = try? FusedActivation(attributes: node.attributes), !Self.integerActivations.contains(a.kind) else { return nil }
      return "kept in float: activation '\(a.kind.rawValue)' has no integer form (only relu and clip fold into the requantization clamp)"
    default: return nil
    }
  }

  private static let integerActivations: Set<FusedActivation.Kind> = [.none, .relu, .clip]

  /// The window attributes QConv takes from the matched conv.
  var convAttributes: AttributeMap {
    node.attributes.filter { ["strides", "pads", "dilations", "group"].contains($0.key) }
  }

  private init?(matMul node: Node) {
    guard let x = node.operand(0), x.type.dtype == .float32, let w = node.operand(1)?.constant,
          w.dtype == .float32, w.rank == 2, (x.type.rank ?? 0) >= 1 else { return nil }
    self.init(node, .linear, input: x, weight: w, bias: nil)
  }

  private init?(gemm node: Node) {
    guard let x = node.operand(0), x.type.dtype == .float32, x.type.rank == 2,
          let b = node.operand(1)?.constant, b.dtype == .float32, b.rank == 2,
          (try? node.attributes.int("transA", default: 0)) == 0,
          let transB = try? node.attributes.int("transB", default: 0),
          let alpha = try? node.attributes.float("alpha", default: 1),
          let beta = try? node.attributes.float("beta", default: 1) else { return nil }
    let (k, n) = transB == 0 ? (b.shape[0], b.shape[1]) : (b.shape[1], b.shape[0])
    var w = [Float](repeating: 0, count: k * n)
    let src = b.pointer(as: Float.self)
    for i in 0..<k { for j in 0..<n { w[i * n + j] = alpha * (transB == 0 ? src[i * n + j] : src[j * k + i]) } }
    var bias: [Float]? = nil
    if let c = node.operand(2) {
      guard let ct = c.constant, ct.dtype == .float32, ct.count == n || ct.count == 1 else { return nil }
      bias = (0..<n).map { beta * Float(ct.double(at: ct.count == 1 ? 0 : $0)) }
    }
    self.init(node, .linear, input: x, weight: .float32([k, n], w), bias: bias)
  }

  private init?(conv node: Node) {
    guard let (x, w, bias) = Self.convOperands(node) else { return nil }
    self.init(node, .conv, input: x, weight: w, bias: bias)
  }

  /// `graphc.FusedConv` with no activation, relu or clip, and an optional residual Z.
  private init?(fusedConv node: Node) {
    guard let (x, w, bias) = Self.convOperands(node), let act = try? FusedActivation(attributes: node.attributes),
          Self.integerActivations.contains(act.kind),
          let after = try? node.attributes.int("residual_after_activation", default: 0) else { return nil }
    let clip: [Float]? = switch act.kind {
    case .relu: [0, .infinity]
    case .clip: act.params
    default: nil
    }
    guard node.operand(3) != nil else {
      self.init(node, .conv, input: x, weight: w, bias: bias, clip: clip)
      return
    }
    // act(conv + B + Z): the activation follows the float add; act(conv + B) + Z: it folds.
    let activationAfterAdd = after == 0 && act.kind != .none
    self.init(node, .conv, input: x, weight: w, bias: bias, clip: activationAfterAdd ? nil : clip,
              residual: true, floatActivation: activationAfterAdd ? act : nil)
  }

  /// X, W and B of a Conv-like node: float X, constant float W of rank >= 3, explicit pads,
  /// and a constant bias of one value per output channel, if any.
  private static func convOperands(_ node: Node) -> (Value, Tensor, [Float]?)? {
    guard let x = node.operand(0), x.type.dtype == .float32, let w = node.operand(1)?.constant,
          w.dtype == .float32, w.rank >= 3 else { return nil }
    if case .string(let pad)? = node.attributes["auto_pad"], pad != "NOTSET" { return nil }
    guard let b = node.operand(2) else { return (x, w, nil) }
    guard let bt = b.constant, bt.dtype == .float32, bt.count == w.shape[0] else { return nil }
    return (x, w, bt.scalars(as: Float.self))
  }

  /// Absorbs a following `Add` of a constant `[N]` bias (linear layers without one) and a
  /// following `Relu`, each only when it is the single user (never after a residual or a
  /// fused activation).
  private init(_ node: Node, _ kind: Kind, input: Value, weight: Tensor, bias: [Float]?, clip: [Float]? = nil,
               residual: Bool = false, floatActivation: FusedActivation? = nil) {
    var bias = bias, absorbed: [Node] = [], output = node.result, clip = clip
    let channels = kind == .linear ? weight.shape[1] : weight.shape[0]
    if kind == .linear, bias == nil, let add = output.singleUser, add.op == "onnx.Add",
       let other = add.operands.first(where: { $0 !== output }) ?? nil, let c = other.constant,
       c.dtype == .float32, c.count == channels, c.shape.last == channels, add.result.type == output.type {
      bias = c.scalars(as: Float.self)
      absorbed.append(add)
      output = add.result
    }
    if clip == nil, !residual, let relu = output.singleUser, relu.op == "onnx.Relu" {
      absorbed.append(relu)
      output = relu.result
      clip = [0, .infinity]
    }
    self.node = node
    self.kind = kind
    self.input = input
    self.weight = weight
    self.bias = bias
    self.absorbed = absorbed
    self.output = output
    self.clip = clip
    self.hasResidual = residual
    self.floatActivation = floatActivation
  }

  /// Weight bytes (weights and float bias) in float, and once quantized to `type` (packed
  /// weights, one float scale and one int32 bias per channel).
  func weightBytes(quantizedTo type: DType) -> (before: Int, after: Int) {
    let before = weight.byteCount + 4 * (bias?.count ?? 0)
    return (before, type.byteCount(elements: weight.count) + 8 * channels)
  }
}

/// Rewrites layers into integer ops through the pass context, sharing quantized inputs.
struct LayerRewriter {
  let context: PassContext
  let weightType: DType
  /// Integer versions of float activations already quantized, by value.
  private var quantized: [ObjectIdentifier: Value] = [:]
  /// DequantizeLinear nodes this pass inserted, with the integer op each reads (erased at the
  /// end when unused, fused into the op when they are its only reader).
  private var dequantizations: [(op: Node, dequantize: Node)] = []

  init(context: PassContext, weightType: DType) {
    self.context = context
    self.weightType = weightType
  }

  /// Replaces `layer` by its integer form after a QuantizeLinear (or shared integers): before a
  /// DequantizeLinear with the `output` parameters, or, with none (a layer with a residual),
  /// dequantizing in its kernel; a residual add and the activation after it follow in float.
  mutating func rewrite(_ layer: Layer, input: ActivationParameters, output: ActivationParameters?) throws {
    let node = layer.node
    let w = quantizeWeights(layer.weight, axis: layer.kind == .linear ? 1 : 0, type: weightType)
    let bias = integerBias(layer, w, input: input)
    // The current operand: an earlier rewrite may have replaced the matched input value
    // (with its DequantizeLinear, whose integers this layer can then read directly).
    guard let x = node.operand(0) else { throw GraphError("the layer lost its input", node: node.name, op: node.op) }
    let xq = try quantizedInput(x, input, before: node)
    let wv = context.makeConstant(w.values, name: node.name + ".wq", quant: w.quant)
    let bv = context.makeConstant(Tensor(.int32, shape: [layer.channels], values: bias), name: node.name + ".bq")
    var attributes: AttributeMap = layer.kind == .conv ? layer.convAttributes : [:]
    if let clip = layer.clip { attributes["clip"] = .floats(clip) }
    if case .string(let role)? = node.attributes["graphc.role"] { attributes["graphc.role"] = .string(role) }
    let op = layer.kind == .linear ? "graphc.QLinear" : "graphc.QConv"
    var result: Value
    if let output {
      let q = try context.insert(op, before: node, operands: [xq, wv, bv], attributes: attributes)
      context.setQuantization(of: q.result, output.quantization)
      let deq = try context.insert("onnx.DequantizeLinear", before: node, name: node.name + ".dequantize",
                                   operands: [q.result] + scaleAndZeroPoint(output))
      dequantizations.append((q, deq))
      result = deq.result
    } else {
      attributes["dequantize"] = .int(1)
      result = try context.insert(op, before: node, operands: [xq, wv, bv], attributes: attributes).result
    }
    if layer.hasResidual {
      guard let z = node.operand(3) else { throw GraphError("the layer lost its residual", node: node.name, op: node.op) }
      result = try context.insert("onnx.Add", before: node, name: node.name + ".residual", operands: [result, z]).result
      if let act = layer.floatActivation { result = try floatActivation(act, of: result, before: node) }
    }
    context.replaceAllUses(of: layer.output, with: result)
    for n in layer.absorbed.reversed() { context.erase(n) }
    context.erase(node)
  }

  /// Relu or Clip (the only activations a quantized FusedConv carries) as an ONNX op.
  private func floatActivation(_ act: FusedActivation, of x: Value, before node: Node) throws -> Value {
    let name = node.name + ".activation"
    if act.kind == .clip {
      let bounds = act.params.map { context.makeConstant(.scalar($0)) }
      return try context.insert("onnx.Clip", before: node, name: name, operands: [x] + bounds).result
    }
    return try context.insert("onnx.Relu", before: node, name: name, operands: [x]).result
  }

  /// Drops dequantizations whose float result nobody reads any more (the next layer reads
  /// the integers directly), then fuses each remaining one into its integer op when it is the
  /// op's only reader: the op gets `dequantize = 1` and an f32 result, computed from the int32
  /// sums, so a layer feeding float ops or a graph output is not rounded to an int8 step first.
  ///
  ///     %y = graphc.QLinear(%xq, %wq, %bq) : i8[…] q<…>   ->   %d = graphc.QLinear(%xq, %wq, %bq) {dequantize = 1} : f32[…]
  ///     %d = onnx.DequantizeLinear(%y, %sy, %zy)
  mutating func finishDequantizations() throws {
    for (_, d) in dequantizations where d.isLive && d.result.uses.isEmpty && !context.graph.isOutput(d.result) {
      context.erase(d)
    }
    for (q, d) in dequantizations where d.isLive && q.result.uses.count == 1 {
      var attributes = q.attributes
      attributes["dequantize"] = .int(1)
      let fused = try context.insert(q.op, before: q, name: q.name, operands: q.operands, attributes: attributes)
      context.replaceAllUses(of: d.result, with: fused.result)
      context.erase(d)
      context.erase(q)
    }
    dequantizations = []
  }

  /// The int8 form of `x`: a value made earlier, the integer input of a matching
  /// DequantizeLinear, or a new QuantizeLinear.
  private mutating func quantizedInput(_ x: Value, _ p: ActivationParameters, before node: Node) throws -> Value {
    if let v = quantized[ObjectIdentifier(x)] { return v }
    if let d = x.producer, d.op == "onnx.DequantizeLinear", let q = d.operand(0),
       q.type.dtype == .int8, q.type.quant == p.quantization {
      return q
    }
    let q = try context.insert("onnx.QuantizeLinear", before: node, name: node.name + ".quantize",
                               operands: [x] + scaleAndZeroPoint(p))
    quantized[ObjectIdentifier(x)] = q.result
    return q.result
  }

  private func scaleAndZeroPoint(_ p: ActivationParameters) -> [Value] {
    [context.makeConstant(.scalar(p.scale)),
     context.makeConstant(Tensor(.int8, shape: [], values: [Int8(p.zeroPoint)]))]
  }
}

/// Symmetric per-channel weights: `s[c] = max|w[c]| / qmax` (127 for int8, 7 for int4;
/// 1 for an all-zero channel), `q = clamp(round(w / s), -qmax, qmax)`.
struct QuantizedWeights {
  var values: Tensor
  var quant: Quantization
  /// Sum of the integer weights of each channel (for the zero-point term of the bias).
  var channelSums: [Int]
}

func quantizeWeights(_ w: Tensor, axis: Int, type: DType) -> QuantizedWeights {
  let qmax: Float = type == .int4 ? 7 : 127
  let channels = w.shape[axis]
  let inner = w.shape[(axis + 1)...].reduce(1, *)
  let src = w.pointer(as: Float.self)
  // Element i belongs to channel (i / inner) % channels.
  var maxAbs = [Float](repeating: 0, count: channels)
  for i in 0..<w.count { maxAbs[(i / inner) % channels] = max(maxAbs[(i / inner) % channels], abs(src[i])) }
  let scales = maxAbs.map { $0 > 0 && $0.isFinite ? $0 / qmax : 1 }
  let out = Tensor(zeros: type, shape: w.shape)
  var sums = [Int](repeating: 0, count: channels)
  for i in 0..<w.count {
    let c = (i / inner) % channels
    let q = Int8(max(-qmax, min(qmax, (src[i] / scales[c]).rounded())))
    sums[c] += Int(q)
    if type == .int4 { storeInt4(q, at: i, in: out.rawPointer) } else { out.pointer(as: Int8.self)[i] = q }
  }
  return QuantizedWeights(values: out, quant: Quantization(axis: axis, scales: scales), channelSums: sums)
}

/// `b_q[c] = round(b[c] / (s_x s_w[c])) - z_x * sum(q_w[c])`, saturated to int32.
func integerBias(_ layer: Layer, _ w: QuantizedWeights, input: ActivationParameters) -> [Int32] {
  (0..<layer.channels).map { c in
    let real = Double(layer.bias?[c] ?? 0) / (Double(input.scale) * Double(w.quant.scales[c]))
    let v = real.rounded() - Double(input.zeroPoint) * Double(w.channelSums[c])
    return Int32(max(Double(Int32.min), min(Double(Int32.max), v.isFinite ? v : 0)))
  }
}
