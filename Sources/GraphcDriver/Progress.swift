// Progress.swift - The progress line of long pass work (calibration sweeps) on stderr.

import Foundation
import PassKit

/// Shows `PassProgress` as `quantize: calibration 120/512 samples, 3.2 s left`. Quiet while a
/// task has run under a second (short runs print nothing). On a terminal the line is rewritten
/// in place (`\r`, at most 10 times a second) and ended with a newline when the task is done;
/// elsewhere (a log) a whole line is written at most every 5 s and once at the end. It writes
/// only to its sink (the CLI's stderr), never to stdout, so `--json` output stays clean.
public final class ProgressLine: @unchecked Sendable {
  private let terminal: Bool
  private let write: (String) -> Void
  private let lock = NSLock()
  /// The task shown last and when it was last drawn (in its own elapsed seconds).
  private var shown: (task: String, at: Double)?

  public init(terminal: Bool, write: @escaping (String) -> Void) {
    self.terminal = terminal
    self.write = write
  }

  public func update(_ p: PassProgress) {
    lock.lock()
    defer { lock.unlock() }
    let key = p.pass + "/" + p.task
    if shown?.task != key { shown = nil }
    let finished = p.done >= p.total
    guard p.elapsed >= 1 || (finished && shown != nil) else { return }
    let interval = terminal ? 0.1 : 5
    if !finished, let s = shown, p.elapsed - s.at < interval { return }
    let text = Self.text(p)
    if terminal {
      write("\r\u{1B}[K" + text + (finished ? "\n" : ""))
    } else {
      write(text + "\n")
    }
    shown = finished ? nil : (key, p.elapsed)
  }

  /// `quantize: calibration 120/512 samples, 3.2 s left` (`… done in 4.1 s` at the end).
  public static func text(_ p: PassProgress) -> String {
    let head = "\(p.pass): \(p.task) \(p.done)/\(p.total) samples"
    if p.done >= p.total { return head + String(format: ", done in %.1f s", p.elapsed) }
    guard let left = p.secondsLeft else { return head }
    return head + String(format: ", %.1f s left", left)
  }
}
