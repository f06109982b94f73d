// Paths.swift - Where the package's own files are, for tests that read fixtures.

import Foundation

/// The root of the graphc package (the folder holding Package.swift), found from this file's
/// compile-time path, so tests can read `fixtures/` from any working directory.
public let packageRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().path
