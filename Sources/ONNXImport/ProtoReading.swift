// ProtoReading.swift - Reads the unpacked protobuf-c structs into Swift values: nodes, attributes, types.

import CONNXProto
import CProtobufC
import GraphIR

/// One ONNX node, read out of its NodeProto. Empty input names are absent operands.
struct ONNXNode {
  var ref: NodeRef
  var domain: String
  var inputs: [String]
  var outputs: [String]
  var attributes: AttributeMap
}

/// Attributes that ONNX dropped before opset 7 or that carry no meaning for inference.
private let legacyAttributes: Set<String> = ["consumed_inputs", "is_test", "spatial"]

/// Reads node `index`. Graph-valued and other unsupported attributes are errors naming the node.
func readNode(_ p: UnsafePointer<Onnx__NodeProto>, index: Int, decoder: TensorDecoder) throws -> ONNXNode {
  let n = p.pointee
  let opType = cString(n.op_type)
  let given = cString(n.name)
  let ref = NodeRef(name: given.isEmpty ? "\(opType)_\(index)" : given, opType: opType, index: index)
  let inputs = buffer(n.input, n.n_input).map { cString($0) }
  let outputs = buffer(n.output, n.n_output).map { cString($0) }
  var attributes: AttributeMap = [:]
  do {
    for a in buffer(n.attribute, n.n_attribute) {
      guard let a else { continue }
      let name = cString(a.pointee.name)
      guard !name.isEmpty else { throw ImportFailure(.malformed, "an attribute has no name") }
      if name == "spatial", case .int(0)? = try readAttribute(a, decoder: decoder) {
        throw ImportFailure(.unsupported, "BatchNormalization with spatial=0 is not supported")
      }
      if legacyAttributes.contains(name) { continue }
      guard let value = try readAttribute(a, decoder: decoder) else { continue }
      attributes[name] = value
    }
  } catch let f as ImportFailure {
    throw f.at(ref)
  }
  return ONNXNode(ref: ref, domain: cString(n.domain), inputs: inputs, outputs: outputs, attributes: attributes)
}

/// One attribute as an IR `Attribute`; nil for an attribute that carries no value
/// (`ref_attr_name` references only occur inside functions, which graphc does not import).
private func readAttribute(_ p: UnsafePointer<Onnx__AttributeProto>, decoder: TensorDecoder) throws -> Attribute? {
  let a = p.pointee
  let name = cString(a.name)
  var type = a.has_type != 0 ? a.type : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED
  if type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED {
    // IR version 1 models leave `type` unset; the populated field tells the kind.
    if a.has_f != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT }
    else if a.has_i != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT }
    else if a.has_s != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING }
    else if a.t != nil { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR }
    else if a.g != nil { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH }
    else if a.n_floats > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS }
    else if a.n_ints > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS }
    else if a.n_strings > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS }
    else if a.n_graphs > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS }
    else { return nil }
  }
  switch type {
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return .int(Int(a.i))
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return .float(a.f)
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return .string(string(a.s))
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return .ints(buffer(a.ints, a.n_ints).map { Int($0) })
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return .floats(Array(buffer(a.floats, a.n_floats)))
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return .strings(buffer(a.strings, a.n_strings).map(string))
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
    guard let t = a.t else { throw ImportFailure(.malformed, "attribute '\(name)' is a tensor but holds none") }
    do {
      return .tensor(try decoder.decode(t))
    } catch var f as ImportFailure {
      f.message = "attribute '\(name)': " + f.message
      throw f
    }
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
    throw ImportFailure(.unsupported, "attribute '\(name)' holds a subgraph; control flow (If, Loop, Scan) is not supported")
  default:
    throw ImportFailure(.unsupported, "attribute '\(name)' has kind \(type.rawValue), which is not supported")
  }
}

/// Bytes of a protobuf `bytes`/`string` field as text (invalid UTF-8 is repaired).
func string(_ b: ProtobufCBinaryData) -> String {
  guard let data = b.data, b.len > 0 else { return "" }
  return String(decoding: UnsafeBufferPointer(start: data, count: b.len), as: UTF8.self)
}

/// A value's declared tensor type. `name` labels unknown dims that have no symbol of their own.
/// Returns nil when the TypeProto is absent; throws for non-tensor types and bad element types.
func readTensorType(_ p: UnsafePointer<Onnx__TypeProto>?, unknownDim: () -> String) throws -> TensorType? {
  guard let p else { return nil }
  guard p.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, let tt = p.pointee.tensor_type else {
    throw ImportFailure(.unsupported, "only tensor types are supported (not sequences, maps, optionals or sparse tensors)")
  }
  guard tt.pointee.has_elem_type != 0 else { return nil }
  let dtype = try tensorDType(tt.pointee.elem_type)
  guard let shape = tt.pointee.shape else { return TensorType(dtype, nil) }
  var dims: [Dim] = []
  for d in buffer(shape.pointee.dim, shape.pointee.n_dim) {
    guard let d else { dims.append(.symbol(unknownDim())); continue }
    switch d.pointee.value_case {
    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE where d.pointee.dim_value >= 0:
      dims.append(.fixed(Int(d.pointee.dim_value)))
    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
      let s = cString(d.pointee.dim_param)
      dims.append(.symbol(s.isEmpty ? unknownDim() : s))
    default:
      dims.append(.symbol(unknownDim()))
    }
  }
  return TensorType(dtype, dims)
}
