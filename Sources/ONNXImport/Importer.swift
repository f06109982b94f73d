// Importer.swift - ModelProto to IR graph: the public entry points and the graph walk.

import CONNXProto
import CProtobufC
import GraphIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Imports the ONNX model at `path`. External data is resolved against the model's folder.
/// Every problem in the file is an `ImportError` naming the node at fault; nothing crashes.
public func importONNX(path: String, options: ImportOptions = .init(), ops: OpRegistry = .shared) throws -> Graph {
  let source = fileName(of: path)
  let file: MappedFile
  do {
    file = try MappedFile(path: path, maxBytes: options.maxModelBytes, limit: .modelBytes)
  } catch let f as ImportFailure {
    throw f.error(source: source)
  }
  return try importONNX(bytes: file.bytes, baseDirectory: directoryName(of: path), sourceName: source,
                        options: options, ops: ops, dropPages: file.dropResidentPages(in:))
}

/// Imports a model held in memory. `baseDirectory` is where external data lives (nil refuses
/// external data); `sourceName` prefixes error messages.
public func importONNX(
  bytes: [UInt8], baseDirectory: String?, sourceName: String, options: ImportOptions = .init(),
  ops: OpRegistry = .shared
) throws -> Graph {
  try bytes.withUnsafeBytes {
    try importONNX(bytes: $0, baseDirectory: baseDirectory, sourceName: sourceName, options: options, ops: ops)
  }
}

/// Imports a model held in memory (see the `[UInt8]` overload). The bytes are not retained.
public func importONNX(
  bytes: UnsafeRawBufferPointer, baseDirectory: String?, sourceName: String, options: ImportOptions = .init(),
  ops: OpRegistry = .shared
) throws -> Graph {
  try importONNX(bytes: bytes, baseDirectory: baseDirectory, sourceName: sourceName, options: options, ops: ops,
                 dropPages: { _ in })
}

/// The import itself. The top-level graph's initializers are cut out of the wire format
/// (`splitInitializers`); protobuf-c unpacks the rest of the model (small) and each initializer
/// is decoded from its own bytes, so the weights are never held twice over: a raw_data record
/// is copied from the bytes into its tensor and `dropPages` is then told its range (a mapped
/// file's pages leave memory). `dropPages` also gets the whole range once nothing reads the bytes.
func importONNX(
  bytes: UnsafeRawBufferPointer, baseDirectory: String?, sourceName: String, options: ImportOptions,
  ops: OpRegistry, dropPages: @escaping (Range<Int>) -> Void
) throws -> Graph {
  do {
    guard bytes.count <= options.maxModelBytes else {
      throw ImportFailure(.limitExceeded, ResourceLimits.exceeded(.modelBytes, bytes.count, limit: options.maxModelBytes, what: "the model"))
    }
    // Nodes, their attributes, tensors and value infos: a generous 16 messages per node.
    let maxMessages = options.maxNodes > Int.max / 16 ? Int.max : options.maxNodes * 16
    try withUnsafePointer(to: onnx__model_proto__descriptor) {
      try checkNesting(bytes, root: $0, what: "model", maxDepth: maxNesting, maxMessages: maxMessages)
    }
    let digest = sha256Hex(bytes)
    defer { dropPages(0..<bytes.count) }
    // The copy without the initializers lives only until protobuf-c has unpacked it.
    let (model, ranges) = try { () throws -> (UnsafeMutablePointer<Onnx__ModelProto>, [Range<Int>]) in
      guard let split = try splitInitializers(bytes) else {
        return (try unpack(bytes, what: "model") { onnx__model_proto__unpack(nil, $0, $1) }, [])
      }
      let model = try split.rest.withUnsafeBytes { rest in
        try unpack(rest, what: "model", reportedSize: bytes.count) { onnx__model_proto__unpack(nil, $0, $1) }
      }
      return (model, split.ranges)
    }()
    defer { onnx__model_proto__free_unpacked(model, nil) }
    let initializers = InitializerRecords(bytes: bytes, ranges: ranges, decoded: dropPages)
    try initializers.validate()
    if ranges.isEmpty { dropPages(0..<bytes.count) }  // unpacked whole: nothing reads the bytes again
    let importer = Importer(options: options, ops: ops,
                            decoder: TensorDecoder(baseDirectory: baseDirectory, options: options))
    let graph = try importer.run(model, initializers: initializers, sourceName: sourceName)
    graph.metadata["source.sha256"] = digest
    return graph
  } catch let f as ImportFailure {
    throw f.error(source: sourceName)
  }
}

