#include "lognurse/logql/lexer.hpp"

#include <charconv>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

namespace lognurse::logql {
namespace {

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

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

class Lexer {
public:
  explicit Lexer(std::string_view input) : input_(input) {}

  Result<std::vector<Token>> run() {
    std::vector<Token> tokens;
    while (true) {
      skip_space_and_comments();
      Token token;
      token.offset = pos_;
      if (pos_ >= input_.size()) {
        tokens.push_back(std::move(token));
        return tokens;
      }
      if (auto error = next(token)) return std::move(*error);
      tokens.push_back(std::move(token));
    }
  }

private:
  void skip_space_and_comments() {
    while (pos_ < input_.size()) {
      char c = input_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < input_.size() && input_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  std::optional<Error> fail(std::size_t offset, const std::string& what) {
    return parse_error_at(input_, offset, what);
  }

  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < input_.size() ? input_[pos_ + ahead] : '\0';
  }

  std::optional<Error> next(Token& token) {
    char c = input_[pos_];
    if (c == '"') return lex_quoted(token);
    if (c == '`') return lex_raw(token);
    if (is_digit(c) || (c == '.' && is_digit(peek(1)))) return lex_number(token);
    if (is_ident_start(c)) {
      std::size_t start = pos_;
      while (pos_ < input_.size() && is_ident_char(input_[pos_])) ++pos_;
      token.kind = TokenKind::identifier;
      token.text = std::string(input_.substr(start, pos_ - start));
      return std::nullopt;
    }
    if (c == '-' && peek(1) == '-' && is_ident_start(peek(2))) {
      std::size_t start = pos_;
      pos_ += 2;
      while (pos_ < input_.size() && (is_ident_char(input_[pos_]) || input_[pos_] == '-')) ++pos_;
      token.kind = TokenKind::flag;
      token.text = std::string(input_.substr(start, pos_ - start));
      return std::nullopt;
    }
    return lex_operator(token);
  }

  std::optional<Error> lex_operator(Token& token) {
    struct Op {
      const char* text;
      TokenKind kind;
    };
    // Two-character operators first so that "|=" never lexes as "|" "=".
    static constexpr Op kOps[] = {
        {"|=", TokenKind::pipe_exact}, {"|~", TokenKind::pipe_regex},
        {"|>", TokenKind::pipe_pattern}, {"!>", TokenKind::not_pattern},
        {"!=", TokenKind::not_equal}, {"!~", TokenKind::not_regex},
        {"=~", TokenKind::regex},       {"==", TokenKind::equal_equal},
        {">=", TokenKind::greater_equal}, {"<=", TokenKind::less_equal},
        {"{", TokenKind::lbrace},       {"}", TokenKind::rbrace},
        {"(", TokenKind::lparen},       {")", TokenKind::rparen},
        {"[", TokenKind::lbracket},     {"]", TokenKind::rbracket},
        {",", TokenKind::comma},        {"=", TokenKind::assign},
        {"|", TokenKind::pipe},         {">", TokenKind::greater},
        {"<", TokenKind::less},         {"+", TokenKind::plus},
        {"-", TokenKind::minus},        {"*", TokenKind::star},
        {"/", TokenKind::slash},        {"%", TokenKind::percent},
        {"^", TokenKind::caret},
    };
    for (const auto& op : kOps) {
      std::size_t n = std::strlen(op.text);
      if (input_.substr(pos_, n) == op.text) {
        token.kind = op.kind;
        token.text = op.text;
        pos_ += n;
        return std::nullopt;
      }
    }
    std::string shown(1, input_[pos_]);
    return fail(pos_, "unexpected character \"" + shown + "\"");
  }

  std::optional<Error> lex_raw(Token& token) {
    std::size_t start = pos_++;
    std::size_t close = input_.find('`', pos_);
    if (close == std::string_view::npos) return fail(start, "unterminated raw string literal");
    token.kind = TokenKind::string;
    token.text = std::string(input_.substr(pos_, close - pos_));
    pos_ = close + 1;
    return std::nullopt;
  }

  std::optional<Error> lex_quoted(Token& token) {
    std::size_t start = pos_++;
    token.kind = TokenKind::string;
    std::string& out = token.text;
    while (true) {
      if (pos_ >= input_.size() || input_[pos_] == '\n') {
        return fail(start, "unterminated string literal");
      }
      char c = input_[pos_];
      if (c == '"') {
        ++pos_;
        return std::nullopt;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (auto error = lex_escape(out)) return error;
    }
  }

  // Decodes one escape sequence at pos_ (which holds the backslash) as Go's
  // strconv.Unquote does for double-quoted strings.
  std::optional<Error> lex_escape(std::string& out) {
    std::size_t start = pos_;
    char e = peek(1);
    pos_ += 2;
    switch (e) {
      case 'a': out += '\a'; return std::nullopt;
      case 'b': out += '\b'; return std::nullopt;
      case 'f': out += '\f'; return std::nullopt;
      case 'n': out += '\n'; return std::nullopt;
      case 'r': out += '\r'; return std::nullopt;
      case 't': out += '\t'; return std::nullopt;
      case 'v': out += '\v'; return std::nullopt;
      case '\\': out += '\\'; return std::nullopt;
      case '"': out += '"'; return std::nullopt;
      case 'x': return lex_hex_escape(start, 2, false, out);
      case 'u': return lex_hex_escape(start, 4, true, out);
      case 'U': return lex_hex_escape(start, 8, true, out);
      default: break;
    }
    if (e >= '0' && e <= '7') {
      int value = 0;
      --pos_;
      for (int i = 0; i < 3; ++i) {
        char d = peek();
        if (d < '0' || d > '7') return fail(start, "invalid octal escape in string literal");
        value = value * 8 + (d - '0');
        ++pos_;
      }
      if (value > 255) return fail(start, "octal escape value above \\377 in string literal");
      out += static_cast<char>(value);
      return std::nullopt;
    }
    std::string shown = e == '\0' ? "" : std::string(1, e);
    return fail(start, "invalid escape sequence \"\\" + shown + "\" in string literal");
  }

  std::optional<Error> lex_hex_escape(std::size_t start, int digits, bool code_point,
                                      std::string& out) {
    std::uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      int h = hex_value(peek());
      if (h < 0) return fail(start, "invalid hexadecimal escape in string literal");
      value = value * 16 + static_cast<std::uint32_t>(h);
      ++pos_;
    }
    if (!code_point) {
      out += static_cast<char>(value);
      return std::nullopt;
    }
    if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
      return fail(start, "escape is not a valid Unicode code point");
    }
    append_utf8(out, value);
    return std::nullopt;
  }

