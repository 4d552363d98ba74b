#include "lognurse/logql/evaluator.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <re2/re2.h>

#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/lexer.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/pipeline.hpp"
#include "lognurse/logql/printer.hpp"

namespace lognurse::logql {
namespace {

using Clock = std::chrono::steady_clock;

Error timeout_error(double seconds) {
  Error error;
  error.kind = ErrorKind::timeout;
  error.code = "logql.timeout";
  error.message = "the query ran longer than the timeout of " + format_number(seconds) +
                  "s (limit timeout_seconds); narrow the time range or make the selector more "
                  "specific";
  return error;
}

Error max_series_error(std::size_t limit) {
  return limit_exceeded("logql.max_series",
                        "the query produces more than " + std::to_string(limit) +
                            " series (limit max_series); aggregate with sum by (...) or make the "
                            "selector more specific");
}

/// State shared by every scan of one query: limits, the clock, statistics.
class Execution {
public:
  explicit Execution(const Limits& limits) : limits_(limits), started_(Clock::now()) {}

  /// The state of one shard of a sharded scan: the same limits, clock and source, its own
  /// counts.
  Execution(const Execution& parent, Clock::time_point started)
      : limits_(parent.limits_), started_(started), stable_streams_(parent.stable_streams_) {}

  /// Whether the source's Labels objects identify streams by address
  /// (EntrySource::stable_stream_labels).
  void set_stable_streams(bool stable) { stable_streams_ = stable; }

  Clock::time_point started() const { return started_; }

  /// Takes in what a shard's execution counted and whether it ran out of time; a stream
  /// counts once however many shards or scans saw it.
  void absorb(const Execution& shard) {
    stats_.lines_scanned += shard.stats_.lines_scanned;
    stats_.bytes_scanned += shard.stats_.bytes_scanned;
    for (const auto& [hash, bucket] : shard.streams_) {
      for (const auto& stream : bucket) known_stream(stream);
    }
    expired_ = expired_ || shard.expired_;
  }

  /// Whether the time budget is spent; checked every few thousand entries.
  bool timed_out() {
    if (++ticks_ % 1024 != 0) return expired_;
    expired_ = elapsed() > limits_.timeout_seconds;
    return expired_;
  }
  bool expired() const { return expired_; }
  double elapsed() const {
    return std::chrono::duration<double>(Clock::now() - started_).count();
  }

  void count_entry(const Labels& stream, std::size_t line_bytes) {
    stats_.lines_scanned++;
    stats_.bytes_scanned += line_bytes;
    // Sources usually hand out one Labels object per stream, so the object's
    // address finds a stream seen recently in a few comparisons even when
    // streams interleave entry by entry. Unless the source says its objects
    // are stable, the labels are still compared: a source may reuse one object
    // for several streams, or build one per entry.
    for (const auto& seen : recent_) {
      if (seen.address == &stream && (stable_streams_ || same_labels(*seen.labels, stream))) {
        return;
      }
    }
    recent_[next_recent_] = {&stream, &known_stream(stream)};
    next_recent_ = (next_recent_ + 1) % recent_.size();
  }

  static bool same_labels(const Labels& a, const Labels& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same_text(a[i].first, b[i].first) || !same_text(a[i].second, b[i].second)) {
        return false;
      }
    }
    return true;
  }

  /// String equality that the compiler inlines: label names and values are
  /// short, and a call to memcmp per string would cost more than comparing.
  static bool same_text(const std::string& a, const std::string& b) {
    std::size_t n = a.size();
    if (n != b.size()) return false;
    const char* x = a.data();
    const char* y = b.data();
    if (n < 8) {
      for (std::size_t i = 0; i < n; ++i) {
        if (x[i] != y[i]) return false;
      }
      return true;
    }
    // Eight bytes at a time, the last word overlapping the one before.
    for (std::size_t i = 0;; i += 8) {
      std::size_t at = i + 8 <= n ? i : n - 8;
      std::uint64_t u = 0;
      std::uint64_t v = 0;
      std::memcpy(&u, x + at, 8);
      std::memcpy(&v, y + at, 8);
      if (u != v) return false;
      if (at + 8 >= n) return true;
    }
  }

  /// The stored copy of `stream`, added (and counted) on first sight; found
  /// by a hash of the labels rather than by rendering them.
  const Labels& known_stream(const Labels& stream) {
    std::size_t hash = 14695981039346656037ULL;
    for (const auto& [name, value] : stream) {
      for (char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
      hash = (hash ^ 0xFF) * 1099511628211ULL;
      for (char c : value) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
      hash = (hash ^ 0xFE) * 1099511628211ULL;
    }
    auto& bucket = streams_[hash];
    auto known = std::find(bucket.begin(), bucket.end(), stream);
    if (known != bucket.end()) return *known;
    // A deque's elements never move, so the cache may keep pointers to them.
    bucket.push_back(stream);
    stats_.streams_matched++;
    return bucket.back();
  }

  QueryStats finish_stats() {
    stats_.exec_seconds = elapsed();
    return stats_;
  }

  const Limits& limits() const { return limits_; }

private:
  const Limits& limits_;
  Clock::time_point started_;
  bool stable_streams_ = false;
  std::uint64_t ticks_ = 0;
  bool expired_ = false;
  QueryStats stats_;
  std::unordered_map<std::size_t, std::deque<Labels>> streams_;  ///< by label hash
  struct RecentStream {
    const Labels* address = nullptr;  ///< the source's object
    const Labels* labels = nullptr;   ///< the stored copy
  };
  std::array<RecentStream, 8> recent_{};
  std::size_t next_recent_ = 0;
};

/// Finds or adds a label set in a hash index; used to group entries into
/// streams and samples into series without allocating per entry.
template <typename Item>
class LabelIndex {
public:
  /// The item for the builder's current (finished) labels, created on first sight.
  Item& find_or_add(const LabelsBuilder& labels, bool& added) {
    std::size_t hash = labels.hash();
    auto& bucket = index_[hash];
    for (std::size_t i : bucket) {
      if (labels.equals(items_[i].labels)) {
        added = false;
        return items_[i];
      }
    }
    added = true;
    bucket.push_back(items_.size());
    items_.emplace_back();
    labels.copy_to(items_.back().labels);
    return items_.back();
  }

  std::vector<Item>& items() { return items_; }

private:
  std::unordered_map<std::size_t, std::vector<std::size_t>> index_;
  std::vector<Item> items_;
};

// ---------------------------------------------------------------------------
// Step matrices

/// A metric expression's value at every step: a scalar per step, or series
/// with a value where `present` is set.
struct StepSeries {
  Labels labels;
  std::vector<double> values;
  std::vector<char> present;
};

struct StepMatrix {
  bool is_scalar = false;
  std::vector<double> scalar;
  std::vector<StepSeries> series;
};

struct StepGrid {
  std::int64_t start_ns = 0;
  std::int64_t step_ns = 1;
  std::size_t count = 0;
  std::int64_t at(std::size_t i) const { return start_ns + static_cast<std::int64_t>(i) * step_ns; }
};

struct Point {
  std::int64_t ts;
  double value;
};

/// Where an entry comes in one scan of all streams: by timestamp, ties by the key of its
/// stream (the order a source that makes shards promises, see EntrySource::shards).
struct ScanPosition {
  std::int64_t ts = 0;
  std::int64_t stream = 0;

