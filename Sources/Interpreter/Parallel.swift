// Parallel.swift - The interpreter's thread budget and the one helper kernels split work with.

import Dispatch
import Foundation

/// How many threads kernels may use at once (1 = serial). `graphc run/bench --threads` and
/// apps set it; the default is the number of active cores. Safe to set while models run on
/// other threads (a lock guards it; kernels read it once per op).
public enum InterpreterThreads {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var value = max(1, ProcessInfo.processInfo.activeProcessorCount)

  public static var count: Int {
    get { lock.lock(); defer { lock.unlock() }; return value }
    set { lock.lock(); value = max(1, newValue); lock.unlock() }
  }
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
