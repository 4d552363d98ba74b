#include "push_encoding.hpp"

#include <snappy.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"

namespace lognurse::loki {

namespace {

// ---------------------------------------------------------------------------
// Labels

/// Whether `labels` is already what normalize_labels makes of it: sorted by
/// name, names unique. Requests from the host and from enrich_traces are, so
/// the encoders copy a label set only when it is not.
bool is_normalized(const Labels& labels) {
  for (std::size_t i = 1; i < labels.size(); ++i) {
    if (!(labels[i - 1].first < labels[i].first)) return false;
  }
  return true;
}

/// `labels` normalized, copied into `scratch` only when needed.
const Labels& normalized(const Labels& labels, Labels& scratch) {
  if (is_normalized(labels)) return labels;
  scratch = labels;
  normalize_labels(scratch);
  return scratch;
}

// ---------------------------------------------------------------------------
// Output

/// The body being written, through a raw pointer: a writer asks for room for
/// the most it may write, writes without a check per byte, and says where it
/// stopped. Appending piece by piece to a std::string cost more than the
/// encoding itself (a capacity check and a call for each of some twenty
/// pieces an entry).
class Buffer {
public:
  explicit Buffer(std::size_t capacity) { bytes_.resize(capacity); }

  /// Where `size` more bytes may be written.
  char* room(std::size_t size) {
    if (bytes_.size() - used_ < size) bytes_.resize(std::max(bytes_.size() * 2, used_ + size));
    return bytes_.data() + used_;
  }

  /// Marks the bytes up to `end`, which room() returned or a point after it,
  /// as written.
  void written(const char* end) { used_ = static_cast<std::size_t>(end - bytes_.data()); }

  /// The bytes written.
  std::string take() && {
    bytes_.resize(used_);
    return std::move(bytes_);
  }

private:
  std::string bytes_;
  std::size_t used_ = 0;
};

char* put(char* at, std::string_view text) {
  std::memcpy(at, text.data(), text.size());
  return at + text.size();
}

// ---------------------------------------------------------------------------
// JSON

/// The most bytes an int64 takes in decimal: a sign and 19 digits.
constexpr std::size_t kMaxIntegerChars = 20;

/// Writes `value` in decimal, as std::to_string writes it.
char* put_integer(char* at, std::int64_t value) {
  return std::to_chars(at, at + kMaxIntegerChars, value).ptr;
}

[[noreturn]] void throw_utf8_error(const std::string& what) {
  // The type and text of nlohmann's dump() in strict mode, which this encoder
  // replaced: callers and logs see the same failure as before.
  throw nlohmann::json::type_error::create(316, what, nullptr);
}

std::string hex_byte(unsigned char byte) {
  constexpr const char* kDigits = "0123456789ABCDEF";
  return {kDigits[byte >> 4U], kDigits[byte & 0x0FU]};
}

/// The length of the well-formed UTF-8 sequence that starts at text[at], a
/// byte of 0x80 or more (Unicode's table 3-7: no overlong forms, no
/// surrogates, nothing beyond U+10FFFF). Throws at the first byte that cannot
/// belong to such a sequence, naming its index in `text`, or when `text` ends
/// inside one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  std::size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // below: overlong
    if (lead == 0xED) second_max = 0x9F;  // above: surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // below: overlong
    if (lead == 0xF4) second_max = 0x8F;  // above: beyond U+10FFFF
  } else {
    throw_utf8_error("invalid UTF-8 byte at index " + std::to_string(at) + ": 0x" +
                     hex_byte(lead));
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (at + k >= text.size()) {
      throw_utf8_error("incomplete UTF-8 string; last byte: 0x" +
                       hex_byte(static_cast<unsigned char>(text.back())));
    }
    const auto byte = static_cast<unsigned char>(text[at + k]);
    const unsigned char min = k == 1 ? second_min : 0x80;
    const unsigned char max = k == 1 ? second_max : 0xBF;
    if (byte < min || byte > max) {
      throw_utf8_error("invalid UTF-8 byte at index " + std::to_string(at + k) + ": 0x" +
                       hex_byte(byte));
    }
  }
  return length;
}