  bool operator<(const ScanPosition& other) const {
    return ts != other.ts ? ts < other.ts : stream < other.stream;
  }
};

struct RawSeries {
  Labels labels;
  std::vector<Point> points;
  std::int64_t last_cell = -1;  ///< the window cell of the last point, when points merge
  // Kept by the scan of a shard only, to merge shards in the order of one scan.
  ScanPosition first;                        ///< the entry that created the series
  std::vector<std::int64_t> point_streams;  ///< per point, its stream, when points do not merge
};

/// The series of a range aggregation grouped `by` labels while scanning, found
/// by the values of those labels alone: no copy, sort or hash of the entry's
/// other labels. Gives the same series as grouping the labels and looking
/// them up in a LabelIndex.
class GroupIndex {
public:
  explicit GroupIndex(std::vector<std::string> names) : names_(std::move(names)) {
    std::sort(names_.begin(), names_.end());
    names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
    values_.resize(names_.size());
  }

  RawSeries& find_or_add(const LabelsBuilder& labels, bool& added) {
    std::size_t hash = 0xcbf29ce484222325ULL;
    std::hash<std::string_view> hasher;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      values_[i] = labels.get(names_[i]);
      hash = (hash ^ (values_[i] == nullptr ? i : hasher(*values_[i]) + i)) * 0x100000001b3ULL;
    }
    // A few groups (levels, services) are compared in a row; more go through the map.
    if (items_.size() <= kFewGroups) {
      for (std::size_t item = 0; item < items_.size(); ++item) {
        if (hashes_[item] == hash && same_values(items_[item].labels)) {
          added = false;
          return items_[item];
        }
      }
    } else {
      if (index_.empty()) {
        for (std::size_t item = 0; item < items_.size(); ++item) {
          index_[hashes_[item]].push_back(item);
        }
      }
      for (std::size_t item : index_[hash]) {
        if (same_values(items_[item].labels)) {
          added = false;
          return items_[item];
        }
      }
      index_[hash].push_back(items_.size());
    }
    added = true;
    hashes_.push_back(hash);
    items_.emplace_back();
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (values_[i] != nullptr) items_.back().labels.emplace_back(names_[i], *values_[i]);
    }
    return items_.back();
  }

  std::vector<RawSeries>& items() { return items_; }

private:
  /// Whether `labels` (names in order, as added) hold exactly the present values.
  bool same_values(const Labels& labels) const {
    std::size_t at = 0;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (values_[i] == nullptr) continue;
      if (at >= labels.size() || labels[at].second != *values_[i] ||
          labels[at].first != names_[i]) {
        return false;
      }
      ++at;
    }
    return at == labels.size();
  }

  static constexpr std::size_t kFewGroups = 16;

  std::vector<std::string> names_;
  std::vector<const std::string*> values_;  ///< of the current entry, per name
  std::unordered_map<std::size_t, std::vector<std::size_t>> index_;  ///< past kFewGroups
  std::vector<std::size_t> hashes_;  ///< per item
  std::vector<RawSeries> items_;
};

double quantile(double phi, std::vector<double>& values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  if (phi < 0) return -std::numeric_limits<double>::infinity();
  if (phi > 1) return std::numeric_limits<double>::infinity();
  std::sort(values.begin(), values.end());
  double rank = phi * static_cast<double>(values.size() - 1);
  auto lower = static_cast<std::size_t>(std::floor(rank));
  std::size_t upper = std::min(lower + 1, values.size() - 1);
  double weight = rank - static_cast<double>(lower);
  return values[lower] * (1 - weight) + values[upper] * weight;
}

double variance(const Point* begin, const Point* end) {
  double n = static_cast<double>(end - begin);
  double mean = 0;
  for (const Point* p = begin; p != end; ++p) mean += p->value;
  mean /= n;
  double sum = 0;
  for (const Point* p = begin; p != end; ++p) sum += (p->value - mean) * (p->value - mean);
  return sum / n;
}

