#include "lognurse/logql/json_scanner.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>

#include "lognurse/logql/pipeline.hpp"

namespace lognurse::logql {
namespace {

/// Bytes that end the plain run of a string: the quote, a backslash, a control character.
constexpr std::array<bool, 256> string_specials() {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = true;
  table['"'] = true;
  table['\\'] = true;
  return table;
}

constexpr std::array<bool, 256> kStringSpecial = string_specials();

constexpr int kMaxDepth = 128;

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// A cursor over JSON text. Methods return false on malformed input and leave
/// a message in error_.
class Reader {
public:
  explicit Reader(std::string_view text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= text_.size(); }
  std::size_t pos() const { return pos_; }
  std::string_view slice(std::size_t from) const { return text_.substr(from, pos_ - from); }

  bool fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(pos_);
    return false;
  }

  bool consume(char c) {
    skip_space();
    if (peek() != c) return fail(std::string("expected '") + c + "'");
    ++pos_;
    return true;
  }

  /// Reads a string; `out` gets the unescaped text. `raw` is true when the
  /// string had no escapes, in which case `view` points into the input.
  bool read_string(std::string& out, std::string_view& view, bool& raw) {
    skip_space();
    if (peek() != '"') return fail("expected a string");
    std::size_t start = ++pos_;
    raw = true;
    // Most strings have no escapes: run to the first byte that needs a look.
    while (pos_ < text_.size() && !kStringSpecial[static_cast<unsigned char>(text_[pos_])]) ++pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '"') {
        if (raw) view = text_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') {
        if (!raw) out += c;
        ++pos_;
        continue;
      }
      if (raw) {
        raw = false;
        out.assign(text_.substr(start, pos_ - start));
      }
      if (!read_escape(out)) return false;
    }
    return fail("unterminated string");
  }

  bool read_escape(std::string& out) {
    ++pos_;
    char e = peek();
    ++pos_;
    switch (e) {
      case '"': out += '"'; return true;
      case '\\': out += '\\'; return true;
      case '/': out += '/'; return true;
      case 'b': out += '\b'; return true;
      case 'f': out += '\f'; return true;
      case 'n': out += '\n'; return true;
      case 'r': out += '\r'; return true;
      case 't': out += '\t'; return true;
      case 'u': break;
      default: return fail("invalid escape in string");
    }
    std::uint32_t cp = 0;
    if (!read_hex4(cp)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
      std::size_t save = pos_;
      pos_ += 2;
      std::uint32_t low = 0;
      if (read_hex4(low) && low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      } else {
        pos_ = save;
        cp = 0xFFFD;
      }
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    append_utf8(out, cp);
    return true;
  }

  bool read_hex4(std::uint32_t& cp) {
    for (int i = 0; i < 4; ++i) {
      char c = peek();
      int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
              : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                          : -1;
      if (v < 0) return fail("invalid \\u escape");
      cp = cp * 16 + static_cast<std::uint32_t>(v);
      ++pos_;
    }
    return true;
  }

  /// Reads a number, true, false or null; `view` is its text.
  bool read_scalar(std::string_view& view) {
    skip_space();
    std::size_t start = pos_;
    for (const char* word : {"true", "false", "null"}) {
      std::string_view w(word);
      if (text_.substr(pos_, w.size()) == w) {
        pos_ += w.size();
        view = slice(start);
        return true;
      }
    }
    if (peek() == '-') ++pos_;
    if (!std::isdigit(static_cast<unsigned char>(peek()))) return fail("unexpected character");
    while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    if (peek() == '.') {
      ++pos_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) return fail("invalid number");
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) return fail("invalid number");
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    }
    view = slice(start);
    return true;
  }

  /// Skips any value.
  bool skip_value(int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    skip_space();
    char c = peek();
    if (c == '"') {
      std::string ignored;
      std::string_view view;
      bool raw = false;
      return read_string(ignored, view, raw);
    }
    if (c == '{' || c == '[') {
      bool object = c == '{';
      ++pos_;
      skip_space();
      if (peek() == (object ? '}' : ']')) {
        ++pos_;
        return true;
      }
      while (true) {
        if (object) {
          std::string ignored;
          std::string_view view;
          bool raw = false;
          if (!read_string(ignored, view, raw) || !consume(':')) return false;
        }
        if (!skip_value(depth + 1)) return false;
        skip_space();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        return consume(object ? '}' : ']');
      }
    }
    std::string_view view;
    return read_scalar(view);
  }

  const std::string& error() const { return error_; }

