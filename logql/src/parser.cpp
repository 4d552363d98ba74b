#include "lognurse/logql/parser.hpp"

#include <re2/re2.h>

#include <cmath>
#include <utility>

#include "lognurse/logql/ip.hpp"
#include "lognurse/logql/pipeline.hpp"
#include "lognurse/logql/lexer.hpp"
#include "lognurse/logql/pattern.hpp"
#include "lognurse/logql/template.hpp"

namespace lognurse::logql {
namespace {

/// Thrown inside the parser only; parse() turns it into an error result.
struct ParseFailure {
  Error error;
};

struct RangeOpName {
  const char* name;
  RangeOp op;
};

constexpr RangeOpName kRangeOps[] = {
    {"count_over_time", RangeOp::count_over_time},
    {"rate", RangeOp::rate},
    {"bytes_over_time", RangeOp::bytes_over_time},
    {"bytes_rate", RangeOp::bytes_rate},
    {"absent_over_time", RangeOp::absent_over_time},
    {"sum_over_time", RangeOp::sum_over_time},
    {"avg_over_time", RangeOp::avg_over_time},
    {"min_over_time", RangeOp::min_over_time},
    {"max_over_time", RangeOp::max_over_time},
    {"stdvar_over_time", RangeOp::stdvar_over_time},
    {"stddev_over_time", RangeOp::stddev_over_time},
    {"quantile_over_time", RangeOp::quantile_over_time},
    {"first_over_time", RangeOp::first_over_time},
    {"last_over_time", RangeOp::last_over_time},
    {"rate_counter", RangeOp::rate_counter},
};

struct VectorOpName {
  const char* name;
  VectorOp op;
};

constexpr VectorOpName kVectorOps[] = {
    {"sum", VectorOp::sum},       {"avg", VectorOp::avg},         {"min", VectorOp::min},
    {"max", VectorOp::max},       {"count", VectorOp::count},     {"stddev", VectorOp::stddev},
    {"stdvar", VectorOp::stdvar}, {"topk", VectorOp::topk},       {"bottomk", VectorOp::bottomk},
    {"sort", VectorOp::sort},     {"sort_desc", VectorOp::sort_desc},
};

const char* const kStageKeywords[] = {"json",         "logfmt", "regexp", "pattern",
                                      "unpack",       "line_format", "label_format", "drop",
                                      "keep",         "decolorize",  "unwrap"};

bool is_stage_keyword(const std::string& name) {
  for (const char* keyword : kStageKeywords) {
    if (name == keyword) return true;
  }
  return false;
}

bool is_comparison_token(TokenKind kind) {
  switch (kind) {
    case TokenKind::assign:
    case TokenKind::equal_equal:
    case TokenKind::not_equal:
    case TokenKind::regex:
    case TokenKind::not_regex:
    case TokenKind::greater:
    case TokenKind::greater_equal:
    case TokenKind::less:
    case TokenKind::less_equal: return true;
    default: return false;
  }
}

/// Binary operator precedence as in PromQL: or < and/unless < comparisons <
/// + - < * / % < ^.
int precedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::lor: return 1;
    case BinaryOp::land:
    case BinaryOp::lunless: return 2;
    case BinaryOp::eq:
    case BinaryOp::ne:
    case BinaryOp::gt:
    case BinaryOp::ge:
    case BinaryOp::lt:
    case BinaryOp::le: return 3;
    case BinaryOp::add:
    case BinaryOp::sub: return 4;
    case BinaryOp::mul:
    case BinaryOp::div:
    case BinaryOp::mod: return 5;
    case BinaryOp::pow: return 6;
  }
  return 0;
}

bool is_scalar(const MetricNode& node) {
  if (std::holds_alternative<NumberLiteral>(node.node)) return true;
  if (const auto* binary = std::get_if<BinaryExpr>(&node.node)) {
    return is_scalar(*binary->lhs) && is_scalar(*binary->rhs);
  }
  return false;
}

class Parser {
public:
  Parser(std::string_view input, std::vector<Token> tokens)
      : input_(input), tokens_(std::move(tokens)) {}

