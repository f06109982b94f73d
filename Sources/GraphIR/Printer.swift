// Printer.swift - The textual IR printer: a deterministic, diff-friendly line per value.
//
// The grammar is documented in Docs/TextualIR.md; Parser.swift reads the same text back.

/// How `printGraph` renders a graph.
public struct PrintOptions: Sendable {
  /// Print large non-splat constants in full as little-endian hex instead of eliding them.
  /// Only full output parses back into the same graph.
  public var fullConstants: Bool
  /// Constants (and tensor attributes) with at most this many elements print as a list.
  public var smallConstantLimit: Int
  /// Print each node's source name as `@"name"` at the end of its line.
  public var nodeNames: Bool
  /// Print the graph's metadata as `meta "key" = "value"` lines.
  public var metadata: Bool

  public init(fullConstants: Bool = false, smallConstantLimit: Int = 16, nodeNames: Bool = true, metadata: Bool = true) {
    self.fullConstants = fullConstants
    self.smallConstantLimit = smallConstantLimit
    self.nodeNames = nodeNames
    self.metadata = metadata
  }
}

/// Prints `graph` in the textual IR. The output depends only on the graph's contents and
/// schedule: value numbers follow the schedule, attributes and metadata are sorted by name.
public func printGraph(_ graph: Graph, options: PrintOptions = .init()) -> String {
  var printer = GraphPrinter(graph: graph, options: options)
  return printer.print()
}

extension Graph {
  /// The textual IR with default options (large constants elided).
  public var text: String { printGraph(self) }
}

/// Formats a tensor as `f32[2] dense<[1.0, 2.0]>`, the form used by constants and tensor
/// attributes; `quant` adds the `q<…>` parameters of a quantized constant.
public func formatTensorLiteral(_ t: Tensor, quant: Quantization? = nil, options: PrintOptions = .init()) -> String {
  "\(formatType(TensorType(t.dtype, shape: t.shape, quant: quant), options: options)) \(formatDense(t, options: options))"
}

/// `f32[1,3]`, or with quantization `i8[4,3] q<axis=1, scales=[0.5, 0.25, 1.0], zp=0>` and
/// `u8[1,8] q<scale=0.02, zp=128>`. Zero points print as one `zp=` when they are all equal.
/// Parameter lists longer than `smallConstantLimit` print as `elided N fnv=0x…` unless
/// `fullConstants` is set; only full output parses back into the same parameters.
public func formatType(_ t: TensorType, options: PrintOptions) -> String {
  var text: String
  if let dims = t.dims {
    let ds = dims.map { d in
      switch d {
      case .fixed(let v): String(v)
      case .symbol(let s): textualDimSymbol(s)
      }
    }
    text = "\(t.dtype.shortName)[\(ds.joined(separator: ","))]"
  } else {
    text = "\(t.dtype.shortName)[*]"
  }
  guard let q = t.quant else { return text }
  func list<T>(_ values: [T], _ format: (T) -> String) -> String {
    if values.count > options.smallConstantLimit && !options.fullConstants {
      var h: UInt64 = 0xcbf2_9ce4_8422_2325
      for v in values { withUnsafeBytes(of: v) { $0.forEach { h = (h ^ UInt64($0)) &* 0x100_0000_01b3 } } }
      return "elided \(values.count) fnv=0x\(hex64(h))"
    }
    return "[" + values.map(format).joined(separator: ", ") + "]"
  }
  var parts: [String] = []
  if let axis = q.axis {
    parts.append("axis=\(axis)")
    parts.append("scales=" + list(q.scales, formatFloat))
  } else {
    parts.append("scale=" + formatFloat(q.scales[0]))
  }
  if let z = q.zeroPoints.first, q.zeroPoints.allSatisfy({ $0 == z }) {
    parts.append("zp=\(z)")
  } else {
    parts.append("zps=" + list(q.zeroPoints) { String($0) })
  }
  text += " q<" + parts.joined(separator: ", ") + ">"
  return text
}

private struct GraphPrinter {
  let graph: Graph
  let options: PrintOptions
  var names: [ObjectIdentifier: String] = [:]
  var out = ""

  init(graph: Graph, options: PrintOptions) {
    self.graph = graph
    self.options = options
    assignNames()
  }

