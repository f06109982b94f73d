// SparseAttention.swift - Per-head sparse attention kernels: A-shape, vertical-slash, block-sparse.

import GraphIR

/// The block size of the sparse patterns (PASSES.md §5); equal to the kernel's query block,
/// so a block-sparse query block is one work item.
enum SparseAttentionConstants {
  static let block = 64
  /// Vertical-slash: the queries the online index is estimated from.
  static let lastQueries = 64
  /// Vertical-slash: the first columns and the smallest offsets ranked first.
  static let forcedColumns = 30
  static let forcedSlashes = 100
}

/// The patterns a call runs, one per head, with sizes scaled from the calibration length to
/// this call's key length (`size * skv / calibrationLength`, rounded up, when the record has a
/// calibration length), so a pattern keeps the density it was chosen at.
func resolvedPatterns(_ patterns: [AttentionHeadPattern], calibrationLength: Int, skv: Int) -> [AttentionHeadPattern] {
  guard calibrationLength > 0, calibrationLength != skv else { return patterns }
  func scaled(_ x: Int) -> Int { x == 0 ? 0 : min(Int(Int32.max), (x * skv + calibrationLength - 1) / calibrationLength) }
  return patterns.map { p in
    var q = p
    q.sizes = (scaled(p.sizes.0), scaled(p.sizes.1))
    return q
  }
}

/// The keys one head keeps for one input (the pattern's index). Invariant: `keeps(i, j)` is the
/// exact element rule, and the kernel's tiles visit exactly the kept j <= i once.
struct SparseHeadIndex {
  var kind: AttentionPatternKind = .dense
  var sizes: (Int, Int) = (0, 0)
  /// Vertical-slash: kept columns (ascending), kept offsets i - j (ascending), and both as flags.
  var columns: [Int32] = []
  var slashes: [Int] = []
  var isColumn: [Bool] = []
  var isSlash: [Bool] = []
  /// Block-sparse: key blocks of query block qb are `blocks[blockStart[qb]..<blockStart[qb + 1]]`, ascending.
  var blockStart: [Int] = []
  var blocks: [Int32] = []

  /// Whether query i computes key j (the causal rule j <= i applies on top).
  func keeps(_ i: Int, _ j: Int) -> Bool {
    switch kind {
    case .dense: return true
    case .aShape: return j < sizes.0 || i - j < sizes.1
    case .verticalSlash: return isColumn[j] || (i >= j && isSlash[i - j])
    case .blockSparse, .strided:
      let qb = i / SparseAttentionConstants.block, kb = Int32(j / SparseAttentionConstants.block)
      return blocks[blockStart[qb]..<blockStart[qb + 1]].contains(kb)
    }
  }
}

/// Builds the index of every (batch, head), in parallel over heads; the online parts (VS
/// scores, BS pooled scores) are computed here, inside the kernel's measured time.
func buildSparseIndices(
  _ p: AttentionParams, _ patterns: [AttentionHeadPattern], q: UnsafePointer<Float>, k: UnsafePointer<Float>
) -> [SparseHeadIndex] {
  let g = p.geometry
  let out = UnsafeMutablePointer<SparseHeadIndex>.allocate(capacity: g.batch * g.heads)
  out.initialize(repeating: SparseHeadIndex(), count: g.batch * g.heads)
  defer { out.deinitialize(count: g.batch * g.heads); out.deallocate() }
  parallelChunks(g.batch * g.heads) { items in
    for bh in items {
      let b = bh / g.heads, h = bh % g.heads
      let pattern = patterns[h]
      var index = SparseHeadIndex(kind: pattern.kind, sizes: pattern.sizes)
      let qh = q + bh * g.sq * g.d, kh = k + (b * g.kvHeads + g.kvHead(h)) * g.skv * g.d
      switch pattern.kind {
      case .verticalSlash: buildVerticalSlash(&index, p, batch: b, head: h, q: qh, k: kh)
      case .blockSparse: buildBlockSparse(&index, p, q: qh, k: kh)
      case .dense, .aShape, .strided: break
      }
      out[bh] = index
    }
  }
  return Array(UnsafeBufferPointer(start: out, count: g.batch * g.heads))
}

