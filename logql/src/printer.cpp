#include "lognurse/logql/printer.hpp"

#include "lognurse/logql/lexer.hpp"

namespace lognurse::logql {
namespace {

const char* match_op(MatchType type) {
  switch (type) {
    case MatchType::equal: return "=";
    case MatchType::not_equal: return "!=";
    case MatchType::regex: return "=~";
    case MatchType::not_regex: return "!~";
  }
  return "=";
}

const char* compare_op(CompareOp op) {
  switch (op) {
    case CompareOp::equal: return "==";
    case CompareOp::not_equal: return "!=";
    case CompareOp::greater: return ">";
    case CompareOp::greater_equal: return ">=";
    case CompareOp::less: return "<";
    case CompareOp::less_equal: return "<=";
  }
  return "==";
}

const char* line_filter_op(LineFilterOp op) {
  switch (op) {
    case LineFilterOp::contains: return "|=";
    case LineFilterOp::not_contains: return "!=";
    case LineFilterOp::regex: return "|~";
    case LineFilterOp::not_regex: return "!~";
    case LineFilterOp::pattern: return "|>";
    case LineFilterOp::not_pattern: return "!>";
  }
  return "|=";
}

const char* range_op_name(RangeOp op) {
  switch (op) {
    case RangeOp::count_over_time: return "count_over_time";
    case RangeOp::rate: return "rate";
    case RangeOp::bytes_over_time: return "bytes_over_time";
    case RangeOp::bytes_rate: return "bytes_rate";
    case RangeOp::absent_over_time: return "absent_over_time";
    case RangeOp::sum_over_time: return "sum_over_time";
    case RangeOp::avg_over_time: return "avg_over_time";
    case RangeOp::min_over_time: return "min_over_time";
    case RangeOp::max_over_time: return "max_over_time";
    case RangeOp::stdvar_over_time: return "stdvar_over_time";
    case RangeOp::stddev_over_time: return "stddev_over_time";
    case RangeOp::quantile_over_time: return "quantile_over_time";
    case RangeOp::first_over_time: return "first_over_time";
    case RangeOp::last_over_time: return "last_over_time";
    case RangeOp::rate_counter: return "rate_counter";
  }
  return "count_over_time";
}

const char* vector_op_name(VectorOp op) {
  switch (op) {
    case VectorOp::sum: return "sum";
    case VectorOp::avg: return "avg";
    case VectorOp::min: return "min";
    case VectorOp::max: return "max";
    case VectorOp::count: return "count";
    case VectorOp::stddev: return "stddev";
    case VectorOp::stdvar: return "stdvar";
    case VectorOp::topk: return "topk";
    case VectorOp::bottomk: return "bottomk";
    case VectorOp::sort: return "sort";
    case VectorOp::sort_desc: return "sort_desc";
  }
  return "sum";
}

const char* binary_op_text(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "+";
    case BinaryOp::sub: return "-";
    case BinaryOp::mul: return "*";
    case BinaryOp::div: return "/";
    case BinaryOp::mod: return "%";
    case BinaryOp::pow: return "^";
    case BinaryOp::eq: return "==";
    case BinaryOp::ne: return "!=";
    case BinaryOp::gt: return ">";
    case BinaryOp::ge: return ">=";
    case BinaryOp::lt: return "<";
    case BinaryOp::le: return "<=";
    case BinaryOp::land: return "and";
    case BinaryOp::lor: return "or";
    case BinaryOp::lunless: return "unless";
  }
  return "+";
}

int binary_precedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::lor: return 1;
    case BinaryOp::land:
    case BinaryOp::lunless: return 2;
    case BinaryOp::add:
    case BinaryOp::sub: return 4;
    case BinaryOp::mul:
    case BinaryOp::div:
    case BinaryOp::mod: return 5;
    case BinaryOp::pow: return 6;
    default: return 3;
  }
}

void print_label_list(const std::vector<std::string>& labels, std::string& out) {
  out += '(';
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ", ";
    out += labels[i];
  }
  out += ')';
}

void print_grouping(const Grouping& grouping, std::string& out) {
  out += grouping.without ? "without " : "by ";
  print_label_list(grouping.labels, out);
}

void print_label_filter(const LabelFilterExpr& expr, std::string& out, bool parent_is_and,
                        bool is_right);

