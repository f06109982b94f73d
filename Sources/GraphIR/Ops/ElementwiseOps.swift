// ElementwiseOps.swift - Schemas of unary, binary (broadcasting) and variadic element-wise ops.

let elementwiseOpSchemas: [OpSchema] = []
