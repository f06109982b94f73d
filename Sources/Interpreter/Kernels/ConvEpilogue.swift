// ConvEpilogue.swift - What fused convolutions do to their accumulators before they store:
// bias, residual add and activation, with the activation math taken from ScalarOps.

import CKernels
import GraphIR

private typealias S = ScalarOps

/// A `FusedActivation` resolved for the inner loop: the kind and at most two constants, no
/// array (so copying it into a worker closure costs no reference counting).
struct ActivationFunction {
  var kind: FusedActivation.Kind
  var a: Float = 0
  var b: Float = 0

  static let none = ActivationFunction(kind: .none)

  init(kind: FusedActivation.Kind, a: Float = 0, b: Float = 0) {
    self.kind = kind
    self.a = a
    self.b = b
  }

  init(_ act: FusedActivation) {
    kind = act.kind
    if act.params.count > 0 { a = act.params[0] }
    if act.params.count > 1 { b = act.params[1] }
  }

  /// The activation as Clip bounds when it is one (none, Relu, Clip), for the C kernels.
  var clampBounds: (Float, Float)? {
    switch kind {
    case .none: (-.infinity, .infinity)
    case .relu: (0, .infinity)
    case .clip: (a, b)
    default: nil
    }
  }

  /// Applies the activation to `p[0..<n]` in place. One switch per call; each loop has the
  /// scalar definition of the matching stand-alone op inlined.
  @inline(__always)
  func apply(_ p: UnsafeMutablePointer<Float>, count n: Int) {
    switch kind {
    case .none: return
    case .relu: for i in 0..<n { p[i] = S.Relu.f(p[i]) }
    case .clip:
      let lo = a, hi = b
      for i in 0..<n { p[i] = S.clip(p[i], lo, hi) }
    case .leakyRelu: map(S.LeakyRelu.self, p, n, UnaryParams(alpha: Double(a)))
    case .hardSigmoid: map(S.HardSigmoid.self, p, n, UnaryParams(alpha: Double(a), beta: Double(b)))
    case .hardSwish: map(S.HardSwish.self, p, n, UnaryParams())
    case .sigmoid: map(S.Sigmoid.self, p, n, UnaryParams())
    case .silu: map(S.SiLU.self, p, n, UnaryParams())
    }
  }

  @inline(__always)
  private func map<Op: FloatUnaryOp>(_: Op.Type, _ p: UnsafeMutablePointer<Float>, _ n: Int, _ params: UnaryParams) {
    let sp = ScalarParams<Float>(params)
    for i in 0..<n { p[i] = Op.f(p[i], sp) }
  }
}

/// The epilogue of a fused conv, applied to a run of raw accumulators `conv(x, W)` of one output
/// channel: `y = act(y + bias + z)`, or `y = act(y + bias) + z` when `residualAfterActivation`.
/// `residual` has Y's layout, so a run at element offset `o` of Y reads `residual + o`.
struct ConvEpilogue {
  var bias: UnsafePointer<Float>?
  var activation = ActivationFunction.none
  var residual: UnsafePointer<Float>?
  var residualAfterActivation = false

  /// Finishes `count` outputs of `channel`, starting at element `offset` of `y`.
  @inline(__always)
  func apply(channel: Int, y: UnsafeMutablePointer<Float>, offset: Int, count: Int) {
    let p = y + offset
    let b = bias?[channel] ?? 0
    if let (lo, hi) = activation.clampBounds {
      graphc_conv_epilogue_f32(p, count, b, residual.map { $0 + offset }, residualAfterActivation ? 1 : 0, lo, hi)
      return
    }
    if let z = residual, !residualAfterActivation {
      let zp = z + offset
      for i in 0..<count { p[i] += b + zp[i] }
    } else if bias != nil {
      for i in 0..<count { p[i] += b }
    }
    activation.apply(p, count: count)
    if let z = residual, residualAfterActivation {
      let zp = z + offset
      for i in 0..<count { p[i] += zp[i] }
    }
  }

  /// True when the epilogue does nothing at all.
  var isIdentity: Bool { bias == nil && residual == nil && activation.kind == .none }
}

extension ConvEpilogue {
  /// Runs `body` with this epilogue in the C conv kernels' form, for a call whose output
  /// channels start at `firstChannel` and whose `y` is Y's element `offset` (nil when there is
  /// nothing to do, or when the activation is not a clamp). Returns true when the caller must
  /// still run `apply` on the raw sums (the activation was not a clamp).
  @inline(__always)
  func withKernelForm(firstChannel: Int, offset: Int, _ body: (UnsafePointer<graphc_conv_epilogue>?) -> Void) -> Bool {
    guard !isIdentity, let (lo, hi) = activation.clampBounds else {
      body(nil)
      return !isIdentity
    }
    var e = graphc_conv_epilogue(bias: bias.map { $0 + firstChannel }, z: residual.map { $0 + offset },
                                 z_after: residualAfterActivation ? 1 : 0, lo: lo, hi: hi)
    withUnsafePointer(to: &e) { body($0) }
    return false
  }
}