/// Prometheus' extrapolated counter rate, which Loki's rate_counter uses.
bool counter_rate(const Point* begin, const Point* end, std::int64_t window_start,
                  std::int64_t window_end, double& out) {
  std::size_t n = static_cast<std::size_t>(end - begin);
  if (n < 2) return false;
  double result = (end - 1)->value - begin->value;
  for (const Point* p = begin + 1; p != end; ++p) {
    if (p->value < (p - 1)->value) result += (p - 1)->value;
  }
  double to_start = static_cast<double>(begin->ts - window_start) / 1e9;
  double to_end = static_cast<double>(window_end - (end - 1)->ts) / 1e9;
  double sampled = static_cast<double>((end - 1)->ts - begin->ts) / 1e9;
  if (sampled <= 0) return false;
  double average_gap = sampled / static_cast<double>(n - 1);
  if (result > 0 && begin->value >= 0) {
    double to_zero = sampled * (begin->value / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  double threshold = average_gap * 1.1;
  double interval = sampled;
  interval += to_start < threshold ? to_start : average_gap / 2;
  interval += to_end < threshold ? to_end : average_gap / 2;
  result *= interval / sampled;
  out = result / (static_cast<double>(window_end - window_start) / 1e9);
  return true;
}

/// The value of a range aggregation over the points of one window.
bool aggregate_window(const RangeAggregation& r, const Point* begin, const Point* end,
                      std::int64_t window_start, std::int64_t window_end, double& out) {
  if (begin == end) return false;
  double n = static_cast<double>(end - begin);
  double range_seconds = static_cast<double>(r.range_ns) / 1e9;
  auto sum = [&]() {
    double s = 0;
    for (const Point* p = begin; p != end; ++p) s += p->value;
    return s;
  };
  switch (r.op) {
    // Without unwrap every entry is a point of value 1, or several entries of
    // one window cell merged into a point of their count (WindowCells).
    case RangeOp::count_over_time: out = sum(); return true;
    case RangeOp::rate: out = sum() / range_seconds; return true;
    case RangeOp::bytes_over_time:
    case RangeOp::sum_over_time: out = sum(); return true;
    case RangeOp::bytes_rate: out = sum() / range_seconds; return true;
    case RangeOp::avg_over_time: out = sum() / n; return true;
    case RangeOp::min_over_time:
      out = std::min_element(begin, end, [](auto& a, auto& b) { return a.value < b.value; })->value;
      return true;
    case RangeOp::max_over_time:
      out = std::max_element(begin, end, [](auto& a, auto& b) { return a.value < b.value; })->value;
      return true;
    case RangeOp::stdvar_over_time: out = variance(begin, end); return true;
    case RangeOp::stddev_over_time: out = std::sqrt(variance(begin, end)); return true;
    case RangeOp::quantile_over_time: {
      std::vector<double> values;
      values.reserve(static_cast<std::size_t>(n));
      for (const Point* p = begin; p != end; ++p) values.push_back(p->value);
      out = quantile(r.parameter.value_or(0), values);
      return true;
    }
    case RangeOp::first_over_time: out = begin->value; return true;
    case RangeOp::last_over_time: out = (end - 1)->value; return true;
    case RangeOp::rate_counter: return counter_rate(begin, end, window_start, window_end, out);
    case RangeOp::absent_over_time: return false;
  }
  return false;
}

void apply_grouping(const Grouping& grouping, LabelsBuilder& labels) {
  labels.retain([&grouping](const std::string& name, const std::string&) {
    bool listed = std::find(grouping.labels.begin(), grouping.labels.end(), name) !=
                  grouping.labels.end();
    return grouping.without ? !listed : listed;
  });
}

Labels group_labels(const Labels& labels, const std::optional<Grouping>& grouping) {
  Labels out;
  if (!grouping) return out;
  for (const auto& label : labels) {
    bool listed = std::find(grouping->labels.begin(), grouping->labels.end(), label.first) !=
                  grouping->labels.end();
    if (grouping->without ? !listed : listed) out.push_back(label);
  }
  return out;
}

Labels matching_labels(const Labels& labels, const std::optional<VectorMatching>& matching) {
  if (!matching) return labels;
  Labels out;
  for (const auto& label : labels) {
    bool listed = std::find(matching->labels.begin(), matching->labels.end(), label.first) !=
                  matching->labels.end();
    if (matching->on ? listed : !listed) out.push_back(label);
  }
  return out;
}

std::string labels_key(const Labels& labels) {
  std::string key;
  for (const auto& [name, value] : labels) {
    key += name;
    key += '\x01';
    key += value;
    key += '\x02';
  }
  return key;
}

double apply_arithmetic(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::mod: return std::fmod(a, b);
    case BinaryOp::pow: return std::pow(a, b);
    case BinaryOp::eq: return a == b;
    case BinaryOp::ne: return a != b;
    case BinaryOp::gt: return a > b;
    case BinaryOp::ge: return a >= b;
    case BinaryOp::lt: return a < b;
    case BinaryOp::le: return a <= b;
    default: return 0;
  }
}

/// The evaluation windows (E - range, E] of a range aggregation cut the time
/// line into cells whose points every window holds all of or none of. For
/// aggregations that only add integer values up (counts, bytes, rate
/// without unwrap), the points of one cell may merge into one: each window
/// sums the same numbers, exactly. Merging keeps one point per series and
/// cell instead of one per entry.
class WindowCells {
public:
  WindowCells(const StepGrid& grid, const RangeAggregation& r)
      : first_end_(grid.at(0) - r.offset_ns),
        range_(r.range_ns),
        step_(grid.step_ns),
        count_(static_cast<std::int64_t>(grid.count)) {}

  static bool merges(const RangeAggregation& r) {
    switch (r.op) {
      case RangeOp::count_over_time:
      case RangeOp::bytes_over_time:
      case RangeOp::bytes_rate: return true;
      case RangeOp::rate: return !r.unwrap;
      default: return false;
    }
  }

  /// The cell of a timestamp: how many windows end before it and how many
  /// start before it, which together say which windows hold it.
  std::int64_t of(std::int64_t ts) const {
    return before(ts, first_end_) * (count_ + 1) + before(ts, first_end_ - range_);
  }

private:
  /// How many of first, first + step, ... (count_ of them) are below ts.
  std::int64_t before(std::int64_t ts, std::int64_t first) const {
    if (ts <= first) return 0;
    return std::min(count_, (ts - first - 1) / step_ + 1);
  }

  std::int64_t first_end_;
  std::int64_t range_;
  std::int64_t step_;
  std::int64_t count_;
};

/// The labels a range aggregation reads after its pipeline, when that is
/// fewer than all: its `by` labels and what unwrap reads. Without them (no
/// grouping, `without`) its series carry every label, so parsers extract all.
std::optional<std::vector<std::string>> needed_labels(const RangeAggregation& r) {
  std::vector<std::string> names;
  if (r.op != RangeOp::absent_over_time) {
    if (!r.grouping || r.grouping->without) return std::nullopt;
    names = r.grouping->labels;
  }
  if (r.unwrap) {
    names.push_back(r.unwrap->label);
    for (const auto& filter : r.unwrap->post_filters) add_label_filter_names(filter, names);
  }
  return names;
}

/// What a range aggregation asks its source for over the steps of `grid`.
ScanRequest range_request(const RangeAggregation& r, const StepGrid& grid,
                          std::vector<std::string> literals) {
  ScanRequest request;
  request.matchers = r.log.selector;
  request.direction = Direction::forward;
  request.range.start_ns = grid.at(0) - r.offset_ns - r.range_ns + 1;
  request.range.end_ns = grid.at(grid.count - 1) - r.offset_ns + 1;
  request.required_literals = std::move(literals);
  return request;
}

/// Series a range aggregation may collect while scanning before it fails: its result may
/// have fewer once a vector aggregation reduces them, so the limit proper is checked on the
/// result; this only bounds memory.
std::size_t scan_series_limit(const Limits& limits) { return limits.max_series * 4 + 1000; }

/// The scan of one range aggregation over all its streams, or over one shard of them: runs
/// the pipeline and unwrap on each entry and collects the points of each series. One scan
/// runs on one thread.
class RangeScan {
public:
  /// `stop_after`, shared by the shards of one sharded scan (null otherwise): entries later
  /// than it are not needed, since a shard failed there.
  RangeScan(const RangeAggregation& r, const StepGrid& grid, Execution& execution,
            std::atomic<std::int64_t>* stop_after)
      : r_(r),
        execution_(execution),
        stop_after_(stop_after),
        pipeline_(r.log, needed_labels(r)),
        absent_only_(r.op == RangeOp::absent_over_time) {
    if (!reads_lines(r)) sizes_pipeline_.emplace(LogExpr{r.log.selector, {}});
    if (r.unwrap) {
      for (const auto& filter : r.unwrap->post_filters) post_filters_.emplace_back(filter);
    }
    if (r.grouping && !r.grouping->without) groups_.emplace(r.grouping->labels);
    if (WindowCells::merges(r)) cells_.emplace(grid, r);
  }

  std::vector<std::string> required_literals() const { return pipeline_.required_literals(); }

  /// Whether the scan can do with entries' sizes (EntrySource::scan_sizes) instead of their
  /// lines: the pipeline is nothing but |= filters of single literals, each a required
  /// literal (or empty, which every line contains), and no unwrap reads labels.
  static bool reads_lines(const RangeAggregation& r) {
    if (r.unwrap) return true;
    for (const auto& stage : r.log.pipeline) {
      const auto* filter = std::get_if<LineFilter>(&stage);
      if (filter == nullptr || filter->ip || filter->op != LineFilterOp::contains ||
          filter->values.size() != 1) {
        return true;
      }
    }
    return false;
  }
  bool reads_sizes_only() const { return sizes_pipeline_.has_value(); }

  /// Takes one entry; false stops the scan. `stream_key` matters in a shard only.
  bool visit(std::int64_t stream_key, const Labels& stream, const LogEntry& entry) {
    if (!take(stream, entry.timestamp_ns, entry.line.size())) return false;
    double value = 1;
    if (!extract(pipeline_, stream, entry, value)) return true;
    return record(pipeline_, stream_key, stream, entry, value);
  }

  /// Takes one entry of a scan of sizes: its line is empty, and the source has checked that
  /// it contains every required literal, which is all the pipeline would check.
  bool visit_size(std::int64_t stream_key, const Labels& stream, const LogEntry& entry,
                  std::size_t line_bytes) {
    if (!take(stream, entry.timestamp_ns, line_bytes)) return false;
    sizes_pipeline_->process(stream, entry);
    const bool bytes = r_.op == RangeOp::bytes_over_time || r_.op == RangeOp::bytes_rate;
    return record(*sizes_pipeline_, stream_key, stream, entry,
                  bytes ? static_cast<double>(line_bytes) : 1);
  }

  /// The failing entry's error, when an entry failed; then failed_at() says where.
  const std::optional<Error>& entry_failure() const { return entry_failure_; }
  ScanPosition failed_at() const { return failed_at_; }
  bool series_limit_passed() const { return series_limit_passed_; }

  std::vector<RawSeries> take_series() {
    return std::move(groups_ ? groups_->items() : index_.items());
  }
  std::vector<std::int64_t>& entry_times() { return entry_times_; }
  const std::optional<WindowCells>& cells() const { return cells_; }

private:
  /// Counts an entry the source handed out; false when the scan must stop first.
  bool take(const Labels& stream, std::int64_t timestamp_ns, std::size_t line_bytes) {
    if (stop_after_ != nullptr && timestamp_ns > stop_after_->load(std::memory_order_relaxed)) {
      return false;
    }
    if (execution_.timed_out()) {
      stop_all();
      return false;
    }
    execution_.count_entry(stream, line_bytes);
    return true;
  }

  /// Adds the sample of an entry that passed `ran`, the pipeline that holds its labels; false
  /// stops the scan.
  bool record(LogPipeline& ran, std::int64_t stream_key, const Labels& stream,
              const LogEntry& entry, double value) {
    if (absent_only_) {
      entry_times_.push_back(entry.timestamp_ns);
      return true;
    }
    LabelsBuilder& labels = ran.labels();
    // Errors are checked before grouping, which could otherwise drop __error__
    // and hide them, as Loki keeps the error labels of a failed entry.
    if (const std::string* error = labels.get(kErrorLabel); error != nullptr && !error->empty()) {
      fail_entry(*error, stream, entry);
      failed_at_ = ScanPosition{entry.timestamp_ns, stream_key};
      if (stop_after_ != nullptr) {
        // The other shards go on up to this entry: one of them may fail earlier.
        std::int64_t seen = stop_after_->load();
        while (entry.timestamp_ns < seen &&
               !stop_after_->compare_exchange_weak(seen, entry.timestamp_ns)) {
        }
      }
      return false;
    }
    bool added = false;
    RawSeries* series = nullptr;
    if (groups_) {
      series = &groups_->find_or_add(labels, added);
    } else {
      if (r_.grouping) apply_grouping(*r_.grouping, labels);
      labels.finish();
      series = &index_.find_or_add(labels, added);
    }
    if (added) {
      const std::size_t count = groups_ ? groups_->items().size() : index_.items().size();
      if (count > scan_series_limit(execution_.limits())) {
        series_limit_passed_ = true;
        stop_all();
        return false;
      }
      if (stop_after_ != nullptr) series->first = ScanPosition{entry.timestamp_ns, stream_key};
    }
    if (!cells_) {
      series->points.push_back({entry.timestamp_ns, value});
      if (stop_after_ != nullptr) series->point_streams.push_back(stream_key);
      return true;
    }
    std::int64_t cell = cells_->of(entry.timestamp_ns);
    if (cell == series->last_cell) {
      series->points.back().value += value;
    } else {
      series->points.push_back({entry.timestamp_ns, value});
      series->last_cell = cell;
    }
    return true;
  }

  /// Runs the pipeline and unwrap on one entry: whether it yields a sample, and its value.
  bool extract(LogPipeline& p, const Labels& stream, const LogEntry& entry, double& value) {
    if (!p.process(stream, entry)) return false;
    LabelsBuilder& labels = p.labels();
    value = 1;
    if (r_.op == RangeOp::bytes_over_time || r_.op == RangeOp::bytes_rate) {
      value = static_cast<double>(p.line().size());
    }
    if (!r_.unwrap) return true;
    const std::string* text = labels.get(r_.unwrap->label);
    std::string_view view = text != nullptr ? std::string_view(*text) : std::string_view();
    if (!convert_unwrap_value(view, r_.unwrap->conversion, value, conversion_error_)) {
      labels.set_error("SampleExtractionErr", conversion_error_);
    }
    labels.remove(r_.unwrap->label);
    for (const auto& filter : post_filters_) {
      if (!filter.keep(labels)) return false;
    }
    return true;
  }

  void fail_entry(const std::string& error, const Labels& stream, const LogEntry& entry) {
    const std::string error_value = error;  // finish() below moves the labels
    LabelsBuilder* all = &pipeline_.labels();
    std::optional<LogPipeline> full;
    if (pipeline_.uses_hints()) {
      // Without hints, for the message, which names all labels of the entry.
      full.emplace(r_.log);
      double ignored = 0;
      extract(*full, stream, entry, ignored);
      all = &full->labels();
    }
    all->finish();
    Labels series;
    all->copy_to(series);
    entry_failure_ = pipeline_error(error_value, series);
  }

  static Error pipeline_error(const std::string& error, const Labels& series) {
    return invalid_argument(
        "logql.pipeline_error",
        "pipeline error " + quote(error) + " for series " + labels_to_string(series) +
            ". Skip failing entries on purpose with a label filter such as | __error__=\"\" "
            "(after unwrap when the error comes from unwrap)");
  }

  void stop_all() {
    if (stop_after_ != nullptr) {
      stop_after_->store(std::numeric_limits<std::int64_t>::min());
    }
  }

  const RangeAggregation& r_;
  Execution& execution_;
  std::atomic<std::int64_t>* stop_after_;
  LogPipeline pipeline_;
  /// The pipeline without its line filters, for scans of sizes; only when reads_lines() is
  /// false.
  std::optional<LogPipeline> sizes_pipeline_;
  std::vector<CompiledLabelFilter> post_filters_;
  LabelIndex<RawSeries> index_;
  std::optional<GroupIndex> groups_;
  std::optional<WindowCells> cells_;
  bool absent_only_;
  std::string conversion_error_;
  std::vector<std::int64_t> entry_times_;  ///< only for absent_over_time
  std::optional<Error> entry_failure_;
  ScanPosition failed_at_;
  bool series_limit_passed_ = false;
};

/// Merges the series that shards of streams collected into exactly what one scan of all
/// streams collects: the series in the order their first entries come, one series per label
/// set, its points in the order of their entries. Where points merge per window cell, those
/// of one cell from several shards add up into one point at the cell's first entry; they
/// hold counts and byte sizes, integers far below 2^53, whose sums are exact in any order.
std::vector<RawSeries> merge_shards(std::vector<std::vector<RawSeries>> shards,
                                    const std::optional<WindowCells>& cells) {
  struct Ref {
    ScanPosition first;
    RawSeries* series;
  };
  std::vector<Ref> order;
  for (auto& shard : shards) {
    for (auto& series : shard) order.push_back(Ref{series.first, &series});
  }
  // Ties come from one shard (a stream belongs to one), whose order the sort keeps.
  std::stable_sort(order.begin(), order.end(),
                   [](const Ref& a, const Ref& b) { return a.first < b.first; });

  std::unordered_map<std::string, std::size_t> by_labels;
  std::vector<std::vector<RawSeries*>> parts;
  for (const Ref& ref : order) {
    auto [found, added] = by_labels.emplace(labels_key(ref.series->labels), parts.size());
    if (added) parts.emplace_back();
    parts[found->second].push_back(ref.series);
  }

  std::vector<RawSeries> merged(parts.size());
  for (std::size_t m = 0; m < parts.size(); ++m) {
    RawSeries& out = merged[m];
    out.labels = std::move(parts[m][0]->labels);
    if (parts[m].size() == 1) {
      out.points = std::move(parts[m][0]->points);
      continue;
    }
    if (cells) {
      std::vector<Point> all;
      for (RawSeries* part : parts[m]) {
        all.insert(all.end(), part->points.begin(), part->points.end());
      }
      std::stable_sort(all.begin(), all.end(),
                       [](const Point& a, const Point& b) { return a.ts < b.ts; });
      std::int64_t last_cell = -1;
      for (const Point& point : all) {
        const std::int64_t cell = cells->of(point.ts);
        if (cell == last_cell) {
          out.points.back().value += point.value;
        } else {
          out.points.push_back(point);
          last_cell = cell;
        }
      }
      continue;
    }
    // Each part is in scan order; parts never tie, as their streams differ.
    std::vector<Point> points = std::move(parts[m][0]->points);
    std::vector<std::int64_t> streams = std::move(parts[m][0]->point_streams);
    for (std::size_t p = 1; p < parts[m].size(); ++p) {
      const RawSeries& next = *parts[m][p];
      std::vector<Point> joined;
      std::vector<std::int64_t> joined_streams;
      joined.reserve(points.size() + next.points.size());
      joined_streams.reserve(joined.capacity());
      std::size_t a = 0;
      std::size_t b = 0;
      while (a < points.size() || b < next.points.size()) {
        const bool take_a =
            b == next.points.size() ||
            (a < points.size() && ScanPosition{points[a].ts, streams[a]} <
                                      ScanPosition{next.points[b].ts, next.point_streams[b]});
        if (take_a) {
          joined.push_back(points[a]);
          joined_streams.push_back(streams[a++]);
        } else {
          joined.push_back(next.points[b]);
          joined_streams.push_back(next.point_streams[b++]);
        }
      }
      points = std::move(joined);
      streams = std::move(joined_streams);
    }
    out.points = std::move(points);
  }
  return merged;
}

class MetricEvaluator {
public:
  MetricEvaluator(const StepGrid& grid, EntrySource& source, Execution& execution)
      : grid_(grid), source_(source), execution_(execution) {}

  Result<StepMatrix> eval(const MetricNode& node) {
    auto result = std::visit([this](const auto& n) { return eval_node(n); }, node.node);
    if (result.ok() && execution_.elapsed() > execution_.limits().timeout_seconds) {
      return timeout_error(execution_.limits().timeout_seconds);
    }
    return result;
  }

private:
  Result<StepMatrix> eval_node(const NumberLiteral& literal) {
    StepMatrix m;
    m.is_scalar = true;
    m.scalar.assign(grid_.count, literal.value);
    return m;
  }

  Result<StepMatrix> eval_node(const VectorLiteral& literal) {
    StepMatrix m;
    m.series.push_back({{}, std::vector<double>(grid_.count, literal.value),
                        std::vector<char>(grid_.count, 1)});
    return m;
  }

  Result<StepMatrix> eval_node(const RangeAggregation& r) {
    std::vector<RawSeries> raw;
    std::vector<std::int64_t> entry_times;  ///< only for absent_over_time
    if (auto status = scan_range(r, raw, entry_times); !status.ok()) return status.error();
    if (r.op == RangeOp::absent_over_time) return absent(r, entry_times);

    StepMatrix m;
    for (auto& series : raw) {
      if (!std::is_sorted(series.points.begin(), series.points.end(),
                          [](const Point& a, const Point& b) { return a.ts < b.ts; })) {
        std::stable_sort(series.points.begin(), series.points.end(),
                         [](const Point& a, const Point& b) { return a.ts < b.ts; });
      }
      StepSeries out{std::move(series.labels), std::vector<double>(grid_.count, 0),
                     std::vector<char>(grid_.count, 0)};
      const Point* data = series.points.data();
      std::size_t lo = 0;
      std::size_t hi = 0;
      bool any = false;
      for (std::size_t i = 0; i < grid_.count; ++i) {
        std::int64_t window_end = grid_.at(i) - r.offset_ns;
        std::int64_t window_start = window_end - r.range_ns;
        while (hi < series.points.size() && data[hi].ts <= window_end) ++hi;
        while (lo < hi && data[lo].ts <= window_start) ++lo;
        double value = 0;
        if (aggregate_window(r, data + lo, data + hi, window_start, window_end, value)) {
          out.values[i] = value;
          out.present[i] = 1;
          any = true;
        }
      }
      if (any) m.series.push_back(std::move(out));
    }
    return m;
  }

  Result<StepMatrix> absent(const RangeAggregation& r, std::vector<std::int64_t>& times) {
    std::sort(times.begin(), times.end());
    StepSeries out{{}, std::vector<double>(grid_.count, 0), std::vector<char>(grid_.count, 0)};
    for (const auto& matcher : r.log.selector) {
      if (matcher.type == MatchType::equal) out.labels.emplace_back(matcher.name, matcher.value);
    }
    normalize_labels(out.labels);
    bool any = false;
    for (std::size_t i = 0; i < grid_.count; ++i) {
      std::int64_t window_end = grid_.at(i) - r.offset_ns;
      std::int64_t window_start = window_end - r.range_ns;
      auto first = std::upper_bound(times.begin(), times.end(), window_start);
      bool empty = first == times.end() || *first > window_end;
      if (empty) {
        out.values[i] = 1;
        out.present[i] = 1;
        any = true;
      }
    }
    StepMatrix m;
    if (any) m.series.push_back(std::move(out));
    return m;
  }

  Status scan_range(const RangeAggregation& r, std::vector<RawSeries>& raw,
                    std::vector<std::int64_t>& entry_times) {
    RangeScan scan(r, grid_, execution_, nullptr);
    const ScanRequest request = range_request(r, grid_, scan.required_literals());
    if (execution_.limits().parallelism >= 2) {
      // Twice as many shards as threads: streams differ in how much work they are, and a
      // thread that finishes a light shard takes another.
      auto shards = source_.shards(request, execution_.limits().parallelism * 2);
      if (!shards.ok()) return shards.error();
      if (shards.value().size() >= 2) {
        return scan_shards(r, request, shards.value(), raw, entry_times);
      }
    }
    Status status = success();
    if (scan.reads_sizes_only() && source_.scans_sizes()) {
      status = source_.scan_sizes(request, nullptr,
                                  [&scan](std::int64_t key, const Labels& stream,
                                          const LogEntry& entry, std::size_t line_bytes) {
                                    return scan.visit_size(key, stream, entry, line_bytes);
                                  });
    } else {
      status = source_.scan(request, [&scan](const Labels& stream, const LogEntry& entry) {
        return scan.visit(0, stream, entry);
      });
    }
    if (scan.entry_failure()) return *scan.entry_failure();
    if (scan.series_limit_passed()) return max_series_error(execution_.limits().max_series);
    if (execution_.expired()) return timeout_error(execution_.limits().timeout_seconds);
    if (!status.ok()) return status.error();
    raw = scan.take_series();
    entry_times = std::move(scan.entry_times());
    return success();
  }

  /// Scans the shards on up to limits.parallelism threads (this one among them) and merges
  /// their series into what one scan gives. Fails as one scan fails, with one difference:
  /// when entries fail and the series limit is passed too, the failing entry is reported,
  /// even if one scan would have passed the limit before reaching it.
  Status scan_shards(const RangeAggregation& r, const ScanRequest& request,
                     const std::vector<ScanShard>& shards, std::vector<RawSeries>& raw,
                     std::vector<std::int64_t>& entry_times) {
    const std::size_t n = shards.size();
    std::atomic<std::int64_t> stop_after{std::numeric_limits<std::int64_t>::max()};
    std::vector<std::unique_ptr<Execution>> executions;
    std::vector<std::unique_ptr<RangeScan>> scans;
    for (std::size_t s = 0; s < n; ++s) {
      executions.push_back(
          std::make_unique<Execution>(execution_, execution_.started()));
      scans.push_back(std::make_unique<RangeScan>(r, grid_, *executions[s], &stop_after));
    }
    const bool sizes = scans[0]->reads_sizes_only() && source_.scans_sizes();
    std::vector<Status> statuses(n, success());
    std::vector<std::exception_ptr> exceptions(n);
    auto run = [&](std::size_t s) {
      try {
        RangeScan& scan = *scans[s];
        if (sizes) {
          statuses[s] = source_.scan_sizes(
              request, &shards[s],
              [&scan](std::int64_t key, const Labels& stream, const LogEntry& entry,
                      std::size_t line_bytes) {
                return scan.visit_size(key, stream, entry, line_bytes);
              });
        } else {
          statuses[s] = source_.scan_shard(
              request, shards[s], [&scan](std::int64_t key, const Labels& stream,
                                          const LogEntry& entry) {
                return scan.visit(key, stream, entry);
              });
        }
      } catch (...) {
        exceptions[s] = std::current_exception();
      }
      if (!statuses[s].ok() || exceptions[s]) {
        stop_after.store(std::numeric_limits<std::int64_t>::min());
      }
    };
    // Threads take shards in turn, the heaviest first (as the source orders them), so that
    // one that finishes a light shard goes on with the next.
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t s = next++; s < n; s = next++) run(s);
    };
    std::vector<std::thread> threads;
    const std::size_t helpers = std::min(n, execution_.limits().parallelism) - 1;
    for (std::size_t t = 0; t < helpers; ++t) {
      try {
        threads.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // no thread to be had: the others take its shards
      }
    }
    work();
    for (auto& thread : threads) thread.join();
    for (const auto& exception : exceptions) {
      if (exception) std::rethrow_exception(exception);
    }

    for (const auto& execution : executions) execution_.absorb(*execution);
    const RangeScan* first_failure = nullptr;
    for (const auto& scan : scans) {
      if (scan->entry_failure() &&
          (first_failure == nullptr || scan->failed_at() < first_failure->failed_at())) {
        first_failure = scan.get();
      }
    }
    if (first_failure != nullptr) return *first_failure->entry_failure();
    for (const auto& scan : scans) {
      if (scan->series_limit_passed()) return max_series_error(execution_.limits().max_series);
    }
    if (execution_.expired()) return timeout_error(execution_.limits().timeout_seconds);
    for (const auto& status : statuses) {
      if (!status.ok()) return status.error();
    }

    std::vector<std::vector<RawSeries>> parts;
    for (auto& scan : scans) {
      parts.push_back(scan->take_series());
      entry_times.insert(entry_times.end(), scan->entry_times().begin(),
                         scan->entry_times().end());
    }
    raw = merge_shards(std::move(parts), scans[0]->cells());
    if (raw.size() > scan_series_limit(execution_.limits())) {
      return max_series_error(execution_.limits().max_series);
    }
    return success();
  }

  Result<StepMatrix> eval_node(const LabelReplace& r) {
    auto inner_result = eval(*r.inner);
    if (!inner_result.ok()) return inner_result.error();
    StepMatrix m = std::move(inner_result).value();
    if (m.is_scalar) return m;
    RE2 re("^(?:" + r.regex + ")$", RE2::Quiet);
    std::string rewrite = go_to_re2_rewrite(r.replacement);
    for (auto& series : m.series) {
      const std::string* value = find_label(series.labels, r.source);
      std::string source = value != nullptr ? *value : std::string();
      std::string result;
      if (!RE2::Extract(source, re, rewrite, &result)) continue;
      auto it = std::find_if(series.labels.begin(), series.labels.end(),
                             [&r](const Label& l) { return l.first == r.destination; });
      if (result.empty()) {
        if (it != series.labels.end()) series.labels.erase(it);
      } else if (it != series.labels.end()) {
        it->second = result;
      } else {
        series.labels.emplace_back(r.destination, result);
        normalize_labels(series.labels);
      }
    }
    return m;
  }

  /// Prometheus writes group references as $1 or ${1}; RE2 as \1.
  static std::string go_to_re2_rewrite(const std::string& replacement) {
    std::string out;
    for (std::size_t i = 0; i < replacement.size(); ++i) {
      char c = replacement[i];
      if (c == '\\') {
        out += "\\\\";
        continue;
      }
      if (c != '$' || i + 1 >= replacement.size()) {
        out += c;
        continue;
      }
      std::size_t j = i + 1;
      bool braced = replacement[j] == '{';
      if (braced) ++j;
      std::size_t digits = j;
      while (digits < replacement.size() &&
             std::isdigit(static_cast<unsigned char>(replacement[digits]))) {
        ++digits;
      }
      if (digits == j || (braced && (digits >= replacement.size() || replacement[digits] != '}'))) {
        out += c;
        continue;
      }
      out += '\\';
      out += replacement.substr(j, digits - j);
      i = braced ? digits : digits - 1;
    }
    return out;
  }

  /// sum by (x) of a count, rate, bytes or sum range aggregation equals the
  /// range aggregation grouped by (x) while scanning, since sums add up. Grouping
  /// early keeps one series per group instead of one per distinct label set,
  /// which parsers such as logfmt multiply.
  static std::optional<RangeAggregation> grouped_range(const VectorAggregation& v) {
    if (v.op != VectorOp::sum) return std::nullopt;
    const auto* r = std::get_if<RangeAggregation>(&v.inner->node);
    if (r == nullptr || r->grouping) return std::nullopt;
    switch (r->op) {
      case RangeOp::count_over_time:
      case RangeOp::rate:
      case RangeOp::bytes_over_time:
      case RangeOp::bytes_rate:
      case RangeOp::sum_over_time: break;
      default: return std::nullopt;
    }
    RangeAggregation grouped = *r;
    grouped.grouping = v.grouping.value_or(Grouping{});
    return grouped;
  }

  Result<StepMatrix> eval_node(const VectorAggregation& v) {
    if (auto grouped = grouped_range(v)) return eval_node(*grouped);
    auto inner_result = eval(*v.inner);
    if (!inner_result.ok()) return inner_result.error();
    StepMatrix inner = std::move(inner_result).value();
    switch (v.op) {
      case VectorOp::sort:
      case VectorOp::sort_desc: return inner;
      case VectorOp::topk:
      case VectorOp::bottomk: return top_k(v, std::move(inner));
      default: break;
    }
    std::unordered_map<std::string, std::size_t> groups;
    std::vector<std::vector<const StepSeries*>> members;
    StepMatrix out;
    for (const auto& series : inner.series) {
      Labels key = group_labels(series.labels, v.grouping);
      auto [it, added] = groups.emplace(labels_key(key), out.series.size());
      if (added) {
        out.series.push_back({std::move(key), std::vector<double>(grid_.count, 0),
                              std::vector<char>(grid_.count, 0)});
        members.emplace_back();
      }
      members[it->second].push_back(&series);
    }
    std::vector<double> values;
    for (std::size_t g = 0; g < out.series.size(); ++g) {
      for (std::size_t i = 0; i < grid_.count; ++i) {
        values.clear();
        for (const StepSeries* s : members[g]) {
          if (s->present[i]) values.push_back(s->values[i]);
        }
        if (values.empty()) continue;
        out.series[g].present[i] = 1;
        out.series[g].values[i] = reduce(v.op, values);
      }
    }
    return out;
  }

  static double reduce(VectorOp op, const std::vector<double>& values) {
    double n = static_cast<double>(values.size());
    double sum = 0;
    for (double x : values) sum += x;
    switch (op) {
      case VectorOp::sum: return sum;
      case VectorOp::avg: return sum / n;
      case VectorOp::min: return *std::min_element(values.begin(), values.end());
      case VectorOp::max: return *std::max_element(values.begin(), values.end());
      case VectorOp::count: return n;
      case VectorOp::stdvar:
      case VectorOp::stddev: {
        double mean = sum / n;
        double squares = 0;
        for (double x : values) squares += (x - mean) * (x - mean);
        return op == VectorOp::stdvar ? squares / n : std::sqrt(squares / n);
      }
      default: return 0;
    }
  }

  Result<StepMatrix> top_k(const VectorAggregation& v, StepMatrix inner) {
    // Converting a double outside size_t's range is undefined: a k past the series count
    // keeps them all, one below 1 (or NaN) keeps none.
    const double parameter = v.parameter.value_or(1);
    const std::size_t k = !(parameter >= 1) ? 0
                          : parameter >= static_cast<double>(inner.series.size())
                              ? inner.series.size()
                              : static_cast<std::size_t>(parameter);
    bool top = v.op == VectorOp::topk;
    std::unordered_map<std::string, std::vector<std::size_t>> groups;
    for (std::size_t s = 0; s < inner.series.size(); ++s) {
      groups[labels_key(group_labels(inner.series[s].labels, v.grouping))].push_back(s);
    }
    std::vector<std::vector<char>> keep(inner.series.size(), std::vector<char>(grid_.count, 0));
    std::vector<std::size_t> candidates;
    for (const auto& [key, members] : groups) {
      for (std::size_t i = 0; i < grid_.count; ++i) {
        candidates.clear();
        for (std::size_t s : members) {
          if (inner.series[s].present[i]) candidates.push_back(s);
        }
        std::stable_sort(candidates.begin(), candidates.end(), [&](std::size_t a, std::size_t b) {
          double x = inner.series[a].values[i];
          double y = inner.series[b].values[i];
          return top ? x > y : x < y;
        });
        for (std::size_t c = 0; c < candidates.size() && c < k; ++c) keep[candidates[c]][i] = 1;
      }
    }
    StepMatrix out;
    for (std::size_t s = 0; s < inner.series.size(); ++s) {
      bool any = false;
      for (std::size_t i = 0; i < grid_.count; ++i) {
        inner.series[s].present[i] = inner.series[s].present[i] && keep[s][i];
        any = any || inner.series[s].present[i];
      }
      if (any) out.series.push_back(std::move(inner.series[s]));
    }
    return out;
  }

  Result<StepMatrix> eval_node(const BinaryExpr& b) {
    auto lhs_result = eval(*b.lhs);
    if (!lhs_result.ok()) return lhs_result.error();
    auto rhs_result = eval(*b.rhs);
    if (!rhs_result.ok()) return rhs_result.error();
    StepMatrix lhs = std::move(lhs_result).value();
    StepMatrix rhs = std::move(rhs_result).value();
    if (lhs.is_scalar && rhs.is_scalar) {
      for (std::size_t i = 0; i < grid_.count; ++i) {
        lhs.scalar[i] = apply_arithmetic(b.op, lhs.scalar[i], rhs.scalar[i]);
      }
      return lhs;
    }
    if (lhs.is_scalar || rhs.is_scalar) return vector_scalar(b, std::move(lhs), std::move(rhs));
    if (is_set_operator(b.op)) return set_operation(b, std::move(lhs), std::move(rhs));
    return vector_vector(b, std::move(lhs), std::move(rhs));
  }

  Result<StepMatrix> vector_scalar(const BinaryExpr& b, StepMatrix lhs, StepMatrix rhs) {
    bool scalar_left = lhs.is_scalar;
    StepMatrix out = scalar_left ? std::move(rhs) : std::move(lhs);
    const std::vector<double>& scalar = scalar_left ? lhs.scalar : rhs.scalar;
    bool filter = is_comparison(b.op) && !b.return_bool;
    std::vector<StepSeries> kept;
    for (auto& series : out.series) {
      bool any = false;
      for (std::size_t i = 0; i < grid_.count; ++i) {
        if (!series.present[i]) continue;
        double x = scalar_left ? scalar[i] : series.values[i];
        double y = scalar_left ? series.values[i] : scalar[i];
        double result = apply_arithmetic(b.op, x, y);
        if (filter) {
          if (result == 0) series.present[i] = 0;
        } else {
          series.values[i] = result;
        }
        any = any || series.present[i];
      }
      if (any) kept.push_back(std::move(series));
    }
    out.series = std::move(kept);
    return out;
  }

  static Error many_to_many_error(const BinaryExpr& b, const char* side) {
    return invalid_argument(
        "logql.many_to_many",
        std::string("the ") + side + " side of " + print(MetricNode{b}) +
            " has several series with the same matching labels; aggregate it first, match on "
            "fewer labels with on (...), or say which side has many with group_left or "
            "group_right");
  }

  /// Arithmetic and comparison between two vectors, one-to-one or, with
  /// group_left / group_right, many-to-one and one-to-many as in Prometheus.
  Result<StepMatrix> vector_vector(const BinaryExpr& b, StepMatrix lhs, StepMatrix rhs) {
    MatchCardinality cardinality =
        b.matching ? b.matching->cardinality : MatchCardinality::one_to_one;
    bool right_is_many = cardinality == MatchCardinality::one_to_many;
    StepMatrix& many = right_is_many ? rhs : lhs;
    StepMatrix& one = right_is_many ? lhs : rhs;

    std::unordered_map<std::string, std::size_t> one_index;
    for (std::size_t s = 0; s < one.series.size(); ++s) {
      auto [it, added] =
          one_index.emplace(labels_key(matching_labels(one.series[s].labels, b.matching)), s);
      if (!added) return many_to_many_error(b, right_is_many ? "left" : "right");
    }
    bool filter = is_comparison(b.op) && !b.return_bool;
    StepMatrix out;
    std::unordered_set<std::string> seen;
    for (auto& series : many.series) {
      Labels key = matching_labels(series.labels, b.matching);
      auto it = one_index.find(labels_key(key));
      if (it == one_index.end()) continue;
      if (cardinality == MatchCardinality::one_to_one && !seen.insert(labels_key(key)).second) {
        return many_to_many_error(b, "left");
      }
      const StepSeries& other = one.series[it->second];
      bool any = false;
      for (std::size_t i = 0; i < grid_.count; ++i) {
        if (!series.present[i] || !other.present[i]) {
          series.present[i] = 0;
          continue;
        }
        double left = right_is_many ? other.values[i] : series.values[i];
        double right = right_is_many ? series.values[i] : other.values[i];
        double result = apply_arithmetic(b.op, left, right);
        if (filter) {
          if (result == 0) {
            series.present[i] = 0;
          } else if (right_is_many) {
            series.values[i] = left;
          }
        } else {
          series.values[i] = result;
        }
        any = any || series.present[i];
      }
      if (!any) continue;
      if (cardinality == MatchCardinality::one_to_one) {
        if (!filter) series.labels = std::move(key);
      } else {
        for (const auto& name : b.matching->include) {
          const std::string* value = find_label(other.labels, name);
          auto at = std::find_if(series.labels.begin(), series.labels.end(),
                                 [&name](const Label& l) { return l.first == name; });
          if (at != series.labels.end()) series.labels.erase(at);
          if (value != nullptr && !value->empty()) series.labels.emplace_back(name, *value);
        }
        normalize_labels(series.labels);
      }
      out.series.push_back(std::move(series));
    }
    return out;
  }

  Result<StepMatrix> set_operation(const BinaryExpr& b, StepMatrix lhs, StepMatrix rhs) {
    // Per step, which matching keys the right side has.
    std::unordered_map<std::string, std::vector<char>> right_present;
    for (const auto& series : rhs.series) {
      auto& present = right_present[labels_key(matching_labels(series.labels, b.matching))];
      present.resize(grid_.count, 0);
      for (std::size_t i = 0; i < grid_.count; ++i) present[i] |= series.present[i];
    }
    StepMatrix out;
    std::unordered_map<std::string, std::vector<char>> left_present;
    for (auto& series : lhs.series) {
      std::string key = labels_key(matching_labels(series.labels, b.matching));
      auto it = right_present.find(key);
      auto& mine = left_present[key];
      mine.resize(grid_.count, 0);
      bool any = false;
      for (std::size_t i = 0; i < grid_.count; ++i) {
        bool on_right = it != right_present.end() && it->second[i];
        if (b.op == BinaryOp::land && !on_right) series.present[i] = 0;
        if (b.op == BinaryOp::lunless && on_right) series.present[i] = 0;
        mine[i] |= series.present[i];
        any = any || series.present[i];
      }
      if (any) out.series.push_back(std::move(series));
    }
    if (b.op != BinaryOp::lor) return out;
    for (auto& series : rhs.series) {
      auto it = left_present.find(labels_key(matching_labels(series.labels, b.matching)));
      bool any = false;
      for (std::size_t i = 0; i < grid_.count; ++i) {
        if (it != left_present.end() && it->second[i]) series.present[i] = 0;
        any = any || series.present[i];
      }
      if (any) out.series.push_back(std::move(series));
    }
    return out;
  }

  const StepGrid& grid_;
  EntrySource& source_;
  Execution& execution_;
};

