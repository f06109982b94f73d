// AttentionScaling.swift - Attributes that record attention temperature matching and output
// head balancing (PASSES.md §4), and how an attention node finds its output projection.

/// Attribute names written by `match-attention-temperature` and `balance-output-heads`, read
/// by `graphc inspect`. They are records only: the factors are already folded into weights.
public enum AttentionScalingAttr {
  /// On `graphc.Attention`: per head, the folded logit temperature factor alpha (floats).
  public static let alpha = "atm_alpha"
  /// On the o-proj layer (`graphc.role = o-proj`): the folded output factor beta (float).
  public static let beta = "ohb_beta"
}

extension Node {
  /// The `o-proj` linear layer (`graphc.role`) that reads this `graphc.Attention`'s result
  /// through head Transpose/Reshape (and the QuantizeLinear of an integer layer), if any.
  /// The search is bounded (8 steps).
  public var attentionOutputProjection: Node? {
    guard op == "graphc.Attention" else { return nil }
    var x = result
    for _ in 0..<8 {
      guard let user = x.singleUser else { return nil }
      if case .string(let role)? = user.attributes[linearRoleAttribute] {
        return role == "o-proj" && user.operand(0) === x ? user : nil
      }
      guard ["onnx.Transpose", "onnx.Reshape", "onnx.QuantizeLinear"].contains(user.op) else { return nil }
      x = user.result
    }
    return nil
  }
}
