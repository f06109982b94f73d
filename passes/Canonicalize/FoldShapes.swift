// FoldShapes.swift - Turn Shape and Size of statically shaped values into constants.

import GraphIR
import PassKit

/// Replaces `onnx.Shape(%x)` and `onnx.Size(%x)` by constants when `%x` has a static shape.
/// Together with `fold-constants` this collapses the Shape -> Gather -> Concat -> Reshape
/// chains that exporters emit into constant shapes.
///
///     %s = onnx.Shape(%x : f32[1,16,64])   ->   %s = const i64[3] dense<[1, 16, 64]>
public let foldShapes = GraphPass(
  name: "fold-shapes",
  summary: "Replace Shape and Size of statically shaped values by constants",
  statistics: ["shapes-folded"]
) { graph, context in
  for node in graph.nodes where node.op == "onnx.Shape" || node.op == "onnx.Size" {
    guard let input = node.operand(0), input.type.staticShape != nil,
          !graph.isOutput(node.result) else { continue }
    // Shape and Size read only their operand's shape, so the kernel runs on a stand-in view
    // with that shape and no bytes behind it: folding stays the interpreter's own Shape.
    guard let shape = input.type.staticShape else { continue }
    let standIn = Tensor(dtype: input.type.dtype, shape: shape, storage: TensorStorage(byteCount: 0))
    let values = try context.evaluate(op: node.op, attributes: node.attributes, inputs: [standIn], nodeName: node.name)
    context.replace(node, with: [context.makeConstant(values[0], name: node.result.name)])
    context.count("shapes-folded")
  }
}
