#pragma once

// LocalStore: the embedded log-aggregation backend on SQLite.
//
// Storage: each push writes one head block per stream (chunks.hpp); a
// background compactor merges a stream's head blocks into zstd chunks with
// n-gram filters once they reach chunk_target_size or chunk_max_age, and
// deletes what is older than a tenant's retention_period. Both replace rows
// in one transaction, so a crash at any moment leaves every entry exactly
// once. Scans read a consistent snapshot (one read transaction).
//
// Durability: every push is one transaction, committed before push() returns,
// in WAL mode. With durability "process" (the default, SQLite synchronous
// NORMAL) an acknowledged push survives a crash of the process; a power loss
// may undo the last commits. "fsync" (synchronous FULL) makes it survive that
// too, at the price of an fsync per push.
//
// Concurrency: safe to call from several threads. Pushes are serialized by a
// mutex on the one write connection; reads use a pool of separate read
// connections and run in parallel with each other and with a push. One
// process per database file, which connect() locks (store_lock.hpp): the
// in-memory stream cache would not see streams that another process adds.
//
// Memory: each tenant's streams (id, labels, time bounds) are cached in
// memory once used; stream selection is linear in the tenant's stream count.
// A scan holds one decoded chunk per matching stream whose data overlaps the
// point in time it has reached, plus up to three decoded ahead while the
// decoded blocks in use are within decoded_block_budget. Every decoded block
// takes its memory from the store's BlockPool, which keeps freed ones for
// reuse only within that budget. Read connections do not map the database
// file, so SQLite's page cache (2 MB per connection) is what they hold.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chunks.hpp"
#include "lognurse/host_api/log_aggregation.hpp"
#include "lognurse/host_api/logger.hpp"
#include "lognurse/logql/logql.hpp"
#include "rate_limiter.hpp"
#include "sqlite.hpp"
#include "store_config.hpp"
#include "store_lock.hpp"
#include "store_metrics.hpp"
#include "validation.hpp"

namespace lognurse::local_store {

/// What the write connection's commit hook shares with the store: the size of the
/// write-ahead log, in pages, past which the log is to be restarted, and whether a commit
/// found it that large.
struct WalRestart {
  int frames = 0;
  std::atomic<bool> wanted{false};
};

class LocalStore final : public LogAggregationProtocol {
public:
  /// Takes a parsed configuration; `logger` and `metrics` may be null. Opens nothing until
  /// connect() or the first call that needs the database.
  LocalStore(StoreConfig config, std::shared_ptr<Logger> logger,
             std::shared_ptr<MetricsSink> metrics = nullptr);
  ~LocalStore() override;

  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  /// "local_store".
  std::string backend_name() const override;

  /// Creates the database file (and its directory) when missing, switches it to WAL and
  /// migrates the schema. Idempotent; every other call connects on demand.
  Status connect() override;

  /// Ready when the database opens and answers a query; the detail counts streams and entries.
  Health health() override;

  /// Validates the whole request against the tenant's limits (see StoreConfig::limits_for),
  /// takes its bytes of lines and structured metadata from the tenant's ingestion rate
  /// ("store.rate_limited", 429, when over it), then stores it in one transaction: all or
  /// nothing. Entries
  /// may arrive out of order; an entry equal to a stored one (same stream, timestamp and line)
  /// is stored once. entries_accepted counts the entries newly stored, so duplicates are not
  /// counted; streams counts the streams that had entries.
  Result<PushResult> push(const PushRequest& request) override;

  /// Runs query.logql over query.range for query.tenant through the LogQL evaluator. A limit
  /// above limits.max_entries_limit_per_query fails with "store.max_entries_limit".
  Result<QueryResult> query(const LogQuery& query) override;

  /// Sorted label names of the tenant's streams with at least one entry in the range.
  Result<std::vector<std::string>> labels(const std::string& tenant,
                                          const TimeRange& range) override;

  /// Sorted values of label `name` in the tenant's streams with entries in the range.
  Result<std::vector<std::string>> label_values(const std::string& tenant, const std::string& name,
                                                const TimeRange& range) override;

  /// Compiles the filters with logql::compile_search, then runs query().
  Result<SearchResult> search(const SearchRequest& request) override;

  /// Lines, bytes, counts by level and service, error lines and rate, from SQL aggregates
  /// over the classifications stored at push time (see classify.hpp).
  Result<LogMetrics> metrics(const std::string& tenant, const TimeRange& range) override;

  /// Label sets of the tenant's streams that match any selector and have entries in the range,
  /// sorted. An empty list of selectors, or the selector "{}", matches every stream.
  Result<std::vector<Labels>> series(const std::string& tenant,
                                     const std::vector<std::string>& selectors,
                                     const TimeRange& range) override;

  /// Streams with entries in the range, their entries and line bytes, and the chunks (head
  /// blocks and compacted chunks) holding them.
  Result<IndexStats> stats(const std::string& tenant, const std::string& selector,
                           const TimeRange& range) override;