/// The `count` indices of the largest `scores`, ties to the smaller index, ascending.
private func topIndices(_ scores: [Float], _ count: Int) -> [Int] {
  let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
  return order.prefix(count).sorted()
}

/// Vertical-slash online index: `A = softmax(scale q_last kᵀ + mask)` over the last 64 queries;
/// column scores are A's column sums, slash scores its sums along each offset i - j; the first
/// 30 columns and offsets 0..99 rank first; then the top `k_v` columns and `k_s` offsets.
private func buildVerticalSlash(
  _ index: inout SparseHeadIndex, _ p: AttentionParams, batch: Int, head: Int,
  q: UnsafePointer<Float>, k: UnsafePointer<Float>
) {
  let g = p.geometry, rows = min(SparseAttentionConstants.lastQueries, g.sq), first = g.sq - rows
  var columnScore = [Float](repeating: 0, count: g.skv), slashScore = [Float](repeating: 0, count: g.skv)
  let s = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * g.skv))
  defer { s.deallocate() }
  sgemm(transA: false, transB: true, m: rows, n: g.skv, k: g.d, alpha: p.scale,
        a: q + first * g.d, lda: g.d, b: k, ldb: g.d, beta: 0, c: s, ldc: g.skv)
  for r in 0..<rows {
    let i = first + r, row = s + r * g.skv, visible = min(g.skv, i + 1)
    if p.softcap > 0 { for j in 0..<visible { row[j] = p.softcap * tanhf(row[j] / p.softcap) } }
    if let m = p.mask {
      let mrow = m.base + batch * m.strides.b + head * m.strides.h + i * m.strides.i
      for j in 0..<visible { row[j] += mrow[j * m.strides.j] }
    }
    var mx = -Float.infinity
    for j in 0..<visible { mx = max(mx, row[j]) }
    guard mx > -.infinity else { continue }
    var sum: Float = 0
    for j in 0..<visible { row[j] = attentionExp(row[j] - mx); sum += row[j] }
    let inv = 1 / sum
    for j in 0..<visible {
      let a = row[j] * inv
      columnScore[j] += a
      slashScore[i - j] += a
    }
  }
  for j in 0..<min(SparseAttentionConstants.forcedColumns, g.skv) { columnScore[j] = .infinity }
  for o in 0..<min(SparseAttentionConstants.forcedSlashes, g.skv) { slashScore[o] = .infinity }
  let columns = topIndices(columnScore, min(index.sizes.0, g.skv))
  index.slashes = topIndices(slashScore, min(index.sizes.1, g.skv))
  index.columns = columns.map { Int32($0) }
  index.isColumn = [Bool](repeating: false, count: g.skv)
  for c in columns { index.isColumn[c] = true }
  index.isSlash = [Bool](repeating: false, count: g.skv)
  for o in index.slashes { index.isSlash[o] = true }
}

/// Block-sparse index: q and k mean-pooled per 64-block; per query block the top `k_b` visible
/// key blocks by pooled score `scale q̄·k̄`, plus the diagonal block.
private func buildBlockSparse(_ index: inout SparseHeadIndex, _ p: AttentionParams, q: UnsafePointer<Float>, k: UnsafePointer<Float>) {
  let g = p.geometry, bs = SparseAttentionConstants.block
  let qBlocks = (g.sq + bs - 1) / bs, kBlocks = (g.skv + bs - 1) / bs
  let pooledQ = meanPool(q, rows: g.sq, d: g.d), pooledK = meanPool(k, rows: g.skv, d: g.d)
  index.blockStart = [0]
  for qb in 0..<qBlocks {
    let last = min(qb, kBlocks - 1)  // causal: key block kb is visible to query block qb when kb <= qb
    var scores = [Float](repeating: -.infinity, count: max(0, last + 1))
    if last >= 0 {
      for kb in 0...last {
        var dot: Float = 0
        for x in 0..<g.d { dot += pooledQ[qb * g.d + x] * pooledK[kb * g.d + x] }
        scores[kb] = kb == qb ? .infinity : dot * p.scale
      }
    }
    let keep = min(scores.count, index.sizes.0 + (qb < kBlocks ? 1 : 0))
    index.blocks += topIndices(scores, keep).map { Int32($0) }
    index.blockStart.append(index.blocks.count)
  }
}