bool has_sort(const MetricNode& node, bool& descending) {
  if (const auto* v = std::get_if<VectorAggregation>(&node.node)) {
    if (v->op == VectorOp::sort || v->op == VectorOp::sort_desc) {
      descending = v->op == VectorOp::sort_desc;
      return true;
    }
  }
  return false;
}

}  // namespace

std::int64_t default_step_ns(const TimeRange& range) {
  std::int64_t seconds = (range.end_ns - range.start_ns) / kNanosPerSecond / 250;
  return (seconds < 1 ? 1 : seconds) * kNanosPerSecond;
}

Result<QueryResult> evaluate_log_query(const LogExpr& log, const EvalParams& params,
                                       EntrySource& source, const Limits& limits) {
  if (params.limit > limits.max_entries) {
    return limit_exceeded("logql.max_entries",
                          "the query asks for " + std::to_string(params.limit) +
                              " entries, more than the limit of " +
                              std::to_string(limits.max_entries) +
                              " (max_entries); lower the limit");
  }
  Execution execution(limits);
  execution.set_stable_streams(source.stable_stream_labels());
  LogPipeline pipeline(log);
  ScanRequest request;
  request.matchers = log.selector;
  request.range = {params.start_ns, params.end_ns};
  request.direction = params.direction;
  request.required_literals = pipeline.required_literals();

  LabelIndex<LogStream> streams;
  std::size_t returned = 0;
  Status status = success();
  if (params.limit > 0) {
    status = source.scan(request, [&](const Labels& stream, const LogEntry& entry) {
      if (execution.timed_out()) return false;
      execution.count_entry(stream, entry.line.size());
      if (!pipeline.process(stream, entry)) return true;
      LabelsBuilder& labels = pipeline.labels();
      labels.finish();
      bool added = false;
      LogStream& out = streams.find_or_add(labels, added);
      out.entries.push_back({entry.timestamp_ns, std::string(pipeline.line()), entry.metadata});
      return ++returned < params.limit;
    });
  }
  if (execution.expired()) return timeout_error(limits.timeout_seconds);
  if (!status.ok()) return status.error();

  QueryResult result;
  result.result_type = "streams";
  result.streams = std::move(streams.items());
  bool forward = params.direction == Direction::forward;
  for (auto& stream : result.streams) {
    std::stable_sort(stream.entries.begin(), stream.entries.end(),
                     [forward](const LogEntry& a, const LogEntry& b) {
                       return forward ? a.timestamp_ns < b.timestamp_ns
                                      : a.timestamp_ns > b.timestamp_ns;
                     });
  }
  std::sort(result.streams.begin(), result.streams.end(),
            [](const LogStream& a, const LogStream& b) { return a.labels < b.labels; });
  result.stats = execution.finish_stats();
  return result;
}

