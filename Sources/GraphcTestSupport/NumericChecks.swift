// NumericChecks.swift - `// INPUT:` and `// EXPECT:` lines: a .gir case checks numbers too.

import Foundation
import GraphIR
import PassKit

/// The numeric directives of one `.gir` case:
///
///     // INPUT: %x = [1.0, -2.0, 3.0, -4.0]          values in row-major order, typed by the input
///     // INPUT: %x = splat 0.5                        every element the same
///     // INPUT: %x = random(seed=7)                   uniform [-1, 1) floats, small ints (seed optional)
///     // INPUT: %x = f32[2,2] [1.0, 2.0, 3.0, 4.0]    an explicit type, for inputs with symbolic dims
///     // EXPECT: "y" = [1.0, 0.0, 3.0, 0.0]           the output after the pipeline, exactly
///     // EXPECT: "y" = original tolerance 1e-6        the pre-pipeline graph's output on the same inputs
///     // EXPECT: "y" = [0.5, 1.5] tolerance atol=1e-6 rtol=1e-4
///
/// Inputs are named as in the graph header (`%x`, `%"in:0"`), outputs as on the `return` line.
/// `tolerance T` means `|a-b| <= T + T*|b|`; without it floats must be equal. Both the original
/// and the optimized graph run on the real interpreter (`executeGraph`), packed as `.gcb`.
public struct NumericChecks: Sendable {
  public struct Input: Sendable {
    public var name: String
    public var value: String
    public var line: Int
  }
  public struct Expect: Sendable {
    public var output: String
    /// Literal payload text, or nil for `original`.
    public var value: String?
    public var tolerance: Tolerance
    public var line: Int
  }
  public var inputs: [Input] = []
  public var expects: [Expect] = []

  public var isEmpty: Bool { inputs.isEmpty && expects.isEmpty }
  public var needsOriginal: Bool { expects.contains { $0.value == nil } }

  /// Reads the directives from a case's file-aligned text (line numbers are file lines).
  public init(caseText: String) throws {
    for (k, rawLine) in caseText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = String(rawLine)
      if let d = findDirective(in: line, prefix: "INPUT"), d.suffix.isEmpty {
        let (name, value) = try Self.splitAssignment(d.rest, sigil: "%", line: k + 1)
        inputs.append(Input(name: name, value: value, line: k + 1))
      } else if let d = findDirective(in: line, prefix: "EXPECT"), d.suffix.isEmpty {
        let (name, rest) = try Self.splitAssignment(d.rest, sigil: "\"", line: k + 1)
        var value = rest, tolerance = Tolerance.exact
        if let r = rest.range(of: " tolerance ") ?? (rest.hasPrefix("tolerance ") ? rest.range(of: "tolerance ") : nil) {
          value = String(rest[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
          tolerance = try Self.parseTolerance(String(rest[r.upperBound...]), line: k + 1)
        }
        expects.append(Expect(output: name, value: value == "original" ? nil : value, tolerance: tolerance, line: k + 1))
      }
    }
  }

  /// `%x = payload` or `"y" = payload`: the name (unquoted) and the payload text.
  static func splitAssignment(_ text: Substring, sigil: Character, line: Int) throws -> (String, String) {
    let t = text.trimmingCharacters(in: .whitespaces)
    var name = ""
    var rest = Substring(t)
    if sigil == "%" {
      guard rest.first == "%" else { throw GraphError("line \(line): INPUT needs '%name = value'") }
      rest = rest.dropFirst()
    }
    if rest.first == "\"" {
      guard let close = rest.dropFirst().firstIndex(of: "\"") else { throw GraphError("line \(line): unterminated name") }
      name = String(rest[rest.index(after: rest.startIndex)..<close])
      rest = rest[rest.index(after: close)...]
    } else {
      guard sigil == "%" else { throw GraphError("line \(line): EXPECT needs '\"output name\" = value'") }
      let end = rest.firstIndex { $0 == " " || $0 == "=" } ?? rest.endIndex
      name = String(rest[..<end])
      rest = rest[end...]
    }
    rest = rest.drop { $0 == " " }
    guard rest.first == "=", !name.isEmpty else { throw GraphError("line \(line): expected '=' after the name") }
    let value = rest.dropFirst().trimmingCharacters(in: .whitespaces)
    guard !value.isEmpty else { throw GraphError("line \(line): no value after '='") }
    return (name, value)
  }

  /// `1e-5` or `atol=1e-6 rtol=1e-4` (either part may be left out: it is then 0).
  static func parseTolerance(_ text: String, line: Int) throws -> Tolerance {
    let words = text.split(separator: " ").map(String.init)
    if words.count == 1, let t = Double(words[0]), t >= 0 { return Tolerance(t) }
    var tol = Tolerance.exact
    for w in words {
      let kv = w.split(separator: "=", maxSplits: 1).map(String.init)
      guard kv.count == 2, let v = Double(kv[1]), v >= 0, kv[0] == "atol" || kv[0] == "rtol" else {
        throw GraphError("line \(line): tolerance takes a number or 'atol=A rtol=R', not '\(text)'")
      }
      if kv[0] == "atol" { tol.atol = v } else { tol.rtol = v }
    }
    return tol
  }

  /// The input tensors for `graph`, one per graph input; every input needs an INPUT line.
  public func makeInputs(for graph: Graph) throws -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for input in inputs {
      guard let v = graph.inputs.first(where: { $0.name == input.name }) else {
        let names = graph.inputs.map { "%" + $0.name }.joined(separator: ", ")
        throw GraphError("line \(input.line): INPUT names '%\(input.name)', but the graph's inputs are \(names)")
      }
      out[input.name] = try Self.tensor(input.value, type: v.type, line: input.line, allowRandom: true)
    }
    for v in graph.inputs where out[v.name] == nil {
      throw GraphError("the case has EXPECT lines but no INPUT line for '%\(v.name)'")
    }
    return out
  }