  Query parse_query() {
    if (at(TokenKind::lbrace)) {
      LogExpr log = parse_log_expr(nullptr);
      expect_end("a pipeline stage such as |= \"text\" or | json");
      return log;
    }
    if (at(TokenKind::lparen) && peek(1).kind == TokenKind::lbrace) {
      advance();
      LogExpr log = parse_log_expr(nullptr);
      expect(TokenKind::rparen, "\")\"");
      expect_end("end of input");
      return log;
    }
    MetricNode metric = parse_binary(0);
    expect_end("a binary operator or end of input");
    return metric;
  }

private:
  // ---- token helpers ----------------------------------------------------

  const Token& peek(std::size_t ahead = 0) const {
    std::size_t index = pos_ + ahead;
    return index < tokens_.size() ? tokens_[index] : tokens_.back();
  }
  bool at(TokenKind kind) const { return peek().kind == kind; }
  bool at_ident(const char* name) const {
    return peek().kind == TokenKind::identifier && peek().text == name;
  }
  const Token& advance() {
    const Token& token = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return token;
  }

  [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
    throw ParseFailure{parse_error_at(input_, offset, what)};
  }
  [[noreturn]] void fail_expected(const std::string& expected) const {
    fail_at(peek().offset, "unexpected " + describe(peek()) + ", expected " + expected);
  }
  const Token& expect(TokenKind kind, const std::string& expected) {
    if (!at(kind)) fail_expected(expected);
    return advance();
  }
  void expect_end(const std::string& expected) {
    if (!at(TokenKind::end)) fail_expected(expected);
  }
  std::string expect_identifier(const std::string& expected) {
    return expect(TokenKind::identifier, expected).text;
  }

  void check_regex(const Token& token, const std::string& pattern) const {
    RE2 re(pattern, RE2::Quiet);
    if (!re.ok()) fail_at(token.offset, "invalid regular expression: " + re.error());
  }

  // ---- log queries ------------------------------------------------------

  std::vector<Matcher> parse_selector() {
    const Token& open = expect(TokenKind::lbrace, "\"{\"");
    std::vector<Matcher> matchers;
    while (!at(TokenKind::rbrace)) {
      Matcher matcher;
      matcher.name = expect_identifier("a label matcher");
      const Token& op = advance();
      switch (op.kind) {
        case TokenKind::assign: matcher.type = MatchType::equal; break;
        case TokenKind::not_equal: matcher.type = MatchType::not_equal; break;
        case TokenKind::regex: matcher.type = MatchType::regex; break;
        case TokenKind::not_regex: matcher.type = MatchType::not_regex; break;
        default:
          fail_at(op.offset, "unexpected " + describe(op) + ", expected one of =, !=, =~, !~");
      }
      const Token& value = expect(TokenKind::string, "a string");
      matcher.value = value.text;
      if (matcher.type == MatchType::regex || matcher.type == MatchType::not_regex) {
        check_regex(value, matcher.value);
      }
      matchers.push_back(std::move(matcher));
      if (at(TokenKind::comma)) {
        advance();
        // As in Loki's grammar, a comma must be followed by another matcher.
        if (!at(TokenKind::identifier)) fail_expected("a label matcher after \",\"");
        continue;
      }
      if (!at(TokenKind::rbrace)) fail_expected("\",\" or \"}\"");
    }
    advance();
    bool selective = false;
    for (const auto& matcher : matchers) selective = selective || !matches_empty(matcher);
    if (!selective) {
      fail_at(open.offset,
              "the stream selector needs at least one matcher that does not match the empty "
              "value, such as app=\"api\" or app=~\".+\" (app=~\".*\" would select every stream)");
    }
    return matchers;
  }

  LogExpr parse_log_expr(std::optional<Unwrap>* unwrap) {
    LogExpr log;
    log.selector = parse_selector();
    parse_pipeline(log, unwrap);
    return log;
  }

  /// Parses stages while they continue; `unwrap` is null where unwrap is not allowed.
  void parse_pipeline(LogExpr& log, std::optional<Unwrap>* unwrap) {
    while (true) {
      TokenKind kind = peek().kind;
      if (kind == TokenKind::pipe_exact || kind == TokenKind::not_equal ||
          kind == TokenKind::pipe_regex || kind == TokenKind::not_regex ||
          kind == TokenKind::pipe_pattern || kind == TokenKind::not_pattern) {
        if (unwrap != nullptr && unwrap->has_value()) {
          fail_at(peek().offset, "only label filters may follow unwrap");
        }
        log.pipeline.emplace_back(parse_line_filter());
        continue;
      }
      if (kind != TokenKind::pipe) return;
      const Token& pipe = advance();
      if (unwrap != nullptr && unwrap->has_value()) {
        if (at(TokenKind::identifier) && is_stage_keyword(peek().text) &&
            !is_comparison_token(peek(1).kind)) {
          fail_at(peek().offset, "only label filters may follow unwrap");
        }
        (*unwrap)->post_filters.push_back(parse_label_or());
        continue;
      }
      if (at_ident("unwrap") && !is_comparison_token(peek(1).kind)) {
        if (unwrap == nullptr) {
          fail_at(peek().offset, "unwrap is only allowed inside a range aggregation such as "
                                 "sum_over_time(... | unwrap latency [5m])");
        }
        advance();
        *unwrap = parse_unwrap();
        continue;
      }
      log.pipeline.push_back(parse_stage(pipe));
    }
  }

