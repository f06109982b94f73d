// Plugin.swift - Run-time pass plugins: one C-callable registration symbol and an API version.

import Foundation
import GraphIR
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The version of the plugin interface: the registration symbol's signature and the layout of
/// every PassKit/GraphIR type a plugin touches. Bump it whenever either changes; a plugin built
/// against another version is refused before any of its Swift code runs.
public let graphcPluginAPIVersion: UInt32 = 1

/// The symbol every run-time plugin exports (see `PluginRegistrar.entry`).
public let graphcPluginSymbol = "graphc_register_passes"

/// The C signature of `graphc_register_passes`:
/// `uint32_t graphc_register_passes(uint32_t host_api_version, void *registrar)`.
/// It returns the plugin's own API version; it registers only when that equals the host's.
public typealias PluginEntryPoint = @convention(c) (UInt32, UnsafeMutableRawPointer?) -> UInt32

/// What the host hands a plugin during registration. A plugin library carries its own copy of
/// the graphc modules, so its own `PassRegistry.shared` and `OpRegistry.shared` are not the
/// host's: everything it registers must go through this object, which is the host's.
public final class PluginRegistrar {
  /// The host's pass registry (passes, presets, property checks).
  public let passes: PassRegistry
  /// The host's op registry, for custom op schemas.
  public let ops: OpRegistry
  /// The plugin's file, for messages.
  public let path: String
  /// Registration errors the plugin reported; the host turns them into one load error.
  public fileprivate(set) var errors: [String] = []

  public init(passes: PassRegistry, ops: OpRegistry = .shared, path: String) {
    self.passes = passes
    self.ops = ops
    self.path = path
  }

  public func register(_ pass: GraphPass) throws { try passes.register(pass) }

  /// The body of a plugin's `graphc_register_passes`: checks the host's API version against
  /// the one this plugin was compiled with, and only when they agree runs `body` with the
  /// host's registrar. Errors thrown by `body` are handed back to the host, never crash it.
  ///
  ///     @_cdecl("graphc_register_passes")
  ///     public func graphcRegisterPasses(_ version: UInt32, _ registrar: UnsafeMutableRawPointer?) -> UInt32 {
  ///       PluginRegistrar.entry(version, registrar) { try $0.register(myPass) }
  ///     }
  public static func entry(
    _ hostVersion: UInt32, _ registrar: UnsafeMutableRawPointer?, _ body: (PluginRegistrar) throws -> Void
  ) -> UInt32 {
    guard hostVersion == graphcPluginAPIVersion, let registrar else { return graphcPluginAPIVersion }
    // The host passed a retained PluginRegistrar of the same API version (checked above).
    let host = Unmanaged<PluginRegistrar>.fromOpaque(registrar).takeUnretainedValue()
    do { try body(host) } catch { host.errors.append("\(error)") }
    return graphcPluginAPIVersion
  }
}

/// A plugin that could not be loaded: no such file, not a library, no registration symbol,
/// another API version, or a registration error. The message names the file.
public struct PluginError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ message: String) { description = message }
}

/// Loads run-time pass plugins (`graphc optimize --load-pass-plugin libX.so`).
public enum PluginLoader {
  /// Opens the shared library at `path`, checks its API version and lets it register its
  /// passes into `registry`. The library stays loaded for the life of the process, because
  /// the registered passes' code lives in it. Returns the names of the passes it added.
  @discardableResult
  public static func load(_ path: String, into registry: PassRegistry, ops: OpRegistry = .shared) throws -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw PluginError("cannot load pass plugin '\(path)': no such file")
    }
    guard !isDirectory.boolValue else { throw PluginError("cannot load pass plugin '\(path)': it is a directory") }
    // dlopen searches the library path for a bare name; a path with a slash is taken as is.
    let openPath = path.contains("/") ? path : "./" + path
    guard let handle = dlopen(openPath, RTLD_NOW | RTLD_LOCAL) else {
      let why = dlerror().map { String(cString: $0) } ?? "unknown error"
      throw PluginError("cannot load pass plugin '\(path)': \(why)")
    }
    guard let symbol = dlsym(handle, graphcPluginSymbol) else {
      throw PluginError("'\(path)' is not a graphc pass plugin: it exports no '\(graphcPluginSymbol)' symbol")
    }
    let entry = unsafeBitCast(symbol, to: PluginEntryPoint.self)
    let before = Set(registry.allPasses.map(\.name))
    let registrar = PluginRegistrar(passes: registry, ops: ops, path: path)
    let version = withExtendedLifetime(registrar) {
      entry(graphcPluginAPIVersion, Unmanaged.passUnretained(registrar).toOpaque())
    }
    guard version == graphcPluginAPIVersion else {
      throw PluginError(
        "pass plugin '\(path)' was built against graphc plugin API version \(version), but this graphc "
          + "speaks version \(graphcPluginAPIVersion); rebuild the plugin against this graphc")
    }
    guard registrar.errors.isEmpty else {
      throw PluginError("pass plugin '\(path)' failed to register: \(registrar.errors.joined(separator: "; "))")
    }
    return registry.allPasses.map(\.name).filter { !before.contains($0) }
  }
}
