// main.swift - libFuzzer target: textual IR -> parse -> verify -> print -> parse again.

import CFuzzerDriver
import Glibc
import GraphIR

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIR(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  guard let data else { return 0 }
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  guard let graph = try? parseGraph(text) else { return 0 }
  let verified = (try? graph.verify()) != nil
  let printed = printGraph(graph, options: PrintOptions(fullConstants: true))
  // The printer's output must parse, and print the same way again: a round trip.
  guard let again = try? parseGraph(printed) else {
    fatalError("printed IR does not parse:\n\(printed)")
  }
  let reprinted = printGraph(again, options: PrintOptions(fullConstants: true))
  if reprinted != printed { fatalError("print -> parse -> print is not stable:\n\(printed)\n---\n\(reprinted)") }
  if verified && (try? again.verify()) == nil { fatalError("a verified graph no longer verifies after a round trip:\n\(printed)") }
  return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzIR))
