// ElementwiseKernels.swift - Unary, binary (broadcasting) and variadic element-wise kernels.

import GraphIR

let elementwiseKernels: [String: Kernel] = [:]