private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

std::string_view scalar_value(std::string_view text) {
  return text == "null" ? std::string_view() : text;
}

bool flatten_object(Reader& reader, std::string& prefix, const JsonFieldSink& sink, int depth,
                    std::string& key_buffer, std::string& value_buffer) {
  if (depth > kMaxDepth) return reader.fail("nesting too deep");
  if (!reader.consume('{')) return false;
  reader.skip_space();
  if (reader.peek() == '}') return reader.consume('}');
  while (true) {
    std::string_view key_view;
    bool raw = false;
    key_buffer.clear();
    if (!reader.read_string(key_buffer, key_view, raw)) return false;
    std::size_t prefix_size = prefix.size();
    if (!prefix.empty()) prefix += '_';
    sanitize_label_name(raw ? key_view : std::string_view(key_buffer), prefix);
    if (!reader.consume(':')) return false;
    reader.skip_space();
    char c = reader.peek();
    if (c == '{') {
      if (!flatten_object(reader, prefix, sink, depth + 1, key_buffer, value_buffer)) return false;
    } else if (c == '[') {
      if (!reader.skip_value(depth + 1)) return false;
    } else if (c == '"') {
      std::string_view view;
      value_buffer.clear();
      if (!reader.read_string(value_buffer, view, raw)) return false;
      sink(prefix, raw ? view : std::string_view(value_buffer));
    } else {
      std::string_view view;
      if (!reader.read_scalar(view)) return false;
      sink(prefix, scalar_value(view));
    }
    prefix.resize(prefix_size);
    reader.skip_space();
    if (reader.peek() == ',') {
      reader.consume(',');
      continue;
    }
    return reader.consume('}');
  }
}

bool finish_document(Reader& reader) {
  reader.skip_space();
  if (!reader.at_end()) return reader.fail("unexpected data after the top-level value");
  return true;
}

}  // namespace

bool parse_json_path(std::string_view expression, std::vector<JsonPathStep>& out) {
  out.clear();
  std::size_t i = 0;
  auto read_key = [&]() {
    std::size_t start = i;
    while (i < expression.size() && expression[i] != '.' && expression[i] != '[') ++i;
    if (i == start) return false;
    out.push_back({false, std::string(expression.substr(start, i - start)), 0});
    return true;
  };
  if (expression.empty()) return false;
  if (expression[0] != '[' && !read_key()) return false;
  while (i < expression.size()) {
    if (expression[i] == '.') {
      ++i;
      if (!read_key()) return false;
      continue;
    }
    // '[' index or quoted key ']'
    ++i;
    if (i < expression.size() && expression[i] == '"') {
      std::string key;
      ++i;
      while (i < expression.size() && expression[i] != '"') {
        if (expression[i] == '\\' && i + 1 < expression.size()) ++i;
        key += expression[i++];
      }
      if (i + 1 >= expression.size() || expression[i + 1] != ']') return false;
      i += 2;
      out.push_back({false, std::move(key), 0});
      continue;
    }
    std::size_t start = i;
    while (i < expression.size() && std::isdigit(static_cast<unsigned char>(expression[i]))) ++i;
    if (i == start || i >= expression.size() || expression[i] != ']') return false;
    // An index too large for size_t is past the end of any array: it selects nothing.
    std::size_t index = std::numeric_limits<std::size_t>::max();
    std::from_chars(expression.data() + start, expression.data() + i, index);
    out.push_back({true, {}, index});
    ++i;
  }
  return !out.empty();
}

