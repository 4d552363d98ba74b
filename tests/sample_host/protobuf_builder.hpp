#pragma once

// Builds protobuf wire bytes by hand for tests of the decoders: each call
// appends one field, so that a test can also build what no encoder would
// (wrong wire types, truncations, unknown fields).

#include <cstdint>
#include <cstring>
#include <string>

namespace lognurse::test {

class Proto {
public:
  /// A varint field.
  Proto& varint(std::uint32_t number, std::uint64_t value) {
    tag(number, 0);
    raw_varint(value);
    return *this;
  }

  /// A fixed64 field (fixed64, sfixed64, double).
  Proto& fixed64(std::uint32_t number, std::uint64_t value) {
    tag(number, 1);
    for (int i = 0; i < 8; ++i) bytes_ += static_cast<char>((value >> (8 * i)) & 0xff);
    return *this;
  }

  /// A double field.
  Proto& real(std::uint32_t number, double value) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    return fixed64(number, bits);
  }

  /// A fixed32 field.
  Proto& fixed32(std::uint32_t number, std::uint32_t value) {
    tag(number, 5);
    for (int i = 0; i < 4; ++i) bytes_ += static_cast<char>((value >> (8 * i)) & 0xff);
    return *this;
  }

  /// A length-delimited field: a string, bytes or a nested message.
  Proto& bytes(std::uint32_t number, const std::string& payload) {
    tag(number, 2);
    raw_varint(payload.size());
    bytes_ += payload;
    return *this;
  }

  Proto& message(std::uint32_t number, const Proto& nested) { return bytes(number, nested.str()); }

  const std::string& str() const { return bytes_; }

private:
  void tag(std::uint32_t number, int type) {
    raw_varint((static_cast<std::uint64_t>(number) << 3) | static_cast<std::uint64_t>(type));
  }
  void raw_varint(std::uint64_t value) {
    while (value >= 0x80) {
      bytes_ += static_cast<char>((value & 0x7f) | 0x80);
      value >>= 7;
    }
    bytes_ += static_cast<char>(value);
  }

  std::string bytes_;
};

}  // namespace lognurse::test
