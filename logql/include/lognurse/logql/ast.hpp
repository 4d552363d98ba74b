#pragma once

// The LogQL syntax tree. Every node is a plain value: copyable, comparable with
// ==, and free of positions, so that parse(print(tree)) == tree can be checked
// directly. The parser builds it, the printer renders it, the evaluator
// compiles it into a pipeline.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "lognurse/logql/logql.hpp"

namespace lognurse::logql {

/// Matchers compare by name, type and value.
inline bool operator==(const Matcher& a, const Matcher& b) {
  return a.name == b.name && a.type == b.type && a.value == b.value;
}

/// An owning pointer with value semantics: copies deeply and compares by the
/// pointee. Lets the recursive nodes below keep defaulted copy and ==.
template <typename T>
class Box {
public:
  Box(T value) : value_(std::make_unique<T>(std::move(value))) {}
  Box(const Box& other) : value_(std::make_unique<T>(*other.value_)) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& other) {
    if (this != &other) value_ = std::make_unique<T>(*other.value_);
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  ~Box() = default;

  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return value_.get(); }
  const T* operator->() const { return value_.get(); }

  friend bool operator==(const Box& a, const Box& b) { return *a.value_ == *b.value_; }

private:
  std::unique_ptr<T> value_;
};

// ---------------------------------------------------------------------------
// Log pipeline stages

/// |= != |~ !~ |> !> : contains, not contains, regex, not regex, pattern, not pattern.
enum class LineFilterOp { contains, not_contains, regex, not_regex, pattern, not_pattern };

/// A line filter with its `or` alternatives: |= "a" or "b" keeps lines holding
/// either; != "a" or "b" keeps lines holding neither (as Loki).
struct LineFilter {
  LineFilterOp op = LineFilterOp::contains;
  std::vector<std::string> values;  ///< at least one
  /// |= ip("...") / != ip("..."): values are address ranges (see ip.hpp) that
  /// some address written in the line must (or must not) fall in.
  bool ip = false;
  bool operator==(const LineFilter&) const = default;
};

/// A label to extract: `name="expression"`; a bare `name` has expression == name.
struct LabelExtraction {
  std::string name;
  std::string expression;
  bool operator==(const LabelExtraction&) const = default;
};

/// | json [extractions]
struct JsonParser {
  std::vector<LabelExtraction> extractions;
  bool operator==(const JsonParser&) const = default;
};

/// | logfmt [--strict] [--keep-empty] [extractions]
struct LogfmtParser {
  bool strict = false;
  bool keep_empty = false;
  std::vector<LabelExtraction> extractions;
  bool operator==(const LogfmtParser&) const = default;
};

/// | regexp "<RE2 with named groups>"
struct RegexpParser {
  std::string pattern;
  bool operator==(const RegexpParser&) const = default;
};

/// | pattern "<name> - <_> ..."
struct PatternParser {
  std::string pattern;
  bool operator==(const PatternParser&) const = default;
};

/// | unpack
struct UnpackParser {
  bool operator==(const UnpackParser&) const = default;
};

/// Comparison of a label filter: = (or ==) != > >= < <= for numbers, durations
/// and bytes; equal / not_equal / regex / not_regex for strings.
enum class CompareOp { equal, not_equal, greater, greater_equal, less, less_equal };

/// name = "value", name =~ "regex" ...
struct StringLabelFilter {
  Matcher matcher;
  bool operator==(const StringLabelFilter&) const = default;
};

/// name > 1.5
struct NumberLabelFilter {
  std::string name;
  CompareOp op = CompareOp::equal;
  double value = 0;
  bool operator==(const NumberLabelFilter&) const = default;
};

/// name > 1m30s (nanoseconds).
struct DurationLabelFilter {
  std::string name;
  CompareOp op = CompareOp::equal;
  std::int64_t value_ns = 0;
  bool operator==(const DurationLabelFilter&) const = default;
};

/// name > 20MB (bytes, SI and IEC units as Loki).
struct BytesLabelFilter {
  std::string name;
  CompareOp op = CompareOp::equal;
  std::uint64_t value = 0;
  bool operator==(const BytesLabelFilter&) const = default;
};

/// name = ip("10.0.0.0/8"), name != ip("..."): the label value is an address in the range.
struct IpLabelFilter {
  std::string name;
  bool negated = false;
  std::string range;
  bool operator==(const IpLabelFilter&) const = default;
};

struct LabelFilterBinary;

/// A label filter expression: a leaf comparison or an and/or of two.
using LabelFilterExpr = std::variant<StringLabelFilter, NumberLabelFilter, DurationLabelFilter,
                                     BytesLabelFilter, IpLabelFilter, Box<LabelFilterBinary>>;

/// left and right, left or right. `and` binds tighter than `or` (as Loki's
/// engine evaluates them); a comma or plain whitespace between filters means `and`.
struct LabelFilterBinary {
  bool is_and = true;
  LabelFilterExpr left;
  LabelFilterExpr right;
  bool operator==(const LabelFilterBinary&) const = default;
};

/// | <label filter expression>
struct LabelFilter {
  LabelFilterExpr expr;
  bool operator==(const LabelFilter&) const = default;
};

/// | line_format "<template>"
struct LineFormat {
  std::string template_text;
  bool operator==(const LineFormat&) const = default;
};

/// dst=src renames a label; dst="template" sets it from a template.
struct LabelFormatItem {
  std::string name;
  bool is_template = false;
  std::string value;  ///< the source label name or the template text
  bool operator==(const LabelFormatItem&) const = default;
};

/// | label_format a=b, c="{{.d}}"
struct LabelFormat {
  std::vector<LabelFormatItem> items;
  bool operator==(const LabelFormat&) const = default;
};

