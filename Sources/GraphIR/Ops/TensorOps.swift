// TensorOps.swift - Schemas of data-movement and shape ops.

let tensorOpSchemas: [OpSchema] = []
