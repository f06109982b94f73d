// Run.swift - `graphc run` and `graphc bench`: execute a .gcb with the interpreter.

import ArgumentParser
import Foundation
import GraphcDriver
import GraphIR
import Interpreter
import Calibration
import PackedFormat
import GraphcTestSupport

/// Options shared by `run` and `bench`.
struct ModelInputOptions: ParsableArguments {
  @Argument(help: "A .gcb (or an .onnx, compiled in memory with the default preset).")
  var model: String

  @Option(name: .customLong("input"), help: ArgumentHelp("An input tensor from .npy or TensorProto .pb.", valueName: "NAME=FILE"))
  var inputs: [String] = []

  @Option(name: .customLong("shape"), help: ArgumentHelp("Fix a symbolic input shape (.onnx only).", valueName: "NAME=DIMS"))
  var shapes: [String] = []

  @Option(help: "Threads the kernels may use (the default is this machine's core count).")
  var threads: Int = InterpreterThreads.count

  @Flag(help: "Skip the CRC-32 of the weights section at load (structure is still validated).")
  var skipWeightChecksum = false

  @OptionGroup(title: "Limits") var limitOptions: LimitOptions

  func validate() throws {
    guard threads > 0 else { throw ValidationError("--threads must be positive") }
  }

  func load() throws -> Model {
    InterpreterThreads.count = threads
    let limits = try limitOptions.limits()
    if model.hasSuffix(".onnx") {
      var options = OptimizeOptions()
      options.limits = limits
      for s in shapes {
        let (name, dims) = try parseShapeArgument(s)
        options.shapes[name] = dims
      }
      let result = try GraphcDriver.optimize(modelPath: model, options: options)
      return try Model(bytes: result.packed, name: model, limits: limits)
    }
    return try Model(path: model, verifyWeightChecksum: !skipWeightChecksum, limits: limits)
  }
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a compiled model on input tensors and print or save its outputs.",
    discussion: """
      Each output is printed with its shape and first values; with --output-dir it is also \
      written as DIR/<output name>.npy, where every character other than a letter, digit, \
      '_', '.' or '-' becomes '_' (gpu_0/softmax_1 -> gpu_0_softmax_1.npy).
      """)

  @OptionGroup var source: ModelInputOptions

  @Option(help: "Write each output as DIR/<name>.npy.")
  var outputDir: String?

  @Option(help: "How many values of each output to print.")
  var show: Int = 8

  func run() throws {
    reportingErrors {
      let model = try source.load()
      let inputs = try parseInputArguments(source.inputs, inputNames: model.inputs.map(\.name))
      let outputs = try model.run(inputs)
      if let dir = outputDir {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      }
      for (name, _) in model.outputs {
        guard let t = outputs[name] else { continue }
        let values = (0..<min(show, t.count)).map { formatValue(t.double(at: $0), t.dtype) }
        let more = t.count > show ? ", ..." : ""
        print("\(name): \(t.type)  [\(values.joined(separator: ", "))\(more)]")
        if let dir = outputDir {
          let path = (dir as NSString).appendingPathComponent(sanitizedFileName(name) + ".npy")
          try writeFileAtomically(try npyBytes(t), to: path)
        }
      }
    }
  }
}

