// ThreadingTests.swift - The kernels that split work across threads (Conv planes, Gemm blocks)
// give bit-identical results at 1 and 4 threads, with shapes large enough to take the parallel
// path. `scripts/sanitize thread` runs these under ThreadSanitizer to show there is no race.

import CKernels
import GraphIR
@testable import Interpreter
import Testing

@Suite(.serialized) struct ThreadingTests {
  private func atThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
    let saved = InterpreterThreads.count
    InterpreterThreads.count = n
    defer { InterpreterThreads.count = saved }
    return try body()
  }

  @Test func convIsTheSameAtOneAndFourThreads() throws {
    var rng = SeededRandom(seed: 7)
    // 64 output planes of 32x32x3x3 = 9216 work units: the kernel's chunks are at least
    // 2^17 / 9216 = 14 planes, so 64 planes split into 4 chunks at 4 threads.
    let x = f32([1, 8, 32, 32], rng.floats(8 * 32 * 32)), w = f32([64, 8, 3, 3], rng.floats(64 * 8 * 9))
    let attrs: AttributeMap = ["pads": .ints([1, 1, 1, 1])]
    let one = try atThreads(1) { try run("Conv", attrs, [x, w])[0] }
    let four = try atThreads(4) { try run("Conv", attrs, [x, w])[0] }
    #expect(one.bitwiseEqual(four))
  }

  @Test func matMulIsTheSameAtOneAndFourThreads() throws {
    var rng = SeededRandom(seed: 11)
    // 160 x 128 x 128 = 2.6M multiply-adds, over the 2^21 threshold for threading.
    let a = f32([160, 128], rng.floats(160 * 128)), b = f32([128, 128], rng.floats(128 * 128))
    let one = try atThreads(1) { try run("MatMul", [:], [a, b])[0] }
    let four = try atThreads(4) { try run("MatMul", [:], [a, b])[0] }
    #expect(one.bitwiseEqual(four))
  }
}

/// The persistent worker pool behind `parallelChunks`: every item once, workers created once
/// and reused, concurrent callers served without deadlock (one holds the pool, the others run
/// their chunks on their own thread).
@Suite(.serialized) struct WorkerPoolTests {
  @Test(arguments: [2, 3, 8])
  func everyItemRunsOnce(threads: Int) {
    let count = 1000
    let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
    defer { hits.deallocate() }
    hits.initialize(repeating: 0, count: count)
    InterpreterThreads.with(threads) {
      for _ in 0..<50 { parallelChunks(count) { r in for i in r { hits[i] += 1 } } }
    }
    #expect((0..<count).allSatisfy { hits[$0] == 50 })
    let workers = graphc_pool_workers()
    InterpreterThreads.with(threads) { parallelChunks(count) { _ in } }
    #expect(graphc_pool_workers() == workers, "a call created workers after the pool had grown")
  }

  @Test func concurrentCallersAllFinish() async {
    let sums = await withTaskGroup(of: Int.self) { group in
      for caller in 0..<4 {
        group.addTask {
          var total = 0
          for _ in 0..<200 {
            let parts = UnsafeMutablePointer<Int>.allocate(capacity: 4)
            parts.initialize(repeating: 0, count: 4)
            InterpreterThreads.with(2) {
              parallelChunks(4) { r in for i in r { parts[i] = i + caller } }
            }
            total += (0..<4).reduce(0) { $0 + parts[$1] }
            parts.deallocate()
          }
          return total
        }
      }
      var all: [Int] = []
      for await s in group { all.append(s) }
      return all.sorted()
    }
    // Each call writes 0+1+2+3 plus 4 * caller.
    #expect(sums == (0..<4).map { 200 * (6 + 4 * $0) })
  }
}