/// Writes the escape of a character that JSON text cannot hold as is (a
/// quote, a backslash, a control character): the two-character form where
/// RFC 8259 has one, else \u00xx with lower-case hex digits.
char* put_escape(char* at, unsigned char c) {
  char short_form = 0;
  switch (c) {
    case '"':
      short_form = '"';
      break;
    case '\\':
      short_form = '\\';
      break;
    case '\b':
      short_form = 'b';
      break;
    case '\t':
      short_form = 't';
      break;
    case '\n':
      short_form = 'n';
      break;
    case '\f':
      short_form = 'f';
      break;
    case '\r':
      short_form = 'r';
      break;
    default: {
      constexpr const char* kDigits = "0123456789abcdef";
      const char escape[] = {'\\', 'u', '0', '0', kDigits[c >> 4U], kDigits[c & 0x0FU]};
      std::memcpy(at, escape, sizeof escape);
      return at + sizeof escape;
    }
  }
  at[0] = '\\';
  at[1] = short_form;
  return at + 2;
}

/// What a byte of a string means to the JSON encoder: nothing (copied as
/// is), an escape (quotes, backslashes, control characters), or the start of
/// a multi-byte UTF-8 sequence to check. A table, because the scan over every
/// byte of every line is where encoding spends its time.
enum class ByteClass : unsigned char { plain, escape, utf8 };

constexpr std::array<ByteClass, 256> make_byte_classes() {
  std::array<ByteClass, 256> classes{};
  for (std::size_t c = 0; c < classes.size(); ++c) {
    if (c < 0x20 || c == '"' || c == '\\') {
      classes[c] = ByteClass::escape;
    } else if (c >= 0x80) {
      classes[c] = ByteClass::utf8;
    }
  }
  return classes;
}

constexpr std::array<ByteClass, 256> kByteClasses = make_byte_classes();

/// The high bit of each of the eight bytes of `word` that is not
/// ByteClass::plain: below 0x20, a quote, a backslash, or 0x80 and above. The
/// bit tricks that find a zero or a small byte in a word may flag a byte
/// after a flagged one by mistake (a borrow), never before: the first flag is
/// exact, and that is the one used.
std::uint64_t special_bytes(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
  const auto below = [](std::uint64_t x, std::uint64_t bound) {
    return (x - kOnes * bound) & ~x & kHighBits;
  };
  const std::uint64_t quote = word ^ (kOnes * '"');
  const std::uint64_t backslash = word ^ (kOnes * '\\');
  return (word & kHighBits) | below(word, 0x20) | below(quote, 1) | below(backslash, 1);
}

/// The index in the word, in memory order, of the first byte `flags` marks.
std::size_t first_flagged_byte(std::uint64_t flags) {
  if constexpr (std::endian::native == std::endian::little) {
    return static_cast<std::size_t>(std::countr_zero(flags)) / 8;
  } else {
    return static_cast<std::size_t>(std::countl_zero(flags)) / 8;
  }
}

/// The most bytes one byte of a string takes in JSON: \u00xx.
constexpr std::size_t kMaxEscapedChars = 6;

/// Writes `text` as a JSON string. Runs of bytes that need no escape, valid
/// UTF-8 included, are copied in one piece each; plain bytes are skipped
/// eight at a time.
void write_json_string(Buffer& out, std::string_view text) {
  char* at = out.room(text.size() * kMaxEscapedChars + 2);
  *at++ = '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::uint64_t word = 0;
    while (i + sizeof word <= text.size()) {
      std::memcpy(&word, text.data() + i, sizeof word);
      const std::uint64_t flags = special_bytes(word);
      if (flags != 0) {
        i += first_flagged_byte(flags);
        break;
      }
      i += sizeof word;
    }
    if (i == text.size()) break;
    const auto c = static_cast<unsigned char>(text[i]);
    switch (kByteClasses[c]) {
      case ByteClass::plain:
        ++i;
        break;
      case ByteClass::utf8:
        i += utf8_sequence_length(text, i);
        break;
      case ByteClass::escape:
        at = put(at, text.substr(run, i - run));
        at = put_escape(at, c);
        run = ++i;
        break;
    }
  }
  at = put(at, text.substr(run));
  *at++ = '"';
  out.written(at);
}

/// Writes a fixed piece of JSON punctuation.
void write_text(Buffer& out, std::string_view text) {
  out.written(put(out.room(text.size()), text));
}

