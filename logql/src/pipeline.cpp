#include "lognurse/logql/pipeline.hpp"

#include <re2/re2.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <functional>
#include <type_traits>

#include "lognurse/logql/ip.hpp"
#include "lognurse/logql/json_scanner.hpp"
#include "lognurse/logql/lexer.hpp"
#include "lognurse/logql/literal_finder.hpp"
#include "lognurse/logql/pattern.hpp"
#include "lognurse/logql/template.hpp"

namespace lognurse::logql {

// ---------------------------------------------------------------------------
// Label names

bool is_valid_label_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

namespace {

constexpr std::array<bool, 256> name_characters() {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  table['_'] = true;
  return table;
}

constexpr std::array<bool, 256> kNameCharacter = name_characters();

}  // namespace

void sanitize_label_name(std::string_view key, std::string& out) {
  if (out.empty() && !key.empty() && key[0] >= '0' && key[0] <= '9') out += '_';
  std::size_t start = out.size();
  out.resize(start + key.size());
  char* dst = out.data() + start;
  for (std::size_t i = 0; i < key.size(); ++i) {
    dst[i] = kNameCharacter[static_cast<unsigned char>(key[i])] ? key[i] : '_';
  }
}

// ---------------------------------------------------------------------------
// Stream matcher

namespace {

std::unique_ptr<RE2> compile_anchored(const std::string& pattern) {
  auto re = std::make_unique<RE2>("^(?:" + pattern + ")$", RE2::Quiet);
  return re;
}

bool match_value(MatchType type, const std::string& expected, const RE2* re,
                 std::string_view value) {
  switch (type) {
    case MatchType::equal: return value == expected;
    case MatchType::not_equal: return value != expected;
    case MatchType::regex:
      return re->ok() && RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re);
    case MatchType::not_regex:
      return !re->ok() || !RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re);
  }
  return false;
}

}  // namespace

struct StreamMatcher::Compiled {
  std::string name;
  MatchType type;
  std::string value;
  std::unique_ptr<RE2> re;
};

StreamMatcher::StreamMatcher(const std::vector<Matcher>& matchers) {
  matchers_.reserve(matchers.size());
  for (const auto& m : matchers) {
    Compiled compiled{m.name, m.type, m.value, nullptr};
    if (m.type == MatchType::regex || m.type == MatchType::not_regex) {
      compiled.re = compile_anchored(m.value);
    }
    matchers_.push_back(std::move(compiled));
  }
}

StreamMatcher::~StreamMatcher() = default;
StreamMatcher::StreamMatcher(StreamMatcher&&) noexcept = default;
StreamMatcher& StreamMatcher::operator=(StreamMatcher&&) noexcept = default;

