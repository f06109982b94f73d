// FileCheck.swift - A small FileCheck (LLVM-style) for pass tests and golden outputs.

import Foundation
import GraphIR

/// One failed check directive.
public struct FileCheckFailure: Error, Sendable, Equatable, CustomStringConvertible {
  /// 1-based line of the directive in the checks text (0 for whole-file problems).
  public var checkLine: Int
  /// `CHECK`, `CHECK-NEXT`, … as written (with the prefix in use).
  public var directive: String
  /// The pattern text after the directive, trimmed.
  public var pattern: String
  /// What went wrong, in one line.
  public var message: String
  /// 1-based input line where scanning started (or where an excluded/misplaced match was found).
  public var inputLine: Int?
  /// A few input lines from `inputLine` on, to show what was scanned.
  public var scanned: [String]

  public var description: String {
    var s = "check line \(checkLine): \(directive): \(pattern)\n  error: \(message)"
    if let inputLine {
      s += "\n  input scanned from line \(inputLine):"
      for (k, l) in scanned.enumerated() { s += "\n    \(inputLine + k) | \(l)" }
    }
    return s
  }
}

/// Thrown by `checkFileCheck` when any directive fails; its description lists every failure.
public struct FileCheckError: Error, CustomStringConvertible {
  public var failures: [FileCheckFailure]
  public var description: String { failures.map(\.description).joined(separator: "\n") }
}

/// Matches `input` against the check directives found in `checks`, like LLVM FileCheck:
///
/// - `CHECK: p` — `p` occurs after the previous match (same line or later);
/// - `CHECK-NEXT: p` — `p` occurs on the line right after the previous match;
/// - `CHECK-SAME: p` — `p` occurs on the same line as the previous match, after it;
/// - `CHECK-EMPTY:` — the line after the previous match is empty;
/// - `CHECK-NOT: p` — `p` does not occur between the surrounding positive matches;
/// - `CHECK-LABEL: p` — matched first, splitting the input into blocks checked independently.
///
/// Patterns are substrings after trimming; any run of spaces matches any run of blanks.
/// `{{re}}` embeds a regular expression, `[[X:re]]` captures into variable `X` and `[[X]]` uses it
/// (as literal text; later in the same pattern, as a back-reference). Directives are found
/// anywhere in a line, so `// CHECK:` comments work. Returns no failures on success; a checks
/// text without any directive is itself a failure.
///
/// Directives spelled with one of the `ignoring` prefixes (e.g. `CHECK-ERROR` while checking
/// `CHECK`) belong to another run over another input and are skipped.
public func fileCheck(input: String, checks: String, prefix: String = "CHECK", ignoring: [String] = []) -> [FileCheckFailure] {
  var failures: [FileCheckFailure] = []
  let directives = parseDirectives(checks, prefix: prefix, ignoring: ignoring, failures: &failures)
  if directives.isEmpty && failures.isEmpty {
    failures.append(FileCheckFailure(checkLine: 0, directive: prefix, pattern: "",
                                     message: "no \(prefix): directives found", inputLine: nil, scanned: []))
  }
  guard failures.isEmpty else { return failures }
  var matcher = Matcher(input: input)
  matcher.run(directives)
  return matcher.failures
}

/// Throwing form of `fileCheck`, for `#expect(throws:)`-free tests: `try checkFileCheck(…)`.
public func checkFileCheck(input: String, checks: String, prefix: String = "CHECK") throws {
  let failures = fileCheck(input: input, checks: checks, prefix: prefix)
  if !failures.isEmpty { throw FileCheckError(failures: failures) }
}

// MARK: Directives

private enum DirectiveKind: String, CaseIterable {
  case check = "", next = "-NEXT", same = "-SAME", not = "-NOT", label = "-LABEL", empty = "-EMPTY"
}

private enum Piece {
  case literal(String)
  case regex(String)
  case define(String, String)
  case use(String)
}

private struct Directive {
  var kind: DirectiveKind
  var spelled: String
  var text: String
  var pieces: [Piece]
  var line: Int
}

