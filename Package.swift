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
    .target(name: "PackedFormat", dependencies: ["GraphIR"]),
    .target(name: "Interpreter", dependencies: ["GraphIR", "PackedFormat"]),
    .target(name: "PassKit", dependencies: ["GraphIR", "Interpreter", "Calibration"]),
    .target(name: "Calibration", dependencies: ["GraphIR"]),
    .target(name: "Canonicalize", dependencies: ["PassKit", "GraphIR"], path: "passes/Canonicalize"),
    .target(
      name: "GraphcDriver",
      dependencies: ["GraphIR", "ONNXImport", "PackedFormat", "Interpreter", "PassKit", "Canonicalize", "Calibration",
                     "QuantizeLayout"]),
    .target(name: "GraphcTestSupport", dependencies: ["GraphIR", "Interpreter", "PassKit"]),
    .executableTarget(
      name: "graphc",
      dependencies: [
        "GraphcDriver", "GraphIR", "PassKit", "PackedFormat", "Interpreter", "Calibration",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .testTarget(name: "GraphIRTests", dependencies: ["GraphIR", "GraphcTestSupport"]),
    .testTarget(name: "ONNXImportTests", dependencies: ["ONNXImport", "GraphcDriver", "GraphcTestSupport"]),
    .testTarget(name: "PackedFormatTests", dependencies: ["PackedFormat", "GraphcDriver", "GraphcTestSupport"]),
    .testTarget(name: "InterpreterTests", dependencies: ["Interpreter", "GraphcTestSupport"]),
    .testTarget(name: "CLITests", dependencies: ["graphc", "GraphIR", "Calibration"]),
    .testTarget(name: "PassKitTests", dependencies: ["PassKit", "GraphIR"]),
    .testTarget(name: "CanonicalizeTests", dependencies: ["Canonicalize", "GraphcDriver", "GraphcTestSupport"]),
    .testTarget(
      name: "ConformanceTests", dependencies: ["GraphcDriver", "GraphcTestSupport"],
      exclude: ["expected-pass.txt", "known-failures.tsv"]),
    .testTarget(name: "FixtureModelTests", dependencies: ["GraphcDriver", "GraphcTestSupport", "Calibration"]),
    // Quantization (issue 6)
    .target(name: "QuantizeLayout", dependencies: ["PassKit", "GraphIR"], path: "passes/QuantizeLayout"),
    .testTarget(
      name: "QuantizeLayoutTests",
      dependencies: ["QuantizeLayout", "GraphcDriver", "GraphcTestSupport", "ONNXImport", "Interpreter", "PassKit", "GraphIR",
                     "PackedFormat", "Calibration"]),
    .testTarget(name: "CalibrationTests", dependencies: ["Calibration"]),
  ],
  swiftLanguageModes: [.v5]
)
