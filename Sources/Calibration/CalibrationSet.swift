// CalibrationSet.swift - Calibration samples for passes: a directory of .npy/.npz, or synthetic.

import Foundation
import GraphIR

/// The calibration inputs of one model, read one sample at a time.
///
/// On disk (`graphc optimize --calibration DIR`), each sample is either
/// - a subfolder of DIR holding one `<input name>.npy` per model input, the name passed through
///   `sanitizedFileName` (characters other than letters, digits, `_`, `.`, `-` become `_`), or
/// - one `<sample>.npz` file in DIR whose entries are `<input name>.npy` (raw or sanitized name),
///   as `numpy.savez(path, **{name: array})` writes; stored and deflate entries are read.
/// Samples are taken in name order; other files are ignored. Every sample must give every model
/// input with its dtype and a shape that matches the input's fixed dims; a mismatch is an error
/// naming the sample and the input.
///
/// `random(count:)` makes synthetic uniform data instead (`--calibration-random N`); its
/// `isSynthetic` is true and its `summary` says so, because statistics from it describe noise,
/// not the model's real inputs.
public final class CalibrationSet: @unchecked Sendable {
  public struct Input: Sendable {
    public let name: String
    public let type: TensorType
    public init(name: String, type: TensorType) { self.name = name; self.type = type }
  }

  private enum Source {
    case files([String])           // one folder or .npz path per sample
    case random(seed: UInt64)
  }

  public let inputs: [Input]
  public let count: Int
  public let isSynthetic: Bool
  /// One line for reports: where the samples come from and how many there are.
  public let summary: String
  private let source: Source

  private init(inputs: [Input], count: Int, source: Source, summary: String) {
    self.inputs = inputs
    self.count = count
    self.source = source
    self.summary = summary
    if case .random = source { isSynthetic = true } else { isSynthetic = false }
  }

  /// The samples in `directory` (see the type's documentation). Throws when the directory is
  /// missing or holds no sample; samples themselves are read and checked by `sample(_:)`.
  public static func directory(_ directory: String, inputs: [Input]) throws -> CalibrationSet {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
      throw CalibrationError("calibration directory '\(directory)' does not exist")
    }
    let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    let samples = names.filter { name in
      let path = directory + "/" + name
      var d: ObjCBool = false
      return name.hasSuffix(".npz") || (FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue)
    }.map { directory + "/" + $0 }
    guard !samples.isEmpty else {
      throw CalibrationError("calibration directory '\(directory)' holds no sample (expected one subfolder of .npy files or one .npz file per sample)")
    }
    return CalibrationSet(inputs: inputs, count: samples.count, source: .files(samples),
                          summary: "\(samples.count) calibration samples from \(directory)")
  }

  /// `count` synthetic samples: floats uniform in [-1, 1), integers in [0, 16), booleans at
  /// random. Every input needs a fully static shape.
  public static func random(count: Int, inputs: [Input], seed: UInt64 = 0x5eed) throws -> CalibrationSet {
    guard count > 0 else { throw CalibrationError("--calibration-random needs a positive sample count, got \(count)") }
    for input in inputs where input.type.staticShape == nil {
      throw CalibrationError("synthetic calibration needs a static shape for input '\(input.name)' (\(input.type)); fix it with --shape")
    }
    return CalibrationSet(inputs: inputs, count: count, source: .random(seed: seed),
                          summary: "SYNTHETIC calibration: \(count) random samples (not representative of real inputs)")
  }

  /// Sample `index` (0 ..< count), read from disk now (nothing is cached), by input name.
  public func sample(_ index: Int) throws -> [String: Tensor] {
    guard index >= 0 && index < count else { throw CalibrationError("calibration sample \(index) out of range 0..<\(count)") }
    switch source {
    case .random(let seed): return randomSample(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    case .files(let paths): return try readSample(paths[index])
    }
  }

  private func readSample(_ path: String) throws -> [String: Tensor] {
    let label = (path as NSString).lastPathComponent
    var out: [String: Tensor] = [:]
    if path.hasSuffix(".npz") {
      guard let data = FileManager.default.contents(atPath: path) else { throw CalibrationError("cannot read '\(path)'") }
      let zip = try ZipArchive(bytes: [UInt8](data), source: path)
      for input in inputs {
        let candidates = [input.name + ".npy", sanitizedFileName(input.name) + ".npy"]
        guard let entry = candidates.first(where: zip.names.contains) else {
          throw CalibrationError("calibration sample '\(label)' has no array for input '\(input.name)' (expected entry '\(candidates[1])'; it has \(zip.names.joined(separator: ", ")))")
        }
        out[input.name] = try parseNPY(try zip.read(entry, maxBytes: 1 << 34), source: "\(path):\(entry)")
      }
    } else {
      for input in inputs {
        let file = path + "/" + sanitizedFileName(input.name) + ".npy"
        guard FileManager.default.fileExists(atPath: file) else {
          throw CalibrationError("calibration sample '\(label)' has no file '\(sanitizedFileName(input.name)).npy' for input '\(input.name)' (the model's inputs are \(inputs.map { "'\($0.name)'" }.joined(separator: ", ")))")
        }
        out[input.name] = try readNPY(path: file)
      }
    }
    for input in inputs {
      guard let t = out[input.name] else { continue }
      try check(t, against: input, sample: label)
    }
    return out
  }

  private func check(_ t: Tensor, against input: Input, sample: String) throws {
    guard t.dtype == input.type.dtype else {
      throw CalibrationError("calibration sample '\(sample)': input '\(input.name)' has element type \(t.dtype.shortName), the model expects \(input.type.dtype.shortName)")
    }
    if let dims = input.type.dims {
      let fits = dims.count == t.rank && zip(dims, t.shape).allSatisfy { d, s in d.value.map { $0 == s } ?? true }
      guard fits else {
        throw CalibrationError("calibration sample '\(sample)': input '\(input.name)' has shape \(t.shape), the model expects \(input.type)")
      }
    }
  }

  private func randomSample(seed: UInt64) -> [String: Tensor] {
    var state = seed | 1
    func next() -> UInt64 {
      state ^= state << 13; state ^= state >> 7; state ^= state << 17
      return state
    }
    var out: [String: Tensor] = [:]
    for input in inputs {
      let shape = input.type.staticShape ?? []
      let n = checkedElementCount(shape) ?? 0
      let t: Tensor
      switch input.type.dtype {
      case .float32: t = .float32(shape, (0..<n).map { _ in Float(next() >> 40) / Float(1 << 23) - 1 })
      case .float64: t = Tensor(.float64, shape: shape, values: (0..<n).map { _ in Double(next() >> 11) / Double(1 << 52) - 1 })
      case .bool: t = Tensor(.bool, shape: shape, values: (0..<n).map { _ in UInt8(next() & 1) })
      case .int64: t = .int64(shape, (0..<n).map { _ in Int64(next() % 16) })
      case .int32: t = Tensor(.int32, shape: shape, values: (0..<n).map { _ in Int32(next() % 16) })
      default: t = Tensor(zeros: input.type.dtype, shape: shape)
      }
      out[input.name] = t
    }
    return out
  }
}

/// A problem with calibration data, naming the sample and input.
public struct CalibrationError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ description: String) { self.description = description }
}
