// MemoryPlanner.swift - Compile-time arena planning: tensor lifetimes, aliases and greedy offset assignment.

import GraphIR

/// One buffer to place: its size in bytes and the schedule steps (inclusive) during which its
/// bytes must stay intact. Buffers whose step ranges intersect must not share memory.
public struct BufferLifetime: Hashable, Sendable {
  public var size: Int
  public var firstUse: Int
  public var lastUse: Int

  public init(size: Int, firstUse: Int, lastUse: Int) {
    self.size = size
    self.firstUse = firstUse
    self.lastUse = lastUse
  }

  public func isLive(togetherWith o: BufferLifetime) -> Bool {
    firstUse <= o.lastUse && o.firstUse <= lastUse
  }
}

/// Offsets of buffers inside one arena. `offsets[i]` belongs to `buffers[i]`; every offset is a
/// multiple of `alignment` and `offsets[i] + buffers[i].size <= arenaSize`.
public struct MemoryPlan: CustomStringConvertible, Sendable {
  public let alignment: Int
  public let arenaSize: Int
  public let buffers: [BufferLifetime]
  public let offsets: [Int]

  /// What the buffers would take without reuse (each rounded up to the alignment).
  public var unsharedSize: Int { buffers.reduce(0) { $0 + roundUp($1.size, alignment) } }

  /// Pairs of buffers that are live together and overlap in memory. O(n^2): for tests only.
  public func conflicts() -> [(Int, Int)] {
    var out: [(Int, Int)] = []
    for i in buffers.indices {
      for j in (i + 1)..<buffers.count where buffers[i].isLive(togetherWith: buffers[j]) {
        let a = offsets[i], b = offsets[j]
        if a < b + buffers[j].size && b < a + buffers[i].size { out.append((i, j)) }
      }
    }
    return out
  }

  /// One line per buffer in offset order, with a bar showing its lifetime over the schedule.
  public var description: String {
    let steps = (buffers.map(\.lastUse).max() ?? -1) + 1
    var s = "arena \(arenaSize) bytes (unshared \(unsharedSize)), \(buffers.count) buffers, alignment \(alignment)\n"
    let order = buffers.indices.sorted { (offsets[$0], $0) < (offsets[$1], $1) }
    for i in order {
      let b = buffers[i]
      let width = min(steps, 64)
      var bar = ""
      for c in 0..<width {
        let lo = c * steps / width, hi = (c + 1) * steps / width - 1
        bar += (b.firstUse <= hi && lo <= b.lastUse) ? "#" : "."
      }
      s += "  #\(i) offset \(offsets[i]) size \(b.size) steps \(b.firstUse)...\(b.lastUse) |\(bar)|\n"
    }
    return s
  }
}

/// Places `buffers` in one arena, largest first, each at the lowest aligned offset that does not
/// overlap an already placed buffer live at the same time (TFLM's GreedyMemoryPlanner).
/// Deterministic: ties are broken by first use, then by index. O(n^2) in the worst case.
public func planMemory(_ buffers: [BufferLifetime], alignment: Int = GCB.weightAlignment) -> MemoryPlan {
  precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
  precondition(buffers.allSatisfy { $0.size >= 0 && $0.size <= 1 << 48 && $0.firstUse <= $0.lastUse },
               "buffer sizes and lifetimes must be valid")
  let order = buffers.indices.sorted {
    let a = buffers[$0], b = buffers[$1]
    return (a.size, -a.firstUse, -$0) > (b.size, -b.firstUse, -$1)
  }
  var offsets = [Int](repeating: 0, count: buffers.count)
  // Placed non-empty buffers, kept sorted by offset.
  var placed: [Int] = []
  var arena = 0
  for i in order {
    let b = buffers[i]
    guard b.size > 0 else { continue }
    var candidate = 0
    for p in placed where buffers[p].isLive(togetherWith: b) {
      if candidate + b.size <= offsets[p] { break }
      candidate = max(candidate, roundUp(offsets[p] + buffers[p].size, alignment))
    }
    offsets[i] = candidate
    let at = placed.firstIndex { offsets[$0] > candidate } ?? placed.count
    placed.insert(i, at: at)
    arena = max(arena, roundUp(candidate + b.size, alignment))
  }
  return MemoryPlan(alignment: alignment, arenaSize: arena, buffers: buffers, offsets: offsets)
}

private func roundUp(_ n: Int, _ a: Int) -> Int { (n + a - 1) & ~(a - 1) }

/// One node of a flat schedule, as tensor indices.
struct ScheduleStep {
  var operands: [Int?]
  var results: [Int]
}

