// GirTestFile.swift - Reads `.gir` pass tests: a RUN line, input IR and CHECK lines.

import Foundation
import GraphIR

/// A `.gir` pass test, as in MLIR's lit tests:
///
///     // RUN: graphc opt %s --pipeline 'canonicalize' | filecheck %s
///     graph @g(%x: f32[2]) { … }
///     // CHECK-LABEL: graph @g
///     // CHECK: onnx.Relu
///     // -----
///     graph @h(…) { … }
///
/// `// -----` lines split the file into independent cases; the RUN line applies to all of them.
/// A RUN line ending in `\` continues on the next RUN line.
public struct GirTestFile: Sendable {
  /// One case: its text (IR plus comments, which hold the checks).
  public struct Case: Sendable {
    /// The case's lines, exactly as in the file.
    public var text: String
    /// The 1-based file line of the case's first line.
    public var startLine: Int

    /// The case text preceded by `startLine - 1` empty lines, so that parse errors and check
    /// failures report line numbers of the whole file.
    public var fileAlignedText: String { String(repeating: "\n", count: startLine - 1) + text }

    /// Parses the case's input IR (comments, including the check lines, are ignored).
    public func parseInput() throws -> Graph { try parseGraph(fileAlignedText) }

    /// Whether the case has any check directive with this prefix (`CHECK` does not count
    /// `CHECK-ERROR` lines, which check diagnostics rather than the output IR).
    public func hasChecks(prefix: String = "CHECK") -> Bool {
      text.split(separator: "\n").contains {
        guard let found = findDirective(in: String($0), prefix: prefix) else { return false }
        return !isIgnored(found.spelled, prefix: prefix, ignoring: Self.otherPrefixes(prefix))
      }
    }

    /// FileCheck `output` against this case's check lines; failures carry file line numbers.
    public func check(output: String, prefix: String = "CHECK") -> [FileCheckFailure] {
      fileCheck(input: output, checks: fileAlignedText, prefix: prefix, ignoring: Self.otherPrefixes(prefix))
    }

    static func otherPrefixes(_ prefix: String) -> [String] { prefix == "CHECK" ? ["CHECK-ERROR"] : [] }
  }

  /// The RUN command (continuations joined), without the `RUN:` marker.
  public var runCommand: String
  /// The command's words before the first unquoted `|`, shell-unquoted (`%s` kept as is).
  public var arguments: [String]
  /// The text of the `--pipeline` argument (`--pipeline 'a,b'` or `--pipeline=a,b`), if any.
  public var pipeline: String?
  public var cases: [Case]

  /// Parses a test file's text. Throws `GraphError` when there is no RUN line, more than one
  /// RUN command, or a RUN command with unbalanced quotes.
  public init(text: String) throws {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var commands: [String] = []
    var continuing = false
    for line in lines {
      guard let r = line.range(of: "RUN:") else { continue }
      var body = line[r.upperBound...].trimmingCharacters(in: .whitespaces)
      let continues = body.hasSuffix("\\")
      if continues { body = String(body.dropLast()).trimmingCharacters(in: .whitespaces) }
      if continuing, let last = commands.popLast() {
        commands.append(last + " " + body)
      } else {
        commands.append(body)
      }
      continuing = continues
    }
    guard let command = commands.first else { throw GraphError("no RUN: line in the test file") }
    guard commands.count == 1 else {
      throw GraphError("the test file has \(commands.count) RUN: commands; only one is supported")
    }
    runCommand = command
    arguments = try shellWords(command)
    pipeline = Self.pipelineArgument(arguments)

    cases = []
    var start = 0
    for i in 0...lines.count {
      let atEnd = i == lines.count
      guard atEnd || lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("// -----") else { continue }
      let body = lines[start..<i].joined(separator: "\n")
      // A separator at the very end of the file leaves no case behind it.
      if !(atEnd && start > 0 && body.allSatisfy(\.isWhitespace)) {
        cases.append(Case(text: body, startLine: start + 1))
      }
      start = i + 1
    }
  }

  /// Reads and parses a `.gir` file.
  public init(contentsOf url: URL) throws {
    let data = try Data(contentsOf: url)
    try self.init(text: String(decoding: data, as: UTF8.self))
  }

  static func pipelineArgument(_ words: [String]) -> String? {
    for (i, w) in words.enumerated() {
      if w == "--pipeline" { return i + 1 < words.count ? words[i + 1] : nil }
      if w.hasPrefix("--pipeline=") { return String(w.dropFirst("--pipeline=".count)) }
    }
    return nil
  }
}

/// Splits a command like a POSIX shell: single quotes literal, double quotes with `\"` and
/// `\\`, backslash escapes outside quotes. Stops at the first unquoted `|`.
func shellWords(_ command: String) throws -> [String] {
  var words: [String] = []
  var word = ""
  var inWord = false
  var it = command.makeIterator()
  while let c = it.next() {
    switch c {
    case " ", "\t":
      if inWord { words.append(word); word = ""; inWord = false }
    case "|":
      if inWord { words.append(word) }
      return words
    case "'":
      inWord = true
      while true {
        guard let d = it.next() else { throw GraphError("unbalanced ' in RUN: \(command)") }
        if d == "'" { break }
        word.append(d)
      }
    case "\"":
      inWord = true
      while true {
        guard let d = it.next() else { throw GraphError("unbalanced \" in RUN: \(command)") }
        if d == "\"" { break }
        if d == "\\", let e = it.next() {
          if e != "\"" && e != "\\" { word.append(d) }
          word.append(e)
        } else {
          word.append(d)
        }
      }
    case "\\":
      inWord = true
      if let d = it.next() { word.append(d) }
    default:
      inWord = true
      word.append(c)
    }
  }
  if inWord { words.append(word) }
  return words
}
