// Commands.swift - Running built executables from tests: the graphc binary, plugins, tools.

import Foundation

/// What a finished process left behind.
public struct CommandResult: Sendable {
  public let status: Int32
  public let stdout: String
  public let stderr: String
}

/// Runs `executable` with `arguments` and reads stdout and stderr to the end.
public func runExecutable(_ executable: String, _ arguments: [String]) throws -> CommandResult {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: executable)
  p.arguments = arguments
  let out = Pipe(), err = Pipe()
  p.standardOutput = out
  p.standardError = err
  try p.run()
  let o = out.fileHandleForReading.readDataToEndOfFile()
  let e = err.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return CommandResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                       stderr: String(decoding: e, as: UTF8.self))
}

/// The directory SwiftPM put the build products in: `GRAPHC_BUILD_DIR` when set, else the
/// nearest folder above the running test bundle that holds a `graphc` executable
/// (`swift build --build-tests` builds it beside the tests).
public let buildProductsDirectory: String = {
  if let dir = ProcessInfo.processInfo.environment["GRAPHC_BUILD_DIR"] { return dir }
  var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
  for _ in 0..<4 {
    if FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("graphc").path) { return dir.path }
    dir = dir.deletingLastPathComponent()
  }
  return FileManager.default.currentDirectoryPath + "/.build/debug"
}()

/// A fresh, empty temporary directory.
public func makeTemporaryDirectory(prefix: String = "graphc-test") throws -> String {
  let dir = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  return dir
}
