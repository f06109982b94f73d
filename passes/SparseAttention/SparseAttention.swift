// SparseAttention.swift - The sparse attention family, handed to the driver's registry.

import PassKit

/// The passes of this module.
public let sparseAttentionPasses: [GraphPass] = [assignSparseAttention]