/// Reads one serialized TensorProto (the `.pb` files of the ONNX node tests, `--input x=a.pb`).
public func readTensorProto(path: String, options: ImportOptions = .init()) throws -> (name: String, tensor: Tensor) {
  let source = fileName(of: path)
  do {
    let file = try MappedFile(path: path, maxBytes: options.maxModelBytes)
    try withUnsafePointer(to: onnx__tensor_proto__descriptor) {
      try checkNesting(file.bytes, root: $0, what: "tensor", maxDepth: maxNesting, maxMessages: 1 << 20)
    }
    let proto = try unpack(file.bytes, what: "tensor") { onnx__tensor_proto__unpack(nil, $0, $1) }
    defer { onnx__tensor_proto__free_unpacked(proto, nil) }
    let decoder = TensorDecoder(baseDirectory: directoryName(of: path), options: options)
    return (cString(proto.pointee.name), try decoder.decode(proto))
  } catch let f as ImportFailure {
    throw f.error(source: source)
  }
}

/// Deepest message nesting accepted (a model is 4-6 deep without subgraphs, which add 3 each).
private let maxNesting = 100

/// Runs a protobuf-c unpack function; a nil result means the bytes are not a valid message.
/// `reportedSize` is the size the error names (the whole model's when `bytes` is a part of it).
func unpack<T>(
  _ bytes: UnsafeRawBufferPointer, what: String, reportedSize: Int? = nil,
  _ body: (Int, UnsafePointer<UInt8>) -> UnsafeMutablePointer<T>?
) throws -> UnsafeMutablePointer<T> {
  var empty: UInt8 = 0
  let result: UnsafeMutablePointer<T>? = withUnsafePointer(to: &empty) { fallback in
    body(bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback)
  }
  guard let result else {
    throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (truncated or corrupt, \(reportedSize ?? bytes.count) bytes)")
  }
  return result
}

extension ImportFailure {
  func error(source: String) -> ImportError {
    ImportError(code, message, source: source, node: node, opType: opType, nodeIndex: nodeIndex)
  }
}

/// The supported default-domain opsets.
let supportedOpsets = 7...24

/// The state of one import: the graph being built and what is known about each ONNX name.
final class Importer {
  let options: ImportOptions
  let ops: OpRegistry
  let decoder: TensorDecoder
  var graph = Graph(name: "")
  /// The default-domain opset the model imports.
  var opset = 0
  /// The IR value bound to each ONNX value name.
  var values: [String: Value] = [:]
  /// Types that `value_info` and the graph outputs declare for intermediate values.
  var declared: [String: TensorType] = [:]
  /// The best known type of each value (declared, or inferred as the graph is built), used by
  /// normalization rules that depend on rank or element type.
  var known: [ObjectIdentifier: TensorType] = [:]
  private var unknownDims = 0

  init(options: ImportOptions, ops: OpRegistry, decoder: TensorDecoder) {
    self.options = options
    self.ops = ops
    self.decoder = decoder
  }

