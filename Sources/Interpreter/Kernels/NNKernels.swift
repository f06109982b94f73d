// NNKernels.swift - Conv, pooling, matmul, normalization and reduction kernels.

import GraphIR

let nnKernels: [String: Kernel] = [:]
