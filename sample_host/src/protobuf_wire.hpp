#pragma once

// A reader of the protobuf wire format, enough to decode Loki's push messages
// and OTLP logs without generated code. It walks one message's fields in
// order; nested messages are read by a new reader over the field's bytes.
// Every failure names the byte offset from the start of the outermost
// message, so that a sender can find the fault in a hex dump.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lognurse::host::wire {

/// The wire types of the protobuf encoding.
enum class WireType : std::uint8_t {
  varint = 0,
  fixed64 = 1,
  length_delimited = 2,
  start_group = 3,
  end_group = 4,
  fixed32 = 5,
};

/// "varint", "fixed64", "length-delimited", ... for error messages.
const char* to_string(WireType type);

/// One decoded field: its number, wire type and payload.
struct Field {
  std::uint32_t number = 0;
  WireType type = WireType::varint;
  std::uint64_t scalar = 0;      ///< the value of varint, fixed64 and fixed32 fields
  std::string_view bytes;        ///< the payload of length-delimited fields
  std::size_t offset = 0;        ///< where the field's tag starts
  std::size_t bytes_offset = 0;  ///< where a length-delimited payload starts
};

/// Reads the fields of one message. Not thread safe; cheap to copy.
class Reader {
public:
  /// Reads `data`, whose first byte is at `base_offset` in the outermost message.
  explicit Reader(std::string_view data, std::size_t base_offset = 0)
      : data_(data), base_(base_offset) {}

  /// Reads the next field into `field`. Returns false at the end of the message or on a
  /// malformed field; failed() tells the two apart and error() says what was wrong.
  bool next(Field& field);

  /// Whether next() stopped on a malformed field rather than at the end.
  bool failed() const { return !error_.empty(); }

  /// What was malformed and at which byte; empty unless failed().
  const std::string& error() const { return error_; }

private:
  bool read_varint(std::uint64_t& value, const char* what);
  bool fail(std::size_t at, const std::string& what);

  std::string_view data_;
  std::size_t base_ = 0;
  std::size_t pos_ = 0;
  std::string error_;
};

/// A message for a field whose wire type is not the one its definition expects:
/// "StreamAdapter.entries (field 2) at byte 17 has wire type varint; expected length-delimited".
std::string wrong_type(const char* message, const char* field_name, const Field& field,
                       WireType expected);

}  // namespace lognurse::host::wire