  /// Builds the graph from `modelPtr` and the top-level graph's `initializers` (which protobuf-c
  /// did not see; `modelPtr`'s graph has none).
  func run(_ modelPtr: UnsafeMutablePointer<Onnx__ModelProto>, initializers: InitializerRecords,
           sourceName: String) throws -> Graph {
    let model = modelPtr.pointee
    opset = try defaultOpset(model)
    guard let gp = model.graph?.pointee else { throw ImportFailure(.invalidModel, "the model has no graph") }
    let graphName = cString(gp.name)
    graph = Graph(name: graphName.isEmpty ? sourceName : graphName)
    guard gp.n_node <= options.maxNodes else {
      throw ImportFailure(.limitExceeded, ResourceLimits.exceeded(.nodes, Int(gp.n_node), limit: options.maxNodes, what: "the graph"))
    }
    guard gp.n_sparse_initializer == 0 else { throw ImportFailure(.unsupported, "sparse initializers are not supported") }

    func addInitializer(_ name: String, _ tensor: () throws -> Tensor) throws {
      guard !name.isEmpty else { throw ImportFailure(.invalidModel, "an initializer has no name") }
      guard values[name] == nil else { throw ImportFailure(.invalidModel, "initializer '\(name)' is defined twice") }
      bind(name, graph.addConstant(try tensor(), name: name))
    }
    // protobuf-c holds initializers only when the model was unpacked whole (never split).
    for t in buffer(gp.initializer, gp.n_initializer) {
      guard let t else { continue }
      try addInitializer(cString(t.pointee.name)) { try decoder.decode(t) }
    }
    try initializers.forEach(decoder: decoder, addInitializer)
    try addInputs(buffer(gp.input, gp.n_input))
    for vi in Array(buffer(gp.value_info, gp.n_value_info)) + Array(buffer(gp.output, gp.n_output)) {
      guard let vi else { continue }
      // A declared type graphc cannot represent only loses a check, so it is skipped.
      if let t = try? readTensorType(vi.pointee.type, unknownDim: freshDim) { declared[cString(vi.pointee.name)] = t }
    }

    let nodes = try buffer(gp.node, gp.n_node).enumerated().map { i, p in
      guard let p else { throw ImportFailure(.malformed, "node \(i) is empty") }
      return try readNode(p, index: i, decoder: decoder)
    }
    for i in try scheduleOrder(nodes) { try add(nodes[i]) }

    var outputs: [(name: String, value: Value)] = []
    for vi in buffer(gp.output, gp.n_output) {
      guard let vi else { continue }
      let name = cString(vi.pointee.name)
      guard let v = values[name] else { throw ImportFailure(.invalidModel, "graph output '\(name)' is not defined") }
      outputs.append((name, v))
    }
    graph.setOutputs(outputs)

    do {
      try graph.sortTopologically()
      try graph.inferTypes(registry: ops)
    } catch let e as GraphError {
      let display = e.node.flatMap { n in nodes.first { $0.ref.name == n }?.ref.opType } ?? e.op.map(onnxName)
      throw ImportFailure(.typeConflict, e.message, node: e.node, opType: display)
    }
    try checkDeclaredSizes()

    graph.metadata["source.opset"] = String(opset)
    graph.metadata["source.ir_version"] = String(model.ir_version)
    let producer = [cString(model.producer_name), cString(model.producer_version)].filter { !$0.isEmpty }
    if !producer.isEmpty { graph.metadata["source.producer"] = producer.joined(separator: " ") }
    graph.metadata["source.name"] = sourceName
    return graph
  }

  /// Refuses a graph input or node result whose static shape alone exceeds the tensor-bytes
  /// limit, before anything tries to allocate it (a declared 2^40-element input fails here).
  private func checkDeclaredSizes() throws {
    let limits = options.limits
    func check(_ v: Value, node: Node?) throws {
      guard let shape = v.type.staticShape else { return }
      let what = "value '\(v.name)' of shape \(shape) (\(v.type.dtype.shortName))"
      if let message = limits.violation(.tensorBytes, checkedByteCount(shape, v.type.dtype), what: what) {
        throw ImportFailure(.limitExceeded, message, node: node?.name, opType: node.map { onnxName($0.op) })
      }
    }
    for v in graph.inputs { try check(v, node: nil) }
    for n in graph.nodes { for r in n.results { try check(r, node: n) } }
  }

  /// The default domain's opset version, checked against the supported range.
  private func defaultOpset(_ model: Onnx__ModelProto) throws -> Int {
    var version: Int?
    var others: [String] = []
    for o in buffer(model.opset_import, model.n_opset_import) {
      guard let o else { continue }
      let domain = cString(o.pointee.domain)
      if domain == "" || domain == "ai.onnx" { version = Int(o.pointee.version) } else { others.append("\(domain) \(o.pointee.version)") }
    }
    guard let version else {
      let imports = others.isEmpty ? "" : " (it imports only \(others.joined(separator: ", ")))"
      throw ImportFailure(.unsupported, "the model imports no default-domain (ai.onnx) opset" + imports)
    }
    guard version >= supportedOpsets.lowerBound else {
      throw ImportFailure(.unsupported, "opset \(version) is not supported (graphc reads opsets \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound))")
    }
    guard version <= supportedOpsets.upperBound || options.acceptNewerOpsets else {
      throw ImportFailure(.unsupported, "opset \(version) is newer than the supported \(supportedOpsets.upperBound)")
    }
    return version
  }

