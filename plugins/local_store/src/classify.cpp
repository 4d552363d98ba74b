#include "classify.hpp"

#include <array>
#include <cctype>
#include <optional>
#include <utility>

namespace lognurse::local_store {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return out;
}

/// The normalized level a keyword stands for, or nullopt when it is not one.
std::optional<std::string_view> keyword_level(std::string_view lowered) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 18> kKeywords = {{
      {"trace", "trace"},
      {"debug", "debug"},
      {"dbg", "debug"},
      {"info", "info"},
      {"information", "info"},
      {"informational", "info"},
      {"notice", "info"},
      {"warn", "warn"},
      {"warning", "warn"},
      {"error", "error"},
      {"err", "error"},
      {"critical", "critical"},
      {"crit", "critical"},
      {"fatal", "fatal"},
      {"panic", "fatal"},
      {"emergency", "fatal"},
      {"emerg", "fatal"},
      {"alert", "fatal"},
  }};
  for (const auto& [word, level] : kKeywords) {
    if (lowered == word) return level;
  }
  return std::nullopt;
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

/// Whether `line` holds `key` (lower case) at `at`, in any case.
bool key_at(std::string_view line, std::size_t at, std::string_view key) {
  if (at + key.size() > line.size()) return false;
  for (std::size_t k = 0; k < key.size(); ++k) {
    if (ascii_lower(line[at + k]) != key[k]) return false;
  }
  return true;
}

/// The level value after `key` found at `start`, in logfmt (level=x) or JSON ("level":"x")
/// form, or nullopt.
std::optional<std::string> value_after_key(std::string_view line, std::size_t start,
                                           std::size_t key_size) {
  std::size_t end = start + key_size;
  const bool quoted_key = start > 0 && line[start - 1] == '"';
  if (!quoted_key && start > 0 && is_word_char(ascii_lower(line[start - 1]))) return std::nullopt;
  if (quoted_key) {
    if (end >= line.size() || line[end] != '"') return std::nullopt;
    ++end;
    while (end < line.size() && line[end] == ' ') ++end;
    if (end >= line.size() || line[end] != ':') return std::nullopt;
    ++end;
    while (end < line.size() && line[end] == ' ') ++end;
  } else {
    if (end >= line.size() || line[end] != '=') return std::nullopt;
    ++end;
  }
  if (end < line.size() && line[end] == '"') ++end;
  std::size_t value_end = end;
  while (value_end < line.size() && is_word_char(line[value_end])) ++value_end;
  if (value_end == end) return std::nullopt;
  return normalize_level(line.substr(end, value_end - end));
}

/// The value after a level-like key: the first "level" that has one, else the first "lvl",
/// else the first "severity"; keys in any case. One pass, no copy of the line.
std::optional<std::string> field_level(std::string_view line) {
  static constexpr std::string_view kKeys[] = {"level", "lvl", "severity"};
  std::optional<std::string> found[3];
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = ascii_lower(line[i]);
    if (c != 'l' && c != 's') continue;
    for (std::size_t k = 0; k < 3; ++k) {
      if (found[k] || kKeys[k][0] != c || !key_at(line, i, kKeys[k])) continue;
      found[k] = value_after_key(line, i, kKeys[k].size());
      if (k == 0 && found[0]) return found[0];
    }
  }
  for (auto& value : found) {
    if (value) return value;
  }
  return std::nullopt;
}

std::optional<std::string> keyword_in_line(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && !std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
    std::size_t start = i;
    while (i < line.size() && std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
    // A word glued to digits or underscores ("error42", "err_count") is not a keyword.
    bool glued =
        (start > 0 && is_word_char(line[start - 1])) || (i < line.size() && is_word_char(line[i]));
    std::size_t length = i - start;
    if (length >= 3 && length <= 13 && !glued) {
      auto level = keyword_level(lower(line.substr(start, length)));
      if (level) return std::string(*level);
    }
  }
  return std::nullopt;
}

}  // namespace

std::string normalize_level(std::string_view value) {
  std::string lowered = lower(value);
  auto level = keyword_level(lowered);
  if (level) return std::string(*level);
  return lowered;
}

std::string classify_level(const Labels& stream_labels, const LogEntry& entry) {
  for (const Labels* labels : {&stream_labels, &entry.metadata}) {
    for (const char* name : {"detected_level", "level"}) {
      for (const auto& [label_name, value] : *labels) {
        if (label_name == name && !value.empty()) return normalize_level(value);
      }
    }
  }
  if (auto level = field_level(entry.line)) return *level;
  if (auto level = keyword_in_line(entry.line)) return *level;
  return "unknown";
}

std::string classify_service(const Labels& stream_labels) {
  for (const char* name : {"service_name", "service", "app", "application", "job"}) {
    const std::string* value = find_label(stream_labels, name);
    if (value != nullptr && !value->empty()) return *value;
  }
  return "unknown_service";
}

bool is_error_level(std::string_view level) {
  return level == "error" || level == "critical" || level == "fatal";
}

}  // namespace lognurse::local_store
