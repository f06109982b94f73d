// GraphExecution.swift - Running a graph on the interpreter from inside the compiler.

import GraphIR
import PackedFormat
import Interpreter

/// Packs `graph` into `.gcb` bytes in memory, loads them with the interpreter and runs it on
/// `inputs` (by graph input name). This is the only way PassKit executes graphs: `--check-each`,
/// `.gir` `EXPECT:` lines and passes (through `PassContext.execute`) all run the model exactly
/// as `graphc run` would run the written file. The graph is not changed.
public func executeGraph(_ graph: Graph, inputs: [String: Tensor], ops: OpRegistry = .shared) throws -> [String: Tensor] {
  try loadInMemory(graph, ops: ops).run(inputs)
}

/// `graph` packed in memory (one copy of its weights, `PackedModel(image:)`) and loaded by the
/// interpreter: the one way PassKit turns a graph into a runnable model.
func loadInMemory(_ graph: Graph, name: String? = nil, ops: OpRegistry) throws -> Model {
  try Model(packed: PackedModel(image: packGCB(graph: graph, metadata: [:]), name: name ?? graph.name), ops: ops)
}