  /// Inputs and constants keep their own names (made unique with a `.N` suffix); unnamed ones
  /// become `%argN` / `%cN`; node results are numbered in schedule order.
  private mutating func assignNames() {
    let defined = graph.inputs + graph.constants
    let taken = Set(defined.map(\.name))
    var used = Set<String>()
    var anonymous = (inputs: 0, constants: 0)
    for v in defined {
      if v.name.isEmpty {
        if v.isGraphInput {
          names[ObjectIdentifier(v)] = "%arg\(anonymous.inputs)"
          anonymous.inputs += 1
        } else {
          names[ObjectIdentifier(v)] = "%c\(anonymous.constants)"
          anonymous.constants += 1
        }
        continue
      }
      // A suffixed name must not take another value's own name either.
      var candidate = v.name
      var k = 0
      while used.contains(candidate) || (k > 0 && taken.contains(candidate)) {
        k += 1
        candidate = "\(v.name).\(k)"
      }
      used.insert(candidate)
      names[ObjectIdentifier(v)] = "%" + textualValueName(candidate)
    }
    var number = 0
    for node in graph.nodes {
      for r in node.results {
        names[ObjectIdentifier(r)] = "%\(number)"
        number += 1
      }
    }
  }

  private func name(_ v: Value?) -> String {
    guard let v else { return "_" }
    // A value defined nowhere in the graph (a verifier error) still prints, visibly.
    return names[ObjectIdentifier(v)] ?? "%<undefined \(textualQuoted(v.name))>"
  }

  mutating func print() -> String {
    let inputs = graph.inputs.map { "\(name($0)): \(formatType($0.type, options: options))" }.joined(separator: ", ")
    out += "graph @\(textualSymbol(graph.name))(\(inputs)) {\n"
    if options.metadata {
      for (k, v) in graph.metadata.sorted(by: { $0.key < $1.key }) {
        out += "  meta \(textualQuoted(k)) = \(textualQuoted(v))\n"
      }
    }
    for c in graph.constants {
      // The tensor's own type: it is what the payload must match when parsed back.
      let literal = c.constant.map { formatTensorLiteral($0, quant: c.type.quant, options: options) } ?? "\(c.type) dense<[]>"
      out += "  \(name(c)) = const \(literal)\n"
    }
    for node in graph.nodes { printNode(node) }
    var ret = "  return"
    if !graph.outputs.isEmpty {
      ret += " " + graph.outputs.map { "\(name($0.value)) as \(textualQuoted($0.name))" }.joined(separator: ", ")
    }
    out += ret + "\n}\n"
    return out
  }

  private mutating func printNode(_ node: Node) {
    var line = "  "
    if !node.results.isEmpty {
      line += node.results.map { name($0) }.joined(separator: ", ") + " = "
    }
    line += textualOpName(node.op)
    line += "(" + node.operands.map { name($0) }.joined(separator: ", ") + ")"
    if !node.attributes.isEmpty {
      let attrs = node.attributes.sorted { $0.key < $1.key }.map { key, value in
        "\(textualAttributeName(key)) = \(formatAttribute(value, options: options))"
      }
      line += " {" + attrs.joined(separator: ", ") + "}"
    }
    if !node.results.isEmpty {
      line += " : " + node.results.map { formatType($0.type, options: options) }.joined(separator: ", ")
    }
    if options.nodeNames && !node.name.isEmpty {
      line += " @" + textualQuoted(node.name)
    }
    out += line + "\n"
  }
}

/// Attribute values: `3`, `0.5`, `"s"`, `[1, 2]`, `[0.5, 1.0]`, `["a"]`, typed empty lists
/// `ints[]` / `floats[]` / `strings[]`, and tensors as `f32[2] dense<…>`.
func formatAttribute(_ a: Attribute, options: PrintOptions) -> String {
  switch a {
  case .int(let v): return String(v)
  case .float(let v): return formatFloat(v)
  case .string(let s): return textualQuoted(s)
  case .ints(let v): return v.isEmpty ? "ints[]" : "[" + v.map { String($0) }.joined(separator: ", ") + "]"
  case .floats(let v): return v.isEmpty ? "floats[]" : "[" + v.map(formatFloat).joined(separator: ", ") + "]"
  case .strings(let v): return v.isEmpty ? "strings[]" : "[" + v.map(textualQuoted).joined(separator: ", ") + "]"
  case .tensor(let t): return formatTensorLiteral(t, options: options)
  }
}