  LineFilter parse_line_filter() {
    const Token& op_token = advance();
    LineFilter filter;
    switch (op_token.kind) {
      case TokenKind::pipe_exact: filter.op = LineFilterOp::contains; break;
      case TokenKind::not_equal: filter.op = LineFilterOp::not_contains; break;
      case TokenKind::pipe_regex: filter.op = LineFilterOp::regex; break;
      case TokenKind::not_regex: filter.op = LineFilterOp::not_regex; break;
      case TokenKind::pipe_pattern: filter.op = LineFilterOp::pattern; break;
      default: filter.op = LineFilterOp::not_pattern; break;
    }
    if (at_ident("ip") && peek(1).kind == TokenKind::lparen) {
      if (filter.op != LineFilterOp::contains && filter.op != LineFilterOp::not_contains) {
        fail_at(peek().offset, "ip() only filters with |= or !=");
      }
      filter.ip = true;
      filter.values.push_back(parse_ip_argument());
      return filter;
    }
    while (true) {
      const Token& value = expect(TokenKind::string, "a string");
      if (filter.op == LineFilterOp::regex || filter.op == LineFilterOp::not_regex) {
        check_regex(value, value.text);
      }
      if (filter.op == LineFilterOp::pattern || filter.op == LineFilterOp::not_pattern) {
        std::string error;
        if (!Pattern::compile(value.text, false, error)) fail_at(value.offset, error);
      }
      filter.values.push_back(value.text);
      if (!at_ident("or")) break;
      advance();
    }
    return filter;
  }

  /// ip("<range>") with the range checked; returns the range text.
  std::string parse_ip_argument() {
    advance();
    expect(TokenKind::lparen, "\"(\"");
    const Token& value =
        expect(TokenKind::string, "an address range string such as \"10.0.0.0/8\"");
    std::string error;
    if (!IpRange::parse(value.text, error)) fail_at(value.offset, error);
    expect(TokenKind::rparen, "\")\"");
    return value.text;
  }

  Stage parse_stage(const Token& pipe) {
    if (at(TokenKind::lparen)) return LabelFilter{parse_label_or()};
    if (!at(TokenKind::identifier)) {
      fail_expected("a parser, a formatter or a label filter after \"|\"");
    }
    const std::string name = peek().text;
    if (is_comparison_token(peek(1).kind)) return LabelFilter{parse_label_or()};
    advance();
    if (name == "json") return JsonParser{parse_extractions()};
    if (name == "logfmt") return parse_logfmt();
    if (name == "regexp") {
      const Token& value = expect(TokenKind::string, "a regular expression string");
      RE2 re(value.text, RE2::Quiet);
      if (!re.ok()) fail_at(value.offset, "invalid regular expression: " + re.error());
      if (re.NamedCapturingGroups().empty()) {
        fail_at(value.offset, "the regexp parser needs at least one named capture group, "
                              "such as (?P<status>\\d+)");
      }
      return RegexpParser{value.text};
    }
    if (name == "pattern") {
      const Token& value = expect(TokenKind::string, "a pattern string");
      std::string error;
      if (!Pattern::compile(value.text, true, error)) fail_at(value.offset, error);
      return PatternParser{value.text};
    }
    if (name == "unpack") return UnpackParser{};
    if (name == "decolorize") return Decolorize{};
    if (name == "line_format") {
      const Token& value = expect(TokenKind::string, "a template string");
      check_template(value);
      return LineFormat{value.text};
    }
    if (name == "label_format") return parse_label_format();
    if (name == "drop") return Drop{parse_label_select("drop")};
    if (name == "keep") return Keep{parse_label_select("keep")};
    pos_--;
    fail_at(peek().offset, "unexpected " + describe(peek()) +
                               ", expected a parser (json, logfmt, regexp, pattern, unpack), "
                               "a formatter or a label filter");
  }

