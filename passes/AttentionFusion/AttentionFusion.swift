// AttentionFusion.swift - The attention fusion family, handed to the driver's registry.

import PassKit

/// The passes of this module.
public let attentionFusionPasses: [GraphPass] = [fuseAttention]