bool StreamMatcher::matches(const Labels& labels) const {
  static const std::string kEmpty;
  for (const auto& m : matchers_) {
    const std::string* value = find_label(labels, m.name);
    if (!match_value(m.type, m.value, m.re.get(), value != nullptr ? *value : kEmpty)) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// LabelHints

LabelHints::LabelHints(std::vector<std::string> names) : names_(std::move(names)) {
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
  std::string_view suffix = "_extracted";
  for (const auto& name : names_) {
    suffixed_ = suffixed_ || (name.size() > suffix.size() &&
                              std::string_view(name).substr(name.size() - suffix.size()) == suffix);
  }
}

bool LabelHints::wants(std::string_view name) const {
  for (const auto& wanted : names_) {
    if (wanted == name) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// LabelsBuilder

void LabelsBuilder::reset(const Labels& stream, const Labels& metadata) {
  stream_ = &stream;
  count_ = 0;
  stream_done_ = 0;
  gathered_ = false;
  if (stream.size() > 64) gather();
  for (const auto& label : metadata) {
    if (!stream_has(label.first)) set(label.first, label.second);
  }
  changed_ = false;
}

std::size_t LabelsBuilder::stream_index(std::string_view name) const {
  if (gathered_ || stream_ == nullptr) return kNotFound;
  for (std::size_t i = 0; i < stream_->size(); ++i) {
    if ((*stream_)[i].first == name) {
      return (stream_done_ >> i & 1) != 0 ? kNotFound : i;
    }
  }
  return kNotFound;
}

void LabelsBuilder::gather() const {
  if (gathered_ || stream_ == nullptr) return;
  for (std::size_t i = 0; i < stream_->size(); ++i) {
    if (i < 64 && (stream_done_ >> i & 1) != 0) continue;
    append((*stream_)[i].first, (*stream_)[i].second);
  }
  gathered_ = true;
}

void LabelsBuilder::append(std::string_view name, std::string_view value) const {
  if (count_ == slots_.size()) slots_.emplace_back();
  slots_[count_].first.assign(name);
  slots_[count_].second.assign(value);
  ++count_;
}

const std::string* LabelsBuilder::get(std::string_view name) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (slots_[i].first == name) return &slots_[i].second;
  }
  std::size_t i = stream_index(name);
  return i == kNotFound ? nullptr : &(*stream_)[i].second;
}

void LabelsBuilder::set(std::string_view name, std::string_view value) {
  changed_ = true;
  for (std::size_t i = 0; i < count_; ++i) {
    if (slots_[i].first == name) {
      slots_[i].second.assign(value);
      return;
    }
  }
  std::size_t i = stream_index(name);
  if (i != kNotFound) stream_done_ |= 1ULL << i;
  append(name, value);
}

void LabelsBuilder::set_extracted(std::string_view key, std::string_view value,
                                  const LabelHints* hints) {
  if (prepare_extracted(key, hints)) set_prepared(value);
}

bool LabelsBuilder::prepare_extracted(std::string_view key, const LabelHints* hints,
                                      bool valid_name) {
  valid_name = valid_name || is_valid_label_name(key);
  // A valid key is its own name, or that name with "_extracted": without a
  // wanted name of either form there is nothing to set.
  if (valid_name && hints != nullptr && !hints->wants(key) && !hints->wants_suffixed()) {
    return false;
  }
  if (valid_name && !stream_has(key)) {
    prepared_ = key;  // the common case: the key is the name as it is
  } else {
    scratch_.clear();
    sanitize_label_name(key, scratch_);
    if (scratch_.empty()) return false;
    if (stream_has(scratch_)) scratch_ += "_extracted";
    prepared_ = scratch_;
  }
  return hints == nullptr || hints->wants(prepared_);
}

void LabelsBuilder::remove(std::string_view name) {
  for (std::size_t i = 0; i < count_; ++i) {
    if (slots_[i].first == name) {
      remove_at(i);
      return;
    }
  }
  std::size_t i = stream_index(name);
  if (i == kNotFound) return;
  changed_ = true;
  stream_done_ |= 1ULL << i;
}

void LabelsBuilder::remove_at(std::size_t i) {
  changed_ = true;
  --count_;
  if (i != count_) std::swap(slots_[i], slots_[count_]);
}

bool LabelsBuilder::stream_has(std::string_view name) const {
  for (const auto& label : *stream_) {
    if (label.first == name) return true;
  }
  return false;
}

bool LabelsBuilder::has_error() const {
  const std::string* error = get(kErrorLabel);
  return error != nullptr && !error->empty();
}

void LabelsBuilder::set_error(std::string_view error, std::string_view details) {
  set(kErrorLabel, error);
  if (!details.empty()) set(kErrorDetailsLabel, details);
}

void LabelsBuilder::finish() {
  gather();
  std::sort(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(count_),
            [](const Label& a, const Label& b) { return a.first < b.first; });
}

void LabelsBuilder::copy_to(Labels& out) const {
  gather();
  out.assign(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(count_));
}

std::size_t LabelsBuilder::hash() const {
  gather();
  std::size_t h = 0xcbf29ce484222325ULL;
  std::hash<std::string_view> hasher;
  for (std::size_t i = 0; i < count_; ++i) {
    h = (h ^ hasher(slots_[i].first)) * 0x100000001b3ULL;
    h = (h ^ hasher(slots_[i].second)) * 0x100000001b3ULL;
  }
  return h;
}

bool LabelsBuilder::equals(const Labels& labels) const {
  gather();
  if (labels.size() != count_) return false;
  for (std::size_t i = 0; i < count_; ++i) {
    if (labels[i] != slots_[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Label filters

class LabelPredicate {
public:
  virtual ~LabelPredicate() = default;
  virtual bool keep(LabelsBuilder& labels) const = 0;
};

namespace {

template <typename T>
bool compare(CompareOp op, T a, T b) {
  switch (op) {
    case CompareOp::equal: return a == b;
    case CompareOp::not_equal: return a != b;
    case CompareOp::greater: return a > b;
    case CompareOp::greater_equal: return a >= b;
    case CompareOp::less: return a < b;
    case CompareOp::less_equal: return a <= b;
  }
  return false;
}

bool parse_float(std::string_view text, double& out) {
  if (text.empty()) return false;
  if (text[0] == '+') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_go_duration(std::string_view text, std::int64_t& out_ns) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text == "0") {
    out_ns = 0;
    return true;
  }
  if (!parse_duration_literal(text, out_ns)) return false;
  if (negative) out_ns = -out_ns;
  return true;
}

class StringPredicate : public LabelPredicate {
public:
  explicit StringPredicate(const Matcher& m) : matcher_(m) {
    if (m.type == MatchType::regex || m.type == MatchType::not_regex) {
      re_ = compile_anchored(m.value);
    }
  }
  bool keep(LabelsBuilder& labels) const override {
    const std::string* value = labels.get(matcher_.name);
    return match_value(matcher_.type, matcher_.value, re_.get(),
                       value != nullptr ? std::string_view(*value) : std::string_view());
  }

private:
  Matcher matcher_;
  std::unique_ptr<RE2> re_;
};

/// Shared shape of the number, duration and bytes filters.
template <typename T, typename Parse>
class ValuePredicate : public LabelPredicate {
public:
  ValuePredicate(std::string name, CompareOp op, T value, Parse parse, const char* what)
      : name_(std::move(name)), op_(op), value_(value), parse_(parse), what_(what) {}

  bool keep(LabelsBuilder& labels) const override {
    if (labels.has_error()) return true;  // only string matchers filter errors out
    const std::string* text = labels.get(name_);
    if (text == nullptr) return false;
    T value{};
    if (!parse_(*text, value)) {
      labels.set_error("LabelFilterErr",
                       "cannot convert \"" + *text + "\" of label " + name_ + " to " + what_);
      return true;
    }
    return compare(op_, value, value_);
  }

private:
  std::string name_;
  CompareOp op_;
  T value_;
  Parse parse_;
  const char* what_;
};

template <typename T, typename Parse>
std::unique_ptr<LabelPredicate> make_value_predicate(std::string name, CompareOp op, T value,
                                                     Parse parse, const char* what) {
  return std::make_unique<ValuePredicate<T, Parse>>(std::move(name), op, value, parse, what);
}

/// name = ip("..."): like the converting filters, it lets entries that
/// already carry an error through, and drops entries without the label.
class IpPredicate : public LabelPredicate {
public:
  explicit IpPredicate(const IpLabelFilter& filter)
      : name_(filter.name), negated_(filter.negated) {
    std::string error;
    if (auto range = IpRange::parse(filter.range, error)) range_ = *range;
  }

  bool keep(LabelsBuilder& labels) const override {
    if (labels.has_error()) return true;
    const std::string* value = labels.get(name_);
    if (value == nullptr || !range_) return false;
    return range_->contains(*value) != negated_;
  }

private:
  std::string name_;
  bool negated_;
  std::optional<IpRange> range_;
};

class BinaryPredicate : public LabelPredicate {
public:
  BinaryPredicate(bool is_and, std::unique_ptr<LabelPredicate> left,
                  std::unique_ptr<LabelPredicate> right)
      : is_and_(is_and), left_(std::move(left)), right_(std::move(right)) {}

  bool keep(LabelsBuilder& labels) const override {
    bool left = left_->keep(labels);
    if (!is_and_ && left) return true;
    bool right = right_->keep(labels);
    return is_and_ ? left && right : right;
  }

private:
  bool is_and_;
  std::unique_ptr<LabelPredicate> left_;
  std::unique_ptr<LabelPredicate> right_;
};

std::unique_ptr<LabelPredicate> compile_predicate(const LabelFilterExpr& expr) {
  if (const auto* s = std::get_if<StringLabelFilter>(&expr)) {
    return std::make_unique<StringPredicate>(s->matcher);
  }
  if (const auto* n = std::get_if<NumberLabelFilter>(&expr)) {
    return make_value_predicate(n->name, n->op, n->value, &parse_float, "a number");
  }
  if (const auto* d = std::get_if<DurationLabelFilter>(&expr)) {
    return make_value_predicate(d->name, d->op, d->value_ns, &parse_go_duration, "a duration");
  }
  if (const auto* b = std::get_if<BytesLabelFilter>(&expr)) {
    auto parse = [](std::string_view text, std::uint64_t& out) {
      return parse_bytes_literal(text, out);
    };
    return make_value_predicate(b->name, b->op, b->value, parse, "a byte size");
  }
  if (const auto* ip = std::get_if<IpLabelFilter>(&expr)) {
    return std::make_unique<IpPredicate>(*ip);
  }
  const auto& binary = *std::get<Box<LabelFilterBinary>>(expr);
  return std::make_unique<BinaryPredicate>(binary.is_and, compile_predicate(binary.left),
                                           compile_predicate(binary.right));
}

}  // namespace

CompiledLabelFilter::CompiledLabelFilter(const LabelFilterExpr& expr)
    : root_(compile_predicate(expr)) {}
CompiledLabelFilter::~CompiledLabelFilter() = default;
CompiledLabelFilter::CompiledLabelFilter(CompiledLabelFilter&&) noexcept = default;
CompiledLabelFilter& CompiledLabelFilter::operator=(CompiledLabelFilter&&) noexcept = default;

bool CompiledLabelFilter::keep(LabelsBuilder& labels) const { return root_->keep(labels); }

void add_label_filter_names(const LabelFilterExpr& expr, std::vector<std::string>& names) {
  std::visit(
      [&names](const auto& filter) {
        using T = std::decay_t<decltype(filter)>;
        if constexpr (std::is_same_v<T, StringLabelFilter>) {
          names.push_back(filter.matcher.name);
        } else if constexpr (std::is_same_v<T, Box<LabelFilterBinary>>) {
          add_label_filter_names(filter->left, names);
          add_label_filter_names(filter->right, names);
        } else {
          names.push_back(filter.name);
        }
      },
      expr);
}

bool convert_unwrap_value(std::string_view value, UnwrapConversion conversion, double& out,
                          std::string& error) {
  switch (conversion) {
    case UnwrapConversion::none:
      if (parse_float(value, out)) return true;
      error = "cannot parse \"" + std::string(value) + "\" as a number";
      return false;
    case UnwrapConversion::bytes: {
      std::uint64_t bytes = 0;
      if (parse_bytes_literal(value, bytes)) {
        out = static_cast<double>(bytes);
        return true;
      }
      error = "cannot parse \"" + std::string(value) + "\" as a byte size";
      return false;
    }
    case UnwrapConversion::duration:
    case UnwrapConversion::duration_seconds: {
      std::int64_t ns = 0;
      if (parse_go_duration(value, ns)) {
        out = static_cast<double>(ns) / 1e9;
        return true;
      }
      error = "cannot parse \"" + std::string(value) + "\" as a duration";
      return false;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Stages

class StageRunner {
public:
  virtual ~StageRunner() = default;

  /// Runs on the current entry of `p`; false drops the entry.
  virtual bool process(LogPipeline& p) = 0;

protected:
  static std::string_view line(const LogPipeline& p) { return p.line_; }
  static std::int64_t timestamp(const LogPipeline& p) { return p.timestamp_ns_; }
  static LabelsBuilder& labels(LogPipeline& p) { return p.labels_; }

  /// Replaces the line with `text`; `text` may alias nothing in the pipeline.
  static void replace_line(LogPipeline& p, std::string& text) {
    p.line_buffer_.swap(text);
    p.line_ = p.line_buffer_;
  }
};

namespace {

class LineFilterStage : public StageRunner {
public:
  explicit LineFilterStage(const LineFilter& filter)
      : op_(filter.op),
        contains_(filter.op == LineFilterOp::contains),
        literal_(!filter.ip && filter.values.size() == 1 &&
                 (filter.op == LineFilterOp::contains || filter.op == LineFilterOp::not_contains)) {
    for (const auto& value : filter.values) {
      if (filter.ip) {
        std::string error;
        if (auto range = IpRange::parse(value, error)) ranges_.push_back(*range);
        continue;
      }
      if (op_ == LineFilterOp::contains || op_ == LineFilterOp::not_contains) {
        finders_.emplace_back(value);
      } else if (op_ == LineFilterOp::regex || op_ == LineFilterOp::not_regex) {
        regexes_.push_back(std::make_unique<RE2>(value, RE2::Quiet));
      } else if (op_ == LineFilterOp::pattern || op_ == LineFilterOp::not_pattern) {
        std::string error;
        if (auto pattern = Pattern::compile(value, false, error)) patterns_.push_back(*pattern);
      }
    }
  }

  bool process(LogPipeline& p) override {
    std::string_view text = line(p);
    if (literal_) return (finders_[0].find(text) != LiteralFinder::npos) == contains_;
    bool any = false;
    if (!ranges_.empty()) {
      for (const auto& range : ranges_) any = any || range.matches_line(text);
      return op_ == LineFilterOp::contains ? any : !any;
    }
    switch (op_) {
      case LineFilterOp::contains:
      case LineFilterOp::not_contains:
        for (const auto& finder : finders_) any = any || finder.find(text) != LiteralFinder::npos;
        return op_ == LineFilterOp::contains ? any : !any;
      case LineFilterOp::regex:
      case LineFilterOp::not_regex: {
        re2::StringPiece piece(text.data(), text.size());
        for (const auto& re : regexes_) any = any || RE2::PartialMatch(piece, *re);
        return op_ == LineFilterOp::regex ? any : !any;
      }
      case LineFilterOp::pattern:
      case LineFilterOp::not_pattern:
        for (const auto& pattern : patterns_) any = any || pattern.matches(text);
        return op_ == LineFilterOp::pattern ? any : !any;
    }
    return true;
  }

private:
  LineFilterOp op_;
  bool contains_;  ///< |= rather than !=
  bool literal_;   ///< one literal to look for: the common case, checked first
  std::vector<LiteralFinder> finders_;  ///< for |= and !=
  std::vector<std::unique_ptr<RE2>> regexes_;
  std::vector<Pattern> patterns_;
  std::vector<IpRange> ranges_;
};

class JsonStage : public StageRunner {
public:
  JsonStage(const JsonParser& parser, const LabelHints* hints) : hints_(hints) {
    for (const auto& extraction : parser.extractions) {
      Extraction compiled;
      compiled.name = extraction.name;
      parse_json_path(extraction.expression, compiled.path);
      extractions_.push_back(std::move(compiled));
    }
    sink_ = [this](std::string_view key, std::string_view value) {
      // The key is already sanitised: its label is the key, or the key with
      // "_extracted" on a clash with a stream label.
      if (hints_ != nullptr && !hints_->wants(key) && !hints_->wants_suffixed()) return;
      if (current_->stream_has(key)) {
        key_ = key;
        key_ += "_extracted";
        if (hints_ == nullptr || hints_->wants(key_)) current_->set(key_, value);
      } else if (hints_ == nullptr || hints_->wants(key)) {
        current_->set(key, value);
      }
    };
  }

  bool process(LogPipeline& p) override {
    LabelsBuilder& lbs = labels(p);
    if (extractions_.empty()) {
      current_ = &lbs;
      if (!json_flatten(line(p), sink_, error_)) lbs.set_error("JSONParserErr", error_);
      return true;
    }
    if (!json_valid(line(p), error_)) {
      lbs.set_error("JSONParserErr", error_);
      return true;
    }
    for (const auto& extraction : extractions_) {
      if (extraction.path.empty() || !lbs.prepare_extracted(extraction.name, hints_)) continue;
      if (json_extract(line(p), extraction.path, value_)) lbs.set_prepared(value_);
    }
    return true;
  }

private:
  struct Extraction {
    std::string name;
    std::vector<JsonPathStep> path;
  };
  const LabelHints* hints_;
  std::vector<Extraction> extractions_;
  JsonFieldSink sink_;
  LabelsBuilder* current_ = nullptr;
  std::string key_;
  std::string value_;
  std::string error_;
};

/// Character classes of the logfmt scanner, one table lookup a byte.
enum LogfmtClass : unsigned char {
  kSpace = 1,  ///< ' ' and every control character below it
  kEquals = 2,
  kQuote = 4,
};

constexpr std::array<unsigned char, 256> logfmt_classes() {
  std::array<unsigned char, 256> table{};
  for (int c = 0; c <= ' '; ++c) table[c] = kSpace;
  table['='] = kEquals;
  table['"'] = kQuote;
  return table;
}

constexpr std::array<unsigned char, 256> kClass = logfmt_classes();

// The logfmt scanner spends its time looking for the byte that ends a key or a
// value. These find it sixteen bytes at a time where SSE2 is there (always on
// x86-64), and a byte at a time in the last sixteen bytes of a line.

/// The first position from `i` whose byte is a space or control character (up
/// to ' '), or when `key_or_value` also '=' or '"'; `text.size()` if none is.
std::size_t logfmt_find(std::string_view text, std::size_t i, bool key_or_value) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(' ');
  const __m128i equals = _mm_set1_epi8('=');
  const __m128i quote = _mm_set1_epi8('"');
  for (; i + 16 <= n; i += 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i));
    // Unsigned x <= ' ' exactly when max(x, ' ') == ' '.
    __m128i hits = _mm_cmpeq_epi8(_mm_max_epu8(chunk, space), space);
    if (key_or_value) {
      hits = _mm_or_si128(hits, _mm_or_si128(_mm_cmpeq_epi8(chunk, equals),
                                             _mm_cmpeq_epi8(chunk, quote)));
    }
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(hits));
    if (mask != 0) return i + static_cast<std::size_t>(std::countr_zero(mask));
  }
#endif
  const unsigned char stops = key_or_value ? (kSpace | kEquals | kQuote) : kSpace;
  while (i < n && (kClass[bytes[i]] & stops) == 0) ++i;
  return i;
}

/// The first position from `i` holding '"' or '\\', or `text.size()`.
std::size_t logfmt_find_quote_or_escape(std::string_view text, std::size_t i) {
  const std::size_t n = text.size();
#if defined(__SSE2__)
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  for (; i + 16 <= n; i += 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash))));
    if (mask != 0) return i + static_cast<std::size_t>(std::countr_zero(mask));
  }
#endif
  while (i < n && text[i] != '"' && text[i] != '\\') ++i;
  return i;
}

class LogfmtStage : public StageRunner {
public:
  LogfmtStage(const LogfmtParser& parser, const LabelHints* hints)
      : strict_(parser.strict),
        keep_empty_(parser.keep_empty),
        extractions_(parser.extractions),
        hints_(hints) {
    // With hints, and neither --strict nor --keep-empty nor extraction, the parser can look
    // for the wanted keys instead of reading every key of the line: in that mode it never
    // fails, and an empty value sets nothing. Only a wanted name without '_' is the name of
    // exactly one key (sanitising turns other characters into '_'), so only such names are
    // looked for directly. The error labels, always wanted, are the exception: lines with a
    // key that could be named like them are read key by key (see may_name_error_label).
    searchable_ = hints_ != nullptr && !strict_ && !keep_empty_ && extractions_.empty();
    if (searchable_) {
      for (const auto& name : hints_->names()) {
        if (name == kErrorLabel || name == kErrorDetailsLabel) continue;
        if (!is_valid_label_name(name) || name.find('_') != std::string::npos) {
          searchable_ = false;
          break;
        }
        wanted_.push_back(Wanted{name, LiteralFinder(name + "="), {}, false});
      }
    }
  }

  bool process(LogPipeline& p) override {
    LabelsBuilder& lbs = labels(p);
    std::string_view text = line(p);
    if (searchable_ && search_wanted(lbs, text)) return true;
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && (kClass[bytes[i]] & kSpace) != 0) ++i;
      if (i >= text.size()) break;
      const std::size_t key_start = i;
      i = logfmt_find(text, i, true);
      std::string_view key = text.substr(key_start, i - key_start);
      if (key.empty()) {
        if (!syntax_error(lbs, text, i)) return true;
        continue;
      }
      std::string_view value;
      if (i < text.size() && text[i] == '=') {
        ++i;
        if (!read_value(text, i, value)) {
          if (!syntax_error(lbs, text, i)) return true;
          continue;
        }
      } else if (i < text.size() && text[i] == '"') {
        if (!syntax_error(lbs, text, i)) return true;
        continue;
      }
      if (value.empty() && !keep_empty_) continue;
      emit(lbs, key, value);
    }
    return true;
  }

