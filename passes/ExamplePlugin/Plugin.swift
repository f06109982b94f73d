// Plugin.swift - The example plugin's registration: the one C symbol graphc looks for.

import PassKit

/// The passes of this plugin, for a custom driver (`runGraphcCLI(extraPasses:)`) or a test registry.
public let examplePluginPasses: [GraphPass] = [foldTransposes]

/// Called by `graphc --load-pass-plugin libExamplePlugin.so` with the host's API version and
/// registrar. `PluginRegistrar.entry` refuses a host of another version before touching it.
@_cdecl("graphc_register_passes")
public func graphcRegisterPasses(_ hostVersion: UInt32, _ registrar: UnsafeMutableRawPointer?) -> UInt32 {
  PluginRegistrar.entry(hostVersion, registrar) { host in
    for pass in examplePluginPasses { try host.register(pass) }
  }
}