Result<QueryResult> evaluate_metric_query(const MetricNode& metric, const EvalParams& params,
                                          EntrySource& source, const Limits& limits,
                                          bool instant) {
  StepGrid grid;
  grid.start_ns = params.start_ns;
  grid.step_ns = params.step_ns > 0 ? params.step_ns : 1;
  if (params.end_ns < params.start_ns) {
    return invalid_argument("logql.invalid_range", "the end of the range is before its start");
  }
  grid.count = static_cast<std::size_t>((params.end_ns - params.start_ns) / grid.step_ns) + 1;
  if (grid.count > 11000) {
    return invalid_argument("logql.too_many_steps",
                            "the range and step give " + std::to_string(grid.count) +
                                " points per series, more than 11000; use a larger step");
  }

  Execution execution(limits);
  execution.set_stable_streams(source.stable_stream_labels());
  MetricEvaluator evaluator(grid, source, execution);
  auto evaluated = evaluator.eval(metric);
  if (!evaluated.ok()) return evaluated.error();
  StepMatrix matrix = std::move(evaluated).value();
  // As Loki's max_query_series, the limit counts the series of the result:
  // inner expressions may have more when an aggregation reduces them.
  if (matrix.series.size() > limits.max_series) return max_series_error(limits.max_series);

  QueryResult result;
  if (matrix.is_scalar) {
    result.result_type = instant ? "scalar" : "matrix";
    Series series;
    for (std::size_t i = 0; i < grid.count; ++i) {
      series.samples.push_back({grid.at(i), matrix.scalar[i]});
    }
    result.series.push_back(std::move(series));
    result.stats = execution.finish_stats();
    return result;
  }
  result.result_type = instant ? "vector" : "matrix";
  for (auto& step_series : matrix.series) {
    Series series;
    series.metric = std::move(step_series.labels);
    for (std::size_t i = 0; i < grid.count; ++i) {
      if (step_series.present[i]) series.samples.push_back({grid.at(i), step_series.values[i]});
    }
    if (!series.samples.empty()) result.series.push_back(std::move(series));
  }
  bool descending = false;
  if (instant && has_sort(metric, descending)) {
    std::stable_sort(result.series.begin(), result.series.end(),
                     [descending](const Series& a, const Series& b) {
                       double x = a.samples[0].value;
                       double y = b.samples[0].value;
                       return descending ? x > y : x < y;
                     });
  } else {
    std::sort(result.series.begin(), result.series.end(),
              [](const Series& a, const Series& b) { return a.metric < b.metric; });
  }
  result.stats = execution.finish_stats();
  return result;
}