private:
  /// Sets the wanted labels from the line without reading every key, when that
  /// gives what reading every key would; returns false, having changed
  /// nothing, when it cannot tell. Before the line's first '"', a key begins
  /// exactly after a space or control character (or at the start), since
  /// every token ends at one, whether it is read or skipped as bad. So an
  /// occurrence of `name=` there is the key `name`; one after a quote may sit
  /// inside a quoted value, and then the line is read key by key.
  bool search_wanted(LabelsBuilder& lbs, std::string_view text) {
    if (may_name_error_label(text)) return false;
    const std::size_t quote = text.find('"');
    for (auto& wanted : wanted_) {
      wanted.found = false;
      // A stream label of that name makes the key `name_extracted`, which is not wanted.
      if (lbs.stream_has(wanted.name)) continue;
      for (std::size_t at = wanted.key_equals.find(text); at != LiteralFinder::npos;
           at = wanted.key_equals.find(text, at + 1)) {
        if (quote != std::string_view::npos && at > quote) return false;
        if (at > 0 && (kClass[static_cast<unsigned char>(text[at - 1])] & kSpace) == 0) {
          continue;  // the end of a longer key or of a value
        }
        // The last key of a name wins, as each sets the label in turn; an empty value or a
        // bad one sets nothing. Only a value that begins at the line's first quote can be
        // quoted, so at most one is decoded into value_.
        std::size_t i = at + wanted.name.size() + 1;
        std::string_view value;
        if (read_value(text, i, value) && !value.empty()) {
          wanted.value = value;
          wanted.found = true;
        }
      }
    }
    for (const auto& wanted : wanted_) {
      if (!wanted.found) continue;
      lbs.set(wanted.name, wanted.value);
    }
    return true;
  }

  /// Whether the line may hold a key that sanitises to __error__ or
  /// __error_details__: "error" with two bytes other than letters and digits
  /// before it and one after it, as both names have.
  bool may_name_error_label(std::string_view text) const {
    auto alnum = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    for (std::size_t at = error_.find(text, 2); at != LiteralFinder::npos;
         at = error_.find(text, at + 1)) {
      if (!alnum(text[at - 2]) && !alnum(text[at - 1]) && at + 5 < text.size() &&
          !alnum(text[at + 5])) {
        return true;
      }
    }
    return false;
  }

  // Reads a bare or quoted value at i. Values without escapes are views of the
  // line; only a quoted value with escapes is decoded, into value_.
  bool read_value(std::string_view text, std::size_t& i, std::string_view& value) {
    if (i < text.size() && text[i] == '"') {
      const std::size_t start = ++i;
      bool escaped = false;
      for (;;) {
        i = logfmt_find_quote_or_escape(text, i);
        if (i >= text.size()) return false;  // no closing quote
        if (text[i] == '"') break;
        // A backslash takes the byte after it, whatever it is; one at the very end
        // leaves the quote unclosed.
        if (i + 1 >= text.size()) {
          i = text.size();
          return false;
        }
        escaped = true;
        i += 2;
      }
      value = text.substr(start, i - start);
      ++i;
      if (escaped) value = unescape(value);
      return true;
    }
    const std::size_t start = i;
    i = logfmt_find(text, i, true);
    if (i < text.size() && (kClass[static_cast<unsigned char>(text[i])] & kSpace) == 0) {
      return false;
    }
    value = text.substr(start, i - start);
    return true;
  }

  std::string_view unescape(std::string_view quoted) {
    value_.clear();
    for (std::size_t i = 0; i < quoted.size(); ++i) {
      char c = quoted[i];
      if (c == '\\' && i + 1 < quoted.size()) {
        char e = quoted[++i];
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      }
      value_ += c;
    }
    return value_;
  }

  // Strict mode stops with an error; otherwise the bad token is skipped.
  bool syntax_error(LabelsBuilder& lbs, std::string_view text, std::size_t& i) {
    if (strict_) {
      lbs.set_error("LogfmtParserErr", "logfmt syntax error at pos " + std::to_string(i + 1) +
                                           ": unexpected '" +
                                           std::string(1, i < text.size() ? text[i] : ' ') + "'");
      return false;
    }
    i = logfmt_find(text, i, false);
    return true;
  }

  void emit(LabelsBuilder& lbs, std::string_view key, std::string_view value) {
    if (extractions_.empty()) {
      if (lbs.prepare_extracted(key, hints_)) lbs.set_prepared(value);
      return;
    }
    for (const auto& extraction : extractions_) {
      if (extraction.expression == key) lbs.set_extracted(extraction.name, value, hints_);
    }
  }

  /// A wanted label the parser looks for directly, and what one line gave for it.
  struct Wanted {
    std::string name;
    LiteralFinder key_equals;  ///< finds the name followed by '='
    std::string_view value;
    bool found = false;
  };

  bool strict_;
  bool keep_empty_;
  std::vector<LabelExtraction> extractions_;
  const LabelHints* hints_;
  bool searchable_ = false;
  std::vector<Wanted> wanted_;
  LiteralFinder error_{"error"};
  std::string value_;
};

