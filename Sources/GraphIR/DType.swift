// DType.swift - Element types of tensors in the IR, the .gcb and the interpreter.

/// An element type. Raw values are ONNX `TensorProto.DataType` codes, so the importer, the
/// packed format and the interpreter share one numbering.
public enum DType: UInt8, CaseIterable, Sendable, Hashable {
  case float32 = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7
  case string = 8, bool = 9, float16 = 10, float64 = 11, uint32 = 12, uint64 = 13
  case bfloat16 = 16
  /// Signed 4-bit integers packed two per byte (low nibble first, ONNX's INT4 layout). Only
  /// quantized constant weights use it; see `byteCount(elements:)`.
  case int4 = 22

  /// Bytes per element (strings are not storable in tensors and report 0). int4 reports 1, the
  /// width of its storage unit; sizes of int4 tensors come from `byteCount(elements:)`.
  public var byteSize: Int {
    switch self {
    case .bool, .uint8, .int8, .int4: 1
    case .uint16, .int16, .float16, .bfloat16: 2
    case .int32, .uint32, .float32: 4
    case .int64, .uint64, .float64: 8
    case .string: 0
    }
  }

  /// Bytes that `n` elements occupy: `n * byteSize`, or `ceil(n / 2)` for packed int4.
  public func byteCount(elements n: Int) -> Int { self == .int4 ? (n + 1) / 2 : n * byteSize }

  /// Element types packed below one byte per element. Generic data-movement kernels cannot
  /// handle them, so only ops that declare support see them (see `Quantization.swift`).
  public var isPacked: Bool { self == .int4 }

  /// The short name used by the textual IR (`f32`, `i64`, ...).
  public var shortName: String {
    switch self {
    case .float32: "f32"
    case .float16: "f16"
    case .bfloat16: "bf16"
    case .float64: "f64"
    case .int8: "i8"
    case .int4: "i4"
    case .int16: "i16"
    case .int32: "i32"
    case .int64: "i64"
    case .uint8: "u8"
    case .uint16: "u16"
    case .uint32: "u32"
    case .uint64: "u64"
    case .bool: "bool"
    case .string: "str"
    }
  }

  public init?(shortName: String) {
    guard let t = DType.allCases.first(where: { $0.shortName == shortName }) else { return nil }
    self = t
  }

  public var isFloat: Bool { self == .float32 || self == .float64 || self == .float16 || self == .bfloat16 }
  public var isInteger: Bool {
    switch self {
    case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64: true
    default: false
    }
  }
  public var isSigned: Bool { isFloat || self == .int8 || self == .int16 || self == .int32 || self == .int64 }
}