  /// Line bytes per series as Loki's index/volume computes them: grouped by the target labels,
  /// or by the labels the selector names, largest first, at most request.limit series. Without
  /// a step one "vector" sample at the range end; with one a "matrix" with a sample at the end
  /// of each step.
  Result<QueryResult> volume(const VolumeRequest& request) override;

  /// Patterns of the lines the selector matches, found by clustering lines of equal token
  /// count whose tokens mostly agree (the idea of Loki's Drain-based pattern ingester); the
  /// tokens that differ become "<_>"; at most 300 patterns per token count. Counts per step,
  /// most frequent pattern first.
  Result<std::vector<LogPattern>> patterns(const std::string& tenant, const std::string& selector,
                                           const TimeRange& range, std::int64_t step_ns) override;

  /// Fields of the newest `line_limit` lines the log query returns, as Loki's detected_fields:
  /// structured metadata, labels the query's parsers extract, and what json (or, failing that,
  /// logfmt) finds in each line; with the type of the last value seen and the exact number of
  /// distinct values. Sorted by name.
  Result<std::vector<DetectedField>> detected_fields(const std::string& tenant,
                                                     const std::string& query,
                                                     const TimeRange& range,
                                                     std::size_t line_limit) override;

  /// The store's side of query execution for one tenant: entries of the streams matching
  /// request.matchers in [start, end), in global time order (ties by stream, then arrival),
  /// ascending for forward and exactly reversed for backward. Stops when `visit` returns
  /// false. A compacted chunk whose n-gram filter rules out a required literal is not read;
  /// in the others one search over the chunk's lines finds the candidates.
  Status scan(const std::string& tenant, const logql::ScanRequest& request,
              const logql::ScanVisitor& visit);

  /// Splits the tenant's streams matching request.matchers into at most `count` shards of
  /// similar bytes of lines in the range, heaviest first, each listing stream ids in
  /// ascending order (the order scans break ties of equal timestamps in). None when fewer
  /// than two streams match or the scan would read less than query_shard_min_size: a thread
  /// costs more than such a scan. Linear in the tenant's stream count, one index query per
  /// matching stream.
  Result<std::vector<logql::ScanShard>> plan_shards(const std::string& tenant,
                                                    const logql::ScanRequest& request,
                                                    std::size_t count);

  /// scan() over the streams of `shard` only (those of them that still match for this
  /// tenant); `visit` also receives each entry's stream id.
  Status scan_shard(const std::string& tenant, const logql::ScanRequest& request,
                    const logql::ScanShard& shard, const logql::ShardVisitor& visit);

  /// scan(), or scan_shard() when `shard` is not null, handing out entries without copying
  /// their lines (logql::EntrySource::scan_sizes): each entry's line is left empty and its
  /// size given beside it. Every entry handed out contains every required literal.
  Status scan_sizes(const std::string& tenant, const logql::ScanRequest& request,
                    const logql::ScanShard* shard, const logql::SizeVisitor& visit);

  /// The configuration in use.
  const StoreConfig& config() const { return config_; }

  /// Bytes of decoded blocks in use and kept for reuse (see decoded_block_budget).
  BlockPool::Usage decoded_block_usage() const { return block_pool_.usage(); }

  /// Compacts now: with `everything`, every head block; otherwise the streams whose head
  /// blocks reached chunk_target_size, chunk_max_age or the block count limit. Then applies
  /// retention. The background compactor calls this every compaction_interval.
  Status compact(bool everything);

  /// What the store holds on disk.
  struct StorageStats {
    std::uint64_t head_blocks = 0;
    std::uint64_t chunks = 0;         ///< compacted chunks
    std::uint64_t entries = 0;
    std::uint64_t line_bytes = 0;     ///< bytes of lines, uncompressed
    std::uint64_t head_bytes = 0;     ///< stored bytes of head blocks
    std::uint64_t chunk_bytes = 0;    ///< stored (compressed) bytes of compacted chunks
    std::uint64_t filter_bytes = 0;   ///< bytes of n-gram filters
  };
  Result<StorageStats> storage_stats();

private:
  struct StreamInfo {
    std::int64_t id = 0;
    std::shared_ptr<const Labels> labels;
    std::int64_t min_ns = 0;
    std::int64_t max_ns = 0;
  };

  struct TenantStreams {
    std::shared_mutex mutex;
    std::vector<StreamInfo> streams;
    std::unordered_map<std::string, std::size_t> by_key;
  };

  struct WriteStatements;
  class ReaderLease;

  /// A read connection with its chunk statements.
  struct PooledReader {
    std::unique_ptr<Connection> connection;
    std::unique_ptr<ChunkStatements> chunks;
  };