class RegexpStage : public StageRunner {
public:
  RegexpStage(const RegexpParser& parser, const LabelHints* hints)
      : re_(parser.pattern, RE2::Quiet), hints_(hints) {
    groups_.resize(static_cast<std::size_t>(re_.NumberOfCapturingGroups() + 1));
    for (const auto& [name, index] : re_.NamedCapturingGroups()) names_.emplace_back(index, name);
  }

  bool process(LogPipeline& p) override {
    std::string_view text = line(p);
    re2::StringPiece piece(text.data(), text.size());
    if (!re_.Match(piece, 0, text.size(), RE2::UNANCHORED, groups_.data(),
                   static_cast<int>(groups_.size()))) {
      return true;
    }
    for (const auto& [index, name] : names_) {
      const auto& group = groups_[static_cast<std::size_t>(index)];
      if (group.data() == nullptr) continue;
      labels(p).set_extracted(name, std::string_view(group.data(), group.size()), hints_);
    }
    return true;
  }

private:
  RE2 re_;
  const LabelHints* hints_;
  std::vector<re2::StringPiece> groups_;
  std::vector<std::pair<int, std::string>> names_;
};

class PatternStage : public StageRunner {
public:
  PatternStage(const PatternParser& parser, const LabelHints* hints) : hints_(hints) {
    std::string error;
    if (auto pattern = Pattern::compile(parser.pattern, true, error)) pattern_ = *pattern;
  }

