// FoldTransposes.swift - Fold a Transpose of a Transpose into one Transpose (or none).

import GraphIR
import PassKit

/// Composes consecutive transposes: `Transpose(Transpose(x, p1), p2)` is `Transpose(x, q)` with
/// `q[j] = p1[p2[j]]`, and when `q` is the identity it is `x` itself.
///
///     %0 = onnx.Transpose(%x) {perm = [0, 2, 1]} : f32[2,4,3]
///     %1 = onnx.Transpose(%0) {perm = [0, 2, 1]} : f32[2,3,4]      ->   (users of %1 use %x)
///     %2 = onnx.Transpose(%1) {perm = [1, 0, 2]} : f32[3,2,4]      ->   %2 = onnx.Transpose(%x) {perm = [1, 0, 2]}
///
/// One sweep in schedule order folds whole chains, because each folded node is the next
/// node's producer. The inner Transpose is erased once nothing else uses it.
///
/// Limits: a Transpose without `perm` (reverse all dims) needs its input's rank, else a remark
/// says why it was not folded; a perm that is not a permutation of `0..<rank` is reported as an
/// error diagnostic (the schema normally rejects it first).
public let foldTransposes = GraphPass(
  name: "fold-transposes",
  summary: "Fold consecutive Transposes into one, or none when they cancel",
  requires: [.shapesInferred],
  statistics: ["transposes-folded", "transposes-cancelled"]
) { graph, context in
  for outer in graph.nodes(ofKind: "onnx.Transpose") where outer.isLive {
    guard let inner = outer.operand(0)?.producer(ofKind: "onnx.Transpose"), let x = inner.operand(0) else { continue }
    guard let p1 = inner.permutation(context), let p2 = outer.permutation(context), p1.count == p2.count else { continue }
    let composed = p2.map { p1[$0] }
    if composed == Array(0..<composed.count) {
      context.replaceAllUses(of: outer.result, with: x)
      context.erase(outer)
      context.count("transposes-cancelled")
    } else {
      let folded = try context.insert("onnx.Transpose", before: outer, operands: [x], attributes: ["perm": .ints(composed)])
      context.replace(outer, with: [folded.result])
      context.count("transposes-folded")
    }
    if inner.result.uses.isEmpty && !graph.isOutput(inner.result) { context.erase(inner) }
  }
}

private extension Node {
  /// The node's permutation (the reversed dims when `perm` is absent), or nil when it is not
  /// known; a `perm` that is not a permutation is reported as an error.
  func permutation(_ context: PassContext) -> [Int]? {
    let rank = operand(0)?.type.dims?.count
    guard let perm = try? attributes.ints("perm") else {
      guard let rank else {
        context.diagnose(.remark, "not folded: no perm, and the input's rank is unknown", at: self)
        return nil
      }
      return Array((0..<rank).reversed())
    }
    guard perm.sorted() == Array(0..<perm.count), rank == nil || rank == perm.count else {
      context.diagnose(.error, "perm \(perm) is not a permutation of the input's \(rank.map(String.init) ?? "?") dims", at: self)
      return nil
    }
    return perm
  }
}