  /// What the write path and the compactor know of a stream; guarded by write_mutex_.
  struct StreamWriteState {
    std::int64_t max_ns = 0;     ///< largest stored timestamp (valid when has_max)
    bool has_max = false;
    bool hashes_known = false;   ///< whether hashes_at_max covers every entry at max_ns
    std::vector<std::uint64_t> hashes_at_max;
    std::uint64_t head_blocks = 0;
    std::uint64_t head_bytes = 0;
    std::int64_t oldest_head_ns = 0;  ///< wall-clock time the oldest head block was written
  };

  struct MatchedStream {
    std::int64_t id = 0;
    std::shared_ptr<const Labels> labels;
  };

  Result<PooledReader> open_reader();
  Result<ReaderLease> acquire_reader();
  void release_reader(PooledReader reader);
  void end_lease();  ///< one reader lease fewer: lets a waiting log restart go on

  Result<std::shared_ptr<TenantStreams>> tenant_streams(const std::string& tenant, bool create);
  Result<std::vector<MatchedStream>> select_streams(const std::string& tenant,
                                                    const std::vector<logql::Matcher>& matchers,
                                                    const TimeRange& range);
  Result<std::vector<MatchedStream>> streams_with_entries(const std::string& tenant,
                                                          const TimeRange& range);

  /// Runs `body` with a pooled read connection inside one read transaction.
  Status with_reader(const std::function<Status(Connection&, ChunkStatements&)>& body);

  /// Whether the stream has at least one entry in the range.
  static Result<bool> has_entries(ChunkStatements& chunks, std::int64_t stream_id,
                                  const TimeRange& range);

  /// The entries of `stream` that are already stored, among `candidates` (timestamp, line).
  Result<std::vector<bool>> stored_already(
      std::int64_t stream_id, const std::vector<std::pair<std::int64_t, std::string_view>>& candidates);

  /// Compacts up to kMaxCompactionBytes of the stream's head blocks; returns how many.
  Result<std::size_t> compact_stream(std::int64_t stream_id);
  Status apply_retention();
  Status load_write_state();
  Status refresh_head_state(std::int64_t stream_id);
  void maintenance_loop();
  void start_maintenance();
  void stop_maintenance();

  Result<std::vector<MatchedStream>> streams_matching(const std::string& tenant,
                                                      const std::vector<std::string>& selectors,
                                                      const TimeRange& range);

  Result<PushResult> write(const std::string& tenant, const std::vector<ValidatedStream>& streams);
  /// scan() over the selected streams, or over those of them listed in `only` (sorted) when
  /// it is not null; `visit(const MatchedStream&, const LogEntry&)` takes each entry, or
  /// `visit(const MatchedStream&, const LogEntry&, std::size_t line_bytes)` each entry
  /// without its line.
  template <typename Visit>
  Status scan_selected(const std::string& tenant, const logql::ScanRequest& request,
                       const std::vector<std::int64_t>* only, const Visit& visit);
  /// The entries of `streams` in the scan's order; with `discover_levels`, an entry that has
  /// no detected_level (label or structured metadata) is handed out with the level classified
  /// at push as its detected_level metadata.
  template <typename Visit>
  Status merge_scan(ChunkStatements& chunks, const std::vector<MatchedStream>& streams,
                    const logql::ScanRequest& request, const Visit& visit,
                    std::int64_t deadline, bool discover_levels);

  void log(LogLevel level, const std::string& message) const;

  StoreConfig config_;
  /// Held from connect() on, so that no other process opens the file; declared before every
  /// connection, so that it is released after they close.
  StoreLock lock_;
  std::shared_ptr<Logger> logger_;
  StoreMetrics metrics_;
  /// Memory of every block this store decodes (decoded_block_budget).
  BlockPool block_pool_;

  /// Restarts the write-ahead log once it has passed wal_restart_size: closes the reader
  /// gate, waits (busy_timeout at most) for the queries in flight, and truncates the log
  /// with no snapshot left to keep it. Overlapping queries would otherwise never leave
  /// SQLite the moment without readers that it needs, and the log would grow by every push.
  void restart_log();

  std::mutex write_mutex_;
  WalRestart wal_restart_;  ///< set when the write connection opens
  /// Reader leases wait while the gate is closed for a log restart.
  std::mutex gate_mutex_;
  std::condition_variable gate_cv_;
  bool gate_closed_ = false;
  std::size_t active_leases_ = 0;
  std::atomic<bool> connected_{false};
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<WriteStatements> statements_;
  std::unique_ptr<ChunkStatements> write_chunks_;
  std::unordered_map<std::int64_t, StreamWriteState> write_state_;
  std::int64_t next_seq_ = 0;

  std::mutex readers_mutex_;
  std::vector<PooledReader> idle_readers_;

  std::mutex maintenance_mutex_;  // one compaction or retention pass at a time
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool compaction_wanted_ = false;
  std::thread maintenance_;

  std::mutex tenants_mutex_;
  std::unordered_map<std::string, std::shared_ptr<TenantStreams>> tenants_;

  IngestionRateLimiter rate_limiter_;
};

}  // namespace lognurse::local_store