/// The steps during which each node result must be kept: from its producing step to its last
/// use; graph outputs live until the end (step `steps.count`). Nil for tensors no node produces.
func resultLifetimes(tensorCount: Int, steps: [ScheduleStep], outputs: [Int]) -> [(first: Int, last: Int)?] {
  var life = [(first: Int, last: Int)?](repeating: nil, count: tensorCount)
  for (s, step) in steps.enumerated() {
    for r in step.results { life[r] = (s, s) }
    for case let o? in step.operands where life[o] != nil { life[o]!.last = max(life[o]!.last, s) }
  }
  for o in outputs where life[o] != nil { life[o]!.last = steps.count }
  return life
}

/// Finds two buffers that are live together and overlap in memory, in O(n log n + n * live)
/// by sweeping over first uses while keeping the live buffers sorted by offset. Used by the
/// reader, which cannot afford the O(n^2) pairwise check on a hostile file.
func firstConflict(offsets: [Int], buffers: [BufferLifetime]) -> (Int, Int)? {
  let items = buffers.indices.filter { buffers[$0].size > 0 }
  let byFirst = items.sorted { (buffers[$0].firstUse, $0) < (buffers[$1].firstUse, $1) }
  let byLast = items.sorted { (buffers[$0].lastUse, $0) < (buffers[$1].lastUse, $1) }
  var live: [Int] = []  // sorted by offset; pairwise disjoint by construction
  var expired = 0
  func position(_ offset: Int) -> Int {
    var lo = 0, hi = live.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if offsets[live[mid]] < offset { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }
  for i in byFirst {
    let b = buffers[i]
    while expired < byLast.count, buffers[byLast[expired]].lastUse < b.firstUse {
      let e = byLast[expired]
      expired += 1
      let p = position(offsets[e])
      if p < live.count, live[p] == e { live.remove(at: p) }
    }
    let p = position(offsets[i])
    if p > 0, offsets[live[p - 1]] + buffers[live[p - 1]].size > offsets[i] { return (live[p - 1], i) }
    if p < live.count, offsets[live[p]] < offsets[i] + b.size { return (live[p], i) }
    live.insert(i, at: p)
  }
  return nil
}

/// A node result that shares the arena bytes of one of that node's operands.
public struct AliasInfo: Hashable, Sendable {
  /// The schedule step (node index) that produces `result`.
  public var node: Int
  public var result: Int
  public var operand: Int
  public var kind: ArenaAlias

  public init(node: Int, result: Int, operand: Int, kind: ArenaAlias) {
    self.node = node
    self.result = result
    self.operand = operand
    self.kind = kind
  }
}

/// Tensors that share arena bytes through aliases, as union-find sets with their combined
/// lifetime: a group is one buffer, live from its first member's first use to the last use of
/// any member.
struct AliasGroups {
  private var parent: [Int]
  private(set) var first: [Int]
  private(set) var last: [Int]

  /// `life[i]` is tensor i's lifetime, or nil for tensors that are not planned.
  init(life: [(first: Int, last: Int)?]) {
    parent = Array(life.indices)
    first = life.map { $0?.first ?? 0 }
    last = life.map { $0?.last ?? 0 }
  }

  mutating func root(_ i: Int) -> Int {
    var r = i
    while parent[r] != r { r = parent[r] }
    var j = i
    while parent[j] != r { (j, parent[j]) = (parent[j], r) }
    return r
  }

  /// Puts `member`'s group into `owner`'s group (owner's root stays the root).
  mutating func merge(_ member: Int, into owner: Int) {
    let a = root(owner), b = root(member)
    guard a != b else { return }
    parent[b] = a
    first[a] = min(first[a], first[b])
    last[a] = max(last[a], last[b])
  }
}

/// Chooses the aliases of a schedule: for each single-result node whose op allows it
/// (`aliasing(op)`), the result joins an operand's group when both are planned with the same
/// dtype and byte size; a view aliases operand 0, an in-place op the first operand whose whole
/// group is dead after this node (so no later reader sees the overwrite). `sizes[i]` is the
/// planned byte size of tensor i (nil when unplanned); `dtypes` the element types.
func chooseAliases(
  steps: [ScheduleStep], ops: [String], sizes: [Int?], dtypes: [DType],
  life: [(first: Int, last: Int)?], aliasing: (String) -> ArenaAlias?
) -> (aliases: [AliasInfo], groups: AliasGroups) {
  var groups = AliasGroups(life: life)
  var aliases: [AliasInfo] = []
  for (k, step) in steps.enumerated() {
    guard step.results.count == 1, let kind = aliasing(ops[k]) else { continue }
    let r = step.results[0]
    guard let size = sizes[r] else { continue }
    let candidates = kind == .view ? Array(step.operands.prefix(1)) : step.operands
    for case let o? in candidates where sizes[o] == size && dtypes[o] == dtypes[r] {
      if kind == .inPlace && groups.last[groups.root(o)] != k { continue }
      groups.merge(r, into: o)
      aliases.append(AliasInfo(node: k, result: r, operand: o, kind: kind))
      break
    }
  }
  return (aliases, groups)
}