/// One item of drop/keep: a bare name, or a matcher that restricts it to a value.
struct LabelSelectItem {
  std::string name;
  std::optional<MatchType> type;  ///< unset for a bare name
  std::string value;
  bool operator==(const LabelSelectItem&) const = default;
};

/// | drop a, b="x"
struct Drop {
  std::vector<LabelSelectItem> items;
  bool operator==(const Drop&) const = default;
};

/// | keep a, b="x"
struct Keep {
  std::vector<LabelSelectItem> items;
  bool operator==(const Keep&) const = default;
};

/// | decolorize
struct Decolorize {
  bool operator==(const Decolorize&) const = default;
};

/// One step of a log pipeline.
using Stage = std::variant<LineFilter, JsonParser, LogfmtParser, RegexpParser, PatternParser,
                           UnpackParser, LabelFilter, LineFormat, LabelFormat, Drop, Keep,
                           Decolorize>;

/// A stream selector and its pipeline: {app="api"} |= "error" | json.
struct LogExpr {
  std::vector<Matcher> selector;
  std::vector<Stage> pipeline;
  bool operator==(const LogExpr&) const = default;
};

// ---------------------------------------------------------------------------
// Metric expressions

/// How unwrap converts a label value to a number.
enum class UnwrapConversion { none, bytes, duration, duration_seconds };

/// | unwrap [bytes|duration|duration_seconds](label) [| post filters]
struct Unwrap {
  std::string label;
  UnwrapConversion conversion = UnwrapConversion::none;
  std::vector<LabelFilterExpr> post_filters;
  bool operator==(const Unwrap&) const = default;
};

/// by (a, b) or without (a, b).
struct Grouping {
  bool without = false;
  std::vector<std::string> labels;
  bool operator==(const Grouping&) const = default;
};

enum class RangeOp {
  count_over_time,
  rate,
  bytes_over_time,
  bytes_rate,
  absent_over_time,
  sum_over_time,
  avg_over_time,
  min_over_time,
  max_over_time,
  stdvar_over_time,
  stddev_over_time,
  quantile_over_time,
  first_over_time,
  last_over_time,
  rate_counter,
};

/// Whether `op` needs an unwrap (sum_over_time...) or refuses one (count_over_time...).
bool range_op_needs_unwrap(RangeOp op);

/// count_over_time({...} | ... [5m] offset 1h), quantile_over_time(0.9, ... | unwrap x [5m]) by (a)
struct RangeAggregation {
  RangeOp op = RangeOp::count_over_time;
  LogExpr log;
  std::optional<Unwrap> unwrap;
  std::int64_t range_ns = 0;
  std::int64_t offset_ns = 0;
  std::optional<double> parameter;  ///< quantile's phi
  std::optional<Grouping> grouping;
  bool operator==(const RangeAggregation&) const = default;
};

enum class VectorOp { sum, avg, min, max, count, stddev, stdvar, topk, bottomk, sort, sort_desc };

struct MetricNode;

/// Any metric expression.
using MetricExpr = Box<MetricNode>;

/// sum by (a) (expr), topk(3, expr)
struct VectorAggregation {
  VectorOp op = VectorOp::sum;
  MetricExpr inner;
  std::optional<Grouping> grouping;
  std::optional<double> parameter;  ///< k of topk/bottomk
  bool operator==(const VectorAggregation&) const = default;
};

enum class BinaryOp { add, sub, mul, div, mod, pow, eq, ne, gt, ge, lt, le, land, lor, lunless };

/// Which side of a vector match may hold several series per matching key.
enum class MatchCardinality { one_to_one, many_to_one, one_to_many };

/// on (a) / ignoring (a) after a binary operator, optionally followed by
/// group_left (many_to_one) or group_right (one_to_many) with the labels to
/// copy from the "one" side.
struct VectorMatching {
  bool on = true;
  std::vector<std::string> labels;
  MatchCardinality cardinality = MatchCardinality::one_to_one;
  std::vector<std::string> include;
  bool operator==(const VectorMatching&) const = default;
};

/// lhs op [bool] [on|ignoring (...)] rhs
struct BinaryExpr {
  BinaryOp op = BinaryOp::add;
  bool return_bool = false;
  std::optional<VectorMatching> matching;
  MetricExpr lhs;
  MetricExpr rhs;
  bool operator==(const BinaryExpr&) const = default;
};

/// A number: 1, 2.5, -3.
struct NumberLiteral {
  double value = 0;
  bool operator==(const NumberLiteral&) const = default;
};

/// vector(1): a label-less series with the value at every step.
struct VectorLiteral {
  double value = 0;
  bool operator==(const VectorLiteral&) const = default;
};

/// label_replace(v, "dst", "replacement", "src", "regex"): for each series whose
/// src value the (anchored) regex matches, sets dst to the expanded replacement.
struct LabelReplace {
  MetricExpr inner;
  std::string destination;
  std::string replacement;
  std::string source;
  std::string regex;
  bool operator==(const LabelReplace&) const = default;
};

/// The alternatives of a metric expression.
struct MetricNode {
  std::variant<RangeAggregation, VectorAggregation, BinaryExpr, NumberLiteral, VectorLiteral,
               LabelReplace>
      node;
  bool operator==(const MetricNode&) const = default;
};

/// A whole query: a log query or a metric query.
using Query = std::variant<LogExpr, MetricNode>;

/// Whether a binary operator is a comparison (== != > >= < <=).
bool is_comparison(BinaryOp op);

/// Whether a binary operator is a set operator (and, or, unless).
bool is_set_operator(BinaryOp op);

}  // namespace lognurse::logql