/// Means of consecutive 64-row blocks of a [rows, d] matrix.
private func meanPool(_ x: UnsafePointer<Float>, rows: Int, d: Int) -> [Float] {
  let bs = SparseAttentionConstants.block, blocks = (rows + bs - 1) / bs
  var out = [Float](repeating: 0, count: blocks * d)
  for b in 0..<blocks {
    let n = min(bs, rows - b * bs)
    for r in 0..<n { for c in 0..<d { out[b * d + c] += x[(b * bs + r) * d + c] } }
    for c in 0..<d { out[b * d + c] /= Float(n) }
  }
  return out
}

/// Sparse attention with one pattern per head (causal only): builds the indices, then runs
/// every query block of every head in parallel, visiting only the kept keys of its pattern.
func sparseAttention(
  _ p: AttentionParams, _ patterns: [AttentionHeadPattern], q: UnsafePointer<Float>, k: UnsafePointer<Float>,
  v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
) {
  let g = p.geometry
  let indices = buildSparseIndices(p, patterns, q: q, k: k)
  indices.withUnsafeBufferPointer { indices in
    forEachQueryBlock(p, q: q, k: k, v: v, out: out, intervalCapacity: 2 * g.skv + 2) { state, block in
      let index = indices[block.batch * g.heads + block.head]
      let end = min(g.skv, block.i0 + block.rows)
      switch index.kind {
      case .dense: state.accumulateRange(block, 0..<end)
      case .aShape: aShapeBlock(&state, block, index, end: end)
      case .verticalSlash: verticalSlashBlock(&state, block, index, end: end)
      case .blockSparse, .strided: blockSparseBlock(&state, block, index, end: end)
      }
    }
  }
}

/// A-shape: keys [0, n_init) and the band i - j < n_local; only the band's lower edge tiles
/// need the element rule.
private func aShapeBlock(_ state: inout AttentionState, _ block: QueryBlock, _ index: SparseHeadIndex, end: Int) {
  let (nInit, nLocal) = index.sizes
  let bandStart = max(0, block.i0 - nLocal + 1), lastRow = block.i0 + block.rows - 1
  state.accumulateRange(block, 0..<min(nInit, bandStart, end))
  let band = max(bandStart, 0)..<end
  // Rows of this block keep all of [j0, end) only when lastRow - j0 < n_local.
  let exactFrom = min(end, max(band.lowerBound, lastRow - nLocal + 1))
  state.accumulateRange(block, band.lowerBound..<exactFrom) { i, j in j < nInit || i - j < nLocal }
  state.accumulateRange(block, exactFrom..<end)
}

/// Vertical-slash: the key intervals the block's diagonals touch run with the exact element
/// rule (column or slash); kept columns outside them are gathered. Each key is visited once.
private func verticalSlashBlock(_ state: inout AttentionState, _ block: QueryBlock, _ index: SparseHeadIndex, end: Int) {
  let i0 = block.i0, i1 = block.i0 + block.rows
  // Intervals [i0 - s, i1 - s) for slashes s, in ascending position (descending s), merged.
  var count = 0
  let iv = state.intervals
  for s in index.slashes.reversed() {
    let lo = max(0, i0 - s), hi = min(end, i1 - s)
    guard hi > lo else { continue }
    if count > 0, lo <= iv[2 * count - 1] { iv[2 * count - 1] = max(iv[2 * count - 1], hi); continue }
    iv[2 * count] = lo; iv[2 * count + 1] = hi; count += 1
  }
  index.isColumn.withUnsafeBufferPointer { isColumn in
    index.isSlash.withUnsafeBufferPointer { isSlash in
      for t in 0..<count {
        state.accumulateRange(block, iv[2 * t]..<iv[2 * t + 1]) { i, j in isColumn[j] || (i >= j && isSlash[i - j]) }
      }
    }
  }
  var t = 0, gathered = 0
  for c in index.columns {
    let j = Int(c)
    guard j < end else { break }
    while t < count, iv[2 * t + 1] <= j { t += 1 }
    if t < count, iv[2 * t] <= j { continue }
    state.gatherIndex[gathered] = c
    gathered += 1
    if gathered == state.keyBlock { state.accumulateGathered(block, gathered); gathered = 0 }
  }
  if gathered > 0 { state.accumulateGathered(block, gathered) }
}