bool json_flatten(std::string_view text, const JsonFieldSink& sink, std::string& error) {
  Reader reader(text);
  std::string prefix;
  std::string key_buffer;
  std::string value_buffer;
  reader.skip_space();
  if (reader.peek() != '{') {
    error = "the line is not a JSON object";
    return false;
  }
  if (!flatten_object(reader, prefix, sink, 0, key_buffer, value_buffer) ||
      !finish_document(reader)) {
    error = reader.error();
    return false;
  }
  return true;
}

bool json_string_members(std::string_view text, const JsonFieldSink& sink, std::string& error) {
  Reader reader(text);
  reader.skip_space();
  if (reader.peek() != '{') {
    error = "the line is not a JSON object";
    return false;
  }
  std::string key;
  std::string value;
  bool ok = [&]() {
    if (!reader.consume('{')) return false;
    reader.skip_space();
    if (reader.peek() == '}') return reader.consume('}');
    while (true) {
      std::string_view key_view;
      bool key_raw = false;
      key.clear();
      if (!reader.read_string(key, key_view, key_raw) || !reader.consume(':')) return false;
      reader.skip_space();
      if (reader.peek() == '"') {
        std::string_view value_view;
        bool value_raw = false;
        value.clear();
        if (!reader.read_string(value, value_view, value_raw)) return false;
        sink(key_raw ? key_view : std::string_view(key), value_raw ? value_view : value);
      } else if (!reader.skip_value(1)) {
        return false;
      }
      reader.skip_space();
      if (reader.peek() == ',') {
        reader.consume(',');
        continue;
      }
      return reader.consume('}');
    }
  }();
  if (!ok || !finish_document(reader)) {
    error = reader.error();
    return false;
  }
  return true;
}

bool json_extract(std::string_view text, const std::vector<JsonPathStep>& path, std::string& out) {
  Reader reader(text);
  for (const auto& step : path) {
    reader.skip_space();
    if (step.is_index) {
      if (reader.peek() != '[') return false;
      reader.consume('[');
      for (std::size_t i = 0; i < step.index; ++i) {
        reader.skip_space();
        if (reader.peek() == ']') return false;
        if (!reader.skip_value(1) || !reader.consume(',')) return false;
      }
      reader.skip_space();
      if (reader.peek() == ']') return false;
      continue;
    }
    if (reader.peek() != '{') return false;
    reader.consume('{');
    bool found = false;
    while (!found) {
      reader.skip_space();
      if (reader.peek() == '}') return false;
      std::string key;
      std::string_view key_view;
      bool raw = false;
      if (!reader.read_string(key, key_view, raw) || !reader.consume(':')) return false;
      if ((raw ? key_view : std::string_view(key)) == step.key) {
        found = true;
        break;
      }
      if (!reader.skip_value(1)) return false;
      reader.skip_space();
      if (reader.peek() != ',') return false;
      reader.consume(',');
    }
  }
  reader.skip_space();
  char c = reader.peek();
  out.clear();
  if (c == '"') {
    std::string_view view;
    bool raw = false;
    if (!reader.read_string(out, view, raw)) return false;
    if (raw) out.assign(view);
    return true;
  }
  std::size_t start = reader.pos();
  if (c == '{' || c == '[') {
    if (!reader.skip_value(1)) return false;
    out.assign(reader.slice(start));
    return true;
  }
  std::string_view view;
  if (!reader.read_scalar(view)) return false;
  out.assign(scalar_value(view));
  return true;
}

bool json_valid(std::string_view text, std::string& error) {
  Reader reader(text);
  if (!reader.skip_value(0) || !finish_document(reader)) {
    error = reader.error();
    return false;
  }
  return true;
}

}  // namespace lognurse::logql
