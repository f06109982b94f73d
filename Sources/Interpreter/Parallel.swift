// Parallel.swift - The interpreter's thread budget and the one helper kernels split work with.

import Dispatch
import Foundation

/// How many threads kernels may use at once (1 = serial). `graphc run/bench --threads` and
/// apps set it; the default is the number of active cores.
public enum InterpreterThreads {
  nonisolated(unsafe) public static var count = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Splits `0..<count` into at most `InterpreterThreads.count` contiguous chunks of at least
/// `minChunk` items and runs `body` on each. Work runs on Dispatch's global worker pool, whose
/// threads persist across calls, so no thread is created per op. Serial when one chunk suffices.
@inline(__always)
func parallelChunks(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
  let chunks = min(InterpreterThreads.count, max(1, count / max(minChunk, 1)))
  if chunks <= 1 {
    if count > 0 { body(0..<count) }
    return
  }
  DispatchQueue.concurrentPerform(iterations: chunks) { t in
    let lo = count * t / chunks, hi = count * (t + 1) / chunks
    if lo < hi { body(lo..<hi) }
  }
}