void write_json_labels(Buffer& out, const Labels& labels) {
  write_text(out, "{");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) write_text(out, ",");
    write_json_string(out, labels[i].first);
    write_text(out, ":");
    write_json_string(out, labels[i].second);
  }
  write_text(out, "}");
}

std::size_t labels_size(const Labels& labels) {
  std::size_t size = 2;
  for (const auto& [name, value] : labels) size += name.size() + value.size() + 6;
  return size;
}

/// The size of the streams of `request` in a JSON body when nothing needs
/// escaping, plus room for the longest line escaped throughout: the buffer
/// grows only when many bytes need escapes.
std::size_t estimated_json_size(const PushRequest& request) {
  std::size_t size = 0;
  std::size_t longest = 0;
  for (const auto& stream : request.streams) {
    size += labels_size(stream.labels) + 24;
    for (const auto& entry : stream.entries) {
      // ["<up to 20 digits>","<line>"], plus the metadata object when present.
      size += entry.line.size() + 30;
      longest = std::max(longest, entry.line.size());
      if (!entry.metadata.empty()) size += labels_size(entry.metadata) + 1;
    }
  }
  return size + longest * kMaxEscapedChars;
}

// ---------------------------------------------------------------------------
// Protobuf

// Wire types of the protobuf encoding.
constexpr std::uint32_t kVarint = 0;
constexpr std::uint32_t kLengthDelimited = 2;

std::size_t varint_size(std::uint64_t value) {
  std::size_t size = 1;
  while (value >= 0x80U) {
    value >>= 7U;
    ++size;
  }
  return size;
}

char* put_varint(char* at, std::uint64_t value) {
  while (value >= 0x80U) {
    *at++ = static_cast<char>((value & 0x7FU) | 0x80U);
    value >>= 7U;
  }
  *at++ = static_cast<char>(value);
  return at;
}

char* put_tag(char* at, std::uint32_t field, std::uint32_t wire_type) {
  return put_varint(at, (static_cast<std::uint64_t>(field) << 3U) | wire_type);
}

/// The tag and length of a length-delimited field; the caller writes the
/// `size` bytes of content.
char* put_header(char* at, std::uint32_t field, std::size_t size) {
  return put_varint(put_tag(at, field, kLengthDelimited), size);
}

char* put_bytes(char* at, std::uint32_t field, std::string_view bytes) {
  return put(put_header(at, field, bytes.size()), bytes);
}

/// A length-delimited field of `size` content bytes with a one-byte tag (every
/// field number here is below 16).
std::size_t field_size(std::size_t size) { return 1 + varint_size(size) + size; }

/// Timestamp.seconds and nanos, with nanos in [0, 1e9) as the message requires.
struct SplitTime {
  std::int64_t seconds;
  std::int64_t nanos;
};

SplitTime split_time(std::int64_t unix_ns) {
  // Floor towards minus infinity so that nanos is never negative.
  std::int64_t seconds = unix_ns / kNanosPerSecond;
  std::int64_t nanos = unix_ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    seconds -= 1;
  }
  return {seconds, nanos};
}

/// proto3 leaves fields at their default (0) out of the message; negative
/// int64 and int32 values are sign-extended to ten bytes.
std::size_t int_field_size(std::int64_t value) {
  return value == 0 ? 0 : 1 + varint_size(static_cast<std::uint64_t>(value));
}

char* put_int(char* at, std::uint32_t field, std::int64_t value) {
  if (value == 0) return at;
  return put_varint(put_tag(at, field, kVarint), static_cast<std::uint64_t>(value));
}

std::size_t timestamp_size(const SplitTime& time) {
  return int_field_size(time.seconds) + int_field_size(time.nanos);
}

std::size_t pair_size(const Label& pair) {
  return field_size(pair.first.size()) + field_size(pair.second.size());
}

/// The EntryAdapter message's size without its own tag and length.
std::size_t entry_size(const LogEntry& entry) {
  std::size_t size = field_size(timestamp_size(split_time(entry.timestamp_ns)));
  size += field_size(entry.line.size());
  for (const auto& pair : entry.metadata) size += field_size(pair_size(pair));
  return size;
}

