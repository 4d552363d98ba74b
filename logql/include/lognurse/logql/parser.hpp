#pragma once

// The LogQL parser: recursive descent over the lexer's tokens, producing the
// syntax tree of ast.hpp. Everything checkable without data is checked here:
// regular expressions compile with RE2, templates and patterns compile,
// selectors have a matcher that rejects the empty value, range aggregations
// have or lack an unwrap as their operation needs.

#include <string_view>

#include "lognurse/host_api/result.hpp"
#include "lognurse/logql/ast.hpp"

namespace lognurse::logql {

/// Parses a log or metric query. Errors have code "logql.parse_error", kind
/// invalid_argument and a message "parse error at line L, col C: <what>".
Result<Query> parse(std::string_view query);

/// Whether a matcher accepts the empty value (and so also streams without
/// the label). Invalid regular expressions count as not matching.
bool matches_empty(const Matcher& matcher);

}  // namespace lognurse::logql