/// The position of `prefix` in `line` at a word start followed by a directive suffix and `:`.
func findDirective(in line: String, prefix: String) -> (spelled: String, suffix: String, rest: Substring)? {
  var search = line.startIndex
  while let r = line.range(of: prefix, range: search..<line.endIndex) {
    search = r.upperBound
    if r.lowerBound > line.startIndex {
      let before = line[line.index(before: r.lowerBound)]
      if before.isLetter || before.isNumber || before == "_" || before == "-" { continue }
    }
    guard let colon = line[r.upperBound...].firstIndex(of: ":") else { return nil }
    let suffix = String(line[r.upperBound..<colon])
    // Only `PREFIX:` or `PREFIX-WORD:` count; `CHECKS:` or `CHECK foo:` is ordinary text.
    guard suffix.isEmpty || (suffix.first == "-" && suffix.dropFirst().allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" })
    else { continue }
    return (String(line[r.lowerBound..<colon]), suffix, line[line.index(after: colon)...])
  }
  return nil
}

/// True when `spelled` is `other` or `other-…` for one of the prefixes left to another run.
func isIgnored(_ spelled: String, prefix: String, ignoring: [String]) -> Bool {
  ignoring.contains { other in
    other.count > prefix.count && (spelled == other || spelled.hasPrefix(other + "-"))
  }
}

private func parseDirectives(_ checks: String, prefix: String, ignoring: [String], failures: inout [FileCheckFailure]) -> [Directive] {
  var out: [Directive] = []
  for (k, rawLine) in checks.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
    let line = String(rawLine)
    guard let found = findDirective(in: line, prefix: prefix) else { continue }
    if isIgnored(found.spelled, prefix: prefix, ignoring: ignoring) { continue }
    let text = found.rest.trimmingCharacters(in: .whitespaces)
    func fail(_ message: String) {
      failures.append(FileCheckFailure(checkLine: k + 1, directive: found.spelled, pattern: text,
                                       message: message, inputLine: nil, scanned: []))
    }
    guard let kind = DirectiveKind(rawValue: found.suffix) else {
      fail("unknown directive '\(found.spelled)'")
      continue
    }
    if text.isEmpty && kind != .empty { fail("empty pattern"); continue }
    if !text.isEmpty && kind == .empty { fail("\(found.spelled) takes no pattern"); continue }
    do {
      let pieces = try splitPattern(text)
      if kind == .not || kind == .label, pieces.contains(where: { if case .define = $0 { true } else { false } }) {
        fail("variables cannot be defined in \(found.spelled)")
        continue
      }
      out.append(Directive(kind: kind, spelled: found.spelled, text: text, pieces: pieces, line: k + 1))
    } catch {
      fail("\(error)")
    }
  }
  return out
}

private struct PatternError: Error, CustomStringConvertible { var description: String }

/// Splits a pattern into literal text, `{{regex}}`, `[[X:regex]]` and `[[X]]`.
private func splitPattern(_ text: String) throws -> [Piece] {
  var pieces: [Piece] = []
  let chars = Array(text)
  var literal = ""
  var i = 0
  func flush() { if !literal.isEmpty { pieces.append(.literal(literal)); literal = "" } }
  func starts(_ s: String, at k: Int) -> Bool {
    let u = Array(s)
    return k + u.count <= chars.count && Array(chars[k..<(k + u.count)]) == u
  }
  while i < chars.count {
    if starts("{{", at: i) {
      // The regex ends at the first `}}`, pushed right over extra braces so `{{x{2}}}` works.
      var close = i + 2
      while close < chars.count && !starts("}}", at: close) { close += 1 }
      guard close < chars.count else { throw PatternError(description: "unterminated '{{' in pattern") }
      while starts("}}}", at: close) { close += 1 }
      let body = String(chars[(i + 2)..<close])
      guard !body.isEmpty else { throw PatternError(description: "empty '{{}}' in pattern") }
      flush()
      pieces.append(.regex(body))
      i = close + 2
    } else if starts("[[", at: i), let close = variableEnd(chars, from: i + 2) {
      let body = String(chars[(i + 2)..<close])
      let name = body.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
      guard let first = name.first, first.isLetter || first == "_" else {
        throw PatternError(description: "invalid variable reference '[[\(body)]]'")
      }
      flush()
      let after = body[name.endIndex...]
      if after.isEmpty {
        pieces.append(.use(String(name)))
      } else if after.first == ":" {
        let re = String(after.dropFirst())
        guard !re.isEmpty else { throw PatternError(description: "empty regex for variable '\(name)'") }
        pieces.append(.define(String(name), re))
      } else {
        throw PatternError(description: "invalid variable reference '[[\(body)]]'")
      }
      i = close + 2
    } else {
      literal.append(chars[i])
      i += 1
    }
  }
  flush()
  return pieces
}

