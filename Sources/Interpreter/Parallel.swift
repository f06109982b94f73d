// Parallel.swift - The interpreter's thread budget and the one helper kernels split work with.

import CKernels
import Dispatch
import Foundation

/// How many threads kernels may use at once (1 = serial). `graphc run/bench --threads` set the
/// process default (safe to set while models run on other threads: a lock guards it);
/// `Model.run(_:threads:)` and `Model.threads` override it for one run on the calling thread
/// only, so models run from different threads can use different budgets.
public enum InterpreterThreads {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var value = max(1, ProcessInfo.processInfo.activeProcessorCount)

  public static var count: Int {
    get { lock.lock(); defer { lock.unlock() }; return value }
    set { lock.lock(); value = max(1, newValue); lock.unlock() }
  }

  /// The budget for work started on the calling thread: 1 inside a parallel body (no nested
  /// splitting, hence no oversubscription), else the per-run override or `count`.
  public static var current: Int {
    let local = Int(graphc_thread_budget())
    return local > 0 ? local : count
  }

  /// Runs `body` with the calling thread's budget set to `threads` (nil keeps the current one).
  public static func with<R>(_ threads: Int?, _ body: () throws -> R) rethrows -> R {
    guard let threads else { return try body() }
    let previous = graphc_set_thread_budget(Int32(clamping: max(1, threads)))
    defer { graphc_set_thread_budget(previous) }
    return try body()
  }
}

/// Splits `0..<count` into at most `InterpreterThreads.current` contiguous chunks of at least
/// `minChunk` items and runs `body` on each. Work runs on Dispatch's global worker pool, whose
/// threads persist across calls, so no thread is created per op. Serial when one chunk suffices
/// or when called from inside another chunk's body.
@inline(__always)
func parallelChunks(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
  let chunks = min(InterpreterThreads.current, max(1, count / max(minChunk, 1)))
  if chunks <= 1 {
    if count > 0 { body(0..<count) }
    return
  }
  DispatchQueue.concurrentPerform(iterations: chunks) { t in
    let lo = count * t / chunks, hi = count * (t + 1) / chunks
    let mark = graphc_enter_parallel_body()
    defer { graphc_leave_parallel_body(mark) }
    if lo < hi { body(lo..<hi) }
  }
}

/// Elements below which an element-wise kernel stays on one thread: about 30 µs of work, well
/// above the cost of waking a worker.
let elementwiseGrain = 1 << 15