// ---------------------------------------------------------------------------
// The public entry points of logql.hpp

Result<QueryResult> execute(std::string_view query, const LogQuery& params, EntrySource& source,
                            const Limits& limits) {
  auto parsed = parse(query);
  if (!parsed.ok()) return parsed.error();
  EvalParams eval;
  eval.start_ns = params.range.start_ns;
  eval.end_ns = params.range.end_ns;
  eval.limit = params.limit;
  eval.direction = params.direction;
  if (const auto* log = std::get_if<LogExpr>(&parsed.value())) {
    return evaluate_log_query(*log, eval, source, limits);
  }
  eval.step_ns = params.step_ns > 0 ? params.step_ns : default_step_ns(params.range);
  return evaluate_metric_query(std::get<MetricNode>(parsed.value()), eval, source, limits, false);
}

Result<QueryResult> execute_instant(std::string_view query, std::int64_t time_ns,
                                    const std::string& tenant, std::size_t limit,
                                    Direction direction, EntrySource& source,
                                    const Limits& limits) {
  auto parsed = parse(query);
  if (!parsed.ok()) return parsed.error();
  EvalParams eval;
  eval.limit = limit;
  eval.direction = direction;
  if (const auto* log = std::get_if<LogExpr>(&parsed.value())) {
    eval.start_ns = time_ns - kInstantLogLookbackNs;
    eval.end_ns = time_ns + 1;
    return evaluate_log_query(*log, eval, source, limits);
  }
  eval.start_ns = time_ns;
  eval.end_ns = time_ns;
  eval.step_ns = 1;
  return evaluate_metric_query(std::get<MetricNode>(parsed.value()), eval, source, limits, true);
}

}  // namespace lognurse::logql
