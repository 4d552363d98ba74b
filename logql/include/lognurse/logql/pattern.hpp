#pragma once

// Loki's pattern language: literals and <name> captures, <_> for a capture
// that is thrown away. Used by the `pattern` parser and by |> and !> filters.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lognurse::logql {

/// A compiled pattern such as `<ip> - - [<_>] "<method> <path> <_>"`.
class Pattern {
public:
  /// Compiles `text`. With `require_capture` (the pattern parser) at least one
  /// named capture is needed. Returns nullopt and sets `error` for an empty
  /// pattern, two captures in a row, or no named capture when required.
  static std::optional<Pattern> compile(std::string_view text, bool require_capture,
                                        std::string& error);

  /// Matches `line` as Loki does: a leading literal must start the line, each
  /// capture takes everything up to the next occurrence of the literal after
  /// it (to the end of the line for a trailing capture), and text after a
  /// trailing literal is ignored. Calls `on_capture(name, value)` for named
  /// captures as they are found, so a partial match still extracts what it
  /// found (as Loki's pattern parser); returns whether the whole pattern
  /// matched.
  template <typename OnCapture>
  bool match(std::string_view line, OnCapture&& on_capture) const;

  /// Whether `line` matches, without extracting.
  bool matches(std::string_view line) const {
    return match(line, [](std::string_view, std::string_view) {});
  }

  /// Names of the named captures in order.
  std::vector<std::string> capture_names() const;

private:
  struct Part {
    bool capture = false;
    std::string text;  ///< the literal, or the capture name ("_" for unnamed)
  };
  std::vector<Part> parts_;
};

template <typename OnCapture>
bool Pattern::match(std::string_view line, OnCapture&& on_capture) const {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    const Part& part = parts_[i];
    if (!part.capture) {
      if (line.compare(pos, part.text.size(), part.text) != 0) return false;
      pos += part.text.size();
      continue;
    }
    bool named = part.text != "_";
    if (i + 1 == parts_.size()) {
      if (named) on_capture(part.text, line.substr(pos));
      return true;
    }
    std::size_t next = line.find(parts_[i + 1].text, pos);
    if (next == std::string_view::npos) {
      // As Loki: a capture whose closing literal is missing takes the rest.
      if (named) on_capture(part.text, line.substr(pos));
      return false;
    }
    if (named) on_capture(part.text, line.substr(pos, next - pos));
    pos = next;
  }
  return true;
}

}  // namespace lognurse::logql