/// Swift's shortest round-trip spelling, always with a `.` or exponent (`1.0`, `1e-05`), and
/// `nan` (sign dropped), `inf`, `-inf`.
func formatFloat(_ v: Float) -> String { v.isNaN ? "nan" : v.description }
func formatDouble(_ v: Double) -> String { v.isNaN ? "nan" : v.description }

/// The `dense<…>` payload of a tensor: scalar, short list, splat, hex or elided.
func formatDense(_ t: Tensor, options: PrintOptions) -> String {
  let n = t.count
  guard t.dtype.byteSize > 0 else { return "dense<0x>" }  // string tensors hold no bytes
  if t.rank == 0 && n == 1 { return "dense<\(formatElement(t, 0))>" }
  if n <= options.smallConstantLimit {
    return "dense<[" + (0..<n).map { formatElement(t, $0) }.joined(separator: ", ") + "]>"
  }
  if t.isSplat { return "dense<splat \(formatElement(t, 0))>" }
  if options.fullConstants {
    // One buffer for the whole payload: weights can be megabytes.
    var hex = [UInt8]()
    hex.reserveCapacity(t.byteCount * 2)
    for b in t.bytes {
      hex.append(hexDigitBytes[Int(b >> 4)])
      hex.append(hexDigitBytes[Int(b & 15)])
    }
    return "dense<0x" + String(decoding: hex, as: UTF8.self) + ">"
  }
  return "dense<elided \(t.byteCount) bytes fnv=0x\(hex64(t.digest))>"
}

private let hexDigitBytes = Array("0123456789abcdef".utf8)
private func hexByte(_ b: UInt8) -> String {
  String(decoding: [hexDigitBytes[Int(b >> 4)], hexDigitBytes[Int(b & 15)]], as: UTF8.self)
}
func hex64(_ v: UInt64) -> String {
  (0..<8).reversed().map { hexByte(UInt8(truncatingIfNeeded: v >> (8 * UInt64($0)))) }.joined()
}

/// One element in its exact textual form.
func formatElement(_ t: Tensor, _ i: Int) -> String {
  let p = t.rawPointer
  switch t.dtype {
  case .float32: return formatFloat(p.load(fromByteOffset: i * 4, as: Float.self))
  case .float64: return formatDouble(p.load(fromByteOffset: i * 8, as: Double.self))
  case .float16:
    let h = Float16(bitPattern: p.load(fromByteOffset: i * 2, as: UInt16.self))
    return h.isNaN ? "nan" : h.description
  case .bfloat16: return formatBfloat16(p.load(fromByteOffset: i * 2, as: UInt16.self))
  case .bool: return p.load(fromByteOffset: i, as: UInt8.self) != 0 ? "true" : "false"
  case .int8: return String(p.load(fromByteOffset: i, as: Int8.self))
  case .int4: return String(unpackInt4(p.load(fromByteOffset: i >> 1, as: UInt8.self), high: i & 1 == 1))
  case .uint8: return String(p.load(fromByteOffset: i, as: UInt8.self))
  case .int16: return String(p.load(fromByteOffset: i * 2, as: Int16.self))
  case .uint16: return String(p.load(fromByteOffset: i * 2, as: UInt16.self))
  case .int32: return String(p.load(fromByteOffset: i * 4, as: Int32.self))
  case .uint32: return String(p.load(fromByteOffset: i * 4, as: UInt32.self))
  case .int64: return String(p.load(fromByteOffset: i * 8, as: Int64.self))
  case .uint64: return String(p.load(fromByteOffset: i * 8, as: UInt64.self))
  case .string: return "0"
  }
}

/// The shortest decimal that rounds back to the same bfloat16 (bfloat16 has ~3 significant
/// digits, so the float32 spelling of its exact value would be needlessly long).
private func formatBfloat16(_ bits: UInt16) -> String {
  let f = bfloat16ToFloat(bits)
  guard f.isFinite else { return formatFloat(f) }
  for digits in 1...9 {
    let s = shortDecimal(f, significantDigits: digits)
    if let g = Float(s), floatToBfloat16(g) == bits { return s }
  }
  return f.description
}