  void check_template(const Token& value) const {
    std::string error;
    if (!Template::compile(value.text, error)) {
      fail_at(value.offset, "invalid template: " + error);
    }
  }

  std::vector<LabelExtraction> parse_extractions() {
    std::vector<LabelExtraction> extractions;
    if (!at(TokenKind::identifier)) return extractions;
    while (true) {
      LabelExtraction extraction;
      extraction.name = expect_identifier("a label name");
      if (at(TokenKind::assign)) {
        advance();
        extraction.expression = expect(TokenKind::string, "a string").text;
      } else {
        extraction.expression = extraction.name;
      }
      extractions.push_back(std::move(extraction));
      if (!at(TokenKind::comma)) break;
      advance();
    }
    return extractions;
  }

  LogfmtParser parse_logfmt() {
    LogfmtParser parser;
    while (at(TokenKind::flag)) {
      const Token& flag = advance();
      if (flag.text == "--strict") {
        parser.strict = true;
      } else if (flag.text == "--keep-empty") {
        parser.keep_empty = true;
      } else {
        fail_at(flag.offset, "unknown logfmt flag " + describe(flag) +
                                 ", expected --strict or --keep-empty");
      }
    }
    parser.extractions = parse_extractions();
    return parser;
  }

  LabelFormat parse_label_format() {
    LabelFormat format;
    while (true) {
      LabelFormatItem item;
      const Token& name = peek();
      item.name = expect_identifier("a label name");
      for (const auto& earlier : format.items) {
        if (earlier.name == item.name) {
          fail_at(name.offset, "label_format sets \"" + item.name +
                                   "\" twice; use two label_format stages to set it in turn");
        }
      }
      expect(TokenKind::assign, "\"=\"");
      if (at(TokenKind::identifier)) {
        item.value = advance().text;
      } else {
        const Token& value = expect(TokenKind::string, "a label name or a template string");
        check_template(value);
        item.is_template = true;
        item.value = value.text;
      }
      format.items.push_back(std::move(item));
      if (!at(TokenKind::comma)) break;
      advance();
    }
    return format;
  }

  std::vector<LabelSelectItem> parse_label_select(const char* stage) {
    std::vector<LabelSelectItem> items;
    while (true) {
      LabelSelectItem item;
      item.name = expect_identifier(std::string("a label name to ") + stage);
      TokenKind kind = peek().kind;
      if (kind == TokenKind::assign || kind == TokenKind::not_equal || kind == TokenKind::regex ||
          kind == TokenKind::not_regex) {
        advance();
        item.type = kind == TokenKind::assign      ? MatchType::equal
                    : kind == TokenKind::not_equal ? MatchType::not_equal
                    : kind == TokenKind::regex     ? MatchType::regex
                                                   : MatchType::not_regex;
        const Token& value = expect(TokenKind::string, "a string");
        if (*item.type == MatchType::regex || *item.type == MatchType::not_regex) {
          check_regex(value, value.text);
        }
        item.value = value.text;
      }
      items.push_back(std::move(item));
      if (!at(TokenKind::comma)) break;
      advance();
    }
    return items;
  }

  Unwrap parse_unwrap() {
    Unwrap unwrap;
    if (at(TokenKind::identifier) && peek(1).kind == TokenKind::lparen) {
      const Token& conversion = advance();
      if (conversion.text == "bytes") {
        unwrap.conversion = UnwrapConversion::bytes;
      } else if (conversion.text == "duration") {
        unwrap.conversion = UnwrapConversion::duration;
      } else if (conversion.text == "duration_seconds") {
        unwrap.conversion = UnwrapConversion::duration_seconds;
      } else {
        fail_at(conversion.offset, "unknown unwrap conversion " + describe(conversion) +
                                       ", expected bytes, duration or duration_seconds");
      }
      advance();
      unwrap.label = expect_identifier("a label name");
      expect(TokenKind::rparen, "\")\"");
      return unwrap;
    }
    unwrap.label = expect_identifier("a label name to unwrap");
    return unwrap;
  }

  // ---- label filters ----------------------------------------------------

