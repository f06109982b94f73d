// main.swift - libFuzzer target: ONNX bytes -> import -> verify (-> pack, when it verifies).

import CFuzzerDriver
import Glibc
import GraphIR
import ONNXImport
import PackedFormat

/// Small ceilings keep each input cheap; exceeding them must be a clean error like any other.
private let options: ImportOptions = {
  var o = ImportOptions()
  o.maxModelBytes = 1 << 20
  o.maxTensorBytes = 1 << 20
  o.maxNodes = 10_000
  return o
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  guard let data else { return 0 }
  let bytes = UnsafeRawBufferPointer(start: data, count: size)
  guard let graph = try? importONNX(bytes: bytes, baseDirectory: nil, sourceName: "fuzz.onnx", options: options) else { return 0 }
  guard (try? graph.verify()) != nil else { return 0 }
  var limits = ResourceLimits()
  limits.tensorBytes = 1 << 20
  limits.arenaBytes = 1 << 24
  _ = try? writeGCB(graph: graph, metadata: [:], limits: limits)
  return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzONNX))
