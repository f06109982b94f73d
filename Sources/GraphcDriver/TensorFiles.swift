// TensorFiles.swift - Loading input tensors from .npy or TensorProto .pb files.

import Foundation
import GraphIR
import Calibration
import ONNXImport

/// Reads a tensor from `.npy` or from a serialized ONNX `TensorProto` (`.pb`).
public func loadTensorFile(_ path: String) throws -> Tensor {
  if path.hasSuffix(".pb") { return try readTensorProto(path: path).tensor }
  return try readNPY(path: path)
}

/// Parses `NAME=FILE` arguments; a bare `FILE` is allowed when the model has one input.
public func parseInputArguments(_ args: [String], inputNames: [String]) throws -> [String: Tensor] {
  var out: [String: Tensor] = [:]
  for arg in args {
    var name: String, file: String
    if let eq = arg.firstIndex(of: "="), !FileManager.default.fileExists(atPath: arg) {
      name = String(arg[..<eq])
      file = String(arg[arg.index(after: eq)...])
    } else {
      guard inputNames.count == 1 else {
        throw DriverError("--input '\(arg)' needs the form NAME=FILE; the model's inputs are \(inputNames.joined(separator: ", "))")
      }
      name = inputNames[0]
      file = arg
    }
    if !inputNames.contains(name), let match = inputNames.first(where: { sanitizedFileName($0) == name }) { name = match }
    guard inputNames.contains(name) else {
      throw DriverError("the model has no input '\(name)'; its inputs are \(inputNames.joined(separator: ", "))")
    }
    out[name] = try loadTensorFile(file)
  }
  return out
}

/// A usage or environment problem found by the driver.
public struct DriverError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ message: String) { description = message }
}