  /// Bounds the recursion of nested expressions, so that deeply nested input
  /// gets an error instead of exhausting the stack.
  class DepthGuard {
  public:
    explicit DepthGuard(Parser& parser) : parser_(parser) {
      if (++parser_.depth_ > kMaxDepth) {
        parser_.fail_at(parser_.peek().offset, "the expression is nested more than " +
                                                   std::to_string(kMaxDepth) +
                                                   " levels deep; simplify it");
      }
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

  private:
    Parser& parser_;
  };
  static constexpr int kMaxDepth = 100;

  /// A chain of binary operators nests no parentheses but builds a tree as deep as it is
  /// long, which evaluating, printing and freeing walk recursively: the count is bounded
  /// for the same reason as the depth of parentheses.
  void count_binary_operator(const Token& op) {
    if (++binary_operators_ > kMaxBinaryOperators) {
      fail_at(op.offset, "the query has more than " + std::to_string(kMaxBinaryOperators) +
                             " binary operators (arithmetic, comparisons, and, or, unless, and "
                             "the and/or of label filters); simplify it or split it into "
                             "several queries");
    }
  }
  static constexpr int kMaxBinaryOperators = 256;

  LabelFilterExpr parse_label_or() {
    DepthGuard guard(*this);
    LabelFilterExpr left = parse_label_and();
    while (at_ident("or")) {
      count_binary_operator(advance());
      LabelFilterExpr right = parse_label_and();
      left = Box<LabelFilterBinary>(LabelFilterBinary{false, std::move(left), std::move(right)});
    }
    return left;
  }

  LabelFilterExpr parse_label_and() {
    LabelFilterExpr left = parse_label_primary();
    while (true) {
      if (at_ident("and") || at(TokenKind::comma)) {
        count_binary_operator(advance());
      } else if (!(at(TokenKind::lparen) ||
                   (at(TokenKind::identifier) && peek().text != "or" &&
                    is_comparison_token(peek(1).kind)))) {
        return left;
      } else {
        count_binary_operator(peek());
      }
      LabelFilterExpr right = parse_label_primary();
      left = Box<LabelFilterBinary>(LabelFilterBinary{true, std::move(left), std::move(right)});
    }
  }

  LabelFilterExpr parse_label_primary() {
    if (at(TokenKind::lparen)) {
      advance();
      LabelFilterExpr inner = parse_label_or();
      expect(TokenKind::rparen, "\")\"");
      return inner;
    }
    std::string name = expect_identifier("a label filter");
    const Token& op_token = peek();
    if (!is_comparison_token(op_token.kind)) {
      fail_expected("a comparison operator (=, !=, =~, !~, ==, >, >=, <, <=)");
    }
    advance();
    TokenKind op = op_token.kind;

    if (at_ident("ip") && peek(1).kind == TokenKind::lparen) {
      if (op != TokenKind::assign && op != TokenKind::equal_equal && op != TokenKind::not_equal) {
        fail_at(op_token.offset, "ip() label filters only compare with =, == or !=");
      }
      return IpLabelFilter{name, op == TokenKind::not_equal, parse_ip_argument()};
    }
    if (at(TokenKind::string)) {
      const Token& value = advance();
      Matcher matcher{name, MatchType::equal, value.text};
      switch (op) {
        case TokenKind::assign:
        case TokenKind::equal_equal: matcher.type = MatchType::equal; break;
        case TokenKind::not_equal: matcher.type = MatchType::not_equal; break;
        case TokenKind::regex: matcher.type = MatchType::regex; break;
        case TokenKind::not_regex: matcher.type = MatchType::not_regex; break;
        default:
          fail_at(value.offset, "unexpected string, expected a number, a duration or a byte size "
                                "after " + describe(op));
      }
      if (op == TokenKind::regex || op == TokenKind::not_regex) check_regex(value, value.text);
      return StringLabelFilter{std::move(matcher)};
    }
    if (op == TokenKind::regex || op == TokenKind::not_regex) fail_expected("a string");

    CompareOp compare = to_compare(op);
    double sign = 1;
    if (at(TokenKind::minus) || at(TokenKind::plus)) {
      sign = at(TokenKind::minus) ? -1 : 1;
      advance();
    }
    if (at(TokenKind::number)) return NumberLabelFilter{name, compare, sign * advance().number};
    if (at(TokenKind::duration)) {
      return DurationLabelFilter{name, compare,
                                 static_cast<std::int64_t>(sign) * advance().duration_ns};
    }
    if (at(TokenKind::bytes) && sign > 0) return BytesLabelFilter{name, compare, advance().bytes};
    fail_expected("a string, a number, a duration or a byte size");
  }

