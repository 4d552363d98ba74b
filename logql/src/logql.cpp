#include "lognurse/logql/logql.hpp"

#include <re2/re2.h>

#include "lognurse/logql/ast.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/pipeline.hpp"
#include "lognurse/logql/printer.hpp"

namespace lognurse::logql {
namespace {

/// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  std::size_t length = 0;
  std::uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  bool overlong = (length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000);
  bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  if (overlong || surrogate || cp > 0x10FFFF) return 0;
  return length;
}

}  // namespace

std::string quote(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size() + 2);
  out += '"';
  for (std::size_t i = 0; i < value.size();) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      // Valid UTF-8 is kept as is; any other byte becomes a \x escape, which
      // the lexer decodes back to that exact byte.
      std::size_t length = utf8_sequence_length(value, i);
      if (length > 0) {
        out.append(value.substr(i, length));
        i += length;
        continue;
      }
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0x0F];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

Status validate(std::string_view query) {
  auto parsed = parse(query);
  if (!parsed.ok()) return parsed.error();
  return success();
}

Result<std::string> compile_search(const SearchFilters& filters) {
  LogExpr log;
  if (filters.service) log.selector.push_back({"service_name", MatchType::equal, *filters.service});
  for (const auto& [name, value] : filters.labels) {
    if (!is_valid_label_name(name)) {
      return invalid_argument("logql.invalid_filter",
                              "label name " + quote(name) +
                                  " is not valid: use letters, digits and underscores, not "
                                  "starting with a digit");
    }
    log.selector.push_back({name, MatchType::equal, value});
  }
  bool selective = false;
  for (const auto& matcher : log.selector) selective = selective || !matches_empty(matcher);
  if (!selective) log.selector.push_back({"service_name", MatchType::regex, ".+"});

  if (filters.text && !filters.text->empty()) {
    log.pipeline.emplace_back(LineFilter{LineFilterOp::contains, {*filters.text}});
  }
  if (filters.regex) {
    RE2 re(*filters.regex, RE2::Quiet);
    if (!re.ok()) {
      return invalid_argument("logql.invalid_filter",
                              "regex " + quote(*filters.regex) + " is not a valid RE2 expression: " +
                                  re.error());
    }
    log.pipeline.emplace_back(LineFilter{LineFilterOp::regex, {*filters.regex}});
  }
  // A label filter, not a stream matcher: detected_level is structured
  // metadata for OTLP records (as in Loki 3) and a stream label only when the
  // sender made it one; a label filter sees both.
  if (filters.level) {
    log.pipeline.emplace_back(
        LabelFilter{StringLabelFilter{{"detected_level", MatchType::equal, *filters.level}}});
  }
  return print(log);
}

bool matches(const std::vector<Matcher>& matchers, const Labels& labels) {
  return StreamMatcher(matchers).matches(labels);
}

Result<std::vector<ScanShard>> EntrySource::shards(const ScanRequest&, std::size_t) {
  return std::vector<ScanShard>{};
}

Status EntrySource::scan_shard(const ScanRequest&, const ScanShard&, const ShardVisitor&) {
  return internal_error("logql.internal",
                        "scan_shard was called on a source that makes no shards");
}

Status EntrySource::scan_sizes(const ScanRequest&, const ScanShard*, const SizeVisitor&) {
  return internal_error("logql.internal",
                        "scan_sizes was called on a source that does not scan sizes");
}

}  // namespace lognurse::logql
