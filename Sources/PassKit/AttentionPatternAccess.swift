// AttentionPatternAccess.swift - What passes may ask the interpreter about sparse attention patterns.

import GraphIR
import Interpreter

extension PassContext {
  /// The keys a `graphc.Attention` with `attributes` computes for these Q and K (and additive
  /// mask), as bools [batch, heads, sq, skv]: the index the kernel would build, per element.
  /// Passes score a pattern's attention recall with it.
  public func attentionKeepMask(attributes: AttributeMap, q: Tensor, k: Tensor, mask: Tensor?) throws -> Tensor {
    try sparseAttentionKeepMask(attributes: attributes, q: q, k: k, mask: mask)
  }
}