  static CompareOp to_compare(TokenKind kind) {
    switch (kind) {
      case TokenKind::not_equal: return CompareOp::not_equal;
      case TokenKind::greater: return CompareOp::greater;
      case TokenKind::greater_equal: return CompareOp::greater_equal;
      case TokenKind::less: return CompareOp::less;
      case TokenKind::less_equal: return CompareOp::less_equal;
      default: return CompareOp::equal;
    }
  }

  // ---- metric queries ---------------------------------------------------

  std::optional<BinaryOp> binary_op_at() const {
    switch (peek().kind) {
      case TokenKind::plus: return BinaryOp::add;
      case TokenKind::minus: return BinaryOp::sub;
      case TokenKind::star: return BinaryOp::mul;
      case TokenKind::slash: return BinaryOp::div;
      case TokenKind::percent: return BinaryOp::mod;
      case TokenKind::caret: return BinaryOp::pow;
      case TokenKind::equal_equal: return BinaryOp::eq;
      case TokenKind::not_equal: return BinaryOp::ne;
      case TokenKind::greater: return BinaryOp::gt;
      case TokenKind::greater_equal: return BinaryOp::ge;
      case TokenKind::less: return BinaryOp::lt;
      case TokenKind::less_equal: return BinaryOp::le;
      case TokenKind::identifier:
        if (peek().text == "and") return BinaryOp::land;
        if (peek().text == "or") return BinaryOp::lor;
        if (peek().text == "unless") return BinaryOp::lunless;
        return std::nullopt;
      default: return std::nullopt;
    }
  }

  MetricNode parse_binary(int min_precedence) {
    DepthGuard guard(*this);
    MetricNode lhs = parse_unary();
    while (true) {
      std::optional<BinaryOp> op = binary_op_at();
      if (!op || precedence(*op) < min_precedence) return lhs;
      const Token& op_token = advance();
      count_binary_operator(op_token);
      BinaryExpr binary{*op, false, std::nullopt, std::move(lhs), MetricNode{NumberLiteral{}}};
      if (at_ident("bool")) {
        if (!is_comparison(*op)) {
          fail_at(peek().offset, "bool is only allowed after a comparison operator");
        }
        advance();
        binary.return_bool = true;
      }
      if (at_ident("on") || at_ident("ignoring")) {
        VectorMatching matching;
        matching.on = advance().text == "on";
        matching.labels = parse_label_list();
        if (at_ident("group_left") || at_ident("group_right")) {
          const Token& group = advance();
          if (is_set_operator(*op)) {
            fail_at(group.offset, group.text + " is not allowed with the set operator " +
                                      describe(op_token));
          }
          matching.cardinality = group.text == "group_left" ? MatchCardinality::many_to_one
                                                            : MatchCardinality::one_to_many;
          if (at(TokenKind::lparen)) matching.include = parse_label_list();
        }
        binary.matching = std::move(matching);
      }
      int next = *op == BinaryOp::pow ? precedence(*op) : precedence(*op) + 1;
      binary.rhs = parse_binary(next);
      check_binary(binary, op_token);
      lhs = MetricNode{std::move(binary)};
    }
  }

  void check_binary(const BinaryExpr& binary, const Token& op_token) const {
    bool scalars = is_scalar(*binary.lhs) && is_scalar(*binary.rhs);
    if (is_set_operator(binary.op) && (is_scalar(*binary.lhs) || is_scalar(*binary.rhs))) {
      fail_at(op_token.offset, "set operator " + describe(op_token) +
                                   " needs vector operands on both sides");
    }
    if (scalars && is_comparison(binary.op) && !binary.return_bool) {
      fail_at(op_token.offset, "comparisons between scalars must use the bool modifier");
    }
  }

  MetricNode parse_unary() {
    if (at(TokenKind::minus) || at(TokenKind::plus)) {
      bool negative = advance().kind == TokenKind::minus;
      if (at(TokenKind::number)) {
        double value = advance().number;
        return MetricNode{NumberLiteral{negative ? -value : value}};
      }
      // Loki's grammar signs number literals only: -rate(...) is written -1 * rate(...).
      fail_expected("a number after the sign");
    }
    return parse_primary();
  }

