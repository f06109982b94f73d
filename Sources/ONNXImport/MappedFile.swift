// MappedFile.swift - Read-only access to whole files through mmap, plus path containment checks.

import GraphIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped copy-on-write. Tensors borrow ranges of it and keep it alive as their
/// storage owner; writes through such a tensor touch a private page, never the file.
final class MappedFile {
  let path: String
  let base: UnsafeMutableRawPointer?
  let size: Int

  /// Maps `path`. Refuses anything that is not a regular file, and files over `maxBytes`
  /// (`limit` names the user-facing ceiling that `maxBytes` comes from, when there is one).
  init(path: String, maxBytes: Int, limit: ResourceLimits.Kind? = nil) throws {
    self.path = path
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ImportFailure(.io, "cannot open '\(path)': \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw ImportFailure(.io, "cannot stat '\(path)': \(String(cString: strerror(errno)))") }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw ImportFailure(.io, "'\(path)' is not a regular file") }
    let size = Int(st.st_size)
    guard size <= maxBytes else {
      let message = limit.map { ResourceLimits.exceeded($0, size, limit: maxBytes, what: "'\(path)'") }
      throw ImportFailure(.limitExceeded, message ?? "'\(path)' is \(size) bytes, over the limit of \(maxBytes)")
    }
    self.size = size
    if size == 0 {
      base = nil
      return
    }
    let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
    guard let p, p != MAP_FAILED else {
      throw ImportFailure(.io, "cannot map '\(path)': \(String(cString: strerror(errno)))")
    }
    base = p
  }

  deinit { if let base { munmap(base, size) } }

  var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

  /// Drops the whole pages inside `range` (byte offsets) from memory; they are clean, since
  /// nothing writes the mapping, and a later read maps them from the file again. Lets a caller
  /// done with some bytes keep the mapping without keeping them resident.
  func dropResidentPages(in range: Range<Int>) {
    guard let base, range.lowerBound >= 0, range.upperBound <= size else { return }
    let page = max(1, Int(sysconf(Int32(_SC_PAGESIZE))))
    let start = Int(bitPattern: base) + range.lowerBound, end = Int(bitPattern: base) + range.upperBound
    let from = (start + page - 1) / page * page, to = end / page * page
    guard from < to, let p = UnsafeMutableRawPointer(bitPattern: from) else { return }
    madvise(p, to - from, MADV_DONTNEED)
  }
}

/// The canonical absolute form of `path` with symlinks resolved, or nil if it does not exist.
func resolvedPath(_ path: String) -> String? {
  guard let p = realpath(path, nil) else { return nil }
  defer { free(p) }
  return String(cString: p)
}

/// The folder part of `path` (`.` when there is none).
func directoryName(of path: String) -> String {
  guard let slash = path.lastIndex(of: "/") else { return "." }
  let dir = String(path[..<slash])
  return dir.isEmpty ? "/" : dir
}

/// The last component of `path`.
func fileName(of path: String) -> String {
  guard let slash = path.lastIndex(of: "/") else { return path }
  return String(path[path.index(after: slash)...])
}