/// `f` rounded to `n` significant digits, spelled like Swift's description (with `.0`).
private func shortDecimal(_ f: Float, significantDigits n: Int) -> String {
  let d = Double(f)
  guard d != 0 else { return f.description }
  let exponent = Int((abs(d)).log10Floor)
  let scale = pow10(n - 1 - exponent)
  let rounded = (d * scale).rounded() / scale
  return Float(rounded).description
}

private extension Double {
  var log10Floor: Double {
    var e = 0.0, x = self
    while x >= 10 { x /= 10; e += 1 }
    while x < 1 { x *= 10; e -= 1 }
    return e
  }
}
private func pow10(_ k: Int) -> Double {
  var r = 1.0
  if k >= 0 { for _ in 0..<k { r *= 10 } } else { for _ in 0..<(-k) { r /= 10 } }
  return r
}

// MARK: Lexical rules shared with the parser

@inline(__always) func isIdentStart(_ c: UInt8) -> Bool {
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f  // A-Z a-z _
}
@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
/// Characters allowed after the first in identifiers and op names: letters, digits, `_`, `.`.
@inline(__always) func isIdentBody(_ c: UInt8) -> Bool { isIdentStart(c) || isDigit(c) || c == 0x2e }
/// Characters of a bare value name after `%`: identifier characters plus `$` and `-`.
@inline(__always) func isValueNameBody(_ c: UInt8) -> Bool { isIdentBody(c) || c == 0x24 || c == 0x2d }

func isBareIdentifier(_ s: String) -> Bool {
  let u = Array(s.utf8)
  guard let f = u.first, isIdentStart(f) else { return false }
  return u.dropFirst().allSatisfy(isIdentBody)
}

/// Names the printer invents for unnamed values: `%12`, `%c3`, `%arg0`. A real name of this
/// shape is printed quoted so it cannot be confused with them.
func isAnonymousValueName(_ s: String) -> Bool {
  let u = Array(s.utf8)
  func digits(_ from: Int) -> Bool { u.count > from && u[from...].allSatisfy(isDigit) }
  if digits(0) { return true }
  if u.first == UInt8(ascii: "c") && digits(1) { return true }
  if s.hasPrefix("arg") && digits(3) { return true }
  return false
}

/// A value name as written after `%`: bare when unambiguous, quoted otherwise.
func textualValueName(_ s: String) -> String {
  let u = Array(s.utf8)
  if let f = u.first, isIdentStart(f), u.dropFirst().allSatisfy(isValueNameBody), !isAnonymousValueName(s) {
    return s
  }
  return textualQuoted(s)
}

/// Words that start a body line; an op with one of these names is printed quoted.
let textualKeywords: Set<String> = ["graph", "meta", "const", "return"]

func textualOpName(_ s: String) -> String {
  isBareIdentifier(s) && !textualKeywords.contains(s) ? s : textualQuoted(s)
}
func textualAttributeName(_ s: String) -> String { isBareIdentifier(s) ? s : textualQuoted(s) }
func textualSymbol(_ s: String) -> String { isBareIdentifier(s) ? s : textualQuoted(s) }

/// A symbolic dim as written in a type: bare identifiers and `?` as is, anything else quoted.
func textualDimSymbol(_ s: String) -> String { s == "?" || isBareIdentifier(s) ? s : textualQuoted(s) }

/// A double-quoted string with `\\`, `\"`, `\n`, `\t`, `\r` and `\u{…}` escapes for other
/// control characters.
func textualQuoted(_ s: String) -> String {
  var r = "\""
  for ch in s.unicodeScalars {
    switch ch {
    case "\\": r += "\\\\"
    case "\"": r += "\\\""
    case "\n": r += "\\n"
    case "\t": r += "\\t"
    case "\r": r += "\\r"
    default:
      if ch.value < 0x20 || ch.value == 0x7f {
        r += "\\u{" + String(ch.value, radix: 16) + "}"
      } else {
        r.unicodeScalars.append(ch)
      }
    }
  }
  return r + "\""
}