  MetricNode parse_primary() {
    if (at(TokenKind::number)) return MetricNode{NumberLiteral{advance().number}};
    if (at(TokenKind::lbrace) || (at(TokenKind::lparen) && peek(1).kind == TokenKind::lbrace)) {
      fail_at(peek().offset, "a log query can't be used here; wrap it in a range aggregation "
                             "such as count_over_time({app=\"api\"} [5m])");
    }
    if (at(TokenKind::lparen)) {
      advance();
      MetricNode inner = parse_binary(0);
      expect(TokenKind::rparen, "\")\"");
      return inner;
    }
    if (!at(TokenKind::identifier)) fail_expected("a metric expression or a log selector");
    const Token& name = peek();
    if (name.text == "label_replace") return MetricNode{parse_label_replace()};
    if (name.text == "vector") {
      advance();
      expect(TokenKind::lparen, "\"(\"");
      double value = parse_signed_number("a number");
      expect(TokenKind::rparen, "\")\"");
      return MetricNode{VectorLiteral{value}};
    }
    for (const auto& entry : kRangeOps) {
      if (name.text == entry.name) return MetricNode{parse_range_aggregation(entry.op)};
    }
    for (const auto& entry : kVectorOps) {
      if (name.text == entry.name) return MetricNode{parse_vector_aggregation(entry.op)};
    }
    fail_expected("a metric expression such as count_over_time or sum");
  }

  LabelReplace parse_label_replace() {
    advance();
    expect(TokenKind::lparen, "\"(\"");
    LabelReplace replace{parse_binary(0), {}, {}, {}, {}};
    auto string_argument = [this](const char* what) {
      expect(TokenKind::comma, "\",\"");
      return expect(TokenKind::string, what);
    };
    const Token& destination = string_argument("the destination label name string");
    replace.destination = destination.text;
    if (!is_valid_label_name(replace.destination)) {
      fail_at(destination.offset, "label_replace: \"" + replace.destination +
                                      "\" is not a valid label name");
    }
    replace.replacement = string_argument("the replacement string").text;
    replace.source = string_argument("the source label name string").text;
    const Token& regex = string_argument("the regular expression string");
    replace.regex = regex.text;
    check_regex(regex, regex.text);
    expect(TokenKind::rparen, "\")\"");
    return replace;
  }

  double parse_signed_number(const std::string& expected) {
    double sign = 1;
    if (at(TokenKind::minus) || at(TokenKind::plus)) sign = advance().kind == TokenKind::minus ? -1 : 1;
    return sign * expect(TokenKind::number, expected).number;
  }

  std::vector<std::string> parse_label_list() {
    expect(TokenKind::lparen, "\"(\"");
    std::vector<std::string> labels;
    while (!at(TokenKind::rparen)) {
      labels.push_back(expect_identifier("a label name"));
      if (at(TokenKind::comma)) {
        advance();
        if (!at(TokenKind::identifier)) fail_expected("a label name after \",\"");
        continue;
      }
      if (!at(TokenKind::rparen)) fail_expected("\",\" or \")\"");
    }
    advance();
    return labels;
  }

  std::optional<Grouping> parse_grouping() {
    if (!at_ident("by") && !at_ident("without")) return std::nullopt;
    Grouping grouping;
    grouping.without = advance().text == "without";
    grouping.labels = parse_label_list();
    return grouping;
  }

  std::int64_t parse_range() {
    expect(TokenKind::lbracket, "a range such as [5m]");
    const Token& range = expect(TokenKind::duration, "a duration such as 5m");
    if (range.duration_ns <= 0) fail_at(range.offset, "the range must be positive");
    expect(TokenKind::rbracket, "\"]\"");
    return range.duration_ns;
  }

  RangeAggregation parse_range_aggregation(RangeOp op) {
    const Token& name = advance();
    RangeAggregation aggregation;
    aggregation.op = op;
    expect(TokenKind::lparen, "\"(\"");
    if (op == RangeOp::quantile_over_time) {
      aggregation.parameter = parse_signed_number("the quantile as a number");
      expect(TokenKind::comma, "\",\"");
    }
    if (at(TokenKind::lparen)) {
      advance();
      aggregation.log = parse_log_expr(&aggregation.unwrap);
      expect(TokenKind::rparen, "\")\"");
      aggregation.range_ns = parse_range();
    } else {
      aggregation.log.selector = parse_selector();
      if (at(TokenKind::lbracket)) {
        aggregation.range_ns = parse_range();
        parse_pipeline(aggregation.log, &aggregation.unwrap);
      } else {
        parse_pipeline(aggregation.log, &aggregation.unwrap);
        aggregation.range_ns = parse_range();
      }
    }
    if (at_ident("offset")) {
      advance();
      aggregation.offset_ns = expect(TokenKind::duration, "a duration such as 1h").duration_ns;
    }
    expect(TokenKind::rparen, "\")\"");
    aggregation.grouping = parse_grouping();
    check_range_aggregation(aggregation, name);
    return aggregation;
  }

