#pragma once

// The public face of the LogQL library, used three ways: the embedded store
// executes queries (execute), the Loki plugin validates them before sending
// (validate), and the Nurse tools build them from filters (compile_search).
// The lexer, parser, AST, printer and evaluator live behind this header.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"

namespace lognurse::logql {

enum class MatchType { equal, not_equal, regex, not_regex };

/// One stream-selector matcher, e.g. app=~"api|web".
struct Matcher {
  std::string name;
  MatchType type = MatchType::equal;
  std::string value;
};

/// Parses and checks a query, log or metric. Errors carry the code
/// "logql.parse_error" and a message naming line, column and what was expected.
Status validate(std::string_view query);

/// Renders `value` as a LogQL double-quoted string literal whose content is
/// exactly `value`, whatever characters it holds.
std::string quote(std::string_view value);

/// Compiles search filters to canonical LogQL through the AST printer.
/// service → service_name="…", level → detected_level="…", labels → further
/// equality matchers, text → |= "…", regex → |~ "…" (checked with RE2). With no
/// label filter at all the selector is {service_name=~".+"}.
Result<std::string> compile_search(const SearchFilters& filters);

/// What the evaluator asks a store for: entries of the streams matching
/// `matchers` with timestamps in [range.start_ns, range.end_ns).
struct ScanRequest {
  std::vector<Matcher> matchers;
  TimeRange range;
  Direction direction = Direction::backward;
  /// Literals every returned line must contain (from |= filters). A store may
  /// use them to skip data; it may also ignore them: the evaluator re-checks.
  std::vector<std::string> required_literals;
};

/// Called per entry in time order (per `direction`, across all streams);
/// return false to stop the scan early.
using ScanVisitor = std::function<bool(const Labels& stream_labels, const LogEntry& entry)>;

/// A part of the streams a request matches, for evaluating one query on several threads.
/// `streams` holds the source's own keys of the shard's streams; only the source reads them.
struct ScanShard {
  std::vector<std::int64_t> streams;
};

/// Called per entry of a shard's scan, as ScanVisitor is, with the source's key of the
/// entry's stream.
using ShardVisitor = std::function<bool(std::int64_t stream_key, const Labels& stream_labels,
                                        const LogEntry& entry)>;

/// Called per entry of a scan_sizes(), in the order scan() or scan_shard() would hand it out:
/// `entry` holds the entry's time and structured metadata but not its line, which is left
/// empty; `line_bytes` is the line's size. `stream_key` is the source's key of the entry's
/// stream when the scan is a shard's.
using SizeVisitor = std::function<bool(std::int64_t stream_key, const Labels& stream_labels,
                                       const LogEntry& entry, std::size_t line_bytes)>;

/// A store's side of query execution.
class EntrySource {
public:
  virtual ~EntrySource() = default;
  virtual Status scan(const ScanRequest& request, const ScanVisitor& visit) = 0;

  /// Splits the streams `request` matches into at most `count` disjoint shards of similar
  /// work, or returns fewer than two (as this default does) when the source cannot split or
  /// the scan is too small to be worth a thread. A source that splits must break ties of
  /// equal timestamps across streams by ascending stream key in every scan, sharded or not:
  /// the evaluator merges the shards' results in that order to get exactly what one scan of
  /// all streams gives.
  virtual Result<std::vector<ScanShard>> shards(const ScanRequest& request, std::size_t count);

  /// Scans the streams of `shard`, one of what shards() returned for the same request, in the
  /// order scan() would; called from several threads at once. The default fails: it is only
  /// called with shards that shards() made.
  virtual Status scan_shard(const ScanRequest& request, const ScanShard& shard,
                            const ShardVisitor& visit);

  /// Whether every scan hands out one Labels object per stream that stays alive and
  /// unchanged until the scan returns. The evaluator then knows a stream it has seen by the
  /// object's address; otherwise (the default) it compares the labels of every entry.
  virtual bool stable_stream_labels() const { return false; }

  /// Whether scan_sizes() is available. It must hand out only the entries whose lines
  /// contain every one of the request's required_literals.
  virtual bool scans_sizes() const { return false; }

  /// Scans as scan() would (or as scan_shard() would, for `shard` when it is not null) but
  /// hands out each entry without its line, only the line's size, which saves copying every
  /// line. The evaluator uses it for metric queries whose pipeline is nothing but |= filters
  /// of the required literals: counts, rates and byte counts of lines. The default fails: it
  /// is only called on a source whose scans_sizes() is true.
  virtual Status scan_sizes(const ScanRequest& request, const ScanShard* shard,
                            const SizeVisitor& visit);
};

/// Runtime limits of one query; exceeding one fails with a message that names
/// the limit and how to narrow the query.
struct Limits {
  std::size_t max_entries = 5000;    ///< Loki's max_entries_limit_per_query
  std::size_t max_series = 500;      ///< Loki's max_query_series
  double timeout_seconds = 60;       ///< wall-clock budget of one query
  /// Threads one scan of a metric query may use: with 2 or more, the evaluator asks the
  /// source for that many shards of streams (EntrySource::shards), evaluates them at once and
  /// merges the results exactly. 1 evaluates on the calling thread only.
  std::size_t parallelism = 1;
};

/// Executes a LogQL query over `params.range` against `source`. Log queries
/// return "streams" with at most params.limit entries in params.direction
/// order across all streams; metric queries return "matrix" (step from
/// params.step_ns, or Loki's default when 0).
Result<QueryResult> execute(std::string_view query, const LogQuery& params, EntrySource& source,
                            const Limits& limits = {});

/// Instant query at `time_ns` ("vector" or "scalar" for metric queries,
/// "streams" for log queries over [time_ns - 1h... as Loki), see docs.
Result<QueryResult> execute_instant(std::string_view query, std::int64_t time_ns,
                                    const std::string& tenant, std::size_t limit,
                                    Direction direction, EntrySource& source,
                                    const Limits& limits = {});

/// Whether a stream's labels satisfy all matchers.
bool matches(const std::vector<Matcher>& matchers, const Labels& labels);

}  // namespace lognurse::logql