/// Block-sparse: runs of consecutive kept 64-key blocks, each visited as contiguous keys.
private func blockSparseBlock(_ state: inout AttentionState, _ block: QueryBlock, _ index: SparseHeadIndex, end: Int) {
  let bs = SparseAttentionConstants.block, qb = block.i0 / bs
  let list = index.blocks[index.blockStart[qb]..<index.blockStart[qb + 1]]
  var start = -1, stop = -1
  for b in list {
    let kb = Int(b)
    if kb == stop { stop += 1; continue }
    if start >= 0 { state.accumulateRange(block, start * bs..<min(end, stop * bs)) }
    start = kb; stop = kb + 1
  }
  if start >= 0 { state.accumulateRange(block, start * bs..<min(end, stop * bs)) }
}

extension AttentionState {
  /// Adds the contiguous keys `range` in tiles of `keyBlock`, with an optional element rule.
  func accumulateRange(_ block: QueryBlock, _ range: Range<Int>, keep: ((Int, Int) -> Bool)? = nil) {
    let g = params.geometry
    var j0 = range.lowerBound
    while j0 < range.upperBound {
      let n = min(keyBlock, range.upperBound - j0)
      accumulate(block, keys: block.k + j0 * g.d, values: block.v + j0 * g.dv, count: n, index: .contiguous(j0), keep: keep)
      j0 += n
    }
  }

  /// Gathers the keys listed in `gatherIndex[0..<count]` into the scratch tiles and adds them.
  func accumulateGathered(_ block: QueryBlock, _ count: Int) {
    let g = params.geometry
    for c in 0..<count {
      let j = Int(gatherIndex[c])
      (gatherKeys + c * g.d).update(from: block.k + j * g.d, count: g.d)
      (gatherValues + c * g.dv).update(from: block.v + j * g.dv, count: g.dv)
    }
    accumulate(block, keys: gatherKeys, values: gatherValues, count: count, index: .gathered(gatherIndex))
  }
}

/// The keep mask sparse attention applies, as [batch, heads, sq, skv] bools (causal included):
/// the index the kernel builds for these inputs, evaluated per element. For tests and for
/// scoring a pattern's attention recall.
public func sparseAttentionKeepMask(attributes a: AttributeMap, q: Tensor, k: Tensor, mask: Tensor?) throws -> Tensor {
  let params = try attentionParams(attributes: a, q: q, k: k, v: k, mask: mask)
  let g = params.geometry
  let patterns = try attentionPatterns(a, heads: g.heads) ?? [AttentionHeadPattern](repeating: .init(kind: .dense), count: g.heads)
  let resolved = resolvedPatterns(patterns, calibrationLength: try a.int(AttentionAttr.calibrationLength, default: 0), skv: g.skv)
  let indices = buildSparseIndices(params, resolved, q: UnsafePointer(q.pointer(as: Float.self)),
                                   k: UnsafePointer(k.pointer(as: Float.self)))
  let out = Tensor(zeros: .bool, shape: [g.batch, g.heads, g.sq, g.skv])
  let o = out.pointer(as: Bool.self)
  for bh in 0..<g.batch * g.heads {
    for i in 0..<g.sq {
      for j in 0..<g.skv where !params.causal || j <= i {
        o[(bh * g.sq + i) * g.skv + j] = indices[bh].keeps(i, j)
      }
    }
  }
  return out
}

import Foundation
