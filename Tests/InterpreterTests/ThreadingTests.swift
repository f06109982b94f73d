// ThreadingTests.swift - The kernels that split work across threads (Conv planes, Gemm blocks)
// give bit-identical results at 1 and 4 threads, with shapes large enough to take the parallel
// path. `scripts/sanitize thread` runs these under ThreadSanitizer to show there is no race.

import GraphIR
import Interpreter
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
