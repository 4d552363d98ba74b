#pragma once

// A reader of Loki's snappy-compressed protobuf PushRequest, written from the
// protobuf wire format independently of the plugin's encoder, so that tests
// check the encoder against the format rather than against itself.

#include <snappy.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lognurse/host_api/types.hpp"

namespace lognurse::loki::test {

/// One decoded StreamAdapter: the labels string as sent, and its entries.
struct DecodedStream {
  std::string labels;
  std::vector<LogEntry> entries;
};

/// Reads fields of one message; throws std::runtime_error on malformed input.
class WireReader {
public:
  explicit WireReader(std::string_view bytes) : bytes_(bytes) {}

  bool done() const { return at_ == bytes_.size(); }

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ >= bytes_.size()) throw std::runtime_error("truncated varint");
      const auto byte = static_cast<unsigned char>(bytes_[at_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7FU) << shift;
      if ((byte & 0x80U) == 0) return value;
    }
    throw std::runtime_error("varint longer than ten bytes");
  }

  /// The next field number and wire type.
  std::pair<std::uint32_t, std::uint32_t> tag() {
    const std::uint64_t key = varint();
    return {static_cast<std::uint32_t>(key >> 3U), static_cast<std::uint32_t>(key & 7U)};
  }

  std::string_view bytes() {
    const std::uint64_t size = varint();
    if (size > bytes_.size() - at_) throw std::runtime_error("length beyond the message");
    const std::string_view out = bytes_.substr(at_, size);
    at_ += size;
    return out;
  }

private:
  std::string_view bytes_;
  std::size_t at_ = 0;
};

inline std::int64_t decode_timestamp(std::string_view bytes) {
  WireReader reader(bytes);
  std::int64_t seconds = 0;
  std::int64_t nanos = 0;
  while (!reader.done()) {
    const auto [field, type] = reader.tag();
    if (type != 0) throw std::runtime_error("Timestamp field with a non-varint type");
    const auto value = static_cast<std::int64_t>(reader.varint());
    (field == 1 ? seconds : nanos) = value;
  }
  return seconds * 1'000'000'000LL + nanos;
}

inline LogEntry decode_entry(std::string_view bytes) {
  WireReader reader(bytes);
  LogEntry entry;
  while (!reader.done()) {
    const auto [field, type] = reader.tag();
    if (type != 2) throw std::runtime_error("EntryAdapter field with a non-bytes type");
    const std::string_view value = reader.bytes();
    if (field == 1) {
      entry.timestamp_ns = decode_timestamp(value);
    } else if (field == 2) {
      entry.line = std::string(value);
    } else if (field == 3) {
      WireReader pair(value);
      Label label;
      while (!pair.done()) {
        const auto [pair_field, pair_type] = pair.tag();
        if (pair_type != 2) throw std::runtime_error("LabelPairAdapter field not bytes");
        (pair_field == 1 ? label.first : label.second) = std::string(pair.bytes());
      }
      entry.metadata.push_back(label);
    }
  }
  return entry;
}

/// Uncompresses (snappy block format) and decodes a push body.
inline std::vector<DecodedStream> decode_push(const std::string& compressed) {
  std::string message;
  if (!snappy::Uncompress(compressed.data(), compressed.size(), &message)) {
    throw std::runtime_error("the body is not snappy block data");
  }
  std::vector<DecodedStream> out;
  WireReader reader(message);
  while (!reader.done()) {
    const auto [field, type] = reader.tag();
    if (field != 1 || type != 2) throw std::runtime_error("PushRequest field other than streams");
    WireReader stream(reader.bytes());
    DecodedStream decoded;
    while (!stream.done()) {
      const auto [stream_field, stream_type] = stream.tag();
      if (stream_type != 2) throw std::runtime_error("StreamAdapter field not bytes");
      const std::string_view value = stream.bytes();
      if (stream_field == 1) decoded.labels = std::string(value);
      if (stream_field == 2) decoded.entries.push_back(decode_entry(value));
    }
    out.push_back(std::move(decoded));
  }
  return out;
}

}  // namespace lognurse::loki::test