void print_label_filter_leaf(const LabelFilterExpr& expr, std::string& out) {
  if (const auto* s = std::get_if<StringLabelFilter>(&expr)) {
    out += s->matcher.name;
    out += match_op(s->matcher.type);
    out += quote(s->matcher.value);
  } else if (const auto* n = std::get_if<NumberLabelFilter>(&expr)) {
    out += n->name + " " + compare_op(n->op) + " " + format_number(n->value);
  } else if (const auto* d = std::get_if<DurationLabelFilter>(&expr)) {
    out += d->name + " " + compare_op(d->op) + " " + format_duration_literal(d->value_ns);
  } else if (const auto* b = std::get_if<BytesLabelFilter>(&expr)) {
    out += b->name + " " + compare_op(b->op) + " " + format_bytes_literal(b->value);
  } else if (const auto* ip = std::get_if<IpLabelFilter>(&expr)) {
    out += ip->name + (ip->negated ? " != ip(" : " = ip(") + quote(ip->range) + ")";
  }
}

void print_label_filter(const LabelFilterExpr& expr, std::string& out, bool parent_is_and,
                        bool is_right) {
  const auto* binary = std::get_if<Box<LabelFilterBinary>>(&expr);
  if (binary == nullptr) {
    print_label_filter_leaf(expr, out);
    return;
  }
  const LabelFilterBinary& node = **binary;
  // `and` binds tighter than `or`, and both group to the left: parenthesize
  // an `or` under an `and`, and a right operand of the same operator.
  bool parens = (parent_is_and && !node.is_and) || is_right;
  if (parens) out += '(';
  print_label_filter(node.left, out, node.is_and, false);
  out += node.is_and ? " and " : " or ";
  bool right_parens = std::holds_alternative<Box<LabelFilterBinary>>(node.right);
  print_label_filter(node.right, out, node.is_and, right_parens);
  if (parens) out += ')';
}

void print_extractions(const std::vector<LabelExtraction>& extractions, std::string& out) {
  for (std::size_t i = 0; i < extractions.size(); ++i) {
    out += i == 0 ? " " : ", ";
    out += extractions[i].name;
    if (extractions[i].expression != extractions[i].name) {
      out += '=';
      out += quote(extractions[i].expression);
    }
  }
}

void print_select_items(const std::vector<LabelSelectItem>& items, std::string& out) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += i == 0 ? " " : ", ";
    out += items[i].name;
    if (items[i].type) {
      out += match_op(*items[i].type);
      out += quote(items[i].value);
    }
  }
}

struct StagePrinter {
  std::string& out;

  void operator()(const LineFilter& f) {
    out += line_filter_op(f.op);
    if (f.ip) {
      out += " ip(" + quote(f.values.at(0)) + ")";
      return;
    }
    for (std::size_t i = 0; i < f.values.size(); ++i) {
      out += i == 0 ? " " : " or ";
      out += quote(f.values[i]);
    }
  }
  void operator()(const JsonParser& p) {
    out += "| json";
    print_extractions(p.extractions, out);
  }
  void operator()(const LogfmtParser& p) {
    out += "| logfmt";
    if (p.strict) out += " --strict";
    if (p.keep_empty) out += " --keep-empty";
    print_extractions(p.extractions, out);
  }
  void operator()(const RegexpParser& p) { out += "| regexp " + quote(p.pattern); }
  void operator()(const PatternParser& p) { out += "| pattern " + quote(p.pattern); }
  void operator()(const UnpackParser&) { out += "| unpack"; }
  void operator()(const LabelFilter& f) {
    out += "| ";
    print_label_filter(f.expr, out, false, false);
  }
  void operator()(const LineFormat& f) { out += "| line_format " + quote(f.template_text); }
  void operator()(const LabelFormat& f) {
    out += "| label_format";
    for (std::size_t i = 0; i < f.items.size(); ++i) {
      out += i == 0 ? " " : ", ";
      out += f.items[i].name + "=";
      out += f.items[i].is_template ? quote(f.items[i].value) : f.items[i].value;
    }
  }
  void operator()(const Drop& d) {
    out += "| drop";
    print_select_items(d.items, out);
  }
  void operator()(const Keep& k) {
    out += "| keep";
    print_select_items(k.items, out);
  }
  void operator()(const Decolorize&) { out += "| decolorize"; }
};

void print_log(const LogExpr& log, std::string& out) {
  out += print_selector(log.selector);
  for (const auto& stage : log.pipeline) {
    out += ' ';
    std::visit(StagePrinter{out}, stage);
  }
}

void print_metric(const MetricNode& node, std::string& out);

