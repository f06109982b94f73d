// NestingGuard.swift - Bounds message nesting before protobuf-c's recursive unpacker runs.

import CONNXProto
import CProtobufC

/// protobuf-c unpacks nested messages by recursion, so a file of a few MB nesting subgraphs
/// 100k deep overflows the stack. This pre-pass walks the wire format with an explicit stack,
/// using the generated descriptors to tell sub-messages from byte fields, and rejects nesting
/// beyond `maxDepth`. It also caps the number of sub-messages, since protobuf-c allocates a
/// struct of ~100 bytes for each one, however few bytes it took on disk. It decodes nothing:
/// protobuf-c still does all the parsing afterwards.
func checkNesting(
  _ bytes: UnsafeRawBufferPointer, root: UnsafePointer<ProtobufCMessageDescriptor>, what: String, maxDepth: Int,
  maxMessages: Int
) throws {
  let n = bytes.count
  var pos = 0
  var messages = 0
  var frames: [(descriptor: UnsafePointer<ProtobufCMessageDescriptor>, end: Int)] = [(root, n)]

  // Reads stay inside the current frame, so `pos <= frame.end` always holds.
  func varint(_ end: Int) throws -> UInt64 {
    var v: UInt64 = 0, shift: UInt64 = 0
    while pos < end && shift < 64 {
      let b = bytes[pos]
      pos += 1
      v |= UInt64(b & 0x7f) << shift
      if b < 0x80 { return v }
      shift += 7
    }
    throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (bad varint at byte \(pos))")
  }
  func skip(_ count: UInt64, _ end: Int) throws {
    guard count <= UInt64(end - pos) else {
      throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (truncated field at byte \(pos))")
    }
    pos += Int(count)
  }

  while let frame = frames.last {
    if pos >= frame.end {
      frames.removeLast()
      continue
    }
    let tag = try varint(frame.end)
    switch tag & 7 {
    case 0: _ = try varint(frame.end)
    case 1: try skip(8, frame.end)
    case 5: try skip(4, frame.end)
    case 2:
      let len = try varint(frame.end)
      guard len <= UInt64(frame.end - pos) else {
        throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (truncated field at byte \(pos))")
      }
      let id = UInt32(truncatingIfNeeded: tag >> 3)
      if let field = protobuf_c_message_descriptor_get_field(frame.descriptor, id),
         field.pointee.type == PROTOBUF_C_TYPE_MESSAGE,
         let sub = field.pointee.descriptor?.assumingMemoryBound(to: ProtobufCMessageDescriptor.self) {
        guard frames.count < maxDepth else {
          throw ImportFailure(.limitExceeded, "messages are nested more than \(maxDepth) deep")
        }
        messages += 1
        guard messages <= maxMessages else {
          throw ImportFailure(.limitExceeded, "the \(what) holds more than \(maxMessages) protobuf messages")
        }
        frames.append((sub, pos + Int(len)))
      } else {
        pos += Int(len)
      }
    default:
      throw ImportFailure(.malformed, "not a valid ONNX \(what) protobuf (wire type \(tag & 7) at byte \(pos))")
    }
  }
}
