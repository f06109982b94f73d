// MemoryPlannerTests.swift - Greedy arena planning: no live overlap, reuse along chains.

import GraphIR
import Testing
import GraphcTestSupport
@testable import PackedFormat

struct MemoryPlannerTests {
  @Test func chainReusesMemory() throws {
    // Results of 100, 200, 300 and 400 floats; each lives from its producer to the next node,
    // the last one (an output) to the end. Hand-placed largest first: v3 (1600 B) at 0, v2
    // (1200 B, live with v3) at 1600, v1 (800 B, live with v2 only) at 0, v0 (400 B, live with
    // v1 only) at 832. Arena = 1600 + 1216 = 2816 < 4096 unshared.
    let bytes = try writeGCB(graph: chainGraph([100, 200, 300, 400]), metadata: [:])
    let m = try PackedModel(bytes: bytes)
    #expect(m.tensors[1...4].map(\.arenaOffset) == [832, 0, 1600, 0])
    #expect(m.arenaSize == 2816)
  }

  @Test func chainPlanIsSmallerThanTheSumOfSizes() {
    let buffers = (0..<20).map { BufferLifetime(size: 1000 + 37 * $0, firstUse: $0, lastUse: $0 + 1) }
    let plan = planMemory(buffers)
    #expect(plan.conflicts().isEmpty)
    #expect(plan.arenaSize < plan.unsharedSize)
    #expect(plan.arenaSize <= 2 * 1_768 + 64)  // two adjacent links of the largest sizes
  }

  @Test(arguments: 0..<25) func randomPlansHaveNoConflicts(seed: Int) {
    var rng = SplitMix64(seed: UInt64(seed))
    let n = 1 + Int(rng.next() % 60)
    let buffers = (0..<n).map { _ -> BufferLifetime in
      let first = Int(rng.next() % 40)
      return BufferLifetime(size: Int(rng.next() % 5000), firstUse: first, lastUse: first + Int(rng.next() % 10))
    }
    let plan = planMemory(buffers)
    #expect(plan.conflicts().isEmpty, "\(plan)")
    #expect(plan.offsets.allSatisfy { $0 % 64 == 0 })
    #expect(zip(plan.offsets, buffers).allSatisfy { $0 + $1.size <= plan.arenaSize })
    #expect(plan.arenaSize <= plan.unsharedSize)
    #expect(firstConflict(offsets: plan.offsets, buffers: buffers) == nil)
  }

  @Test(arguments: 0..<25) func sweepCheckAgreesWithThePairwiseCheck(seed: Int) {
    var rng = SplitMix64(seed: UInt64(seed) + 1000)
    let n = 2 + Int(rng.next() % 30)
    let buffers = (0..<n).map { _ -> BufferLifetime in
      let first = Int(rng.next() % 20)
      return BufferLifetime(size: Int(rng.next() % 300), firstUse: first, lastUse: first + Int(rng.next() % 6))
    }
    let offsets = buffers.map { _ in Int(rng.next() % 16) * 64 }
    let plan = MemoryPlan(alignment: 64, arenaSize: 4096, buffers: buffers, offsets: offsets)
    #expect((firstConflict(offsets: offsets, buffers: buffers) == nil) == plan.conflicts().isEmpty)
  }

  @Test func descriptionListsBuffersInOffsetOrder() {
    let plan = planMemory([BufferLifetime(size: 10, firstUse: 0, lastUse: 1), BufferLifetime(size: 100, firstUse: 1, lastUse: 2)])
    #expect(plan.description == """
      arena 192 bytes (unshared 192), 2 buffers, alignment 64
        #1 offset 0 size 100 steps 1...2 |.##|
        #0 offset 128 size 10 steps 0...1 |##.|

      """)
  }
}

