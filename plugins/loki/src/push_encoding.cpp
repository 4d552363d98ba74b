#include "push_encoding.hpp"

#include <snappy.h>

#include <cstdint>

#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"

namespace lognurse::loki {

namespace {

// Wire types of the protobuf encoding.
constexpr std::uint32_t kVarint = 0;
constexpr std::uint32_t kLengthDelimited = 2;

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80U) {
    out += static_cast<char>((value & 0x7FU) | 0x80U);
    value >>= 7U;
  }
  out += static_cast<char>(value);
}

void put_tag(std::string& out, std::uint32_t field, std::uint32_t wire_type) {
  put_varint(out, (static_cast<std::uint64_t>(field) << 3U) | wire_type);
}

void put_bytes(std::string& out, std::uint32_t field, std::string_view bytes) {
  put_tag(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

/// proto3 leaves fields at their default (0) out of the message.
void put_int(std::string& out, std::uint32_t field, std::int64_t value) {
  if (value == 0) return;
  put_tag(out, field, kVarint);
  // Negative int64 and int32 values are sign-extended to ten bytes.
  put_varint(out, static_cast<std::uint64_t>(value));
}

std::string encode_timestamp(std::int64_t unix_ns) {
  // Timestamp.nanos must be in [0, 1e9), so floor towards minus infinity.
  std::int64_t seconds = unix_ns / kNanosPerSecond;
  std::int64_t nanos = unix_ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    seconds -= 1;
  }
  std::string out;
  put_int(out, 1, seconds);
  put_int(out, 2, nanos);
  return out;
}

std::string encode_entry(const LogEntry& entry) {
  std::string out;
  put_bytes(out, 1, encode_timestamp(entry.timestamp_ns));
  put_bytes(out, 2, entry.line);
  std::string pair;
  for (const auto& [name, value] : entry.metadata) {
    pair.clear();
    put_bytes(pair, 1, name);
    put_bytes(pair, 2, value);
    put_bytes(out, 3, pair);
  }
  return out;
}

}  // namespace

const char* to_string(PushFormat format) {
  return format == PushFormat::protobuf ? "protobuf" : "json";
}

std::string encode_push_protobuf(const PushRequest& request) {
  std::string out;
  std::string stream_bytes;
  for (const auto& stream : request.streams) {
    stream_bytes.clear();
    Labels labels = stream.labels;
    normalize_labels(labels);
    put_bytes(stream_bytes, 1, labels_to_string(labels));
    for (const auto& entry : stream.entries) put_bytes(stream_bytes, 2, encode_entry(entry));
    put_bytes(out, 1, stream_bytes);
  }
  return out;
}

PushBody encode_push(const PushRequest& request, PushFormat format) {
  PushBody body;
  if (format == PushFormat::json) {
    body.content_type = "application/json";
    body.bytes = push_request_to_json(request).dump();
    return body;
  }
  body.content_type = "application/x-protobuf";
  const std::string message = encode_push_protobuf(request);
  snappy::Compress(message.data(), message.size(), &body.bytes);
  return body;
}

}  // namespace lognurse::loki