char* put_entry(char* at, const LogEntry& entry, std::size_t size) {
  at = put_header(at, 2, size);
  const SplitTime time = split_time(entry.timestamp_ns);
  at = put_header(at, 1, timestamp_size(time));
  at = put_int(at, 1, time.seconds);
  at = put_int(at, 2, time.nanos);
  at = put_bytes(at, 2, entry.line);
  for (const auto& pair : entry.metadata) {
    at = put_header(at, 3, pair_size(pair));
    at = put_bytes(at, 1, pair.first);
    at = put_bytes(at, 2, pair.second);
  }
  return at;
}

}  // namespace

const char* to_string(PushFormat format) {
  return format == PushFormat::protobuf ? "protobuf" : "json";
}

std::string encode_push_json(const PushRequest& request) {
  const PushRequest* const parts[] = {&request};
  return encode_push_json(parts);
}

std::string encode_push_json(std::span<const PushRequest* const> parts) {
  std::size_t size = 16;
  for (const PushRequest* part : parts) size += estimated_json_size(*part);
  Buffer out(size);
  Labels scratch;
  bool first_stream = true;
  write_text(out, "{\"streams\":[");
  for (const PushRequest* part : parts) {
    for (const LogStream& stream : part->streams) {
      write_text(out, first_stream ? "{\"stream\":" : ",{\"stream\":");
      first_stream = false;
      write_json_labels(out, normalized(stream.labels, scratch));
      write_text(out, ",\"values\":[");
      for (std::size_t e = 0; e < stream.entries.size(); ++e) {
        const LogEntry& entry = stream.entries[e];
        char* at = out.room(kMaxIntegerChars + 5);
        at = put(at, e > 0 ? ",[\"" : "[\"");
        at = put_integer(at, entry.timestamp_ns);
        out.written(put(at, "\","));
        write_json_string(out, entry.line);
        if (!entry.metadata.empty()) {
          write_text(out, ",");
          write_json_labels(out, normalized(entry.metadata, scratch));
        }
        write_text(out, "]");
      }
      write_text(out, "]}");
    }
  }
  write_text(out, "]}");
  return std::move(out).take();
}

std::string encode_push_protobuf(const PushRequest& request) {
  const PushRequest* const parts[] = {&request};
  return encode_push_protobuf(parts);
}

std::string encode_push_protobuf(std::span<const PushRequest* const> parts) {
  // Sizes first, so that every message is written once, in place, into a
  // buffer of the exact final size.
  std::vector<std::string> label_texts;
  std::vector<std::size_t> entry_sizes;
  std::vector<std::size_t> stream_sizes;
  Labels scratch;
  std::size_t total = 0;
  for (const PushRequest* part : parts) {
    for (const LogStream& stream : part->streams) {
      label_texts.push_back(labels_to_string(normalized(stream.labels, scratch)));
      std::size_t size = field_size(label_texts.back().size());
      for (const LogEntry& entry : stream.entries) {
        entry_sizes.push_back(entry_size(entry));
        size += field_size(entry_sizes.back());
      }
      stream_sizes.push_back(size);
      total += field_size(size);
    }
  }

  Buffer out(total);
  char* at = out.room(total);
  std::size_t next_stream = 0;
  std::size_t next_entry = 0;
  for (const PushRequest* part : parts) {
    for (const LogStream& stream : part->streams) {
      at = put_header(at, 1, stream_sizes[next_stream]);
      at = put_bytes(at, 1, label_texts[next_stream]);
      ++next_stream;
      for (const LogEntry& entry : stream.entries) {
        at = put_entry(at, entry, entry_sizes[next_entry++]);
      }
    }
  }
  out.written(at);
  return std::move(out).take();
}

PushBody encode_push(const PushRequest& request, PushFormat format) {
  const PushRequest* const parts[] = {&request};
  return encode_push(parts, format);
}

PushBody encode_push(std::span<const PushRequest* const> parts, PushFormat format) {
  PushBody body;
  if (format == PushFormat::json) {
    body.content_type = "application/json";
    body.bytes = encode_push_json(parts);
    return body;
  }
  body.content_type = "application/x-protobuf";
  const std::string message = encode_push_protobuf(parts);
  snappy::Compress(message.data(), message.size(), &body.bytes);
  return body;
}

}  // namespace lognurse::loki
