#include "push_decoders.hpp"

#include <snappy.h>

#include <limits>

#include "lognurse/host_api/json.hpp"
#include "protobuf_wire.hpp"

namespace lognurse::host {

namespace {

using wire::Field;
using wire::Reader;
using wire::WireType;

constexpr std::int64_t kNanos = 1'000'000'000;

Error malformed(const std::string& message) {
  return invalid_argument("push.malformed_protobuf", message);
}

Error bad_labels(std::size_t at, const std::string& what) {
  return invalid_argument("push.invalid_labels", "label set at byte " + std::to_string(at) + ": " +
                                                     what + "; write it as {name=\"value\", ...}");
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

/// Reads a Go-quoted string starting at text[pos] == '"'; leaves pos after the closing quote.
Result<std::string> read_quoted(std::string_view text, std::size_t& pos) {
  const std::size_t start = pos;
  std::string out;
  ++pos;
  while (pos < text.size()) {
    const char c = text[pos++];
    if (c == '"') return out;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (pos >= text.size()) break;
    const char escape = text[pos++];
    switch (escape) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const std::size_t digits = escape == 'x' ? 2 : escape == 'u' ? 4 : 8;
        if (text.size() - pos < digits)
          return bad_labels(pos - 2, "truncated \\" + std::string(1, escape) + " escape");
        std::uint32_t code = 0;
        for (std::size_t i = 0; i < digits; ++i) {
          const int digit = hex_digit(text[pos + i]);
          if (digit < 0) return bad_labels(pos + i, "invalid hex digit in an escape");
          code = code * 16 + static_cast<std::uint32_t>(digit);
        }
        pos += digits;
        if (escape == 'x') {
          out += static_cast<char>(code);
        } else if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
          return bad_labels(pos - digits, "escape is not a Unicode code point");
        } else {
          append_utf8(out, code);
        }
        break;
      }
      default:
        return bad_labels(pos - 2, std::string("unknown escape \\") + escape);
    }
  }
  return bad_labels(start, "unterminated quoted value");
}

