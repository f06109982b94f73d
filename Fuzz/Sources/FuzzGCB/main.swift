// main.swift - libFuzzer target: .gcb bytes -> validate -> load -> run on zero inputs.

import CFuzzerDriver
import Glibc
import GraphIR
import Interpreter
import PackedFormat

/// Small ceilings keep each run cheap; every allocation a model asks for stays under them.
private let limits: ResourceLimits = {
  var l = ResourceLimits()
  l.modelBytes = 1 << 20
  l.tensorBytes = 1 << 20
  l.nodes = 1_000
  l.arenaBytes = 1 << 22
  return l
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGCB(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  guard let data else { return 0 }
  InterpreterThreads.count = 1
  var bytes = Array(UnsafeBufferPointer(start: data, count: size))
  // As given (checksums, header), else re-signed: random mutations almost never keep the CRCs
  // right, and the structural checks behind them are what needs fuzzing.
  var model = try? Model(bytes: bytes, name: "fuzz.gcb", limits: limits)
  if model == nil {
    updateChecksums(&bytes)
    model = try? Model(bytes: bytes, name: "fuzz.gcb", limits: limits)
  }
  if let model { run(model) }
  return 0
}

/// Runs `model` once on zero inputs; errors are fine, crashes are not.
private func run(_ model: Model) {
  var feeds: [String: Tensor] = [:]
  for (name, type) in model.inputs {
    // Symbolic dims become 1; an unknown rank becomes a scalar.
    let shape = type.dims?.map { $0.value ?? 1 } ?? []
    guard let n = checkedByteCount(shape, type.dtype), n <= limits.tensorBytes else { return }
    feeds[name] = Tensor(zeros: type.dtype, shape: shape)
  }
  _ = try? model.run(feeds)
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzGCB))
