// NNOps.swift - Schemas of neural-network ops: conv, pooling, matmul, normalization, reductions.

let nnOpSchemas: [OpSchema] = []
