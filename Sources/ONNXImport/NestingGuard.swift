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
  var reader = WireReader(bytes, what: what)
  var messages = 0
  var frames: [(descriptor: UnsafePointer<ProtobufCMessageDescriptor>, end: Int)] = [(root, bytes.count)]

  // Reads stay inside the current frame, so `reader.pos <= frame.end` always holds.
  while let frame = frames.last {
    if reader.pos >= frame.end {
      frames.removeLast()
      continue
    }
    let f = try reader.field(frame.end)
    guard f.wireType == 2,
          let field = protobuf_c_message_descriptor_get_field(frame.descriptor, f.number),
          field.pointee.type == PROTOBUF_C_TYPE_MESSAGE,
          let sub = field.pointee.descriptor?.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
    else { continue }
    guard frames.count < maxDepth else {
      throw ImportFailure(.limitExceeded, "messages are nested more than \(maxDepth) deep")
    }
    messages += 1
    guard messages <= maxMessages else {
      throw ImportFailure(.limitExceeded, "the \(what) holds more than \(maxMessages) protobuf messages")
    }
    frames.append((sub, f.payload.upperBound))
    reader.pos = f.payload.lowerBound
  }
}