  void check_range_aggregation(const RangeAggregation& aggregation, const Token& name) const {
    RangeOp op = aggregation.op;
    bool has_unwrap = aggregation.unwrap.has_value();
    if (range_op_needs_unwrap(op) && !has_unwrap) {
      fail_at(name.offset, name.text + " needs an unwrapped value, such as "
                                       "| unwrap latency before the range");
    }
    if (has_unwrap && !range_op_needs_unwrap(op) && op != RangeOp::rate &&
        op != RangeOp::absent_over_time) {
      fail_at(name.offset, name.text + " does not take an unwrapped value; remove | unwrap");
    }
    bool grouping_allowed = has_unwrap && op != RangeOp::sum_over_time &&
                            op != RangeOp::absent_over_time;
    if (aggregation.grouping && !grouping_allowed) {
      fail_at(name.offset, "grouping (by/without) is not allowed for " + name.text +
                               "; group with a vector aggregation such as sum by (...) instead");
    }
    if (op == RangeOp::quantile_over_time &&
        (*aggregation.parameter < 0 || *aggregation.parameter > 1)) {
      fail_at(name.offset, "the quantile must be between 0 and 1");
    }
  }

  VectorAggregation parse_vector_aggregation(VectorOp op) {
    const Token& name = advance();
    std::optional<Grouping> grouping = parse_grouping();
    expect(TokenKind::lparen, "\"(\"");
    std::optional<double> parameter;
    if (op == VectorOp::topk || op == VectorOp::bottomk) {
      const Token& k_token = peek();
      parameter = expect(TokenKind::number, "the number of series k").number;
      if (*parameter < 1 || *parameter != std::floor(*parameter)) {
        fail_at(k_token.offset, name.text + " needs a positive integer k");
      }
      expect(TokenKind::comma, "\",\"");
    }
    MetricNode inner = parse_binary(0);
    expect(TokenKind::rparen, "\")\"");
    if (!grouping) {
      grouping = parse_grouping();
    } else if (at_ident("by") || at_ident("without")) {
      fail_at(peek().offset, "grouping may appear before or after the parentheses, not both");
    }
    if (is_scalar(inner)) {
      fail_at(name.offset, name.text + " needs a vector, not a number");
    }
    return VectorAggregation{op, std::move(inner), std::move(grouping), parameter};
  }

  std::string_view input_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  int binary_operators_ = 0;
};

}  // namespace

bool range_op_needs_unwrap(RangeOp op) {
  switch (op) {
    case RangeOp::count_over_time:
    case RangeOp::rate:
    case RangeOp::bytes_over_time:
    case RangeOp::bytes_rate:
    case RangeOp::absent_over_time: return false;
    default: return true;
  }
}

bool is_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::eq:
    case BinaryOp::ne:
    case BinaryOp::gt:
    case BinaryOp::ge:
    case BinaryOp::lt:
    case BinaryOp::le: return true;
    default: return false;
  }
}

bool is_set_operator(BinaryOp op) {
  return op == BinaryOp::land || op == BinaryOp::lor || op == BinaryOp::lunless;
}

bool matches_empty(const Matcher& matcher) {
  switch (matcher.type) {
    case MatchType::equal: return matcher.value.empty();
    case MatchType::not_equal: return !matcher.value.empty();
    case MatchType::regex:
    case MatchType::not_regex: {
      RE2 re("^(?:" + matcher.value + ")$", RE2::Quiet);
      if (!re.ok()) return false;
      bool match = RE2::FullMatch("", re);
      return matcher.type == MatchType::regex ? match : !match;
    }
  }
  return false;
}

Result<Query> parse(std::string_view query) {
  auto tokens = tokenize(query);
  if (!tokens.ok()) return tokens.error();
  try {
    Parser parser(query, std::move(tokens).value());
    return parser.parse_query();
  } catch (const ParseFailure& failure) {
    return failure.error;
  }
}

}  // namespace lognurse::logql
