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
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let model = try? Model(bytes: bytes, name: "fuzz.gcb", limits: limits) else { return 0 }
  var feeds: [String: Tensor] = [:]
  for (name, type) in model.inputs {
    // Symbolic dims become 1; an unknown rank becomes a scalar.
    let shape = type.dims?.map { $0.value ?? 1 } ?? []
    guard let n = checkedByteCount(shape, type.dtype), n <= limits.tensorBytes else { return 0 }
    feeds[name] = Tensor(zeros: type.dtype, shape: shape)
  }
  _ = try? model.run(feeds)
  return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzGCB))