  /// Graph inputs that are not initializers (old models list initializers as inputs too).
  private func addInputs(_ inputs: UnsafeBufferPointer<UnsafeMutablePointer<Onnx__ValueInfoProto>?>) throws {
    for vi in inputs {
      guard let vi else { continue }
      let name = cString(vi.pointee.name)
      if values[name] != nil { continue }
      guard !name.isEmpty else { throw ImportFailure(.invalidModel, "a graph input has no name") }
      var type: TensorType
      do {
        guard let t = try readTensorType(vi.pointee.type, unknownDim: freshDim) else {
          throw ImportFailure(.invalidModel, "has no element type")
        }
        type = t
      } catch var f as ImportFailure {
        f.message = "graph input '\(name)': " + f.message
        throw f
      }
      if let fixed = options.shapes[name] { type = try override(type, with: fixed, input: name) }
      bind(name, graph.addInput(name: name, type: type))
    }
    for name in options.shapes.keys.sorted() where graph.inputs.allSatisfy({ $0.name != name }) {
      throw ImportFailure(.badOption, "--shape names '\(name)', which is not a graph input (inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))")
    }
  }

  /// Applies a `--shape` override: the rank must match and fixed dims must agree.
  private func override(_ type: TensorType, with shape: [Int], input: String) throws -> TensorType {
    let text = shape.map(String.init).joined(separator: "x")
    if let dims = type.dims {
      guard dims.count == shape.count else {
        throw ImportFailure(.badOption, "--shape \(input)=\(text) has rank \(shape.count), but the input has rank \(dims.count) (\(type))")
      }
      for (d, s) in zip(dims, shape) {
        if let v = d.value, v != s {
          throw ImportFailure(.badOption, "--shape \(input)=\(text) contradicts the input's fixed type \(type)")
        }
      }
    }
    return TensorType(type.dtype, shape: shape)
  }

  /// A unique symbol for a dim the model leaves anonymous.
  private func freshDim() -> String {
    defer { unknownDims += 1 }
    return "unk\(unknownDims)"
  }

  func bind(_ name: String, _ value: Value) {
    values[name] = value
    known[ObjectIdentifier(value)] = value.type
  }

  /// Node indices in an order where every node follows the producers of its inputs: the
  /// model's own order where it is valid (ONNX requires it, but some exporters slip).
  /// Undefined inputs, values defined twice and cycles are errors naming the node.
  private func scheduleOrder(_ nodes: [ONNXNode]) throws -> [Int] {
    var producer: [String: Int] = [:]
    for (i, n) in nodes.enumerated() {
      for o in n.outputs where !o.isEmpty {
        guard values[o] == nil, producer[o] == nil else {
          throw ImportFailure(.invalidModel, "value '\(o)' is defined twice").at(n.ref)
        }
        producer[o] = i
      }
    }
    var deps: [[Int]] = []
    deps.reserveCapacity(nodes.count)
    for n in nodes {
      var d: [Int] = []
      for name in n.inputs where !name.isEmpty {
        if let p = producer[name] { d.append(p); continue }
        guard values[name] != nil else {
          throw ImportFailure(.invalidModel, "input '\(name)' is not defined by any node, graph input or initializer").at(n.ref)
        }
      }
      deps.append(d)
    }
    // Iterative depth-first post-order: deep chains cannot overflow the stack.
    var state = [UInt8](repeating: 0, count: nodes.count)  // 0 new, 1 on the path, 2 placed
    var order: [Int] = []
    order.reserveCapacity(nodes.count)
    for root in nodes.indices where state[root] == 0 {
      var stack: [(node: Int, next: Int)] = [(root, 0)]
      state[root] = 1
      while let top = stack.last {
        if top.next < deps[top.node].count {
          stack[stack.count - 1].next += 1
          let d = deps[top.node][top.next]
          switch state[d] {
          case 0: state[d] = 1; stack.append((d, 0))
          case 1: throw ImportFailure(.invalidModel, "the graph has a cycle through this node").at(nodes[d].ref)
          default: break
          }
        } else {
          state[top.node] = 2
          order.append(top.node)
          stack.removeLast()
        }
      }
    }
    return order
  }