  std::optional<Error> lex_number(Token& token) {
    std::size_t start = pos_;
    while (is_digit(peek())) ++pos_;
    if (peek() == '.' && is_digit(peek(1))) {
      ++pos_;
      while (is_digit(peek())) ++pos_;
    }
    bool exponent = (peek() == 'e' || peek() == 'E') &&
                    (is_digit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))));
    if (exponent) {
      pos_ += 2;
      while (is_digit(peek())) ++pos_;
    }
    if (!exponent && (is_ident_start(peek()) || static_cast<unsigned char>(peek()) == 0xC2)) {
      return lex_unit_literal(start, token);
    }
    token.kind = TokenKind::number;
    token.text = std::string(input_.substr(start, pos_ - start));
    token.number = std::strtod(token.text.c_str(), nullptr);
    if (!std::isfinite(token.number)) {
      return fail(start, "the number " + token.text + " is out of range of a 64-bit float");
    }
    return std::nullopt;
  }

  // A number directly followed by letters: a duration ("1h30m") or a byte size ("20MB").
  std::optional<Error> lex_unit_literal(std::size_t start, Token& token) {
    while (pos_ < input_.size()) {
      char c = input_[pos_];
      if (is_ident_char(c) || c == '.') {
        ++pos_;
      } else if (static_cast<unsigned char>(c) == 0xC2 && peek(1) == '\xB5') {
        pos_ += 2;  // µ of "µs"
      } else {
        break;
      }
    }
    token.text = std::string(input_.substr(start, pos_ - start));
    if (parse_duration_literal(token.text, token.duration_ns)) {
      token.kind = TokenKind::duration;
      return std::nullopt;
    }
    if (parse_bytes_literal(token.text, token.bytes)) {
      token.kind = TokenKind::bytes;
      return std::nullopt;
    }
    return fail(start, "\"" + token.text + "\" is neither a number, a duration nor a byte size");
  }

  std::string_view input_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string describe(TokenKind kind) {
  switch (kind) {
    case TokenKind::end: return "end of input";
    case TokenKind::identifier: return "an identifier";
    case TokenKind::string: return "a string";
    case TokenKind::number: return "a number";
    case TokenKind::duration: return "a duration";
    case TokenKind::bytes: return "a byte size";
    case TokenKind::flag: return "a flag";
    case TokenKind::lbrace: return "\"{\"";
    case TokenKind::rbrace: return "\"}\"";
    case TokenKind::lparen: return "\"(\"";
    case TokenKind::rparen: return "\")\"";
    case TokenKind::lbracket: return "\"[\"";
    case TokenKind::rbracket: return "\"]\"";
    case TokenKind::comma: return "\",\"";
    case TokenKind::assign: return "\"=\"";
    case TokenKind::equal_equal: return "\"==\"";
    case TokenKind::not_equal: return "\"!=\"";
    case TokenKind::regex: return "\"=~\"";
    case TokenKind::not_regex: return "\"!~\"";
    case TokenKind::pipe: return "\"|\"";
    case TokenKind::pipe_exact: return "\"|=\"";
    case TokenKind::pipe_regex: return "\"|~\"";
    case TokenKind::pipe_pattern: return "\"|>\"";
    case TokenKind::not_pattern: return "\"!>\"";
    case TokenKind::greater: return "\">\"";
    case TokenKind::greater_equal: return "\">=\"";
    case TokenKind::less: return "\"<\"";
    case TokenKind::less_equal: return "\"<=\"";
    case TokenKind::plus: return "\"+\"";
    case TokenKind::minus: return "\"-\"";
    case TokenKind::star: return "\"*\"";
    case TokenKind::slash: return "\"/\"";
    case TokenKind::percent: return "\"%\"";
    case TokenKind::caret: return "\"^\"";
  }
  return "a token";
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::end: return "end of input";
    case TokenKind::string: return "string";
    case TokenKind::identifier:
    case TokenKind::number:
    case TokenKind::duration:
    case TokenKind::bytes:
    case TokenKind::flag: return "\"" + token.text + "\"";
    default: return describe(token.kind);
  }
}

