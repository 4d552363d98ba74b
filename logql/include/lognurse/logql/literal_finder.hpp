#pragma once

// Substring search tuned for log lines: the store's chunk scan, the |= and !=
// line filters and the logfmt parser's search for wanted keys all use it.

#include <cstddef>
#include <string>
#include <string_view>

namespace lognurse::logql {

/// Finds one literal in text. Compares two of the literal's bytes, the rarest
/// in log text, at 32 positions at once (AVX2, where the processor has it) or 16
/// (SSE2) and checks the candidates in full: glibc's memmem and
/// std::string_view::find call memchr for every occurrence of the literal's
/// first byte, which in log text is often common.
class LiteralFinder {
public:
  /// `sse2` keeps to 16 positions a step on any processor (for tests of that path).
  enum class Width { widest, sse2 };

  explicit LiteralFinder(std::string needle, Width width = Width::widest);

  static constexpr std::size_t npos = std::string_view::npos;

  /// The first position at or after `from` where the literal begins in `text`,
  /// or npos. An empty literal is found at `from` (when `from` <= size).
  std::size_t find(std::string_view text, std::size_t from = 0) const;

  const std::string& needle() const { return needle_; }

private:
  std::string needle_;
  std::size_t rare_ = 0;   ///< position of the rarest byte
  std::size_t other_ = 0;  ///< position of the next rarest
  std::size_t reach_ = 0;  ///< the larger of the two
  bool wide_ = false;      ///< AVX2 is used
};

}  // namespace lognurse::logql
