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
      for _ in 0..<runs {
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try model.run(inputs)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
      }
      times.sort()
      let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
      let rss = peakRSSBytes()
      // What the node results would take without a plan, for comparison with the arena.
      let intermediates = model.packed.tensors.reduce(0) { sum, t in
        guard t.kind == .intermediate || t.kind == .output, let shape = t.type.staticShape else { return sum }
        return sum + shape.reduce(1, *) * t.type.dtype.byteSize
      }
      if json {
        print("{\"model\":\(jsonString(source.model)),\"median_ms\":\(median),\"min_ms\":\(times[0]),\"max_ms\":\(times[times.count - 1]),\"runs\":\(runs),\"warmup\":\(warmup),\"threads\":\(source.threads),\"load_ms\":\(loadMs),\"peak_rss_bytes\":\(rss),\"arena_bytes\":\(model.arenaSize),\"intermediate_bytes\":\(intermediates)}")
      } else {
        print("\(source.model): median \(String(format: "%.3f", median)) ms  (min \(String(format: "%.3f", times[0])), max \(String(format: "%.3f", times[times.count - 1])), \(runs) runs, \(source.threads) threads)")
        print("load \(String(format: "%.2f", loadMs)) ms, peak RSS \(formatBytes(rss)), arena \(formatBytes(model.arenaSize)) for \(formatBytes(intermediates)) of node results")
      }
    }
  }
}

/// Peak resident set size of this process.
func peakRSSBytes() -> Int {
  var usage = rusage()
  getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
  return Int(usage.ru_maxrss) * 1024
}
