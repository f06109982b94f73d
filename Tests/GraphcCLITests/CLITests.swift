// CLITests.swift - The graphc executable: instrumentation flags, run-time plugins, test-passes.

import Foundation
import Testing
import GraphIR
import GraphcDriver
import GraphcTestSupport
import PassKit


private let graphc = buildProductsDirectory + "/graphc"
private let examplePlugin = buildProductsDirectory + "/libExamplePlugin.so"
private let transposes = packageRoot + "/fixtures/models/transposes"

/// Runs graphc with `arguments`; stdout and stderr are read to the end.
func runGraphc(_ arguments: [String]) throws -> CommandResult { try runExecutable(graphc, arguments) }

func temporaryDirectory() throws -> String { try makeTemporaryDirectory(prefix: "graphc-cli") }

func compileCPlugin(_ source: String, in dir: String) throws -> String {
  let c = dir + "/plugin.c", so = dir + "/libfake.so"
  try source.write(toFile: c, atomically: true, encoding: .utf8)
  let p = Process()
  p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  p.arguments = ["cc", "-shared", "-fPIC", "-o", so, c]
  try p.run()
  p.waitUntilExit()
  guard p.terminationStatus == 0 else { throw DriverError("cc failed on \(c)") }
  return so
}

@Suite(.serialized) struct OptimizeInstrumentationTests {
  @Test func allInstrumentsOnAPluginPipeline() throws {
    try #require(FileManager.default.fileExists(atPath: examplePlugin), "build with `swift build --build-tests` first")
    let dir = try temporaryDirectory()
    let r = try runGraphc([
      "optimize", transposes + "/model.onnx", "-o", dir + "/t.gcb", "--load-pass-plugin", examplePlugin,
      "--pipeline", "fold-transposes,canonicalize", "--timing", "--report", dir + "/report.json",
      "--print-ir-before=fold-transposes", "--print-ir-after=canonicalize",
      "--check-each", transposes + "/inputs", "--tolerance", "1e-5", "--verify-each",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("fold-transposes") && r.stdout.contains("transposes-cancelled=1 transposes-folded=1"))
    #expect(r.stderr.contains("// ----- IR before fold-transposes -----\ngraph @transposes"))
    #expect(r.stderr.contains("// ----- IR after canonicalize -----\n"))
    #expect(!r.stderr.contains("IR after fold-transposes"))
    // The timing table: one row per pass with its share, then instruments and the total.
    let timing = r.stderr.components(separatedBy: "===--- Pass execution timing report ---===").last ?? ""
    for row in ["% ", "1  fold-transposes", "1  canonicalize", "(verifier and instruments)", "100.0%", "total"] {
      #expect(timing.contains(row), "timing table lacks '\(row)':\n\(timing)")
    }

    let data = try #require(FileManager.default.contents(atPath: dir + "/report.json"))
    let report = try JSONDecoder().decode(PipelineReport.self, from: data)
    let run = try #require(report.runs.first)
    #expect(report.tool == "graphc optimize" && run.error == nil)
    #expect(run.passes.map(\.pass) == ["fold-transposes", "canonicalize"])
    let fold = run.passes[0]
    #expect(fold.statistics == ["transposes-folded": 1, "transposes-cancelled": 1])
    #expect(fold.opsBefore?["onnx.Transpose"] == 4 && fold.opsAfter?["onnx.Transpose"] == 1)
    #expect(fold.nodesBefore == 7 && fold.nodesAfter == 4)
    #expect(run.opsBefore["onnx.Transpose"] == 4 && run.opsAfter["onnx.Transpose"] == 1)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("report.json") && $0 != "report.json" }
    #expect(leftovers.isEmpty, "the report is written through a temporary file and renamed")
  }

  @Test func checkEachNeedsAFilePerInput() throws {
    let dir = try temporaryDirectory()
    let r = try runGraphc(["optimize", transposes + "/model.onnx", "-o", dir + "/t.gcb", "--check-each", dir])
    #expect(r.status == 1)
    #expect(r.stderr.contains("--check-each \(dir): no file for input 'x' (expected \(dir)/x.npy)"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/t.gcb"))
  }

  @Test func optPrintsAfterChangeAndAll() throws {
    let gir = packageRoot + "/fixtures/passes/canonicalize/dce.gir"
    let changed = try runGraphc(["opt", gir, "--pipeline", "remove-identity,dce", "--print-ir-after-change"])
    #expect(changed.status == 0, "\(changed.stderr)")
    #expect(changed.stderr.contains("IR after dce (changed)") && !changed.stderr.contains("IR after remove-identity"))
    let all = try runGraphc(["opt", gir, "--pipeline", "remove-identity,dce", "--print-ir-after-all"])
    #expect(all.stderr.contains("// ----- IR after remove-identity -----") && all.stderr.contains("// ----- IR after dce -----"))
    let unknown = try runGraphc(["opt", gir, "--pipeline", "dce", "--print-ir-after=dec"])
    #expect(unknown.status == 1 && unknown.stderr.contains("unknown pass 'dec'"))
  }
}

@Suite(.serialized) struct PluginLoadingTests {
  @Test func theExamplePluginListsItsPasses() throws {
    let r = try runGraphc(["passes", "--load-pass-plugin", examplePlugin])
    #expect(r.status == 0, "\(r.stderr)")
    let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("  fold-transposes ") }
    #expect(line?.contains(" Fold consecutive Transposes into one") == true, "\(r.stdout)")
    let without = try runGraphc(["passes"])
    #expect(!without.stdout.contains("fold-transposes"))
  }

