// TensorKernels.swift - Data-movement and shape kernels.

import GraphIR

let tensorKernels: [String: Kernel] = [:]