/// Index of the `]]` closing a variable whose body starts at `from`, skipping character
/// classes (`[[N:[0-9]+]]`) and escapes; nil when there is none (the `[[` is then literal).
private func variableEnd(_ chars: [Character], from: Int) -> Int? {
  var depth = 0
  var k = from
  while k < chars.count {
    switch chars[k] {
    case "\\": k += 1
    case "[": depth += 1
    case "]":
      if depth > 0 { depth -= 1 } else if k + 1 < chars.count && chars[k + 1] == "]" { return k }
    default: break
    }
    k += 1
  }
  return nil
}

// MARK: Matching

private struct Position: Comparable {
  var line: Int
  var column: Int  // UTF-16 offset
  static func < (a: Position, b: Position) -> Bool { (a.line, a.column) < (b.line, b.column) }
}

private struct Match {
  var start: Position
  var end: Position
  var captures: [String: String]
}

private struct Matcher {
  let lines: [NSString]
  var variables: [String: String] = [:]
  var failures: [FileCheckFailure] = []

  init(input: String) {
    lines = input.split(separator: "\n", omittingEmptySubsequences: false).map { NSString(string: String($0)) }
  }

  var endOfInput: Position { Position(line: lines.count - 1, column: lines.last?.length ?? 0) }

  mutating func fail(_ d: Directive, _ message: String, at line: Int?) {
    let scanned = line.map { l in (l..<min(l + 6, lines.count)).map { lines[$0] as String } } ?? []
    failures.append(FileCheckFailure(checkLine: d.line, directive: d.spelled, pattern: d.text,
                                     message: message, inputLine: line.map { $0 + 1 }, scanned: scanned))
  }

  /// Builds the regex for `d` with the variables known now.
  func compile(_ d: Directive) throws -> (NSRegularExpression, [(group: String, variable: String)]) {
    var re = ""
    var groups: [(group: String, variable: String)] = []
    for piece in d.pieces {
      switch piece {
      case .literal(let s):
        // Whitespace runs match any run of blanks, as LLVM FileCheck canonicalizes them.
        var word = ""
        var inBlanks = false
        for ch in s {
          if ch == " " || ch == "\t" {
            if !inBlanks { re += NSRegularExpression.escapedPattern(for: word) + "[ \\t]+"; word = "" }
            inBlanks = true
          } else {
            word.append(ch)
            inBlanks = false
          }
        }
        re += NSRegularExpression.escapedPattern(for: word)
      case .regex(let r):
        re += "(?:\(r))"
      case .define(let name, let r):
        let group = "v\(groups.count)x"
        groups.append((group, name))
        re += "(?<\(group)>\(r))"
      case .use(let name):
        if let g = groups.last(where: { $0.variable == name }) {
          re += "\\k<\(g.group)>"
        } else if let v = variables[name] {
          re += NSRegularExpression.escapedPattern(for: v)
        } else {
          throw PatternError(description: "undefined variable '\(name)'")
        }
      }
    }
    do {
      return (try NSRegularExpression(pattern: re), groups)
    } catch {
      throw PatternError(description: "invalid regular expression '\(re)'")
    }
  }

  /// The first match of `d` in [from, to).
  func search(_ d: Directive, from: Position, to: Position) throws -> Match? {
    let (regex, groups) = try compile(d)
    guard from.line < lines.count else { return nil }
    for l in from.line...min(to.line, lines.count - 1) {
      let s = lines[l]
      let lo = l == from.line ? from.column : 0
      let hi = l == to.line ? to.column : s.length
      guard hi >= lo else { continue }
      let range = NSRange(location: lo, length: hi - lo)
      let options: NSRegularExpression.MatchingOptions = [.withoutAnchoringBounds]
      guard let m = regex.firstMatch(in: s as String, options: options, range: range) else { continue }
      var captures: [String: String] = [:]
      for g in groups {
        let r = m.range(withName: g.group)
        if r.location != NSNotFound { captures[g.variable] = s.substring(with: r) }
      }
      return Match(start: Position(line: l, column: m.range.location),
                   end: Position(line: l, column: m.range.location + m.range.length), captures: captures)
    }
    return nil
  }