void print_range_aggregation(const RangeAggregation& r, std::string& out) {
  out += range_op_name(r.op);
  out += '(';
  if (r.parameter) out += format_number(*r.parameter) + ", ";
  print_log(r.log, out);
  if (r.unwrap) {
    out += " | unwrap ";
    switch (r.unwrap->conversion) {
      case UnwrapConversion::none: out += r.unwrap->label; break;
      case UnwrapConversion::bytes: out += "bytes(" + r.unwrap->label + ")"; break;
      case UnwrapConversion::duration: out += "duration(" + r.unwrap->label + ")"; break;
      case UnwrapConversion::duration_seconds:
        out += "duration_seconds(" + r.unwrap->label + ")";
        break;
    }
    for (const auto& filter : r.unwrap->post_filters) {
      out += " | ";
      print_label_filter(filter, out, false, false);
    }
  }
  out += " [" + format_duration_literal(r.range_ns) + "]";
  if (r.offset_ns != 0) out += " offset " + format_duration_literal(r.offset_ns);
  out += ')';
  if (r.grouping) {
    out += ' ';
    print_grouping(*r.grouping, out);
  }
}

void print_vector_aggregation(const VectorAggregation& v, std::string& out) {
  out += vector_op_name(v.op);
  if (v.grouping) {
    out += ' ';
    print_grouping(*v.grouping, out);
    out += ' ';
  }
  out += '(';
  if (v.parameter) out += format_number(*v.parameter) + ", ";
  print_metric(*v.inner, out);
  out += ')';
}

/// Whether `child` needs parentheses as an operand of `parent`.
bool needs_parens(const MetricNode& child, BinaryOp parent, bool is_right) {
  if (const auto* number = std::get_if<NumberLiteral>(&child.node)) {
    // -1 ^ 2 would read as -(1 ^ 2); keep a negative base together.
    return !is_right && parent == BinaryOp::pow && number->value < 0;
  }
  const auto* binary = std::get_if<BinaryExpr>(&child.node);
  if (binary == nullptr) return false;
  int child_precedence = binary_precedence(binary->op);
  int parent_precedence = binary_precedence(parent);
  if (child_precedence != parent_precedence) return child_precedence < parent_precedence;
  bool right_associative = parent == BinaryOp::pow;
  return right_associative ? !is_right : is_right;
}

void print_binary(const BinaryExpr& b, std::string& out) {
  bool left_parens = needs_parens(*b.lhs, b.op, false);
  if (left_parens) out += '(';
  print_metric(*b.lhs, out);
  if (left_parens) out += ')';
  out += ' ';
  out += binary_op_text(b.op);
  if (b.return_bool) out += " bool";
  if (b.matching) {
    out += b.matching->on ? " on " : " ignoring ";
    print_label_list(b.matching->labels, out);
    if (b.matching->cardinality != MatchCardinality::one_to_one) {
      out += b.matching->cardinality == MatchCardinality::many_to_one ? " group_left"
                                                                      : " group_right";
      if (!b.matching->include.empty()) {
        out += ' ';
        print_label_list(b.matching->include, out);
      }
    }
  }
  out += ' ';
  bool right_parens = needs_parens(*b.rhs, b.op, true);
  if (right_parens) out += '(';
  print_metric(*b.rhs, out);
  if (right_parens) out += ')';
}

void print_metric(const MetricNode& node, std::string& out) {
  std::visit(
      [&out](const auto& n) {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, RangeAggregation>) {
          print_range_aggregation(n, out);
        } else if constexpr (std::is_same_v<T, VectorAggregation>) {
          print_vector_aggregation(n, out);
        } else if constexpr (std::is_same_v<T, BinaryExpr>) {
          print_binary(n, out);
        } else if constexpr (std::is_same_v<T, NumberLiteral>) {
          out += format_number(n.value);
        } else if constexpr (std::is_same_v<T, LabelReplace>) {
          out += "label_replace(";
          print_metric(*n.inner, out);
          out += ", " + quote(n.destination) + ", " + quote(n.replacement) + ", " +
                 quote(n.source) + ", " + quote(n.regex) + ")";
        } else {
          out += "vector(" + format_number(n.value) + ")";
        }
      },
      node.node);
}

}  // namespace

std::string print_selector(const std::vector<Matcher>& matchers) {
  std::string out = "{";
  for (std::size_t i = 0; i < matchers.size(); ++i) {
    if (i > 0) out += ", ";
    out += matchers[i].name;
    out += match_op(matchers[i].type);
    out += quote(matchers[i].value);
  }
  out += '}';
  return out;
}

std::string print(const LogExpr& log) {
  std::string out;
  print_log(log, out);
  return out;
}

std::string print(const MetricNode& metric) {
  std::string out;
  print_metric(metric, out);
  return out;
}

std::string print(const Query& query) {
  return std::visit([](const auto& q) { return print(q); }, query);
}

}  // namespace lognurse::logql