  bool process(LogPipeline& p) override {
    if (!pattern_) return true;
    LabelsBuilder& lbs = labels(p);
    pattern_->match(line(p), [&lbs, this](std::string_view name, std::string_view value) {
      lbs.set_extracted(name, value, hints_);
    });
    return true;
  }

private:
  std::optional<Pattern> pattern_;
  const LabelHints* hints_;
};

class UnpackStage : public StageRunner {
public:
  explicit UnpackStage(const LabelHints* hints) : hints_(hints) {
    sink_ = [this](std::string_view key, std::string_view value) {
      if (key == "_entry") {
        entry_.assign(value);
        has_entry_ = true;
      } else {
        current_->set_extracted(key, value, hints_);
      }
    };
  }

  bool process(LogPipeline& p) override {
    current_ = &labels(p);
    has_entry_ = false;
    if (!json_string_members(line(p), sink_, error_)) {
      current_->set_error("JSONParserErr", error_);
      return true;
    }
    if (has_entry_) replace_line(p, entry_);
    return true;
  }

private:
  const LabelHints* hints_;
  JsonFieldSink sink_;
  LabelsBuilder* current_ = nullptr;
  std::string entry_;
  bool has_entry_ = false;
  std::string error_;
};

class BuilderTemplateData : public TemplateData {
public:
  BuilderTemplateData(const LabelsBuilder& labels, std::string_view line, std::int64_t ts)
      : labels_(labels), line_(line), ts_(ts) {}
  const std::string* label(std::string_view name) const override { return labels_.get(name); }
  std::string_view line() const override { return line_; }
  std::int64_t timestamp_ns() const override { return ts_; }
  void each_label(
      const std::function<void(std::string_view, std::string_view)>& visit) const override {
    for (std::size_t i = 0; i < labels_.size(); ++i) {
      visit(labels_.at(i).first, labels_.at(i).second);
    }
  }

private:
  const LabelsBuilder& labels_;
  std::string_view line_;
  std::int64_t ts_;
};