  mutating func run(_ directives: [Directive]) {
    // Labels first: each must follow the previous one, and found labels bound the blocks.
    // The checks after a label that was not found are skipped with it.
    let labels = directives.indices.filter { directives[$0].kind == .label }
    var found: [(index: Int, match: Match)] = []
    var pos = Position(line: 0, column: 0)
    for i in labels {
      do {
        if let m = try search(directives[i], from: pos, to: endOfInput) {
          found.append((i, m))
          pos = m.end
        } else {
          fail(directives[i], "label not found in input", at: pos.line)
        }
      } catch {
        fail(directives[i], "\(error)", at: nil)
      }
    }
    let head = directives[..<(labels.first ?? directives.endIndex)]
    runBlock(head, from: Position(line: 0, column: 0), to: found.first?.match.start ?? endOfInput, previousLine: nil)
    for (k, label) in found.enumerated() {
      let stop = labels.first { $0 > label.index } ?? directives.endIndex
      let end = k + 1 < found.count ? found[k + 1].match.start : endOfInput
      runBlock(directives[(label.index + 1)..<stop], from: label.match.end, to: end, previousLine: label.match.start.line)
    }
  }

  mutating func runBlock(_ block: ArraySlice<Directive>, from start: Position, to end: Position, previousLine: Int?) {
    var pos = start
    var previousLine = previousLine
    var nots: [Directive] = []
    for d in block {
      if d.kind == .not { nots.append(d); continue }
      do {
        guard let m = try matchPositive(d, pos: pos, end: end, previousLine: previousLine) else { return }
        guard checkNots(nots, from: pos, to: m.start) else { return }
        nots.removeAll()
        for (k, v) in m.captures { variables[k] = v }
        pos = m.end
        previousLine = m.start.line
      } catch {
        fail(d, "\(error)", at: nil)
        return
      }
    }
    _ = checkNots(nots, from: pos, to: end)
  }

  /// Finds the match of a positive directive, or records a failure and returns nil.
  mutating func matchPositive(_ d: Directive, pos: Position, end: Position, previousLine: Int?) throws -> Match? {
    switch d.kind {
    case .empty:
      guard let p = previousLine else { fail(d, "\(d.spelled) needs a previous match", at: nil); return nil }
      let l = p + 1
      guard l < lines.count, Position(line: l, column: 0) <= end else {
        fail(d, "no line after the previous match", at: p); return nil
      }
      guard lines[l].length == 0 else { fail(d, "line after the previous match is not empty", at: l); return nil }
      return Match(start: Position(line: l, column: 0), end: Position(line: l, column: 0), captures: [:])
    case .same:
      guard previousLine != nil else { fail(d, "\(d.spelled) needs a previous match", at: nil); return nil }
      let lineEnd = Position(line: pos.line, column: lines[pos.line].length)
      guard let m = try search(d, from: pos, to: min(lineEnd, end)) else {
        fail(d, "pattern not found on the same line as the previous match", at: pos.line); return nil
      }
      return m
    case .next:
      guard let p = previousLine else { fail(d, "\(d.spelled) needs a previous match", at: nil); return nil }
      guard let m = try search(d, from: pos, to: end) else {
        fail(d, "pattern not found in input", at: min(p + 1, lines.count - 1)); return nil
      }
      guard m.start.line == p + 1 else {
        let where_ = m.start.line == p ? "on the same line as" : "\(m.start.line - p) lines after"
        fail(d, "match is \(where_) the previous match (line \(p + 1)), not on the next line", at: m.start.line)
        return nil
      }
      return m
    case .check, .label:
      guard let m = try search(d, from: pos, to: end) else {
        fail(d, "pattern not found in input", at: pos.line); return nil
      }
      return m
    case .not:
      return nil
    }
  }

  /// Records a failure for the first excluded pattern found in [from, to).
  mutating func checkNots(_ nots: [Directive], from: Position, to: Position) -> Bool {
    for d in nots {
      do {
        if let m = try search(d, from: from, to: to) {
          fail(d, "excluded pattern found in input", at: m.start.line)
          return false
        }
      } catch {
        fail(d, "\(error)", at: nil)
        return false
      }
    }
    return true
  }
}
