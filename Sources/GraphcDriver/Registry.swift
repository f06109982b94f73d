// Registry.swift - Every built-in pass and preset, registered through the public plugin API.

import PassKit
import Canonicalize
import AttentionFusion
import SparseAttention
import ConvFusion
import QuantizeLayout
import AttentionTemperature

/// The built-in presets: name, pipeline text, summary. Later pass families extend `default`.
public let builtinPresets: [(name: String, pipeline: String, summary: String)] = [
  ("default",
   "canonicalize,fold-pad,fold-batchnorm,fold-conv-affine,canonicalize,fuse-conv-activation,fuse-conv-add,fuse-depthwise-pointwise,fuse-attention,npu-lint",
   "What `graphc optimize` runs when no pipeline is given"),
  ("none", "", "No passes: import, verify and emit only"),
  ("npu-int8", "canonicalize,fold-pad,fold-batchnorm,fold-conv-affine,canonicalize,fuse-conv-activation,fuse-conv-add,fuse-depthwise-pointwise,fuse-attention,npu-lint,quantize{weights=int8},match-attention-temperature,balance-output-heads",
   "W8A8 with attention temperature matching and output head balancing; needs --calibration DIR (or --calibration-random N)"),
  ("npu-int4", "canonicalize,fold-pad,fold-batchnorm,fold-conv-affine,canonicalize,fuse-conv-activation,fuse-conv-add,fuse-depthwise-pointwise,fuse-attention,npu-lint,quantize{weights=int4},match-attention-temperature,balance-output-heads",
   "W4A8 with attention temperature matching and output head balancing; needs --calibration DIR (or --calibration-random N)"),
]

/// Registers the built-in passes and presets into `registry`. Built-ins use exactly the API a
/// plugin uses, so a name clash between a plugin and a built-in is reported the same way.
public func registerBuiltins(into registry: PassRegistry) throws {
  // Canonicalization (passes/Canonicalize)
  for pass in canonicalizePasses { try registry.register(pass) }
  // Attention (passes/AttentionFusion)
  for pass in attentionFusionPasses { try registry.register(pass) }
  // Sparse attention (passes/SparseAttention); not in a preset: it needs calibration data
  for pass in sparseAttentionPasses { try registry.register(pass) }
  // Conv fusion for NPU-friendly graphs (passes/ConvFusion)
  for pass in convFusionPasses { try registry.register(pass) }
  // Quantization (passes/QuantizeLayout)
  for pass in quantizeLayoutPasses { try registry.register(pass) }
  // Attention temperature matching, output head balancing (passes/AttentionTemperature)
  for pass in attentionTemperaturePasses { try registry.register(pass) }
  for p in builtinPresets { try registry.registerPreset(p.name, pipeline: p.pipeline, summary: p.summary) }
}

/// The shared registry with the built-ins in it, registered once per process.
public let builtinRegistry: PassRegistry = {
  let r = PassRegistry.shared
  do { try registerBuiltins(into: r) } catch {
    preconditionFailure("built-in pass registration failed: \(error)")  // our own invariant
  }
  return r
}()