class LabelFilterStage : public StageRunner {
public:
  explicit LabelFilterStage(const LabelFilterExpr& expr) : filter_(expr) {}
  bool process(LogPipeline& p) override { return filter_.keep(labels(p)); }

private:
  CompiledLabelFilter filter_;
};

class LineFormatStage : public StageRunner {
public:
  explicit LineFormatStage(const LineFormat& format) {
    std::string error;
    template_ = Template::compile(format.template_text, error);
  }

  bool process(LogPipeline& p) override {
    if (!template_) return true;
    BuilderTemplateData data(labels(p), line(p), timestamp(p));
    if (!template_->render(data, output_, error_)) {
      labels(p).set_error("TemplateFormatErr", error_);
      return true;
    }
    replace_line(p, output_);
    return true;
  }

private:
  std::shared_ptr<const Template> template_;
  std::string output_;
  std::string error_;
};

class LabelFormatStage : public StageRunner {
public:
  explicit LabelFormatStage(const LabelFormat& format) {
    for (const auto& item : format.items) {
      Item compiled{item.name, item.value, nullptr};
      if (item.is_template) {
        std::string error;
        compiled.template_ = Template::compile(item.value, error);
      }
      items_.push_back(std::move(compiled));
    }
  }

  bool process(LogPipeline& p) override {
    LabelsBuilder& lbs = labels(p);
    for (const auto& item : items_) {
      if (item.template_ == nullptr) {
        const std::string* source = lbs.get(item.source);
        if (source == nullptr) continue;
        value_ = *source;
        lbs.remove(item.source);
        lbs.set(item.name, value_);
        continue;
      }
      BuilderTemplateData data(lbs, line(p), timestamp(p));
      if (!item.template_->render(data, value_, error_)) {
        lbs.set_error("TemplateFormatErr", error_);
        continue;
      }
      lbs.set(item.name, value_);
    }
    return true;
  }

private:
  struct Item {
    std::string name;
    std::string source;
    std::shared_ptr<const Template> template_;
  };
  std::vector<Item> items_;
  std::string value_;
  std::string error_;
};

