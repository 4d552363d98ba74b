#include "lognurse/logql/pattern.hpp"

namespace lognurse::logql {
namespace {

bool is_capture_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::optional<Pattern> Pattern::compile(std::string_view text, bool require_capture,
                                        std::string& error) {
  Pattern pattern;
  std::size_t pos = 0;
  std::string literal;
  auto flush_literal = [&]() {
    if (!literal.empty()) pattern.parts_.push_back({false, std::move(literal)});
    literal.clear();
  };
  while (pos < text.size()) {
    if (text[pos] == '<') {
      std::size_t close = text.find('>', pos + 1);
      if (close != std::string_view::npos &&
          is_capture_name(text.substr(pos + 1, close - pos - 1))) {
        flush_literal();
        if (!pattern.parts_.empty() && pattern.parts_.back().capture) {
          error = "the pattern has two consecutive captures; put a literal between them";
          return std::nullopt;
        }
        pattern.parts_.push_back({true, std::string(text.substr(pos + 1, close - pos - 1))});
        pos = close + 1;
        continue;
      }
    }
    literal += text[pos++];
  }
  flush_literal();
  if (pattern.parts_.empty()) {
    error = "the pattern is empty";
    return std::nullopt;
  }
  if (require_capture && pattern.capture_names().empty()) {
    error = "the pattern needs at least one named capture such as <status>";
    return std::nullopt;
  }
  return pattern;
}

std::vector<std::string> Pattern::capture_names() const {
  std::vector<std::string> names;
  for (const auto& part : parts_) {
    if (part.capture && part.text != "_") names.push_back(part.text);
  }
  return names;
}

}  // namespace lognurse::logql