func formatValue(_ v: Double, _ t: DType) -> String {
  t.isFloat ? String(format: "%.6g", v) : String(Int64(v))
}

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Time a compiled model: min/median/max latency and peak memory.",
    discussion: "Inputs not given with --input are filled with fixed-seed random values of the right shape.")

  @OptionGroup var source: ModelInputOptions

  @Option(help: "Untimed runs before timing.")
  var warmup: Int = 3

  @Option(help: "Timed runs.")
  var runs: Int = 20

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  @Flag(help: "Also time every node and print where the time goes, by op (JSON: \"ops\").")
  var profile = false

  func validate() throws {
    guard runs > 0, warmup >= 0 else { throw ValidationError("--runs must be positive, --warmup non-negative") }
  }

  func run() throws {
    reportingErrors {
      let loadStart = DispatchTime.now().uptimeNanoseconds
      let model = try source.load()
      let loadMs = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e6
      var inputs = try parseInputArguments(source.inputs, inputNames: model.inputs.map(\.name))
      var rng = SplitMix64(seed: 42)
      for (name, type) in model.inputs where inputs[name] == nil {
        guard let shape = type.staticShape else {
          throw DriverError("input '\(name)' has symbolic shape \(type); give --input \(name)=FILE or --shape")
        }
        inputs[name] = randomTensor(type.dtype, shape: shape, rng: &rng)
      }
      for _ in 0..<warmup { _ = try model.run(inputs) }
      var times: [Double] = []
      var nodeTimes: [[Model.NodeTime]] = []
      for _ in 0..<runs {
        let t0 = DispatchTime.now().uptimeNanoseconds
        if profile {
          nodeTimes.append(try model.profile(inputs).times)
        } else {
          _ = try model.run(inputs)
        }
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
      }
      let ops = opProfile(nodeTimes)
      times.sort()
      let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
      let rss = peakRSSBytes()
      // What the node results would take without a plan, for comparison with the arena.
      let intermediates = model.packed.tensors.reduce(0) { sum, t in
        guard t.kind == .intermediate || t.kind == .output, let shape = t.type.staticShape else { return sum }
        return sum + shape.reduce(1, *) * t.type.dtype.byteSize
      }
      if json {
        print("{\"model\":\(jsonString(source.model)),\"median_ms\":\(median),\"min_ms\":\(times[0]),\"max_ms\":\(times[times.count - 1]),\"runs\":\(runs),\"warmup\":\(warmup),\"threads\":\(source.threads),\"load_ms\":\(loadMs),\"peak_rss_bytes\":\(rss),\"arena_bytes\":\(model.arenaSize),\"intermediate_bytes\":\(intermediates)\(profile ? ",\"ops\":" + opProfileJSON(ops) : "")}")
      } else {
        print("\(source.model): median \(String(format: "%.3f", median)) ms  (min \(String(format: "%.3f", times[0])), max \(String(format: "%.3f", times[times.count - 1])), \(runs) runs, \(source.threads) threads)")
        print("load \(String(format: "%.2f", loadMs)) ms, peak RSS \(formatBytes(rss)), arena \(formatBytes(model.arenaSize)) for \(formatBytes(intermediates)) of node results")
        if profile { printOpProfile(ops) }
      }
    }
  }
}

/// Time by op kind: for each node the median of its per-run times, summed per op, largest first.
struct OpTime {
  let op: String
  let nodes: Int
  let ms: Double
  let share: Double
}

func opProfile(_ runs: [[Model.NodeTime]]) -> [OpTime] {
  guard let first = runs.first else { return [] }
  var byOp: [String: (nodes: Int, ms: Double)] = [:]
  for (i, node) in first.enumerated() {
    let samples = runs.compactMap { i < $0.count ? Double($0[i].nanoseconds) / 1e6 : nil }.sorted()
    let median = samples[samples.count / 2]
    byOp[node.op, default: (0, 0)].nodes += 1
    byOp[node.op, default: (0, 0)].ms += median
  }
  let total = max(byOp.values.reduce(0) { $0 + $1.ms }, .leastNonzeroMagnitude)
  return byOp.map { OpTime(op: $0.key, nodes: $0.value.nodes, ms: $0.value.ms, share: $0.value.ms / total) }
    .sorted { ($0.ms, $1.op) > ($1.ms, $0.op) }
}

func opProfileJSON(_ ops: [OpTime]) -> String {
  "[" + ops.map { "{\"op\":\(jsonString($0.op)),\"nodes\":\($0.nodes),\"ms\":\($0.ms),\"share\":\($0.share)}" }.joined(separator: ",") + "]"
}

func printOpProfile(_ ops: [OpTime]) {
  let width = max(2, ops.map(\.op.count).max() ?? 2)
  print("\("op".rightPad(width))  nodes        ms   share")
  for o in ops {
    print("\(o.op.rightPad(width))  \(String(format: "%5d  %8.3f  %5.1f%%", o.nodes, o.ms, 100 * o.share))")
  }
}

/// Peak resident set size of this process.
func peakRSSBytes() -> Int {
  var usage = rusage()
  getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
  return Int(usage.ru_maxrss) * 1024
}