  /// Checks the outputs; one message per failing EXPECT, with the actual values.
  public func check(outputs: [String: Tensor], original: [String: Tensor]) -> [String] {
    var failures: [String] = []
    for e in expects {
      guard let got = outputs[e.output] else {
        failures.append("line \(e.line): EXPECT: the graph has no output \"\(e.output)\"; outputs: "
                        + outputs.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", "))
        continue
      }
      do {
        let want: Tensor
        if let value = e.value {
          want = try Self.tensor(value, type: got.type, line: e.line, allowRandom: false)
        } else if let o = original[e.output] {
          want = o
        } else {
          throw GraphError("the original graph has no output \"\(e.output)\"")
        }
        if let m = e.tolerance.mismatch(got, want) {
          failures.append("line \(e.line): EXPECT \"\(e.output)\" (tolerance \(e.tolerance)): \(m)\n"
                          + "  expected \(describe(want))\n  actual   \(describe(got))")
        }
      } catch {
        failures.append("line \(e.line): EXPECT \"\(e.output)\": \(error)")
      }
    }
    return failures
  }

  /// A tensor from payload text: `[…]`, `splat v`, `random(seed=N)`, each optionally after a type.
  static func tensor(_ text: String, type declared: TensorType, line: Int, allowRandom: Bool) throws -> Tensor {
    var payload = text
    var type = declared
    if let first = text.first, first != "[" && !text.hasPrefix("splat") && !text.hasPrefix("random") {
      // An explicit type: everything up to the closing ']' of the dims.
      guard let close = text.firstIndex(of: "]") else { throw GraphError("line \(line): expected a type like f32[2,3] in '\(text)'") }
      let typeText = String(text[...close])
      type = try parseTensorType(typeText, line: line)
      payload = text[text.index(after: close)...].trimmingCharacters(in: .whitespaces)
    }
    guard let shape = type.staticShape else {
      throw GraphError("line \(line): the type \(type) has symbolic dims; write the type before the value, e.g. f32[2,3] [...]")
    }
    if payload.hasPrefix("random") {
      guard allowRandom else { throw GraphError("line \(line): random values are for INPUT lines only") }
      var seed: UInt64 = 0
      let args = payload.dropFirst("random".count).trimmingCharacters(in: CharacterSet(charactersIn: "() "))
      if !args.isEmpty {
        guard args.hasPrefix("seed="), let s = UInt64(args.dropFirst(5)) else {
          throw GraphError("line \(line): random takes '(seed=N)', not '\(payload)'")
        }
        seed = s
      }
      var rng = SplitMix64(seed: seed)
      return randomTensor(type.dtype, shape: shape, rng: &rng)
    }
    // The textual IR's constant syntax, so every dtype is spelled as in a `const` line.
    let text = "graph @value() {\n  %v = const \(type) dense<\(payload)>\n  return\n}"
    do {
      guard let t = try parseGraph(text).constants.first?.constant else { throw GraphError("no value") }
      return t
    } catch let e as GraphError {
      throw GraphError("line \(line): bad value '\(payload)' for \(type): \(e.message.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? e.message)")
    }
  }

  static func parseTensorType(_ text: String, line: Int) throws -> TensorType {
    let probe = "graph @t(%x: \(text)) {\n  return\n}"
    guard let t = (try? parseGraph(probe))?.inputs.first?.type else {
      throw GraphError("line \(line): bad type '\(text)'")
    }
    return t
  }
}

/// `f32[4] [1.0, 2.0, …]` with at most 16 values.
private func describe(_ t: Tensor) -> String {
  let n = min(t.count, 16)
  let values = (0..<n).map { i -> String in
    let v = t.double(at: i)
    return t.dtype.isFloat ? "\(Float(v))" : "\(Int64(v))"
  }
  return "\(t.type) [\(values.joined(separator: ", "))\(t.count > n ? ", …" : "")]"
}