  @Test(arguments: [
    ("#include <stdint.h>\nuint32_t graphc_register_passes(uint32_t host, void *r) { return 7; }\n",
     "was built against graphc plugin API version 7, but this graphc speaks version \(graphcPluginAPIVersion); rebuild the plugin"),
    ("int something_else(void) { return 0; }\n",
     "is not a graphc pass plugin: it exports no 'graphc_register_passes' symbol"),
  ])
  func badPluginsAreRefusedWithAClearMessage(source: String, message: String) throws {
    let dir = try temporaryDirectory()
    let so = try compileCPlugin(source, in: dir)
    for command in [["optimize", transposes + "/model.onnx", "-o", dir + "/t.gcb"], ["passes"]] {
      let r = try runGraphc(command + ["--load-pass-plugin", so])
      #expect(r.status == 1, "\(command[0]): \(r.stderr)")
      #expect(r.stderr.hasPrefix("graphc: error: ") && r.stderr.contains(message), "\(r.stderr)")
    }
  }

  @Test func missingAndBrokenFilesAreErrors() throws {
    let dir = try temporaryDirectory()
    try "not an ELF file".write(toFile: dir + "/libjunk.so", atomically: true, encoding: .utf8)
    for (path, message) in [(dir + "/libnone.so", "no such file"), (dir + "/libjunk.so", "cannot load pass plugin"), (dir, "is a directory")] {
      let r = try runGraphc(["opt", packageRoot + "/fixtures/passes/canonicalize/dce.gir", "--load-pass-plugin", path])
      #expect(r.status == 1 && r.stderr.contains(message), "\(path): \(r.stderr)")
    }
  }
}

@Suite(.serialized) struct TestPassesCommandTests {
  @Test func runsAFolderWithAPlugin() throws {
    let r = try runGraphc(["test-passes", packageRoot + "/passes/ExamplePlugin/tests", "--load-pass-plugin", examplePlugin])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("PASS \(packageRoot)/passes/ExamplePlugin/tests/fold-transposes.gir (4 cases)"))
    #expect(r.stdout.hasSuffix("2 files: 2 passed, 0 failed\n"))
    // Without the plugin the pass is unknown: every file fails and the status says so.
    let without = try runGraphc(["test-passes", packageRoot + "/passes/ExamplePlugin/tests"])
    #expect(without.status == 1)
    #expect(without.stdout.contains("unknown pass 'fold-transposes'"))
  }

  @Test func aFailingFileShowsTheCheckWhereAndTheActualOutput() throws {
    let dir = try temporaryDirectory()
    try """
      // RUN: graphc opt %s --pipeline 'dce'
      graph @g(%x: f32[2]) {
        %0 = onnx.Neg(%x) : f32[2]
        %1 = onnx.Abs(%x) : f32[2]
        return %1 as "y"
      }
      // CHECK: onnx.Neg
      """.write(toFile: dir + "/bad.gir", atomically: true, encoding: .utf8)
    try """
      // RUN: graphc opt %s --pipeline 'dce'
      graph @g(%x: f32[2]) {
        %0 = onnx.Abs(%x) : f32[2]
        return %0 as "y"
      }
      // CHECK: onnx.Abs
      // INPUT: %x = [-1.5, 2.0]
      // EXPECT: "y" = [1.5, 2.0]
      """.write(toFile: dir + "/good.gir", atomically: true, encoding: .utf8)
    let r = try runGraphc(["test-passes", dir])
    #expect(r.status == 1)
    #expect(r.stdout.contains("FAIL \(dir)/bad.gir\n  \(dir)/bad.gir:1: check line 7: CHECK: onnx.Neg\n    error: pattern not found in input"), "\(r.stdout)")
    #expect(r.stdout.contains("--- actual output ---\n  graph @g(%x: f32[2]) {\n    %0 = onnx.Abs(%x) : f32[2]"))
    #expect(r.stdout.contains("PASS \(dir)/good.gir (1 case)"))
    #expect(r.stdout.hasSuffix("2 files: 1 passed, 1 failed\n"))
    let nothing = try runGraphc(["test-passes", dir + "/empty-nowhere"])
    #expect(nothing.status == 1 && nothing.stderr.contains("no .gir files found"))
  }
}

@Suite struct DriverInstrumentationTests {
  private static let graphText = """
    graph @g(%x: f32[3]) {
      %0 = onnx.Relu(%x) : f32[3] @"relu"
      return %0 as "y"
    }
    """