Result<std::vector<Token>> tokenize(std::string_view input) { return Lexer(input).run(); }

Error parse_error_at(std::string_view input, std::size_t offset, const std::string& what) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < input.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(input[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;  // count characters, not UTF-8 continuation bytes
    }
  }
  return invalid_argument("logql.parse_error", "parse error at line " + std::to_string(line) +
                                                   ", col " + std::to_string(column) + ": " +
                                                   what);
}

bool parse_duration_literal(std::string_view text, std::int64_t& out_ns) {
  struct Unit {
    std::string_view name;
    double ns;
  };
  static constexpr Unit kUnits[] = {
      {"ns", 1},         {"us", 1e3},         {"\xC2\xB5s", 1e3}, {"ms", 1e6},
      {"s", 1e9},        {"m", 60e9},         {"h", 3600e9},      {"d", 86400e9},
      {"w", 604800e9},   {"y", 31536000e9},
  };
  if (text.empty()) return false;
  double total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = pos;
    while (pos < text.size() && (is_digit(text[pos]) || text[pos] == '.')) ++pos;
    if (pos == start) return false;
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + pos, value);
    if (ec != std::errc() || ptr != text.data() + pos) return false;
    std::size_t unit_start = pos;
    while (pos < text.size() && !is_digit(text[pos]) && text[pos] != '.') ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    const Unit* found = nullptr;
    for (const auto& u : kUnits) {
      if (u.name == unit) found = &u;
    }
    if (found == nullptr) return false;
    total += value * found->ns;
  }
  if (total > static_cast<double>(std::numeric_limits<std::int64_t>::max())) return false;
  out_ns = static_cast<std::int64_t>(std::llround(total));
  return true;
}

