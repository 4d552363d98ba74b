#pragma once

// Value types of the log-aggregation protocol. They mirror Loki's data model:
// a stream is a label set; an entry is a nanosecond timestamp, a line and
// optional structured metadata.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lognurse {

/// A label name and value.
using Label = std::pair<std::string, std::string>;

/// A label set, kept sorted by name with unique names (see normalize_labels).
using Labels = std::vector<Label>;

/// Sorts by name and keeps the last value given for a repeated name.
void normalize_labels(Labels& labels);

/// The value of `name`, or nullptr.
const std::string* find_label(const Labels& labels, const std::string& name);

/// Prometheus-style rendering: {a="x", b="y"} with values escaped.
std::string labels_to_string(const Labels& labels);

/// Tenant used when a request names none, as in Loki without multi-tenancy.
inline constexpr const char* kDefaultTenant = "fake";

struct LogEntry {
  std::int64_t timestamp_ns = 0;  ///< Unix time in nanoseconds
  std::string line;
  Labels metadata;  ///< structured metadata (trace_id, span_id, ...)
};

struct LogStream {
  Labels labels;
  std::vector<LogEntry> entries;
};

struct PushRequest {
  std::string tenant = kDefaultTenant;
  std::vector<LogStream> streams;
};

/// What a push stored.
struct PushResult {
  std::size_t entries_accepted = 0;
  std::size_t streams = 0;
};

/// Half-open interval [start_ns, end_ns) as Loki uses for range queries.
struct TimeRange {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

enum class Direction { backward, forward };

const char* to_string(Direction direction);

struct LogQuery {
  std::string tenant = kDefaultTenant;
  std::string logql;
  TimeRange range;
  std::int64_t step_ns = 0;  ///< for metric range queries; 0 picks Loki's default
  std::size_t limit = 100;
  Direction direction = Direction::backward;
};

/// Statistics of one query execution, reported in Loki's stats.summary.
struct QueryStats {
  std::uint64_t lines_scanned = 0;
  std::uint64_t bytes_scanned = 0;
  std::uint64_t streams_matched = 0;
  double exec_seconds = 0;
};

/// A sample of a metric series.
struct Sample {
  std::int64_t timestamp_ns = 0;
  double value = 0;
};

struct Series {
  Labels metric;
  std::vector<Sample> samples;
};

/// Loki's query result: "streams" for log queries, "matrix" for metric range
/// queries, "vector" for instant metric queries, "scalar" for literals.
struct QueryResult {
  std::string result_type = "streams";
  std::vector<LogStream> streams;
  std::vector<Series> series;
  QueryStats stats;
};

/// Structured search filters; compiled to LogQL by the LogQL printer, never by
/// pasting strings.
struct SearchFilters {
  std::optional<std::string> service;       ///< service_name label
  std::optional<std::string> level;         ///< detected_level / level label
  std::optional<std::string> text;          ///< line contains, case-sensitive
  std::optional<std::string> regex;         ///< line matches (RE2 syntax)
  Labels labels;                            ///< further exact label matches
};

struct SearchRequest {
  std::string tenant = kDefaultTenant;
  SearchFilters filters;
  TimeRange range;
  std::size_t limit = 100;
  Direction direction = Direction::backward;
};

struct SearchResult {
  std::string logql;  ///< the query the filters compiled to
  QueryResult result;
};

struct LogMetrics {
  TimeRange range;
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::vector<std::pair<std::string, std::uint64_t>> by_level;    ///< sorted by count, desc
  std::vector<std::pair<std::string, std::uint64_t>> by_service;  ///< sorted by count, desc
  std::uint64_t error_lines = 0;  ///< lines whose level is error, critical or fatal
  double error_rate = 0;          ///< error_lines / lines, 0 when empty
};

/// Index statistics of the streams a selector matches over a range, as in
/// Loki's /loki/api/v1/index/stats.
struct IndexStats {
  std::uint64_t streams = 0;
  std::uint64_t chunks = 0;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

/// A request for Loki's index/volume and index/volume_range: bytes per
/// series, or per the values of `target_labels` when given.
struct VolumeRequest {
  std::string tenant = kDefaultTenant;
  std::string selector;  ///< a LogQL stream selector, e.g. {service_name="api"}
  TimeRange range;
  std::vector<std::string> target_labels;  ///< aggregate by these labels; empty: by series
  std::size_t limit = 100;                 ///< at most this many series, largest first
  std::int64_t step_ns = 0;                ///< 0: one vector over the range; else a matrix
};

/// One log pattern (Loki's pattern ingester format: `<_>` marks a variable
/// part) with its counts per step.
struct LogPattern {
  std::string pattern;
  std::vector<Sample> samples;
};

/// A field found in log lines by Loki's detected_fields: its name, inferred
/// type (string, int, float, boolean, duration, bytes), the number of
/// distinct values, and the parsers that produced it (json, logfmt) — empty
/// for structured metadata.
struct DetectedField {
  std::string label;
  std::string type;
  std::uint64_t cardinality = 0;
  std::vector<std::string> parsers;
};

struct Health {
  bool ready = false;
  std::string backend;  ///< "local_store", "loki", ...
  std::string detail;   ///< the reason when not ready, or a short summary
  double latency_ms = 0;
};

}  // namespace lognurse