void skip_spaces(std::string_view text, std::size_t& pos) {
  while (pos < text.size() &&
         (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) {
    ++pos;
  }
}

/// Reads google.protobuf.Timestamp as nanoseconds since the epoch.
Result<std::int64_t> read_timestamp(std::string_view bytes, std::size_t offset,
                                    const std::string& where) {
  Reader reader(bytes, offset);
  Field field;
  std::int64_t seconds = 0;
  std::int64_t nanos = 0;
  while (reader.next(field)) {
    if (field.number == 1 || field.number == 2) {
      if (field.type != WireType::varint) {
        return malformed(where + ": " +
                         wire::wrong_type("Timestamp", field.number == 1 ? "seconds" : "nanos",
                                          field, WireType::varint));
      }
      if (field.number == 1) {
        seconds = static_cast<std::int64_t>(field.scalar);
      } else {
        nanos = static_cast<std::int32_t>(static_cast<std::uint32_t>(field.scalar));
      }
    }
  }
  if (reader.failed()) return malformed(where + ": " + reader.error());
  if (nanos < 0 || nanos >= kNanos) {
    return malformed(where + ": Timestamp.nanos is " + std::to_string(nanos) +
                     "; it must be within 0..999999999");
  }
  constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / kNanos - 1;
  if (seconds < 0 || seconds > kMaxSeconds) {
    return malformed(where + ": Timestamp.seconds " + std::to_string(seconds) +
                     " is outside 1970..2262, which nanosecond timestamps can hold");
  }
  return seconds * kNanos + nanos;
}

Result<Label> read_label_pair(std::string_view bytes, std::size_t offset,
                              const std::string& where) {
  Reader reader(bytes, offset);
  Field field;
  Label pair;
  while (reader.next(field)) {
    if (field.number != 1 && field.number != 2) continue;
    if (field.type != WireType::length_delimited) {
      return malformed(where + ": " +
                       wire::wrong_type("LabelPairAdapter", field.number == 1 ? "name" : "value",
                                        field, WireType::length_delimited));
    }
    (field.number == 1 ? pair.first : pair.second) = std::string(field.bytes);
  }
  if (reader.failed()) return malformed(where + ": " + reader.error());
  return pair;
}

Result<LogEntry> read_entry(std::string_view bytes, std::size_t offset, const std::string& where) {
  Reader reader(bytes, offset);
  Field field;
  LogEntry entry;
  bool has_timestamp = false;
  while (reader.next(field)) {
    if (field.number < 1 || field.number > 3) continue;
    static const char* const kNames[] = {"", "timestamp", "line", "structuredMetadata"};
    if (field.type != WireType::length_delimited) {
      return malformed(where + ": " +
                       wire::wrong_type("EntryAdapter", kNames[field.number], field,
                                        WireType::length_delimited));
    }
    if (field.number == 1) {
      auto timestamp = read_timestamp(field.bytes, field.bytes_offset, where + ".timestamp");
      if (!timestamp) return timestamp.error();
      entry.timestamp_ns = timestamp.value();
      has_timestamp = true;
    } else if (field.number == 2) {
      entry.line = std::string(field.bytes);
    } else {
      auto pair = read_label_pair(
          field.bytes, field.bytes_offset,
          where + ".structuredMetadata[" + std::to_string(entry.metadata.size()) + "]");
      if (!pair) return pair.error();
      entry.metadata.push_back(std::move(pair.value()));
    }
  }
  if (reader.failed()) return malformed(where + ": " + reader.error());
  if (!has_timestamp) {
    return malformed(where +
                     ": the entry has no timestamp (EntryAdapter field 1); every entry "
                     "needs one");
  }
  return entry;
}

Result<LogStream> read_stream(std::string_view bytes, std::size_t offset,
                              const std::string& where) {
  Reader reader(bytes, offset);
  Field field;
  LogStream stream;
  bool has_labels = false;
  while (reader.next(field)) {
    if (field.number == 1 || field.number == 2) {
      if (field.type != WireType::length_delimited) {
        return malformed(where + ": " +
                         wire::wrong_type("StreamAdapter", field.number == 1 ? "labels" : "entries",
                                          field, WireType::length_delimited));
      }
      if (field.number == 1) {
        auto labels = parse_label_set(field.bytes);
        if (!labels) {
          return Error{labels.error().kind, labels.error().code,
                       where + ".labels: " + labels.error().message};
        }
        stream.labels = std::move(labels.value());
        has_labels = true;
      } else {
        auto entry = read_entry(field.bytes, field.bytes_offset,
                                where + ".entries[" + std::to_string(stream.entries.size()) + "]");
        if (!entry) return entry.error();
        stream.entries.push_back(std::move(entry.value()));
      }
    } else if (field.number == 3 && field.type != WireType::varint) {
      return malformed(where + ": " +
                       wire::wrong_type("StreamAdapter", "hash", field, WireType::varint));
    }
  }
  if (reader.failed()) return malformed(where + ": " + reader.error());
  if (!has_labels) {
    return malformed(where +
                     ": the stream has no labels (StreamAdapter field 1); send a label "
                     "set such as {service_name=\"api\"}");
  }
  return stream;
}

std::string_view trim_parameters(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  auto type = content_type.substr(0, semicolon);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
  return type;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

Result<Labels> parse_label_set(std::string_view text) {
  std::size_t pos = 0;
  skip_spaces(text, pos);
  if (pos >= text.size() || text[pos] != '{') return bad_labels(pos, "expected '{'");
  ++pos;
  Labels labels;
  skip_spaces(text, pos);
  if (pos < text.size() && text[pos] == '}') {
    ++pos;
  } else {
    for (;;) {
      skip_spaces(text, pos);
      const std::size_t name_at = pos;
      if (pos >= text.size() || !is_name_start(text[pos])) {
        return bad_labels(pos, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
      }
      while (pos < text.size() && is_name_char(text[pos])) ++pos;
      std::string name(text.substr(name_at, pos - name_at));
      skip_spaces(text, pos);
      if (pos >= text.size() || text[pos] != '=') {
        return bad_labels(pos, "expected '=' after label name '" + name + "'");
      }
      ++pos;
      if (pos < text.size() && (text[pos] == '~' || text[pos] == '=')) {
        return bad_labels(pos, "a stream's labels take only '=', not a matcher");
      }
      skip_spaces(text, pos);
      std::string value;
      if (pos < text.size() && text[pos] == '"') {
        auto quoted = read_quoted(text, pos);
        if (!quoted) return quoted.error();
        value = std::move(quoted.value());
      } else if (pos < text.size() && text[pos] == '`') {
        const auto close = text.find('`', pos + 1);
        if (close == std::string_view::npos) return bad_labels(pos, "unterminated raw value");
        value = std::string(text.substr(pos + 1, close - pos - 1));
        pos = close + 1;
      } else {
        return bad_labels(pos, "expected a quoted value for label '" + name + "'");
      }
      for (const auto& [existing, ignored] : labels) {
        if (existing == name) return bad_labels(name_at, "duplicate label name '" + name + "'");
      }
      labels.emplace_back(std::move(name), std::move(value));
      skip_spaces(text, pos);
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        break;
      }
      return bad_labels(pos, "expected ',' or '}'");
    }
  }
  skip_spaces(text, pos);
  if (pos != text.size()) return bad_labels(pos, "unexpected text after '}'");
  normalize_labels(labels);
  return labels;
}

Result<PushRequest> push_request_from_protobuf(std::string_view message,
                                               const std::string& tenant) {
  PushRequest request;
  request.tenant = tenant;
  Reader reader(message);
  Field field;
  while (reader.next(field)) {
    if (field.number != 1) continue;
    if (field.type != WireType::length_delimited) {
      return malformed(
          wire::wrong_type("PushRequest", "streams", field, WireType::length_delimited));
    }
    auto stream = read_stream(field.bytes, field.bytes_offset,
                              "streams[" + std::to_string(request.streams.size()) + "]");
    if (!stream) return stream.error();
    request.streams.push_back(std::move(stream.value()));
  }
  if (reader.failed()) return malformed(reader.error());
  return request;
}

Result<std::string> snappy_uncompress(std::string_view compressed, std::size_t max_bytes) {
  std::size_t length = 0;
  if (!snappy::GetUncompressedLength(compressed.data(), compressed.size(), &length)) {
    return invalid_argument("push.bad_snappy",
                            "the protobuf body is not snappy-compressed (its length header is "
                            "invalid); compress the PushRequest with snappy's block format");
  }
  if (length > max_bytes) {
    return limit_exceeded("push.body_too_large",
                          "the snappy body declares " + std::to_string(length) +
                              " uncompressed bytes, more than the limit of " +
                              std::to_string(max_bytes) + "; send smaller batches");
  }
  std::string out;
  if (!snappy::Uncompress(compressed.data(), compressed.size(), &out)) {
    return invalid_argument("push.bad_snappy",
                            "the snappy-compressed body is corrupt or truncated (" +
                                std::to_string(compressed.size()) +
                                " bytes); compress the PushRequest with snappy's block format");
  }
  return out;
}

Result<PushFormat> push_format(std::string_view content_type, std::string_view body) {
  const auto type = trim_parameters(content_type);
  if (equals_ignoring_case(type, "application/json")) return PushFormat::json;
  if (equals_ignoring_case(type, "application/x-protobuf")) return PushFormat::protobuf;
  std::size_t first = 0;
  while (first < body.size() && (body[first] == ' ' || body[first] == '\n' || body[first] == '\r' ||
                                 body[first] == '\t')) {
    ++first;
  }
  if (first < body.size() && body[first] == '{') return PushFormat::json;
  return invalid_argument(
      "push.unsupported_content_type",
      "unsupported Content-Type \"" + std::string(content_type) +
          "\"; send application/json (Loki's JSON push format) or application/x-protobuf "
          "(a snappy-compressed PushRequest)");
}

Result<PushRequest> decode_push_body(std::string_view content_type, std::string_view body,
                                     const std::string& tenant, std::size_t max_bytes) {
  auto format = push_format(content_type, body);
  if (!format) return format.error();
  if (format.value() == PushFormat::json) return push_request_from_json(body, tenant);
  auto message = snappy_uncompress(body, max_bytes);
  if (!message) return message.error();
  return push_request_from_protobuf(message.value(), tenant);
}

}  // namespace lognurse::host