  @Test func everythingOffInstallsNoInstrument() {
    let i = OptimizeOptions().makeInstrumentation(checkEachInputs: nil) { _ in }
    #expect(i.instruments.isEmpty && !i.verifyEach)
  }

  @Test func anErrorDiagnosticFailsOptimizeAndStillWritesTheReport() throws {
    let registry = PassRegistry()
    try registry.register(GraphPass(name: "reject-relu", summary: "test") { graph, context in
      for n in graph.nodes(ofKind: "onnx.Relu") { context.diagnose(.error, "Relu is not supported here", at: n) }
    })
    let dir = try temporaryDirectory()
    var options = OptimizeOptions()
    options.reportPath = dir + "/r.json"
    let graph = try parseGraph(Self.graphText)
    let error = #expect(throws: PassFailure.self) {
      _ = try optimize(graph: graph, pipeline: Pipeline(parsing: "reject-relu", registry: registry), options: options)
    }
    #expect(error?.pass == "reject-relu")
    let report = try JSONDecoder().decode(PipelineReport.self, from: try #require(FileManager.default.contents(atPath: dir + "/r.json")))
    let d = try #require(report.runs.first?.passes.first?.diagnostics.first)
    #expect(d.description == "reject-relu: node 'relu' (onnx.Relu): error: Relu is not supported here")
    #expect(report.runs.first?.error?.contains("1 error diagnostic(s)") == true)
  }

  @Test func timingTableSumsRunsOfOnePass() {
    func report(_ pass: String, _ s: Double) -> PassReport {
      PassReport(pass: pass, seconds: s, changed: false, nodesBefore: 0, nodesAfter: 0, statistics: [:], diagnostics: [])
    }
    let table = timingTable([report("a", 0.003), report("b", 0.001), report("a", 0.004)])
    #expect(table.contains("     7.000    87.5%      2  a"), "\(table)")
    #expect(table.contains("     1.000    12.5%      1  b"), "\(table)")
    #expect(table.contains("     8.000   100.0%         total"), "\(table)")
  }
}

@Suite struct PassesListingTests {
  /// `passes --json` lists every registered pass and preset under its full name (the text
  /// listing once cut names at 20 characters), with the same pipelines the registry holds.
  @Test func theJSONCatalogMatchesTheRegistry() throws {
    let r = try runGraphc(["passes", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    let passes = try #require(object?["passes"] as? [[String: Any]])
    let presets = try #require(object?["presets"] as? [[String: Any]])
    #expect(Set(passes.compactMap { $0["name"] as? String }) == Set(builtinRegistry.allPasses.map(\.name)))
    #expect(passes.contains { $0["name"] as? String == "fuse-depthwise-pointwise" })
    let quantizeOptions = passes.first { $0["name"] as? String == "quantize" }?["options"] as? [[String: Any]]
    #expect(quantizeOptions?.contains { $0["name"] as? String == "weights" && $0["default"] as? String == "int8" } == true)
    for p in builtinPresets {
      #expect(presets.contains { $0["name"] as? String == p.name && $0["pipeline"] as? String == p.pipeline })
    }
    let text = try runGraphc(["passes"])
    #expect(text.stdout.contains("  fuse-depthwise-pointwise "))
  }
}

@Suite struct BenchProfileTests {
  /// `bench --profile --json` adds an "ops" array: every op kind of the compiled model once,
  /// node counts that add up to the model's nodes, shares that add up to 1.
  @Test func profileListsEveryOpOnce() throws {
    let dir = try temporaryDirectory()
    let model = packageRoot + "/fixtures/models/convnet/model.onnx"
    let compiled = try runGraphc(["optimize", model, "-o", dir + "/c.gcb"])
    #expect(compiled.status == 0, "\(compiled.stderr)")
    let printed = try runGraphc(["print", dir + "/c.gcb"])
    let nodeOps = printed.stdout.split(separator: "\n").compactMap { line -> String? in
      guard line.hasPrefix("  %"), let eq = line.range(of: " = "), !line.contains(" = const ") else { return nil }
      return line[eq.upperBound...].split(separator: "(").first.map(String.init)
    }
    let r = try runGraphc(["bench", dir + "/c.gcb", "--runs", "3", "--warmup", "1", "--threads", "1", "--profile", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    let ops = try #require(object["ops"] as? [[String: Any]])
    let counts = Dictionary(uniqueKeysWithValues: ops.map { ($0["op"] as? String ?? "", $0["nodes"] as? Int ?? 0) })
    #expect(counts == Dictionary(nodeOps.map { ($0, 1) }, uniquingKeysWith: +))
    let shares = ops.compactMap { $0["share"] as? Double }
    #expect(shares.count == ops.count && abs(shares.reduce(0, +) - 1) < 1e-9)
    // The text form prints the same table after the timing lines.
    let text = try runGraphc(["bench", dir + "/c.gcb", "--runs", "2", "--warmup", "0", "--profile"])
    #expect(text.stdout.contains("nodes        ms   share"), "\(text.stdout)")
  }
}
