// Run.swift - `graphc run` and `graphc bench`: execute a .gcb with the interpreter.

import ArgumentParser
import Foundation
import GraphcDriver
import GraphIR
import Interpreter
import Calibration
import PackedFormat

/// Options shared by `run` and `bench`.
struct ModelInputOptions: ParsableArguments {
  @Argument(help: "A .gcb (or an .onnx, compiled in memory with the default preset).")
  var model: String

  @Option(name: .customLong("input"), help: ArgumentHelp("An input tensor from .npy or TensorProto .pb.", valueName: "NAME=FILE"))
  var inputs: [String] = []

  @Option(name: .customLong("shape"), help: ArgumentHelp("Fix a symbolic input shape (.onnx only).", valueName: "NAME=DIMS"))
  var shapes: [String] = []

  @Option(help: "Threads the kernels may use (default: all cores).")
  var threads: Int = InterpreterThreads.count

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
    return try Model(path: model, limits: limits)
  }
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a compiled model on input tensors and print or save its outputs.",
    discussion: """
      Each output is printed with its shape and first values; with --output-dir it is also
      written as DIR/<output name>.npy, where every character other than a letter, digit,
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
      if json {
        print("{\"model\":\(jsonString(source.model)),\"median_ms\":\(median),\"min_ms\":\(times[0]),\"max_ms\":\(times[times.count - 1]),\"runs\":\(runs),\"warmup\":\(warmup),\"threads\":\(source.threads),\"load_ms\":\(loadMs),\"peak_rss_bytes\":\(rss)}")
      } else {
        print("\(source.model): median \(String(format: "%.3f", median)) ms  (min \(String(format: "%.3f", times[0])), max \(String(format: "%.3f", times[times.count - 1])), \(runs) runs, \(source.threads) threads)")
        print("load \(String(format: "%.2f", loadMs)) ms, peak RSS \(formatBytes(rss))")
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

/// A small deterministic generator, so benchmark inputs are the same on every run.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Uniform values in [-1, 1) for floats, small non-negative integers otherwise.
func randomTensor(_ dtype: DType, shape: [Int], rng: inout SplitMix64) -> Tensor {
  let t = Tensor(zeros: dtype, shape: shape)
  let n = t.count
  switch dtype {
  case .float32:
    let p = t.pointer(as: Float.self)
    for i in 0..<n { p[i] = Float(rng.unit() * 2 - 1) }
  case .float64:
    let p = t.pointer(as: Double.self)
    for i in 0..<n { p[i] = rng.unit() * 2 - 1 }
  case .int64:
    let p = t.pointer(as: Int64.self)
    for i in 0..<n { p[i] = Int64(rng.next() % 4) }
  case .int32:
    let p = t.pointer(as: Int32.self)
    for i in 0..<n { p[i] = Int32(rng.next() % 4) }
  default:
    break  // zeros are a valid input of every other type
  }
  return t
}
