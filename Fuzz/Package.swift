// swift-tools-version: 6.0
// graphc's libFuzzer targets, a package of their own so that the main package's normal builds
// never see them. Built only by `scripts/fuzz`, which passes `-sanitize=fuzzer,address`
// (SwiftPM forbids unsafeFlags in a package, so the flags come from the command line).
import PackageDescription

let package = Package(
  name: "graphc-fuzz",
  dependencies: [.package(name: "graphc", path: "..")],
  targets: [
    .target(name: "CFuzzerDriver"),
    .executableTarget(name: "FuzzONNX", dependencies: ["CFuzzerDriver", .product(name: "GraphcDriver", package: "graphc")]),
    .executableTarget(name: "FuzzGCB", dependencies: ["CFuzzerDriver", .product(name: "GraphcInterpreter", package: "graphc")]),
    .executableTarget(name: "FuzzIR", dependencies: ["CFuzzerDriver", .product(name: "GraphcPassAPI", package: "graphc")]),
  ],
  swiftLanguageModes: [.v5]
)
