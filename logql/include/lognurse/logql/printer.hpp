#pragma once

// The LogQL printer: renders a syntax tree as canonical LogQL. Every string is
// written with quote(), so any value, whatever bytes it holds, reads back
// unchanged: parse(print(tree)) == tree for every tree the parser can produce.

#include <string>
#include <vector>

#include "lognurse/logql/ast.hpp"

namespace lognurse::logql {

/// Canonical text of a whole query.
std::string print(const Query& query);

/// Canonical text of a log query: {a="b"} |= "x" | json.
std::string print(const LogExpr& log);

/// Canonical text of a metric query; parentheses only where precedence needs them.
std::string print(const MetricNode& metric);

/// Canonical text of a stream selector: {a="b", c=~"d"}.
std::string print_selector(const std::vector<Matcher>& matchers);

}  // namespace lognurse::logql
