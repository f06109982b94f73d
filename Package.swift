// swift-tools-version: 6.0
// graphc: a plugin-based compiler for neural-network model graphs.
//
// Dependencies flow one way (see Docs/Architecture.md):
//   graphc CLI -> GraphcDriver -> PassKit, ONNXImport, PackedFormat, Interpreter -> GraphIR
// Pass modules depend on PassKit and GraphIR only. The interpreter never depends on the
// importer or the passes, so an app can embed it alone.
import PackageDescription

let package = Package(
  name: "graphc",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "graphc", targets: ["graphc"]),
    .library(name: "GraphcPassAPI", targets: ["GraphIR", "PassKit"]),
    .library(name: "GraphcInterpreter", targets: ["Interpreter"]),
    .library(name: "GraphcDriver", targets: ["GraphcDriver"]),
    .library(name: "GraphcTestSupport", targets: ["GraphcTestSupport"]),
    // The CLI as a library: a custom driver is `runGraphcCLI(extraPasses:)` (Docs/WritingAPass.md).
    .library(name: "GraphcCLI", targets: ["GraphcCLI"]),
    // The example run-time plugin: `graphc optimize --load-pass-plugin .build/debug/libExamplePlugin.so`.
    .library(name: "ExamplePlugin", type: .dynamic, targets: ["ExamplePlugin"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    .systemLibrary(
      name: "CProtobufC", path: "Sources/CProtobufC", pkgConfig: "libprotobuf-c",
      providers: [.apt(["libprotobuf-c-dev"])]),
    .target(name: "CONNXProto", dependencies: ["CProtobufC"], path: "Sources/CONNXProto"),
    .target(name: "GraphIR"),
    .target(name: "ONNXImport", dependencies: ["GraphIR", "CONNXProto"]),
    .systemLibrary(
      name: "CDeflate", path: "Sources/CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
    .target(name: "PackedFormat", dependencies: ["GraphIR", "CDeflate"]),
    .target(name: "CKernels", path: "Sources/CKernels", linkerSettings: [.linkedLibrary("m", .when(platforms: [.linux]))]),
    .target(name: "Interpreter", dependencies: ["GraphIR", "PackedFormat", "CKernels"]),
    .target(name: "PassKit", dependencies: ["GraphIR", "Interpreter", "PackedFormat", "Calibration"]),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .target(name: "Calibration", dependencies: ["GraphIR", "CZlib"]),
    .target(name: "Canonicalize", dependencies: ["PassKit", "GraphIR"], path: "passes/Canonicalize"),
    .target(name: "AttentionFusion", dependencies: ["PassKit", "GraphIR"], path: "passes/AttentionFusion"),
    .target(name: "SparseAttention", dependencies: ["PassKit", "GraphIR"], path: "passes/SparseAttention"),
    .target(name: "ConvFusion", dependencies: ["PassKit", "GraphIR"], path: "passes/ConvFusion"),
    .target(
      name: "GraphcDriver",
      dependencies: ["GraphIR", "ONNXImport", "PackedFormat", "Interpreter", "PassKit", "Canonicalize", "Calibration",
                     "AttentionFusion", "SparseAttention", "ConvFusion", "QuantizeLayout", "AttentionTemperature"]),
    .target(name: "GraphcTestSupport", dependencies: ["GraphIR", "Interpreter", "PassKit", "Calibration"]),
    .target(
      name: "GraphcCLI",
      dependencies: [
        "GraphcDriver", "GraphIR", "PassKit", "PackedFormat", "Interpreter", "Calibration", "GraphcTestSupport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/graphc"),
    .executableTarget(name: "graphc", dependencies: ["GraphcCLI"], path: "Sources/GraphcMain"),
    .target(name: "ExamplePlugin", dependencies: ["PassKit", "GraphIR"], path: "passes/ExamplePlugin",
            exclude: ["tests", "README.md"]),
    .testTarget(name: "GraphIRTests", dependencies: ["GraphIR", "GraphcTestSupport"]),
    .testTarget(name: "ONNXImportTests", dependencies: ["ONNXImport", "GraphcDriver", "GraphcTestSupport"]),
    .testTarget(name: "PackedFormatTests", dependencies: ["PackedFormat", "GraphcDriver", "GraphcTestSupport"]),
    .testTarget(name: "InterpreterTests", dependencies: ["Interpreter", "CKernels", "GraphcTestSupport"]),
    .testTarget(name: "CLITests", dependencies: ["graphc", "GraphIR", "Calibration", "GraphcTestSupport"]),
    .testTarget(name: "PassKitTests", dependencies: ["PassKit", "GraphIR"]),
    .testTarget(name: "CanonicalizeTests", dependencies: ["Canonicalize", "GraphcDriver", "GraphcTestSupport"]),
    .testTarget(name: "ConvFusionTests", dependencies: ["ConvFusion", "GraphcDriver", "GraphcTestSupport", "Interpreter"]),
    .testTarget(
      name: "AttentionFusionTests",
      dependencies: ["AttentionFusion", "GraphcDriver", "GraphcTestSupport", "Interpreter", "ONNXImport", "PassKit", "GraphIR"]),
    .testTarget(
      name: "SparseAttentionTests",
      dependencies: ["SparseAttention", "GraphcDriver", "GraphcTestSupport", "PassKit", "GraphIR", "Interpreter", "Calibration"]),
    .testTarget(name: "CalibrationTests", dependencies: ["Calibration", "GraphcDriver", "PassKit", "GraphIR", "GraphcTestSupport"]),
    .testTarget(
      name: "ConformanceTests", dependencies: ["GraphcDriver", "GraphcTestSupport"],
      exclude: ["expected-pass.txt", "known-failures.tsv"]),
    .testTarget(name: "FixtureModelTests", dependencies: ["GraphcDriver", "GraphcTestSupport", "Calibration"]),
    .testTarget(name: "GraphcCLITests", dependencies: ["GraphcDriver", "GraphcTestSupport", "PassKit", "GraphIR", "Calibration"]),
    .testTarget(name: "ExamplePluginTests", dependencies: ["ExamplePlugin", "GraphcDriver", "GraphcTestSupport", "PassKit"]),
    // Quantization (issue 6)
    .target(name: "QuantizeLayout", dependencies: ["PassKit", "GraphIR", "Calibration"], path: "passes/QuantizeLayout"),
    .testTarget(
      name: "QuantizeLayoutTests",
      dependencies: ["QuantizeLayout", "GraphcDriver", "GraphcTestSupport", "ONNXImport", "Interpreter", "PassKit", "GraphIR",
                     "PackedFormat", "Calibration"]),
    // Attention temperature matching and output head balancing (issue 6)
    .target(name: "AttentionTemperature", dependencies: ["PassKit", "GraphIR"], path: "passes/AttentionTemperature"),
    .testTarget(
      name: "AttentionTemperatureTests",
      dependencies: ["AttentionTemperature", "GraphcDriver", "GraphcTestSupport", "PassKit", "GraphIR", "Interpreter", "Calibration"]),
  ],
  swiftLanguageModes: [.v5]
)
