#include "protobuf_wire.hpp"

namespace lognurse::host::wire {

const char* to_string(WireType type) {
  switch (type) {
    case WireType::varint:
      return "varint";
    case WireType::fixed64:
      return "fixed64";
    case WireType::length_delimited:
      return "length-delimited";
    case WireType::start_group:
      return "start-group";
    case WireType::end_group:
      return "end-group";
    case WireType::fixed32:
      return "fixed32";
  }
  return "unknown";
}

bool Reader::fail(std::size_t at, const std::string& what) {
  error_ = "malformed protobuf at byte " + std::to_string(base_ + at) + ": " + what;
  return false;
}

bool Reader::read_varint(std::uint64_t& value, const char* what) {
  const std::size_t start = pos_;
  value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) {
      return fail(start, std::string("truncated varint (") + what + "); the message ends early");
    }
    const auto byte = static_cast<unsigned char>(data_[pos_++]);
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && byte > 1) {
      return fail(start, std::string("varint (") + what + ") is longer than 64 bits");
    }
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return fail(start, std::string("varint (") + what + ") is longer than 10 bytes");
}

bool Reader::next(Field& field) {
  if (pos_ >= data_.size() || failed()) return false;
  field = Field{};
  field.offset = base_ + pos_;
  const std::size_t tag_at = pos_;

  std::uint64_t tag = 0;
  if (!read_varint(tag, "field tag")) return false;
  const auto number = tag >> 3;
  const auto type = static_cast<unsigned>(tag & 7);
  if (number == 0 || number > 0x1fffffff) {
    return fail(tag_at, "field number " + std::to_string(number) +
                            " is out of range (1 to 536870911); the data is not a protobuf "
                            "message of the expected type, or it is still compressed");
  }
  field.number = static_cast<std::uint32_t>(number);
  field.type = static_cast<WireType>(type);

  switch (type) {
    case 0:
      return read_varint(field.scalar, "value");
    case 1:
    case 5: {
      const std::size_t width = type == 1 ? 8 : 4;
      if (data_.size() - pos_ < width) {
        return fail(tag_at, "field " + std::to_string(number) + " needs " + std::to_string(width) +
                                " bytes but only " + std::to_string(data_.size() - pos_) +
                                " remain");
      }
      std::uint64_t value = 0;
      for (std::size_t i = 0; i < width; ++i) {
        value |= static_cast<std::uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
      }
      pos_ += width;
      field.scalar = value;
      return true;
    }
    case 2: {
      std::uint64_t length = 0;
      if (!read_varint(length, "length")) return false;
      if (length > data_.size() - pos_) {
        return fail(tag_at, "field " + std::to_string(number) + " declares " +
                                std::to_string(length) + " bytes but only " +
                                std::to_string(data_.size() - pos_) +
                                " remain; the message is truncated");
      }
      field.bytes_offset = base_ + pos_;
      field.bytes = data_.substr(pos_, static_cast<std::size_t>(length));
      pos_ += static_cast<std::size_t>(length);
      return true;
    }
    case 3:
    case 4:
      return fail(tag_at, "field " + std::to_string(number) +
                              " uses the deprecated group encoding, which these messages never "
                              "contain");
    default:
      return fail(tag_at, "field " + std::to_string(number) + " has invalid wire type " +
                              std::to_string(type));
  }
}

std::string wrong_type(const char* message, const char* field_name, const Field& field,
                       WireType expected) {
  return std::string("malformed protobuf at byte ") + std::to_string(field.offset) + ": " +
         message + "." + field_name + " (field " + std::to_string(field.number) +
         ") has wire type " + to_string(field.type) + "; expected " + to_string(expected);
}

}  // namespace lognurse::host::wire
