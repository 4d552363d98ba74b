#pragma once

// The LogQL lexer: turns query text into tokens with their byte offsets.
// Strings are decoded here (Go escapes in "...", raw text in `...`), numbers
// followed by a unit become durations or byte sizes, and `#` starts a comment
// that runs to the end of the line.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lognurse/host_api/result.hpp"

namespace lognurse::logql {

enum class TokenKind {
  end,          ///< end of input
  identifier,   ///< names and keywords: app, json, by, sum_over_time
  string,       ///< a decoded string literal
  number,       ///< 42, 1.5, 1e3
  duration,     ///< 5m, 1h30m, 250ms
  bytes,        ///< 20MB, 1KiB
  flag,         ///< --strict, --keep-empty
  lbrace,       ///< {
  rbrace,       ///< }
  lparen,       ///< (
  rparen,       ///< )
  lbracket,     ///< [
  rbracket,     ///< ]
  comma,        ///< ,
  assign,       ///< =
  equal_equal,  ///< ==
  not_equal,    ///< !=
  regex,        ///< =~
  not_regex,    ///< !~
  pipe,         ///< |
  pipe_exact,   ///< |=
  pipe_regex,   ///< |~
  pipe_pattern,     ///< |>
  not_pattern,  ///< !>
  greater,      ///< >
  greater_equal,  ///< >=
  less,         ///< <
  less_equal,   ///< <=
  plus,         ///< +
  minus,        ///< -
  star,         ///< *
  slash,        ///< /
  percent,      ///< %
  caret,        ///< ^
};

/// One token. `text` is the decoded value for strings and the source text
/// otherwise; `number`, `duration_ns` and `bytes` hold the parsed value of
/// their kinds.
struct Token {
  TokenKind kind = TokenKind::end;
  std::string text;
  std::size_t offset = 0;  ///< byte offset of the token's first character
  double number = 0;
  std::int64_t duration_ns = 0;
  std::uint64_t bytes = 0;
};

/// How a token kind reads in an error message: `"}"`, `a string`, `end of input`.
std::string describe(TokenKind kind);

/// How a token reads in an error message: its source text quoted, or
/// "end of input".
std::string describe(const Token& token);

/// Splits `input` into tokens ending with one TokenKind::end token. Errors
/// are "logql.parse_error" with line and column.
Result<std::vector<Token>> tokenize(std::string_view input);

/// The "logql.parse_error" error for a problem at byte `offset` of `input`:
/// "parse error at line L, col C: <what>". Columns count characters from 1.
Error parse_error_at(std::string_view input, std::size_t offset, const std::string& what);

/// Parses a duration as Go and Prometheus write it: "1h30m", "1.5s", "250ms",
/// "10us", "2d", "1w", "1y". Returns false when `text` is not one.
bool parse_duration_literal(std::string_view text, std::int64_t& out_ns);

/// Parses a byte size as Loki does (go-humanize): "20MB", "1.5KiB", "10 b";
/// units are case-insensitive, SI (1000) and IEC (1024). A bare number is bytes.
bool parse_bytes_literal(std::string_view text, std::uint64_t& out);

/// Renders nanoseconds exactly in Go's unit letters: "1h30m", "1s500ms", "250ns".
std::string format_duration_literal(std::int64_t ns);

/// Renders a byte count exactly with the largest unit that divides it: "20MB",
/// "3KiB", "17B".
std::string format_bytes_literal(std::uint64_t bytes);

/// Renders a number in the shortest form that reads back to the same double.
std::string format_number(double value);

}  // namespace lognurse::logql
