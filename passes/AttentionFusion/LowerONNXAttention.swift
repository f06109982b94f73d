// LowerONNXAttention.swift - onnx.Attention (opset 23) as graphc.Attention.

import GraphIR
import PassKit

/// One `onnx.Attention` node that `graphc.Attention` can run: no past key/values, no used
/// present/qk outputs, no sliding window, float32, static head counts and head size, a mask
/// whose last dim is the key length (or 1). 3-D inputs get head Reshape/Transposes.
struct ONNXAttentionLowering {
  let node: Node
  let q: Value, k: Value, v: Value
  let rank: Int
  let heads: Int, kvHeads: Int, headSize: Int

  init?(_ node: Node, graph: Graph) {
    guard node.operand(4) == nil, node.operand(5) == nil, node.operand(6) == nil,
          node.results.dropFirst().allSatisfy({ $0.uses.isEmpty && !graph.isOutput($0) }),
          let q = node.operand(0), let k = node.operand(1), let v = node.operand(2),
          q.type.dtype == .float32, let qd = q.type.dims, let kd = k.type.dims, let vd = v.type.dims,
          qd.count == kd.count, kd.count == vd.count else { return nil }
    let a = node.attributes
    for window in ["left_window_size", "right_window_size"] {
      if let w = try? a.int(window), w >= 0 { return nil }
    }
    if let mask = node.operand(3) {
      guard let md = mask.type.dims, md.count <= 4, let last = md.last?.value,
            last == 1 || last == kd[kd.count == 4 ? 2 : 1].value else { return nil }
    }
    self.node = node
    self.q = q; self.k = k; self.v = v
    rank = qd.count
    if rank == 4 {
      guard let h = qd[1].value, let g = kd[1].value, let d = qd[3].value else { return nil }
      heads = h; kvHeads = g; headSize = d
    } else if rank == 3 {
      guard let h = try? a.int("q_num_heads"), let g = try? a.int("kv_num_heads"), let hidden = qd[2].value,
            h > 0, g > 0, hidden % h == 0 else { return nil }
      heads = h; kvHeads = g; headSize = hidden / h
    } else { return nil }
    guard heads % kvHeads == 0 else { return nil }
  }

  func rewrite(_ context: PassContext) throws {
    let a = node.attributes
    func headsFirst(_ x: Value, _ n: Int, _ tag: String) throws -> Value {
      guard rank == 3 else { return x }
      let shape = context.makeConstant(.int64([4], [0, 0, Int64(n), -1]), name: derivedName(node, ".\(tag)_shape"))
      let r = try context.insert("onnx.Reshape", before: node, name: derivedName(node, ".\(tag)_split"), operands: [x, shape])
      return try context.insert("onnx.Transpose", before: node, name: derivedName(node, ".\(tag)_heads"), operands: [r.result],
                                attributes: ["perm": .ints([0, 2, 1, 3])]).result
    }
    let q = try headsFirst(self.q, heads, "q")
    let k = try headsFirst(self.k, kvHeads, "k")
    let v = try headsFirst(self.v, kvHeads, "v")
    var mask = node.operand(3)
    if let m = mask, m.type.dtype == .bool {
      let zero = context.makeConstant(.scalar(0), name: derivedName(node, ".mask_keep"))
      let ninf = context.makeConstant(.scalar(-.infinity), name: derivedName(node, ".mask_drop"))
      mask = try context.insert("onnx.Where", before: node, name: derivedName(node, ".mask"), operands: [m, zero, ninf]).result
    }
    let causal = (try a.int("is_causal", default: 0)) != 0
    let kind: AttentionMaskKind = mask == nil ? (causal ? .causal : .none) : (causal ? .causalAdditive : .additive)
    var attrs: AttributeMap = [AttentionAttr.heads: .int(heads), AttentionAttr.kvHeads: .int(kvHeads),
                               AttentionAttr.headSize: .int(headSize), AttentionAttr.mask: .string(kind.rawValue)]
    if let s = try a.float("scale") { attrs[AttentionAttr.scale] = .float(s) }
    if let c = try a.float("softcap"), c > 0 { attrs[AttentionAttr.softcap] = .float(c) }
    let fused = try context.insert("graphc.Attention", before: node, name: node.name,
                                   operands: [q, k, v] + (mask.map { [$0] } ?? []), attributes: attrs)
    var y = fused.result
    if rank == 3 {
      let t = try context.insert("onnx.Transpose", before: node, name: derivedName(node, ".merge"), operands: [y],
                                 attributes: ["perm": .ints([0, 2, 1, 3])])
      let shape = context.makeConstant(.int64([3], [0, 0, -1]), name: derivedName(node, ".merge_shape"))
      y = try context.insert("onnx.Reshape", before: node, name: derivedName(node, ".merged"), operands: [t.result, shape]).result
    }
    y.name = node.result.name
    context.replaceAllUses(of: node.result, with: y)
    context.erase(node)
  }
}