struct SelectItem {
  std::string name;
  std::optional<MatchType> type;
  std::string value;
  std::unique_ptr<RE2> re;

  bool selects(std::string_view label, std::string_view label_value) const {
    if (label != name) return false;
    return !type || match_value(*type, value, re.get(), label_value);
  }
};

std::vector<SelectItem> compile_select(const std::vector<LabelSelectItem>& items) {
  std::vector<SelectItem> out;
  for (const auto& item : items) {
    SelectItem compiled{item.name, item.type, item.value, nullptr};
    if (item.type && (*item.type == MatchType::regex || *item.type == MatchType::not_regex)) {
      compiled.re = compile_anchored(item.value);
    }
    out.push_back(std::move(compiled));
  }
  return out;
}

class DropStage : public StageRunner {
public:
  explicit DropStage(const Drop& drop) : items_(compile_select(drop.items)) {}
  bool process(LogPipeline& p) override {
    labels(p).retain([this](const std::string& name, const std::string& value) {
      for (const auto& item : items_) {
        if (item.selects(name, value)) return false;
      }
      return true;
    });
    return true;
  }

private:
  std::vector<SelectItem> items_;
};

class KeepStage : public StageRunner {
public:
  explicit KeepStage(const Keep& keep) : items_(compile_select(keep.items)) {}
  bool process(LogPipeline& p) override {
    labels(p).retain([this](const std::string& name, const std::string& value) {
      // keep never removes the error labels: only drop or a filter can.
      if (name == kErrorLabel || name == kErrorDetailsLabel) return true;
      for (const auto& item : items_) {
        if (item.selects(name, value)) return true;
      }
      return false;
    });
    return true;
  }

private:
  std::vector<SelectItem> items_;
};

class DecolorizeStage : public StageRunner {
public:
  bool process(LogPipeline& p) override {
    std::string_view text = line(p);
    if (text.find('\x1b') == std::string_view::npos) return true;
    output_.clear();
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '\x1b' || i + 1 >= text.size() || text[i + 1] != '[') {
        output_ += text[i];
        continue;
      }
      // CSI: ESC [ parameters (0x30-0x3F)* intermediates (0x20-0x2F)* final (0x40-0x7E)
      std::size_t j = i + 2;
      while (j < text.size() && text[j] >= 0x30 && text[j] <= 0x3F) ++j;
      while (j < text.size() && text[j] >= 0x20 && text[j] <= 0x2F) ++j;
      if (j < text.size() && text[j] >= 0x40 && text[j] <= 0x7E) {
        i = j;
      } else {
        output_ += text[i];
      }
    }
    replace_line(p, output_);
    return true;
  }

private:
  std::string output_;
};

struct StageFactory {
  const LabelHints* hints;  ///< for a parser: what it extracts, nullptr for all