bool parse_bytes_literal(std::string_view text, std::uint64_t& out) {
  std::size_t pos = 0;
  while (pos < text.size() && (is_digit(text[pos]) || text[pos] == '.')) ++pos;
  if (pos == 0) return false;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + pos, value);
  if (ec != std::errc() || ptr != text.data() + pos) return false;
  while (pos < text.size() && text[pos] == ' ') ++pos;
  std::string unit;
  for (char c : text.substr(pos)) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  struct Unit {
    const char* name;
    double factor;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},         {"b", 1},          {"k", 1e3},          {"kb", 1e3},
      {"ki", 1024.0},  {"kib", 1024.0},   {"m", 1e6},          {"mb", 1e6},
      {"mi", 1048576.0}, {"mib", 1048576.0}, {"g", 1e9},       {"gb", 1e9},
      {"gi", 1073741824.0}, {"gib", 1073741824.0}, {"t", 1e12}, {"tb", 1e12},
      {"ti", 1099511627776.0}, {"tib", 1099511627776.0}, {"p", 1e15}, {"pb", 1e15},
      {"pi", 1125899906842624.0}, {"pib", 1125899906842624.0}, {"e", 1e18}, {"eb", 1e18},
      {"ei", 1152921504606846976.0}, {"eib", 1152921504606846976.0},
  };
  for (const auto& u : kUnits) {
    if (unit == u.name) {
      double total = value * u.factor;
      if (total >= 18446744073709551615.0) return false;
      out = static_cast<std::uint64_t>(total);
      return true;
    }
  }
  return false;
}

std::string format_duration_literal(std::int64_t ns) {
  if (ns == 0) return "0s";
  std::string out;
  std::uint64_t rest;
  if (ns < 0) {
    out = "-";
    rest = static_cast<std::uint64_t>(-(ns + 1)) + 1;
  } else {
    rest = static_cast<std::uint64_t>(ns);
  }
  struct Unit {
    const char* name;
    std::uint64_t ns;
  };
  static constexpr Unit kUnits[] = {{"h", 3'600'000'000'000ULL}, {"m", 60'000'000'000ULL},
                                    {"s", 1'000'000'000ULL},     {"ms", 1'000'000ULL},
                                    {"us", 1'000ULL},            {"ns", 1ULL}};
  for (const auto& unit : kUnits) {
    if (rest >= unit.ns) {
      out += std::to_string(rest / unit.ns);
      out += unit.name;
      rest %= unit.ns;
    }
  }
  return out;
}

std::string format_bytes_literal(std::uint64_t bytes) {
  struct Unit {
    const char* name;
    std::uint64_t factor;
  };
  static constexpr Unit kUnits[] = {
      {"EiB", 1ULL << 60}, {"EB", 1'000'000'000'000'000'000ULL}, {"PiB", 1ULL << 50},
      {"PB", 1'000'000'000'000'000ULL}, {"TiB", 1ULL << 40}, {"TB", 1'000'000'000'000ULL},
      {"GiB", 1ULL << 30}, {"GB", 1'000'000'000ULL}, {"MiB", 1ULL << 20}, {"MB", 1'000'000ULL},
      {"KiB", 1ULL << 10}, {"KB", 1'000ULL},
  };
  if (bytes != 0) {
    for (const auto& unit : kUnits) {
      if (bytes % unit.factor == 0) return std::to_string(bytes / unit.factor) + unit.name;
    }
  }
  return std::to_string(bytes) + "B";
}

std::string format_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, ptr);
}

}  // namespace lognurse::logql
