// Parser.swift - Reads the textual IR (Docs/TextualIR.md) back into a Graph.
//
// The parser needs no op schemas: result types come from the text. Every error is a
// `GraphError` whose message starts with `line:col:`.

/// Parses one graph in the textual IR. `//` comments are ignored; whitespace and line breaks
/// are insignificant. Elided constants (`dense<elided …>`) become zero-filled tensors.
public func parseGraph(_ text: String) throws -> Graph {
  var parser = TextParser(text)
  return try parser.parseFile()
}

/// Largest constant the parser materializes (elided and splat payloads allocate their size).
private let maxParsedConstantBytes = 1 << 31

// MARK: Tokens

private enum TokenKind: Equatable {
  /// `%name` or `%"name"`; `bare` is false for the quoted form.
  case value(String, bare: Bool)
  /// `@name` or `@"name"`.
  case symbol(String)
  case ident(String)
  /// A decimal number as written (`-3`, `0.5`, `1e-05`), `isFloat` when it has `.` or an exponent.
  case number(String, isFloat: Bool)
  /// `0x…` digits, without the prefix.
  case hex(String)
  case string(String)
  case punct(UInt8)
  case eof

  var display: String {
    switch self {
    case .value(let s, let bare): "'%\(bare ? s : textualQuoted(s))'"
    case .symbol(let s): "'@\(textualSymbol(s))'"
    case .ident(let s): "'\(s)'"
    case .number(let s, _): "'\(s)'"
    case .hex(let s): "'0x\(s.prefix(16))\(s.count > 16 ? "…" : "")'"
    case .string(let s): textualQuoted(s)
    case .punct(let c): "'\(Character(Unicode.Scalar(c)))'"
    case .eof: "end of input"
    }
  }
}

private struct Token {
  var kind: TokenKind
  var line: Int
  var column: Int
}

private struct Lexer {
  let bytes: [UInt8]
  var i = 0
  var line = 1
  var lineStart = 0

  init(_ text: String) { bytes = Array(text.utf8) }

  func error(_ message: String, line: Int, column: Int) -> GraphError {
    GraphError("\(line):\(column): \(message)")
  }