  /// Adds one ONNX node in canonical form and binds its output names.
  private func add(_ n: ONNXNode) throws {
    do {
      guard n.domain == "" || n.domain == "ai.onnx" else {
        throw ImportFailure(.unsupported, "unsupported op: domain '\(n.domain)' is not supported")
      }
      if n.ref.opType == "Constant" {
        guard n.outputs.count == 1, !n.outputs[0].isEmpty else { throw ImportFailure(.invalidModel, "Constant must have one named output") }
        bind(n.outputs[0], graph.addConstant(try constantValue(n.attributes), name: n.outputs[0]))
        return
      }
      let operands = n.inputs.map { $0.isEmpty ? nil : values[$0] }
      let results = try lower(n, operands)
      for (name, v) in zip(n.outputs, results) where !name.isEmpty {
        guard let v else { continue }
        values[name] = v
      }
    } catch let f as ImportFailure {
      throw f.at(n.ref)
    } catch let e as GraphError {
      throw ImportFailure(.invalidModel, e.message).at(n.ref)
    }
  }

  /// The tensor of a Constant node, from whichever `value*` attribute it sets.
  private func constantValue(_ attrs: AttributeMap) throws -> Tensor {
    guard attrs.count == 1, let (key, value) = attrs.first else {
      throw ImportFailure(.invalidModel, "Constant must set exactly one value attribute, not \(attrs.keys.sorted())")
    }
    switch (key, value) {
    case ("value", .tensor(let t)): return t
    case ("value_float", .float(let f)): return .scalar(f)
    case ("value_floats", .floats(let f)): return .float32([f.count], f)
    case ("value_int", .int(let i)): return .int64([], [Int64(i)])
    case ("value_ints", .ints(let i)): return .int64([i.count], i.map { Int64($0) })
    case ("value_string", _), ("value_strings", _):
      throw ImportFailure(.unsupported, "string constants are not supported")
    default:
      throw ImportFailure(.unsupported, "Constant attribute '\(key)' is not supported")
    }
  }

  // MARK: Emitting canonical nodes (used by the normalization rules)

  /// Adds `onnx.<op>` and gives each result its declared type, or the type the schema infers
  /// from what is known so far (the final `inferTypes` checks both).
  @discardableResult
  func emit(_ op: String, name: String, _ operands: [Value?], _ attrs: AttributeMap = [:],
            results: [String]) throws -> [Value] {
    let irOp = "onnx." + op
    guard ops.schema(irOp) != nil else { throw ImportFailure(.unsupported, "unsupported op '\(irOp)'") }
    let node = graph.addNode(irOp, name: name, operands: operands, attributes: attrs,
                             resultTypes: results.map { declared[$0] ?? TensorType(.float32, nil) },
                             resultNames: results)
    let inferred = try? graph.inferResultTypes(of: node, registry: ops)
    for (i, r) in node.results.enumerated() {
      let guess = inferred?[i]
      if declared[results[i]] == nil, let guess { r.type = guess }
      let best = guess?.dims != nil ? guess : (declared[results[i]] ?? guess)
      if let best { known[ObjectIdentifier(r)] = best }
    }
    return node.results
  }

  /// The best known type of `v`, or nil when neither declared nor inferable yet.
  func type(of v: Value?) -> TensorType? { v.flatMap { known[ObjectIdentifier($0)] } }

  /// A new int64 1-D constant (normalization turns integer-list attributes into these).
  func int64s(_ values: [Int]) -> Value {
    graph.addConstant(.int64([values.count], values.map { Int64($0) }))
  }

  /// A new scalar constant of a float element type.
  func floatScalar(_ v: Float, _ dtype: DType) -> Value {
    switch dtype {
    case .float64: return graph.addConstant(Tensor(.float64, shape: [], values: [Double(v)]))
    case .float16: return graph.addConstant(Tensor(.float16, shape: [], values: [floatToHalf(v)]))
    case .bfloat16: return graph.addConstant(Tensor(.bfloat16, shape: [], values: [floatToBfloat16(v)]))
    default: return graph.addConstant(.scalar(v))
    }
  }
}

/// `onnx.Conv` -> `Conv` for messages that quote the model's op type.
func onnxName(_ irOp: String) -> String { irOp.hasPrefix("onnx.") ? String(irOp.dropFirst(5)) : irOp }
