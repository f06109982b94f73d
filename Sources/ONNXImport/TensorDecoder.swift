// TensorDecoder.swift - ONNX TensorProto to `Tensor`: every storage form, external data, limits.

import CONNXProto
import CProtobufC
import GraphIR

/// Decodes TensorProtos. One decoder serves a whole model, so each external-data file is
/// mapped once and shared by the tensors that live in it.
final class TensorDecoder {
  /// The folder external data is resolved against; nil refuses external data.
  let baseDirectory: String?
  let maxElements: Int
  let limits: ResourceLimits
  let maxExternalFileBytes: Int
  private var files: [String: MappedFile] = [:]

  init(baseDirectory: String?, options: ImportOptions) {
    self.baseDirectory = baseDirectory
    maxElements = min(options.maxTensorElements, 1 << 32)
    limits = options.limits
    maxExternalFileBytes = options.maxExternalFileBytes
  }

  /// Decodes `proto`. Errors name the tensor (`tensor 'w': ...`) but no node; callers add it.
  func decode(_ proto: UnsafePointer<Onnx__TensorProto>) throws -> Tensor {
    let p = proto.pointee
    return try naming(cString(p.name)) {
      let l = try layout(dataType: p.has_data_type != 0 ? p.data_type : 0, dims: buffer(p.dims, p.n_dims))
      if p.has_data_location != 0 && p.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
        return try external(p, l)
      }
      if p.has_raw_data != 0 {
        return try fromRaw(UnsafeRawBufferPointer(start: p.raw_data.data, count: p.raw_data.len), l)
      }
      return try typedFields(p, l)
    }
  }

  /// Decodes a raw_data TensorProto read straight from the wire format: the same checks and
  /// messages as `decode(proto)`. `raw` is its `raw_data`.
  func decode(_ r: RawTensorRecord, raw: UnsafeRawBufferPointer) throws -> Tensor {
    try naming(r.name) { try fromRaw(raw, try layout(dataType: r.dataType, dims: r.dims)) }
  }

  /// Prefixes errors from `body` with `tensor '<name>': `.
  private func naming(_ name: String, _ body: () throws -> Tensor) throws -> Tensor {
    do {
      return try body()
    } catch var f as ImportFailure {
      f.message = "tensor '\(name)': " + f.message
      throw f
    }
  }

  /// A tensor's element type and shape, checked against the limits before anything is allocated.
  private struct Layout {
    var dtype: DType
    var shape: [Int]
    var count: Int
    var byteCount: Int
  }

  private func layout(dataType: Int32, dims: some Sequence<Int64>) throws -> Layout {
    let dtype = try tensorDType(dataType)
    var shape: [Int] = []
    for d in dims {
      guard d >= 0 else { throw ImportFailure(.malformed, "negative dim \(d)") }
      shape.append(Int(d))
    }
    guard let count = checkedElementCount(shape) else {
      throw ImportFailure(.limitExceeded, "shape \(shape) overflows")
    }
    if let message = limits.violation(.tensorBytes, checkedByteCount(shape, dtype), what: "shape \(shape) of \(dtype.shortName)") {
      throw ImportFailure(.limitExceeded, message)
    }
    guard count <= maxElements else {
      throw ImportFailure(.limitExceeded, "shape \(shape) has \(count) elements, over the limit of \(maxElements)")
    }
    // Cannot overflow: count <= 2^32, width <= 8.
    return Layout(dtype: dtype, shape: shape, count: count, byteCount: count * dtype.byteSize)
  }

  /// Copies `raw_data` after checking its length.
  private func fromRaw(_ raw: UnsafeRawBufferPointer, _ l: Layout) throws -> Tensor {
    guard raw.count == l.byteCount else {
      throw ImportFailure(.malformed, "raw_data has \(raw.count) bytes, dims \(l.shape) of \(l.dtype.shortName) need \(l.byteCount)")
    }
    let t = Tensor(zeros: l.dtype, shape: l.shape)
    if l.byteCount > 0, let src = raw.baseAddress { t.rawPointer.copyMemory(from: src, byteCount: l.byteCount) }
    return t
  }

  /// Copies the typed repeated field that ONNX prescribes for `dtype`, narrowing as needed.
  /// The count is checked before allocating, so tiny files cannot claim huge tensors.
  private func typedFields(_ p: Onnx__TensorProto, _ l: Layout) throws -> Tensor {
    let (dtype, shape, count) = (l.dtype, l.shape, l.count)
    let (field, available): (String, Int) = switch dtype {
    case .float32: ("float_data", p.n_float_data)
    case .float64: ("double_data", p.n_double_data)
    case .int64: ("int64_data", p.n_int64_data)
    case .uint64, .uint32: ("uint64_data", p.n_uint64_data)
    case .string: throw ImportFailure(.unsupported, "string tensors are not supported")
    // int32_data carries the bit patterns of all narrower types, including float16/bfloat16.
    default: ("int32_data", p.n_int32_data)
    }
    guard available == count else {
      throw ImportFailure(.malformed, "\(field) holds \(available) values, dims \(shape) need \(count)")
    }
    let t = Tensor(zeros: dtype, shape: shape)
    guard count > 0 else { return t }
    func fill<S, D>(_ src: UnsafeMutablePointer<S>?, _ convert: (S) -> D) {
      guard let src else { return }
      let dst = t.rawPointer.bindMemory(to: D.self, capacity: count)
      for i in 0..<count { dst[i] = convert(src[i]) }
    }
    switch dtype {
    case .float32: fill(p.float_data) { $0 }
    case .float64: fill(p.double_data) { $0 }
    case .int64: fill(p.int64_data) { $0 }
    case .uint64: fill(p.uint64_data) { $0 }
    case .uint32: fill(p.uint64_data) { UInt32(truncatingIfNeeded: $0) }
    case .int32: fill(p.int32_data) { $0 }
    case .int16: fill(p.int32_data) { Int16(truncatingIfNeeded: $0) }
    case .uint16, .float16, .bfloat16: fill(p.int32_data) { UInt16(truncatingIfNeeded: $0) }
    case .int8: fill(p.int32_data) { Int8(truncatingIfNeeded: $0) }
    case .uint8: fill(p.int32_data) { UInt8(truncatingIfNeeded: $0) }
    case .bool: fill(p.int32_data) { UInt8($0 != 0 ? 1 : 0) }
    case .string, .int4: break  // tensorDType rejects both
    }
    return t
  }

  /// Resolves and maps an external-data reference. The location must stay inside the model's
  /// folder: no absolute paths, no `..`, and no symlink that resolves outside.
  private func external(_ p: Onnx__TensorProto, _ l: Layout) throws -> Tensor {
    let (dtype, shape, byteCount) = (l.dtype, l.shape, l.byteCount)
    var location: String?
    var offset = 0, length: Int?
    for e in buffer(p.external_data, p.n_external_data) {
      guard let e else { continue }
      let key = cString(e.pointee.key), value = cString(e.pointee.value)
      switch key {
      case "location": location = value
      case "offset":
        guard let v = Int(value), v >= 0 else { throw ImportFailure(.externalData, "bad external-data offset '\(value)'") }
        offset = v
      case "length":
        guard let v = Int(value), v >= 0 else { throw ImportFailure(.externalData, "bad external-data length '\(value)'") }
        length = v
      default: break  // "checksum" and future keys carry nothing we need
      }
    }
    guard let location, !location.isEmpty else {
      throw ImportFailure(.externalData, "external data without a location")
    }
    guard let baseDirectory else {
      throw ImportFailure(.externalData, "external data '\(location)' needs the model's folder, and none is known")
    }
    guard !location.hasPrefix("/") && !location.hasPrefix("\\") else {
      throw ImportFailure(.externalData, "external data location '\(location)' is an absolute path")
    }
    let components = location.split(whereSeparator: { $0 == "/" || $0 == "\\" })
    guard !components.contains("..") else {
      throw ImportFailure(.externalData, "external data location '\(location)' leaves the model's folder")
    }
    guard let root = resolvedPath(baseDirectory) else {
      throw ImportFailure(.externalData, "model folder '\(baseDirectory)' does not exist")
    }
    guard let target = resolvedPath(root + "/" + location) else {
      throw ImportFailure(.externalData, "external data file '\(location)' not found in '\(baseDirectory)'")
    }
    guard target.hasPrefix(root == "/" ? "/" : root + "/") else {
      throw ImportFailure(.externalData, "external data location '\(location)' resolves outside the model's folder")
    }

    let file: MappedFile
    if let f = files[target] {
      file = f
    } else {
      do {
        file = try MappedFile(path: target, maxBytes: maxExternalFileBytes)
      } catch let f as ImportFailure {
        throw ImportFailure(f.code == .io ? .externalData : f.code, f.message)
      }
      files[target] = file
    }
    let len = length ?? max(0, file.size - offset)
    guard offset <= file.size, len <= file.size - offset else {
      throw ImportFailure(.externalData, "external data range \(offset)+\(len) exceeds '\(location)' (\(file.size) bytes)")
    }
    guard len == byteCount else {
      throw ImportFailure(.externalData, "external data length \(len) does not match dims \(shape) of \(dtype.shortName) (\(byteCount) bytes)")
    }
    guard byteCount > 0, let base = file.base else { return Tensor(zeros: dtype, shape: shape) }
    // Borrow in place when the bytes are 64-byte aligned (as kernels expect of owned storage);
    // otherwise copy into aligned storage.
    let src = base + offset
    if Int(bitPattern: src) % 64 == 0 {
      let storage = TensorStorage(borrowing: src, byteCount: byteCount, owner: file)
      return Tensor(dtype: dtype, shape: shape, storage: storage)
    }
    let t = Tensor(zeros: dtype, shape: shape)
    t.rawPointer.copyMemory(from: src, byteCount: byteCount)
    return t
  }
}

/// The IR element type for an ONNX `TensorProto.DataType` code.
func tensorDType(_ code: Int32) throws -> DType {
  guard code != 8 else { throw ImportFailure(.unsupported, "string tensors are not supported") }
  guard code >= 0 && code <= 255, let t = DType(rawValue: UInt8(code)), !t.isPacked else {
    throw ImportFailure(.unsupported, "element type \(onnxDTypeName(code)) is not supported")
  }
  return t
}

/// Names the ONNX data types graphc lacks, for messages.
private func onnxDTypeName(_ code: Int32) -> String {
  switch code {
  case 0: "UNDEFINED"
  case 14: "COMPLEX64"
  case 15: "COMPLEX128"
  case 17...20: "FLOAT8 (\(code))"
  case 21: "UINT4"
  case 22: "INT4"
  case 23: "FLOAT4E2M1"
  default: "\(code)"
  }
}

/// A C string field, or "" when unset.
func cString(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

/// A repeated protobuf-c field as a buffer (empty when unset).
func buffer<T>(_ p: UnsafeMutablePointer<T>?, _ n: Int) -> UnsafeBufferPointer<T> {
  guard let p, n > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
  return UnsafeBufferPointer(start: p, count: n)
}