  @inline(__always) func peek(_ k: Int = 0) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }

  mutating func skipTrivia() {
    while let c = peek() {
      if c == UInt8(ascii: "\n") {
        i += 1; line += 1; lineStart = i
      } else if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
        i += 1
      } else if c == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "/") {
        while let d = peek(), d != UInt8(ascii: "\n") { i += 1 }
      } else {
        return
      }
    }
  }

  mutating func next() throws -> Token {
    skipTrivia()
    let line = self.line, column = i - lineStart + 1
    func token(_ k: TokenKind) -> Token { Token(kind: k, line: line, column: column) }
    guard let c = peek() else { return token(.eof) }
    switch c {
    case UInt8(ascii: "%"):
      i += 1
      if peek() == UInt8(ascii: "\"") { return token(.value(try lexString(line, column), bare: false)) }
      let start = i
      while let d = peek(), isValueNameBody(d) { i += 1 }
      guard i > start else { throw error("expected a value name after '%'", line: line, column: column) }
      return token(.value(String(decoding: bytes[start..<i], as: UTF8.self), bare: true))
    case UInt8(ascii: "@"):
      i += 1
      if peek() == UInt8(ascii: "\"") { return token(.symbol(try lexString(line, column))) }
      guard let d = peek(), isIdentStart(d) else {
        throw error("expected a name after '@'", line: line, column: column)
      }
      return token(.symbol(lexIdent()))
    case UInt8(ascii: "\""):
      return token(.string(try lexString(line, column)))
    case UInt8(ascii: "-"):
      if let d = peek(1), isIdentStart(d) {
        i += 1
        let word = lexIdent()
        guard word == "inf" || word == "nan" else {
          throw error("unexpected '-\(word)'", line: line, column: column)
        }
        return token(.ident("-" + word))
      }
      return token(try lexNumber(line, column))
    default:
      if isIdentStart(c) { return token(.ident(lexIdent())) }
      if isDigit(c) { return token(try lexNumber(line, column)) }
      if "(){}[]<>,=:*?".utf8.contains(c) {
        i += 1
        return token(.punct(c))
      }
      throw error("unexpected character '\(Character(Unicode.Scalar(c)))'", line: line, column: column)
    }
  }

  mutating func lexIdent() -> String {
    let start = i
    while let d = peek(), isIdentBody(d) { i += 1 }
    return String(decoding: bytes[start..<i], as: UTF8.self)
  }

  mutating func lexNumber(_ line: Int, _ column: Int) throws -> TokenKind {
    let start = i
    if peek() == UInt8(ascii: "0"), peek(1) == UInt8(ascii: "x") {
      i += 2
      let digitsStart = i
      while let d = peek(), isHexDigit(d) { i += 1 }
      if let d = peek(), isIdentBody(d) {
        throw error("invalid hex digit '\(Character(Unicode.Scalar(d)))'", line: self.line, column: i - lineStart + 1)
      }
      return .hex(String(decoding: bytes[digitsStart..<i], as: UTF8.self))
    }
    if peek() == UInt8(ascii: "-") { i += 1 }
    guard let first = peek(), isDigit(first) else { throw error("expected a number", line: line, column: column) }
    var isFloat = false
    while let d = peek(), isDigit(d) { i += 1 }
    if peek() == UInt8(ascii: ".") {
      isFloat = true
      i += 1
      while let d = peek(), isDigit(d) { i += 1 }
    }
    if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
      isFloat = true
      i += 1
      if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
      guard let d = peek(), isDigit(d) else { throw error("malformed exponent", line: line, column: column) }
      while let d = peek(), isDigit(d) { i += 1 }
    }
    if let d = peek(), isIdentBody(d) {
      throw error("malformed number", line: line, column: column)
    }
    return .number(String(decoding: bytes[start..<i], as: UTF8.self), isFloat: isFloat)
  }

  /// A double-quoted string starting at the current `"`, with the printer's escapes.
  mutating func lexString(_ line: Int, _ column: Int) throws -> String {
    i += 1
    var out: [UInt8] = []
    while true {
      guard let c = peek(), c != UInt8(ascii: "\n") else {
        throw error("unterminated string", line: line, column: column)
      }
      i += 1
      if c == UInt8(ascii: "\"") { break }
      guard c == UInt8(ascii: "\\") else { out.append(c); continue }
      guard let e = peek() else { throw error("unterminated string", line: line, column: column) }
      i += 1
      switch e {
      case UInt8(ascii: "\\"): out.append(e)
      case UInt8(ascii: "\""): out.append(e)
      case UInt8(ascii: "n"): out.append(10)
      case UInt8(ascii: "t"): out.append(9)
      case UInt8(ascii: "r"): out.append(13)
      case UInt8(ascii: "u"):
        guard peek() == UInt8(ascii: "{") else { throw error("expected '{' after \\u", line: self.line, column: i - lineStart + 1) }
        i += 1
        let start = i
        while let d = peek(), isHexDigit(d) { i += 1 }
        guard peek() == UInt8(ascii: "}"), i > start, i - start <= 8,
              let v = UInt32(String(decoding: bytes[start..<i], as: UTF8.self), radix: 16),
              let scalar = Unicode.Scalar(v) else {
          throw error("malformed \\u{…} escape", line: self.line, column: start - lineStart + 1)
        }
        i += 1
        out.append(contentsOf: Array(String(Character(scalar)).utf8))
      default:
        throw error("unknown escape '\\\(Character(Unicode.Scalar(e)))'", line: self.line, column: i - lineStart - 1)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

@inline(__always) private func isHexDigit(_ c: UInt8) -> Bool {
  isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
}

// MARK: Parser

private struct TextParser {
  var lexer: Lexer
  var token: Token
  var pendingError: GraphError?
  let graph = Graph(name: "")
  /// Defined values by their canonical reference spelling (see `key(_:bare:)`).
  var values: [String: Value] = [:]

  init(_ text: String) {
    lexer = Lexer(text)
    token = Token(kind: .eof, line: 1, column: 1)
    do { token = try lexer.next() } catch let e as GraphError { pendingError = e } catch {}
  }

  // Token helpers

  func error(_ message: String, at t: Token? = nil) -> GraphError {
    let t = t ?? token
    return GraphError("\(t.line):\(t.column): \(message)")
  }

  mutating func advance() throws {
    if let e = pendingError { throw e }
    token = try lexer.next()
  }

  func isPunct(_ c: Character) -> Bool { token.kind == .punct(c.asciiValue ?? 0) }
  func isIdent(_ word: String) -> Bool { token.kind == .ident(word) }

  mutating func consume(_ c: Character) throws -> Bool {
    guard isPunct(c) else { return false }
    try advance()
    return true
  }

  mutating func expect(_ c: Character, _ context: String) throws {
    if let e = pendingError { throw e }
    guard try consume(c) else { throw error("expected '\(c)' \(context), found \(token.kind.display)") }
  }

  mutating func expectKeyword(_ word: String, _ context: String) throws {
    if let e = pendingError { throw e }
    guard isIdent(word) else { throw error("expected '\(word)' \(context), found \(token.kind.display)") }
    try advance()
  }

  mutating func expectString(_ context: String) throws -> String {
    if let e = pendingError { throw e }
    guard case .string(let s) = token.kind else { throw error("expected a quoted string \(context), found \(token.kind.display)") }
    try advance()
    return s
  }

  // Values

  /// The lookup key of a value reference: `%w` and `%"w"` are the same value, but `%c0` (an
  /// unnamed constant) and `%"c0"` (a constant named c0) are not.
  static func key(_ name: String, bare: Bool) -> String {
    bare ? name : textualValueName(name)
  }

  mutating func parseValueUse() throws -> Value {
    if let e = pendingError { throw e }
    guard case .value(let name, let bare) = token.kind else {
      throw error("expected a value, found \(token.kind.display)")
    }
    guard let v = values[Self.key(name, bare: bare)] else {
      throw error("unknown value \(token.kind.display)")
    }
    try advance()
    return v
  }

  /// A value being defined: checks it is new and returns its key and its source name (empty
  /// for printer-invented names such as `%3` or `%c0`).
  mutating func parseValueDef() throws -> (key: String, name: String, token: Token) {
    if let e = pendingError { throw e }
    guard case .value(let name, let bare) = token.kind else {
      throw error("expected a value name, found \(token.kind.display)")
    }
    let key = Self.key(name, bare: bare)
    guard values[key] == nil else { throw error("redefinition of value \(token.kind.display)") }
    let t = token
    try advance()
    return (key, bare && isAnonymousValueName(name) ? "" : name, t)
  }

  mutating func define(_ key: String, _ v: Value, at t: Token) throws {
    guard values[key] == nil else { throw error("redefinition of value \(t.kind.display)", at: t) }
    values[key] = v
  }

  // Graph

  mutating func parseFile() throws -> Graph {
    if let e = pendingError { throw e }
    let open = token
    try expectKeyword("graph", "at the start of the text")
    guard case .symbol(let name) = token.kind else {
      throw error("expected the graph name ('@name') after 'graph', found \(token.kind.display)")
    }
    graph.name = name
    try advance()
    try expect("(", "to open the graph inputs")
    if !isPunct(")") {
      repeat {
        let def = try parseValueDef()
        try expect(":", "after an input name")
        let type = try parseType()
        try define(def.key, graph.addInput(name: def.name, type: type), at: def.token)
      } while try consume(",")
    }
    try expect(")", "to close the graph inputs")
    try expect("{", "to open the graph body")
    try parseBody(openedAt: open)
    if token.kind != .eof { throw error("unexpected \(token.kind.display) after the end of the graph") }
    return graph
  }

  mutating func parseBody(openedAt open: Token) throws {
    var returned = false
    while true {
      if let e = pendingError { throw e }
      switch token.kind {
      case .punct(UInt8(ascii: "}")):
        guard returned else { throw error("expected 'return' before '}'") }
        try advance()
        return
      case .eof:
        throw error("expected '}' to close the graph opened at \(open.line):\(open.column)")
      case _ where returned:
        throw error("expected '}' after 'return', found \(token.kind.display)")
      case .ident("return"):
        try advance()
        try parseReturn()
        returned = true
      case .ident("meta"):
        try advance()
        let t = token
        let key = try expectString("as the metadata key")
        try expect("=", "after the metadata key")
        let value = try expectString("as the metadata value")
        guard graph.metadata[key] == nil else { throw error("duplicate metadata key \(textualQuoted(key))", at: t) }
        graph.metadata[key] = value
      case .value:
        try parseDefinitionLine()
      case .ident, .string:
        try parseNode(results: [])
      default:
        throw error("expected a constant, a node or 'return', found \(token.kind.display)")
      }
    }
  }

  mutating func parseReturn() throws {
    var outputs: [(name: String, value: Value)] = []
    guard case .value = token.kind else { graph.setOutputs([]); return }
    repeat {
      let v = try parseValueUse()
      try expectKeyword("as", "after a returned value")
      outputs.append((try expectString("as the output name"), v))
    } while try consume(",")
    graph.setOutputs(outputs)
  }

  /// `%a = const …` or `%a, %b = op(…) …`.
  mutating func parseDefinitionLine() throws {
    var defs = [try parseValueDef()]
    while try consume(",") {
      let d = try parseValueDef()
      guard !defs.contains(where: { $0.key == d.key }) else { throw error("redefinition of value \(d.token.kind.display)", at: d.token) }
      defs.append(d)
    }
    try expect("=", "after the defined values")
    if isIdent("const") {
      let t = token
      try advance()
      guard defs.count == 1 else { throw error("a constant defines exactly one value", at: t) }
      let (tensor, quant) = try parseConstantLiteral()
      try define(defs[0].key, graph.addConstant(tensor, name: defs[0].name, quant: quant), at: defs[0].token)
    } else {
      try parseNode(results: defs)
    }
  }

  mutating func parseNode(results: [(key: String, name: String, token: Token)]) throws {
    let opToken = token
    let op: String
    switch token.kind {
    case .ident(let s): op = s
    case .string(let s): op = s
    default: throw error("expected an op name, found \(token.kind.display)")
    }
    try advance()
    try expect("(", "after the op name")
    var operands: [Value?] = []
    if !isPunct(")") {
      repeat {
        if isIdent("_") {
          try advance()
          operands.append(nil)
        } else {
          operands.append(try parseValueUse())
        }
      } while try consume(",")
    }
    try expect(")", "to close the operand list")
    let attributes = isPunct("{") ? try parseAttributeDict() : [:]
    var types: [TensorType] = []
    if try consume(":") {
      repeat { types.append(try parseType()) } while try consume(",")
    }
    guard types.count == results.count else {
      throw error("op \(textualOpName(op)) defines \(results.count) value(s) but lists \(types.count) result type(s)", at: opToken)
    }
    var name = ""
    if case .symbol(let s) = token.kind {
      name = s
      try advance()
    }
    let node = graph.addNode(op, name: name, operands: operands, attributes: attributes,
                             resultTypes: types, resultNames: results.map(\.name))
    for (def, v) in zip(results, node.results) { try define(def.key, v, at: def.token) }
  }

  // Attributes

  mutating func parseAttributeDict() throws -> AttributeMap {
    try expect("{", "to open the attributes")
    var attrs: AttributeMap = [:]
    if try consume("}") { return attrs }
    repeat {
      let t = token
      let name: String
      switch token.kind {
      case .ident(let s): name = s
      case .string(let s): name = s
      default: throw error("expected an attribute name, found \(token.kind.display)")
      }
      try advance()
      try expect("=", "after attribute '\(name)'")
      let value = try parseAttributeValue()
      guard attrs[name] == nil else { throw error("duplicate attribute '\(name)'", at: t) }
      attrs[name] = value
    } while try consume(",")
    try expect("}", "to close the attributes")
    return attrs
  }

  mutating func parseAttributeValue() throws -> Attribute {
    if let e = pendingError { throw e }
    switch token.kind {
    case .number(let s, false):
      let v = try parseInt(s)
      try advance()
      return .int(v)
    case .number, .ident("nan"), .ident("inf"), .ident("-inf"), .ident("-nan"):
      return .float(try parseFloatAttribute())
    case .string(let s):
      try advance()
      return .string(s)
    case .punct(UInt8(ascii: "[")):
      return try parseList()
    case .ident(let w) where ["ints", "floats", "strings"].contains(w):
      try advance()
      try expect("[", "after '\(w)'")
      try expect("]", "(only empty lists are spelled '\(w)[]')")
      return w == "ints" ? .ints([]) : w == "floats" ? .floats([]) : .strings([])
    case .ident(let w) where DType(shortName: w) != nil:
      return .tensor(try parseTensorLiteral())
    default:
      throw error("expected an attribute value, found \(token.kind.display)")
    }
  }

  mutating func parseFloatAttribute() throws -> Float {
    let t = token
    let text: String
    switch token.kind {
    case .number(let s, _): text = s
    case .ident(let s): text = s
    default: throw error("expected a float, found \(token.kind.display)")
    }
    guard let v = Float(text) else { throw error("invalid float '\(text)'", at: t) }
    try advance()
    return v
  }

  /// `[1, 2]`, `[0.5, 1.0]` or `["a", "b"]`; a list has one element kind.
  mutating func parseList() throws -> Attribute {
    let open = token
    try expect("[", "to open a list")
    var ints: [Int] = [], floats: [Float] = [], strings: [String] = []
    if try consume("]") { return .ints([]) }
    repeat {
      switch token.kind {
      case .number(let s, false):
        ints.append(try parseInt(s))
        floats.append(Float(ints[ints.count - 1]))
        try advance()
      case .number, .ident("nan"), .ident("inf"), .ident("-inf"), .ident("-nan"):
        floats.append(try parseFloatAttribute())
      case .string(let s):
        strings.append(s)
        try advance()
      default:
        throw error("expected a list element, found \(token.kind.display)")
      }
    } while try consume(",")
    try expect("]", "to close the list")
    if !strings.isEmpty {
      guard floats.isEmpty else { throw error("a list mixes strings and numbers", at: open) }
      return .strings(strings)
    }
    if floats.count == ints.count { return .ints(ints) }
    guard ints.isEmpty else { throw error("a list mixes integers and floats (write 1.0 for a float)", at: open) }
    return .floats(floats)
  }

  mutating func parseInt(_ s: String) throws -> Int {
    guard let v = Int(s) else { throw error("integer '\(s)' is out of range") }
    return v
  }

  // Types

  mutating func parseType() throws -> TensorType {
    if let e = pendingError { throw e }
    guard case .ident(let name) = token.kind else {
      throw error("expected a type such as 'f32[1,3]', found \(token.kind.display)")
    }
    guard let dtype = DType(shortName: name) else {
      throw error("unknown element type '\(name)'")
    }
    try advance()
    try expect("[", "after the element type")
    if try consume("*") {
      try expect("]", "after '*' (unknown rank)")
      return TensorType(dtype, nil)
    }
    var dims: [Dim] = []
    if !isPunct("]") {
      repeat {
        switch token.kind {
        case .number(let s, false):
          guard let v = Int(s), v >= 0 else { throw error("dimension '\(s)' must be a non-negative integer") }
          dims.append(.fixed(v))
        case .ident(let s): dims.append(.symbol(s))
        case .string(let s): dims.append(.symbol(s))
        case .punct(UInt8(ascii: "?")): dims.append(.symbol("?"))
        default: throw error("expected a dimension (size, symbol or '?'), found \(token.kind.display)")
        }
        try advance()
      } while try consume(",")
    }
    try expect("]", "to close the shape")
    var type = TensorType(dtype, dims)
    if isIdent("q"), case .punct(UInt8(ascii: "<"))? = (try? lexerPeek())?.kind {
      let at = token
      type.quant = try parseQuantization()
      do { try type.quant?.check(type) } catch let e as GraphError { throw error(e.message, at: at) }
    }
    return type
  }

  /// The token after the current one, without consuming anything.
  func lexerPeek() throws -> Token {
    var copy = lexer
    return try copy.next()
  }

  /// `q<scale=0.5, zp=3>` or `q<axis=1, scales=[…], zp=0>` / `zps=[…]`; lists may be
  /// `elided N fnv=0x…`, which parse as scale 1 and zero point 0 (only full text round-trips).
  mutating func parseQuantization() throws -> Quantization {
    try expectKeyword("q", "before quantization parameters")
    try expect("<", "after 'q'")
    var axis: Int?, scales: [Float]?, zps: [Int32]?, zp: Int32?
    repeat {
      let keyToken = token
      guard case .ident(let key) = token.kind else { throw error("expected a quantization key (axis, scale, scales, zp, zps), found \(token.kind.display)") }
      try advance()
      try expect("=", "after '\(key)'")
      switch key {
      case "axis":
        guard case .number(let s, false) = token.kind, let v = Int(s), v >= 0 else { throw error("axis must be a non-negative integer") }
        axis = v
        try advance()
      case "scale": scales = [try parseFloatAttribute()]
      case "scales": scales = try parseQuantList { p in try p.parseFloatAttribute() } ?? []
      case "zp": zp = try parseZeroPoint()
      case "zps": zps = try parseQuantList { p in try p.parseZeroPoint() } ?? []
      default: throw error("unknown quantization key '\(key)' (expected axis, scale, scales, zp, zps)", at: keyToken)
      }
    } while try consume(",")
    try expect(">", "to close 'q<'")
    guard var scales else { throw error("quantization parameters need 'scale' or 'scales'") }
    var q: Quantization
    if let axis {
      if scales.isEmpty { scales = [Float](repeating: 1, count: elidedCount) }
      q = Quantization(axis: axis, scales: scales)
    } else {
      q = Quantization(scale: scales.first ?? 1)
    }
    if let zps { q.zeroPoints = zps.isEmpty ? [Int32](repeating: 0, count: q.scales.count) : zps }
    if let zp { q.zeroPoints = [Int32](repeating: zp, count: q.scales.count) }
    return q
  }

  /// Count of the last `elided N` list (0 before any).
  var elidedCount = 0

  /// `[a, b, …]` or `elided N fnv=0x…` (returns nil and records N).
  mutating func parseQuantList<T>(_ element: (inout TextParser) throws -> T) throws -> [T]? {
    if isIdent("elided") {
      try advance()
      guard case .number(let s, false) = token.kind, let n = Int(s), n > 0, n <= 1 << 24 else {
        throw error("expected the parameter count after 'elided', found \(token.kind.display)")
      }
      elidedCount = n
      try advance()
      try expectKeyword("fnv", "after the elided count")
      try expect("=", "after 'fnv'")
      guard case .hex = token.kind else { throw error("expected a hex digest after 'fnv=', found \(token.kind.display)") }
      try advance()
      return nil
    }
    try expect("[", "to open a parameter list")
    var out: [T] = []
    repeat { out.append(try element(&self)) } while try consume(",")
    try expect("]", "to close the parameter list")
    return out
  }

  mutating func parseZeroPoint() throws -> Int32 {
    guard case .number(let s, false) = token.kind, let v = Int32(s) else { throw error("a zero point must be a 32-bit integer, found \(token.kind.display)") }
    try advance()
    return v
  }

  // Tensors

  /// A tensor attribute: a constant literal without quantization parameters.
  mutating func parseTensorLiteral() throws -> Tensor {
    let at = token
    let (tensor, quant) = try parseConstantLiteral()
    guard quant == nil else { throw error("tensor attributes cannot carry quantization parameters", at: at) }
    return tensor
  }

  /// `f32[2,2] dense<…>`: a static type (possibly quantized), then the payload.
  mutating func parseConstantLiteral() throws -> (Tensor, Quantization?) {
    let typeToken = token
    let type = try parseType()
    guard let shape = type.staticShape else {
      throw error("a constant needs a static shape, not \(type)", at: typeToken)
    }
    guard let count = checkedElementCount(shape),
          case let (bytes, overflow) = count.multipliedReportingOverflow(by: type.dtype.byteSize),
          !overflow, bytes <= maxParsedConstantBytes else {
      throw error("constant of type \(type) is too large to materialize", at: typeToken)
    }
    try expectKeyword("dense", "after the constant's type")
    try expect("<", "after 'dense'")
    let tensor = Tensor(zeros: type.dtype, shape: shape)
    let payload = token
    switch token.kind {
    case .punct(UInt8(ascii: "[")):
      try advance()
      var n = 0
      if !isPunct("]") {
        repeat {
          guard n < count else { throw error("too many elements for \(type) (expected \(count))") }
          try parseElement(into: tensor, at: n)
          n += 1
        } while try consume(",")
      }
      try expect("]", "to close the elements")
      guard n == count else { throw error("\(n) element(s) given for \(type), which holds \(count)", at: payload) }
    case .ident("splat"):
      try advance()
      guard count > 0 else { throw error("cannot splat into \(type), which has no elements", at: payload) }
      try parseElement(into: tensor, at: 0)
      if type.dtype.isPacked {
        let v = Int8(tensor.double(at: 0))
        for i in 1..<count { storeInt4(v, at: i, in: tensor.rawPointer) }
      } else {
        let w = type.dtype.byteSize
        for i in 1..<count { (tensor.rawPointer + i * w).copyMemory(from: tensor.rawPointer, byteCount: w) }
      }
    case .hex(let digits):
      guard digits.utf8.count == 2 * tensor.byteCount else {
        throw error("hex payload has \(digits.utf8.count / 2) byte(s), \(type) needs \(tensor.byteCount)")
      }
      let p = tensor.rawPointer.assumingMemoryBound(to: UInt8.self)
      var k = 0, high: UInt8 = 0
      for c in digits.utf8 {
        let v = hexValue(c)
        if k & 1 == 0 { high = v } else { p[k >> 1] = high << 4 | v }
        k += 1
      }
      try advance()
    case .ident("elided"):
      try advance()
      guard case .number(let s, false) = token.kind, let n = Int(s) else {
        throw error("expected the byte count after 'elided', found \(token.kind.display)")
      }
      guard n == tensor.byteCount else { throw error("elided size \(n) does not match \(type), which has \(tensor.byteCount) bytes") }
      try advance()
      try expectKeyword("bytes", "after the elided byte count")
      try expectKeyword("fnv", "after 'bytes'")
      try expect("=", "after 'fnv'")
      guard case .hex = token.kind else { throw error("expected a hex digest after 'fnv=', found \(token.kind.display)") }
      try advance()
    default:
      guard type.rank == 0 else {
        throw error("expected '[', 'splat', hex or 'elided' for \(type), found \(token.kind.display)")
      }
      try parseElement(into: tensor, at: 0)
    }
    try expect(">", "to close 'dense<'")
    return (tensor, type.quant)
  }

  /// Parses one element token and stores it, checking its range for the element type.
  mutating func parseElement(into t: Tensor, at i: Int) throws {
    let text: String
    var isFloat = true
    switch token.kind {
    case .number(let s, let f): text = s; isFloat = f
    case .ident(let s) where ["nan", "inf", "-inf", "-nan", "true", "false"].contains(s): text = s
    default: throw error("expected a \(t.dtype.shortName) element, found \(token.kind.display)")
    }
    let p = t.rawPointer
    let dtype = t.dtype
    func bad() -> GraphError { error("'\(text)' is not a valid \(dtype.shortName) value") }
    func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
      guard !isFloat, let v = T(text) else { throw bad() }
      return v
    }
    switch dtype {
    case .float32:
      guard let v = Float(text) else { throw bad() }
      p.storeBytes(of: v, toByteOffset: i * 4, as: Float.self)
    case .float64:
      guard let v = Double(text) else { throw bad() }
      p.storeBytes(of: v, toByteOffset: i * 8, as: Double.self)
    case .float16:
      guard let v = Float16(text) else { throw bad() }
      p.storeBytes(of: v.bitPattern, toByteOffset: i * 2, as: UInt16.self)
    case .bfloat16:
      guard let v = Float(text) else { throw bad() }
      p.storeBytes(of: floatToBfloat16(v), toByteOffset: i * 2, as: UInt16.self)
    case .bool:
      guard text == "true" || text == "false" else { throw bad() }
      p.storeBytes(of: text == "true" ? 1 : 0, toByteOffset: i, as: UInt8.self)
    case .int8: p.storeBytes(of: try integer(Int8.self), toByteOffset: i, as: Int8.self)
    case .int4:
      let v = try integer(Int8.self)
      guard (-8...7).contains(v) else { throw bad() }
      storeInt4(v, at: i, in: p)
    case .uint8: p.storeBytes(of: try integer(UInt8.self), toByteOffset: i, as: UInt8.self)
    case .int16: p.storeBytes(of: try integer(Int16.self), toByteOffset: i * 2, as: Int16.self)
    case .uint16: p.storeBytes(of: try integer(UInt16.self), toByteOffset: i * 2, as: UInt16.self)
    case .int32: p.storeBytes(of: try integer(Int32.self), toByteOffset: i * 4, as: Int32.self)
    case .uint32: p.storeBytes(of: try integer(UInt32.self), toByteOffset: i * 4, as: UInt32.self)
    case .int64: p.storeBytes(of: try integer(Int64.self), toByteOffset: i * 8, as: Int64.self)
    case .uint64: p.storeBytes(of: try integer(UInt64.self), toByteOffset: i * 8, as: UInt64.self)
    case .string: throw error("string tensors have no element syntax; write dense<0x>")
    }
    try advance()
  }
}

@inline(__always) private func hexValue(_ c: UInt8) -> UInt8 {
  isDigit(c) ? c - 0x30 : (c | 0x20) - 0x61 + 10
}