  std::unique_ptr<StageRunner> operator()(const LineFilter& s) {
    return std::make_unique<LineFilterStage>(s);
  }
  std::unique_ptr<StageRunner> operator()(const JsonParser& s) {
    return std::make_unique<JsonStage>(s, hints);
  }
  std::unique_ptr<StageRunner> operator()(const LogfmtParser& s) {
    return std::make_unique<LogfmtStage>(s, hints);
  }
  std::unique_ptr<StageRunner> operator()(const RegexpParser& s) {
    return std::make_unique<RegexpStage>(s, hints);
  }
  std::unique_ptr<StageRunner> operator()(const PatternParser& s) {
    return std::make_unique<PatternStage>(s, hints);
  }
  std::unique_ptr<StageRunner> operator()(const UnpackParser&) {
    return std::make_unique<UnpackStage>(hints);
  }
  std::unique_ptr<StageRunner> operator()(const LabelFilter& s) {
    return std::make_unique<LabelFilterStage>(s.expr);
  }
  std::unique_ptr<StageRunner> operator()(const LineFormat& s) {
    return std::make_unique<LineFormatStage>(s);
  }
  std::unique_ptr<StageRunner> operator()(const LabelFormat& s) {
    return std::make_unique<LabelFormatStage>(s);
  }
  std::unique_ptr<StageRunner> operator()(const Drop& s) { return std::make_unique<DropStage>(s); }
  std::unique_ptr<StageRunner> operator()(const Keep& s) { return std::make_unique<KeepStage>(s); }
  std::unique_ptr<StageRunner> operator()(const Decolorize&) {
    return std::make_unique<DecolorizeStage>();
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// LogPipeline

namespace {

bool is_parser(const Stage& stage) {
  return std::holds_alternative<JsonParser>(stage) || std::holds_alternative<LogfmtParser>(stage) ||
         std::holds_alternative<RegexpParser>(stage) ||
         std::holds_alternative<PatternParser>(stage) ||
         std::holds_alternative<UnpackParser>(stage);
}

/// Adds the labels `stage` reads to `wanted`; resets it when the stage may
/// read any label (a template can range over all of them).
void add_read_labels(const Stage& stage, std::optional<std::vector<std::string>>& wanted) {
  if (const auto* filter = std::get_if<LabelFilter>(&stage)) {
    add_label_filter_names(filter->expr, *wanted);
  } else if (std::holds_alternative<LineFormat>(stage)) {
    wanted.reset();
  } else if (const auto* format = std::get_if<LabelFormat>(&stage)) {
    for (const auto& item : format->items) {
      if (item.is_template) {
        wanted.reset();
        return;
      }
      wanted->push_back(item.value);
    }
  } else if (const auto* drop = std::get_if<Drop>(&stage)) {
    for (const auto& item : drop->items) wanted->push_back(item.name);
  } else if (const auto* keep = std::get_if<Keep>(&stage)) {
    for (const auto& item : keep->items) wanted->push_back(item.name);
  }
}

}  // namespace

LogPipeline::LogPipeline(const LogExpr& log,
                         const std::optional<std::vector<std::string>>& needed) {
  // Walk back from the end: what each stage's successors read is what a
  // parser before them has to extract, plus the error labels, which a parser
  // always sets.
  std::vector<const LabelHints*> stage_hints(log.pipeline.size(), nullptr);
  std::optional<std::vector<std::string>> wanted = needed;
  for (std::size_t i = log.pipeline.size(); i-- > 0 && wanted;) {
    if (!is_parser(log.pipeline[i])) {
      add_read_labels(log.pipeline[i], wanted);
      continue;
    }
    std::vector<std::string> names = *wanted;
    names.emplace_back(kErrorLabel);
    names.emplace_back(kErrorDetailsLabel);
    hints_.push_back(std::make_unique<LabelHints>(std::move(names)));
    stage_hints[i] = hints_.back().get();
  }

  bool line_rewritten = false;
  bool only_line_filters = true;
  for (std::size_t i = 0; i < log.pipeline.size(); ++i) {
    const Stage& stage = log.pipeline[i];
    stages_.push_back(std::visit(StageFactory{stage_hints[i]}, stage));
    only_line_filters = only_line_filters && std::holds_alternative<LineFilter>(stage);
    if (only_line_filters) leading_line_filters_ = stages_.size();
    if (const auto* filter = std::get_if<LineFilter>(&stage)) {
      if (!line_rewritten && !filter->ip && filter->op == LineFilterOp::contains &&
          filter->values.size() == 1 &&
          !filter->values[0].empty()) {
        required_literals_.push_back(filter->values[0]);
      }
      continue;
    }
    may_change_labels_ = true;
    if (std::holds_alternative<LineFormat>(stage) || std::holds_alternative<UnpackParser>(stage) ||
        std::holds_alternative<Decolorize>(stage)) {
      line_rewritten = true;
    }
  }
}

LogPipeline::~LogPipeline() = default;
LogPipeline::LogPipeline(LogPipeline&&) noexcept = default;
LogPipeline& LogPipeline::operator=(LogPipeline&&) noexcept = default;

bool LogPipeline::process(const Labels& stream_labels, const LogEntry& entry) {
  line_ = entry.line;
  timestamp_ns_ = entry.timestamp_ns;
  for (std::size_t i = 0; i < leading_line_filters_; ++i) {
    if (!stages_[i]->process(*this)) return false;
  }
  labels_.reset(stream_labels, entry.metadata);
  for (std::size_t i = leading_line_filters_; i < stages_.size(); ++i) {
    if (!stages_[i]->process(*this)) return false;
  }
  return true;
}

std::vector<std::string> LogPipeline::required_literals() const { return required_literals_; }

}  // namespace lognurse::logql
