#include "local_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <tuple>
#include <type_traits>
#include <utility>

#include "chunk_prefetch.hpp"
#include "classify.hpp"
#include "lognurse/host_api/shortened.hpp"
#include "lognurse/host_api/time.hpp"
#include "schema.hpp"

namespace lognurse::local_store {
namespace {

constexpr const char* kBackendName = "local_store";

/// The structured metadata Loki 3 adds with the level it discovers at push.
const std::string kDetectedLevel = "detected_level";

/// Runs `body`, turning any exception into an error so that none leaves the interface.
template <typename T, typename Body>
Result<T> guarded(const char* operation, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return internal_error("store.internal",
                          std::string("local_store ") + operation + " failed: " + e.what());
  } catch (...) {
    return internal_error("store.internal",
                          std::string("local_store ") + operation + " failed: unknown exception");
  }
}

/// SQLite's own automatic checkpoint: a passive one once the log holds this many pages.
constexpr int kAutoCheckpointFrames = 1000;

/// Runs after each commit of the write connection, in place of SQLite's automatic
/// checkpoint, which it repeats; and past the restart size it asks the store to restart
/// the log after the push (LocalStore::restart_log).
int checkpoint_after_commit(void* context, sqlite3* db, const char* schema, int frames) {
  auto& restart = *static_cast<WalRestart*>(context);
  if (frames >= kAutoCheckpointFrames) {
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  if (frames >= restart.frames) restart.wanted.store(true, std::memory_order_relaxed);
  return SQLITE_OK;
}

/// Steady-clock nanoseconds, the clock of query deadlines.
std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Error query_timeout() {
  return Error{ErrorKind::timeout, "store.query_timeout",
               "the query ran longer than limits.query_timeout; narrow the time range or the "
               "stream selector"};
}

/// A hash of a line, for the duplicate check of the write path (which compares the lines
/// themselves whenever hashes agree).
std::uint64_t line_hash(std::string_view line) { return std::hash<std::string_view>{}(line); }

/// Head blocks of one stream that trigger a compaction regardless of their size.
constexpr std::uint64_t kMaxHeadBlocks = 1024;
/// Line bytes one compaction of a stream reads at most; the rest waits for the next pass.
constexpr std::uint64_t kMaxCompactionBytes = 64ULL * 1024 * 1024;
/// A scan that will open at least this many chunks decodes ahead on a second thread ...
constexpr std::size_t kPrefetchMinChunks = 3;
/// ... this many chunks beyond the one it opens.
constexpr std::size_t kPrefetchChunks = 3;
/// Chunks one retention transaction deletes at most.
constexpr int kRetentionBatch = 500;

std::vector<std::pair<std::string, std::uint64_t>> sorted_counts(
    const std::map<std::string, std::uint64_t>& counts) {
  std::vector<std::pair<std::string, std::uint64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return sorted;
}

/// Binds a tenant to a LocalStore so the LogQL evaluator sees only that tenant's streams.
class TenantSource final : public logql::EntrySource {
public:
  TenantSource(LocalStore& store, std::string tenant) : store_(store), tenant_(std::move(tenant)) {}

  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    return store_.scan(tenant_, request, visit);
  }

  Result<std::vector<logql::ScanShard>> shards(const logql::ScanRequest& request,
                                               std::size_t count) override {
    return store_.plan_shards(tenant_, request, count);
  }

  Status scan_shard(const logql::ScanRequest& request, const logql::ScanShard& shard,
                    const logql::ShardVisitor& visit) override {
    return store_.scan_shard(tenant_, request, shard, visit);
  }

  /// A scan hands out the labels of the stream cache's entries, which are never changed
  /// and which the scan's list of matched streams keeps alive.
  bool stable_stream_labels() const override { return true; }

  bool scans_sizes() const override { return true; }

  Status scan_sizes(const logql::ScanRequest& request, const logql::ScanShard* shard,
                    const logql::SizeVisitor& visit) override {
    return store_.scan_sizes(tenant_, request, shard, visit);
  }

private:
  LocalStore& store_;
  std::string tenant_;
};

}  // namespace

/// Statements of the write path, prepared once on the write connection.
struct LocalStore::WriteStatements {
  Statement find_stream;
  Statement insert_stream;
  Statement insert_posting;
  Statement update_bounds;
  Statement add_counter;

  static Result<std::unique_ptr<WriteStatements>> prepare(Connection& connection) {
    auto statements = std::make_unique<WriteStatements>();
    const std::pair<Statement*, const char*> sources[] = {
        {&statements->find_stream, "SELECT id FROM streams WHERE tenant = ?1 AND labels_key = ?2"},
        {&statements->insert_stream,
         "INSERT INTO streams (tenant, labels_key, fingerprint, service, min_ns, max_ns, "
         "created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        {&statements->insert_posting,
         "INSERT OR IGNORE INTO label_postings (tenant, name, value, stream_id) "
         "VALUES (?1, ?2, ?3, ?4)"},
        {&statements->update_bounds,
         "UPDATE streams SET min_ns = min(min_ns, ?2), max_ns = max(max_ns, ?3) WHERE id = ?1"},
        {&statements->add_counter, "UPDATE counters SET value = value + ?2 WHERE name = ?1"},
    };
    for (const auto& source : sources) {
      auto prepared = connection.prepare(source.second);
      if (!prepared) return prepared.error();
      *source.first = std::move(prepared.value());
    }
    return statements;
  }

  Status add_to_counter(const char* name, std::int64_t amount) {
    add_counter.reset();
    add_counter.bind_text(1, name);
    add_counter.bind(2, amount);
    return add_counter.run();
  }
};

/// A read connection borrowed from the pool and returned on destruction. Reads through it
/// see one snapshot of the database once snapshot() was called.
class LocalStore::ReaderLease {
public:
  ReaderLease(LocalStore* store, PooledReader reader)
      : store_(store), reader_(std::move(reader)) {}
  ReaderLease(ReaderLease&& other) noexcept
      : store_(other.store_), reader_(std::move(other.reader_)), in_snapshot_(other.in_snapshot_) {
    other.in_snapshot_ = false;
  }
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease() {
    if (!reader_.connection) return;
    reader_.chunks->end_reads();
    if (in_snapshot_) (void)reader_.connection->exec("COMMIT");
    store_->release_reader(std::move(reader_));
  }

  /// Starts the read transaction: later reads see the database as of now.
  Status snapshot() {
    if (in_snapshot_) return success();
    auto begun = reader_.connection->exec("BEGIN");
    if (!begun) return begun;
    in_snapshot_ = true;
    return success();
  }

  Connection& operator*() { return *reader_.connection; }
  Connection* operator->() { return reader_.connection.get(); }
  ChunkStatements& chunks() { return *reader_.chunks; }

private:
  LocalStore* store_;
  PooledReader reader_;
  bool in_snapshot_ = false;
};

LocalStore::LocalStore(StoreConfig config, std::shared_ptr<Logger> logger,
                       std::shared_ptr<MetricsSink> metrics)
    : config_(std::move(config)),
      logger_(std::move(logger)),
      metrics_(StoreMetrics::create(metrics, logger_)),
      block_pool_(config_.decoded_block_budget) {}

LocalStore::~LocalStore() {
  stop_maintenance();
  idle_readers_.clear();
  write_chunks_.reset();
  statements_.reset();
  writer_.reset();
  // lock_ goes last, with every connection closed.
}

std::string LocalStore::backend_name() const { return kBackendName; }

void LocalStore::log(LogLevel level, const std::string& message) const {
  if (logger_) logger_->log(level, message);
}

Status LocalStore::connect() {
  if (connected_.load(std::memory_order_acquire)) return success();
  auto connected = guarded<Unit>("connect", [&]() -> Status {
    std::lock_guard lock(write_mutex_);
    if (writer_) return success();

    std::error_code ignored;
    auto parent = std::filesystem::path(config_.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ignored);

    auto store_lock = StoreLock::acquire(config_.path);
    if (!store_lock) {
      log(LogLevel::error, store_lock.error().message);
      return store_lock.error();
    }
    auto opened = Connection::open(config_.path, true);
    if (!opened) {
      log(LogLevel::error, "cannot open " + config_.path + ": " + opened.error().message);
      return opened.error();
    }
    auto connection = std::move(opened.value());
    sqlite3_busy_timeout(connection->handle(),
                         static_cast<int>(config_.busy_timeout_ns / 1'000'000));

    auto mode = connection->prepare("PRAGMA journal_mode = WAL");
    if (!mode) return mode.error();
    auto row = mode.value().step();
    if (!row) return row.error();
    if (mode.value().column_bytes(0) != "wal") {
      return unavailable("store.no_wal", "database '" + config_.path +
                                             "' cannot use write-ahead logging; put it on a "
                                             "local file system");
    }
    mode.value().reset();

    auto pragmas = connection->exec(config_.fsync_each_push ? "PRAGMA synchronous = FULL"
                                                             : "PRAGMA synchronous = NORMAL");
    if (!pragmas) return pragmas.error();
    // A log that SQLite restarts by itself is cut back to the restart size too.
    auto limit = connection->exec("PRAGMA journal_size_limit = " +
                                  std::to_string(config_.wal_restart_bytes));
    if (!limit) return limit.error();
    auto page_size = connection->prepare("PRAGMA page_size");
    if (!page_size) return page_size.error();
    auto page_row = page_size.value().step();
    if (!page_row) return page_row.error();
    const auto page_bytes = std::max<std::int64_t>(page_size.value().column_int(0), 512);
    wal_restart_.frames = static_cast<int>(std::clamp<std::int64_t>(
        static_cast<std::int64_t>(config_.wal_restart_bytes) / page_bytes, 16, 1 << 30));
    page_size.value().reset();
    sqlite3_wal_hook(connection->handle(), checkpoint_after_commit, &wal_restart_);

    auto version = migrate(*connection);
    if (!version) {
      log(LogLevel::error, "cannot prepare " + config_.path + ": " + version.error().message);
      return version.error();
    }
    auto statements = WriteStatements::prepare(*connection);
    if (!statements) return statements.error();
    auto chunks = ChunkStatements::prepare(*connection, block_pool_);
    if (!chunks) return chunks.error();

    writer_ = std::move(connection);
    statements_ = std::move(statements.value());
    write_chunks_ = std::make_unique<ChunkStatements>(std::move(chunks.value()));
    auto state = load_write_state();
    if (!state) {
      write_chunks_.reset();
      statements_.reset();
      writer_.reset();
      return state;
    }
    lock_ = std::move(store_lock.value());
    connected_.store(true, std::memory_order_release);
    log(LogLevel::info,
        "opened " + config_.path + " (schema version " + std::to_string(version.value()) + ")");
    return success();
  });
  if (connected) start_maintenance();
  return connected;
}

Status LocalStore::load_write_state() {
  auto seq = writer_->prepare("SELECT coalesce(max(seq), 0) FROM chunks");
  if (!seq) return seq.error();
  auto row = seq.value().step();
  if (!row) return row.error();
  next_seq_ = seq.value().column_int(0);

  write_state_.clear();
  std::uint64_t blocks = 0;
  std::uint64_t bytes = 0;
  auto heads = writer_->prepare(
      "SELECT stream_id, count(*), sum(line_bytes), min(created_ns) FROM chunks "
      "WHERE compacted = 0 GROUP BY stream_id");
  if (!heads) return heads.error();
  for (;;) {
    auto next = heads.value().step();
    if (!next) return next.error();
    if (!next.value()) break;
    StreamWriteState& state = write_state_[heads.value().column_int(0)];
    state.head_blocks = static_cast<std::uint64_t>(heads.value().column_int(1));
    state.head_bytes = static_cast<std::uint64_t>(heads.value().column_int(2));
    state.oldest_head_ns = heads.value().column_int(3);
    blocks += state.head_blocks;
    bytes += state.head_bytes;
  }
  metrics_.head_blocks->set(static_cast<double>(blocks));
  metrics_.head_bytes->set(static_cast<double>(bytes));
  return success();
}

Result<LocalStore::PooledReader> LocalStore::open_reader() {
  auto opened = Connection::open(config_.path, false);
  if (!opened) return opened.error();
  sqlite3_busy_timeout(opened.value()->handle(),
                       static_cast<int>(config_.busy_timeout_ns / 1'000'000));
  auto read_only = opened.value()->exec("PRAGMA query_only = 1");
  if (!read_only) return read_only.error();
  // Pages are read with read(), not mapped: each connection's map of the file counted every
  // page it touched in the process's resident memory (50 to 100 MB under the load test, and
  // dropping whenever the growing file was mapped again), while reading costs a copy per
  // page: 3 to 10 % more CPU time for queries that read chunks (bench/store_bench).
  auto unmapped = opened.value()->exec("PRAGMA mmap_size = 0");
  if (!unmapped) return unmapped.error();
  auto chunks = ChunkStatements::prepare(*opened.value(), block_pool_);
  if (!chunks) return chunks.error();
  PooledReader reader;
  reader.connection = std::move(opened.value());
  reader.chunks = std::make_unique<ChunkStatements>(std::move(chunks.value()));
  return reader;
}

Result<LocalStore::ReaderLease> LocalStore::acquire_reader() {
  auto connected = connect();
  if (!connected) return connected.error();
  {
    std::unique_lock gate(gate_mutex_);
    gate_cv_.wait(gate, [&] { return !gate_closed_; });
    ++active_leases_;
  }
  {
    std::lock_guard lock(readers_mutex_);
    if (!idle_readers_.empty()) {
      auto reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(reader));
    }
  }
  auto opened = open_reader();
  if (!opened) {
    end_lease();
    return opened.error();
  }
  return ReaderLease(this, std::move(opened.value()));
}

void LocalStore::release_reader(PooledReader reader) {
  reader.connection->set_deadline(0);
  {
    std::lock_guard lock(readers_mutex_);
    if (idle_readers_.size() < config_.read_connections) {
      idle_readers_.push_back(std::move(reader));
    }
  }
  end_lease();
}

void LocalStore::end_lease() {
  {
    std::lock_guard gate(gate_mutex_);
    --active_leases_;
  }
  gate_cv_.notify_all();
}

void LocalStore::restart_log() {
  // Taken first, so that no push, which may open a reader under it, waits at the gate.
  std::lock_guard write_lock(write_mutex_);
  std::unique_lock gate(gate_mutex_);
  gate_closed_ = true;
  const bool drained = gate_cv_.wait_for(gate, std::chrono::nanoseconds(config_.busy_timeout_ns),
                                         [&] { return active_leases_ == 0; });
  if (drained && writer_) {
    const int rc = sqlite3_wal_checkpoint_v2(writer_->handle(), nullptr,
                                             SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      log(LogLevel::warn, std::string("cannot restart the write-ahead log: ") +
                              sqlite3_errmsg(writer_->handle()) + "; trying after the next push");
      wal_restart_.wanted.store(true, std::memory_order_relaxed);
    }
  } else {
    log(LogLevel::warn,
        "the write-ahead log is past wal_restart_size, but queries kept it for busy_timeout; "
        "trying after the next push");
    wal_restart_.wanted.store(true, std::memory_order_relaxed);
  }
  gate_closed_ = false;
  gate.unlock();
  gate_cv_.notify_all();
}

Result<std::shared_ptr<LocalStore::TenantStreams>> LocalStore::tenant_streams(
    const std::string& tenant, bool create) {
  // Connect before taking tenants_mutex_: connecting takes write_mutex_, and a push holds
  // write_mutex_ while it takes tenants_mutex_.
  auto connected = connect();
  if (!connected) return connected.error();
  std::lock_guard lock(tenants_mutex_);
  auto found = tenants_.find(tenant);
  if (found != tenants_.end()) return found->second;

  auto reader = acquire_reader();
  if (!reader) return reader.error();
  auto streams = std::make_shared<TenantStreams>();

  auto rows = reader.value()->prepare(
      "SELECT id, labels_key, min_ns, max_ns FROM streams WHERE tenant = ?1 ORDER BY id");
  if (!rows) return rows.error();
  rows.value().bind_text(1, tenant);
  std::map<std::int64_t, Labels> labels_by_id;
  for (;;) {
    auto row = rows.value().step();
    if (!row) return row.error();
    if (!row.value()) break;
    StreamInfo info;
    info.id = rows.value().column_int(0);
    info.min_ns = rows.value().column_int(2);
    info.max_ns = rows.value().column_int(3);
    streams->by_key.emplace(std::string(rows.value().column_bytes(1)), streams->streams.size());
    streams->streams.push_back(std::move(info));
    labels_by_id[streams->streams.back().id];
  }

  auto postings = reader.value()->prepare(
      "SELECT stream_id, name, value FROM label_postings WHERE tenant = ?1");
  if (!postings) return postings.error();
  postings.value().bind_text(1, tenant);
  for (;;) {
    auto row = postings.value().step();
    if (!row) return row.error();
    if (!row.value()) break;
    auto stream = labels_by_id.find(postings.value().column_int(0));
    if (stream == labels_by_id.end()) continue;
    stream->second.emplace_back(std::string(postings.value().column_bytes(1)),
                                std::string(postings.value().column_bytes(2)));
  }
  for (auto& info : streams->streams) {
    Labels labels = std::move(labels_by_id[info.id]);
    normalize_labels(labels);
    info.labels = std::make_shared<const Labels>(std::move(labels));
  }

  // A tenant that only reads is not cached while it has no streams, so that queries naming
  // arbitrary tenants cannot grow the cache.
  if (streams->streams.empty() && !create) return streams;
  tenants_.emplace(tenant, streams);
  return streams;
}

Result<PushResult> LocalStore::push(const PushRequest& request) {
  return guarded<PushResult>("push", [&]() -> Result<PushResult> {
    const StoreLimits& limits = config_.limits_for(request.tenant);
    const std::int64_t now = now_ns();
    auto validated = validate_push(request, limits, now);
    if (!validated) {
      log(LogLevel::warn, "push refused for tenant '" + request.tenant +
                              "': " + validated.error().code + ": " +
                              shortened(validated.error().message));
      return validated.error();
    }
    if (validated.value().empty()) return PushResult{};
    std::size_t lines = 0;
    std::uint64_t bytes = 0;
    for (const auto& stream : validated.value()) {
      for (const auto& entry : stream.source->entries) {
        ++lines;
        bytes += entry.line.size();
        for (const auto& [name, value] : entry.metadata) bytes += name.size() + value.size();
      }
    }
    constexpr double kMegabyte = 1024.0 * 1024.0;
    auto admitted = rate_limiter_.admit(request.tenant, lines, bytes,
                                        limits.ingestion_rate_mb * kMegabyte,
                                        limits.ingestion_rate_burst_size_mb * kMegabyte, now);
    if (!admitted) {
      log(LogLevel::warn, "push refused for tenant '" + request.tenant +
                              "': " + admitted.error().code + ": " +
                              shortened(admitted.error().message));
      return admitted.error();
    }
    auto connected = connect();
    if (!connected) return connected.error();

    auto written = write(request.tenant, validated.value());
    if (!written) {
      log(LogLevel::error, "push of " + std::to_string(validated.value().size()) +
                               " streams for tenant '" + request.tenant +
                               "' not stored: " + written.error().message);
    } else if (wal_restart_.wanted.exchange(false, std::memory_order_relaxed)) {
      restart_log();
    }
    return written;
  });
}

Result<std::vector<bool>> LocalStore::stored_already(
    std::int64_t stream_id,
    const std::vector<std::pair<std::int64_t, std::string_view>>& candidates) {
  std::vector<bool> stored(candidates.size(), false);
  if (candidates.empty()) return stored;
  std::int64_t low = candidates.front().first;
  std::int64_t high = low;
  for (const auto& candidate : candidates) {
    low = std::min(low, candidate.first);
    high = std::max(high, candidate.first);
  }
  TimeRange span{low, high == std::numeric_limits<std::int64_t>::max() ? high : high + 1};
  auto refs = write_chunks_->list(stream_id, span);
  if (!refs) return refs.error();
  for (const auto& ref : refs.value()) {
    bool needed = false;
    for (std::size_t i = 0; i < candidates.size() && !needed; ++i) {
      needed = !stored[i] && candidates[i].first >= ref.min_ns && candidates[i].first <= ref.max_ns;
    }
    if (!needed) continue;
    auto block = write_chunks_->load(ref);
    if (!block) return block.error();
    const DecodedBlock& b = block.value();
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (stored[i]) continue;
      for (std::size_t j = b.lower_bound(candidates[i].first);
           j < b.size() && b.timestamp(j) == candidates[i].first; ++j) {
        if (b.line(j) == candidates[i].second) {
          stored[i] = true;
          break;
        }
      }
    }
  }
  return stored;
}

Result<PushResult> LocalStore::write(const std::string& tenant,
                                     const std::vector<ValidatedStream>& streams) {
  struct Written {
    std::int64_t id = 0;
    std::shared_ptr<const Labels> labels;
    std::int64_t min_ns = 0;
    std::int64_t max_ns = 0;
    bool any = false;
  };

  std::unique_lock lock(write_mutex_);
  auto cache = tenant_streams(tenant, true);
  if (!cache) return cache.error();
  WriteStatements& sql = *statements_;
  const std::int64_t now = now_ns();

  Transaction transaction(*writer_);
  if (!transaction.ok()) return transaction.begin_status().error();

  // Changes to the in-memory write state are applied only after the commit.
  struct StateChange {
    std::int64_t stream_id;
    StreamWriteState state;
  };
  std::vector<StateChange> changes;
  std::map<std::string, Written> touched;
  PushResult result;
  std::uint64_t bytes = 0;
  std::int64_t seq = next_seq_;
  bool compaction_due = false;
  for (const auto& stream : streams) {
    auto [slot, inserted] = touched.try_emplace(stream.key);
    Written& written = slot->second;
    if (inserted) {
      {
        std::shared_lock read_lock(cache.value()->mutex);
        auto known = cache.value()->by_key.find(stream.key);
        if (known != cache.value()->by_key.end()) {
          written.id = cache.value()->streams[known->second].id;
        }
      }
      if (written.id == 0) {
        sql.find_stream.reset();
        sql.find_stream.bind_text(1, tenant);
        sql.find_stream.bind_text(2, stream.key);
        auto row = sql.find_stream.step();
        if (!row) return row.error();
        if (row.value()) written.id = sql.find_stream.column_int(0);
        sql.find_stream.reset();
      }
      if (written.id == 0) {
        const LogEntry& first = stream.source->entries.front();
        sql.insert_stream.reset();
        sql.insert_stream.bind_text(1, tenant);
        sql.insert_stream.bind_text(2, stream.key);
        sql.insert_stream.bind(3, static_cast<std::int64_t>(stream.fingerprint));
        sql.insert_stream.bind_text(4, classify_service(stream.labels));
        sql.insert_stream.bind(5, first.timestamp_ns);
        sql.insert_stream.bind(6, first.timestamp_ns);
        sql.insert_stream.bind(7, now);
        auto status = sql.insert_stream.run();
        if (!status) return status.error();
        written.id = sqlite3_last_insert_rowid(writer_->handle());
        for (const auto& [name, value] : stream.labels) {
          sql.insert_posting.reset();
          sql.insert_posting.bind_text(1, tenant);
          sql.insert_posting.bind_text(2, name);
          sql.insert_posting.bind_text(3, value);
          sql.insert_posting.bind(4, written.id);
          auto posted = sql.insert_posting.run();
          if (!posted) return posted.error();
        }
      }
      written.labels = std::make_shared<const Labels>(stream.labels);
      ++result.streams;
    }

    // The state this push starts from: what an earlier stream of the same push changed, or
    // what is committed.
    StreamWriteState state;
    auto pending = std::find_if(changes.rbegin(), changes.rend(),
                                [&](const StateChange& c) { return c.stream_id == written.id; });
    if (pending != changes.rend()) {
      state = pending->state;
    } else {
      auto known = write_state_.find(written.id);
      if (known != write_state_.end()) state = known->second;
      if (!state.has_max) {
        std::shared_lock read_lock(cache.value()->mutex);
        auto info = cache.value()->by_key.find(stream.key);
        if (info != cache.value()->by_key.end()) {
          state.max_ns = cache.value()->streams[info->second].max_ns;
          state.has_max = true;
          state.hashes_known = false;
        }
      }
    }

    // Entries in time order; equal entries within the push are kept once.
    const auto& entries = stream.source->entries;
    std::vector<std::uint32_t> order(entries.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    auto by_time = [&](std::uint32_t a, std::uint32_t b) {
      return entries[a].timestamp_ns < entries[b].timestamp_ns;
    };
    if (!std::is_sorted(order.begin(), order.end(), by_time)) {
      std::stable_sort(order.begin(), order.end(), by_time);
    }
    std::vector<std::uint64_t> hashes(entries.size());
    std::vector<bool> keep(entries.size(), true);
    std::vector<std::pair<std::int64_t, std::string_view>> candidates;
    std::vector<std::uint32_t> candidate_index;
    std::size_t run_start = 0;
    for (std::size_t k = 0; k < order.size(); ++k) {
      const LogEntry& entry = entries[order[k]];
      if (k > 0 && entry.timestamp_ns != entries[order[k - 1]].timestamp_ns) run_start = k;
      const std::uint64_t h = line_hash(entry.line);
      hashes[order[k]] = h;
      for (std::size_t j = run_start; j < k; ++j) {
        const std::uint32_t other = order[j];
        if (keep[other] && hashes[other] == h && entries[other].line == entry.line) {
          keep[order[k]] = false;
          break;
        }
      }
      if (!keep[order[k]] || !state.has_max || entry.timestamp_ns > state.max_ns) continue;
      if (entry.timestamp_ns == state.max_ns && state.hashes_known &&
          std::find(state.hashes_at_max.begin(), state.hashes_at_max.end(), h) ==
              state.hashes_at_max.end()) {
        continue;
      }
      candidates.emplace_back(entry.timestamp_ns, entry.line);
      candidate_index.push_back(order[k]);
    }
    auto stored = stored_already(written.id, candidates);
    if (!stored) return stored.error();
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (stored.value()[i]) keep[candidate_index[i]] = false;
    }

    BlockBuilder block;
    for (std::uint32_t index : order) {
      if (!keep[index]) continue;
      const LogEntry& entry = entries[index];
      block.add(entry.timestamp_ns, entry.line, entry.metadata,
                classify_level(stream.labels, entry));
      bytes += entry.line.size();
      ++result.entries_accepted;
    }
    if (block.empty()) continue;

    const std::int64_t block_min = block.min_ns();
    const std::int64_t block_max = block.max_ns();
    if (!state.has_max || block_max > state.max_ns) {
      state.max_ns = block_max;
      state.has_max = true;
      state.hashes_known = true;
      state.hashes_at_max.clear();
    }
    if (block_max == state.max_ns) {
      for (std::uint32_t index : order) {
        if (keep[index] && entries[index].timestamp_ns == block_max) {
          state.hashes_at_max.push_back(hashes[index]);
        }
      }
    }
    auto encoded = encode_chunk(block, false);
    if (!encoded) return encoded.error();
    auto chunk = write_chunks_->insert(written.id, ++seq, now, encoded.value());
    if (!chunk) return chunk.error();
    if (state.head_blocks == 0) state.oldest_head_ns = now;
    state.head_blocks += 1;
    state.head_bytes += encoded.value().line_bytes;
    compaction_due = compaction_due || state.head_bytes >= config_.chunk_target_size ||
                     state.head_blocks >= kMaxHeadBlocks;
    changes.push_back(StateChange{written.id, std::move(state)});

    written.min_ns = written.any ? std::min(written.min_ns, block_min) : block_min;
    written.max_ns = written.any ? std::max(written.max_ns, block_max) : block_max;
    written.any = true;
  }

  for (const auto& [key, written] : touched) {
    if (!written.any) continue;
    sql.update_bounds.reset();
    sql.update_bounds.bind(1, written.id);
    sql.update_bounds.bind(2, written.min_ns);
    sql.update_bounds.bind(3, written.max_ns);
    auto status = sql.update_bounds.run();
    if (!status) return status.error();
  }
  auto counted = sql.add_to_counter("entries", static_cast<std::int64_t>(result.entries_accepted));
  if (!counted) return counted.error();
  counted = sql.add_to_counter("bytes", static_cast<std::int64_t>(bytes));
  if (!counted) return counted.error();
  auto committed = transaction.commit();
  if (!committed) return committed.error();

  next_seq_ = seq;
  std::size_t pushed = 0;
  for (const auto& stream : streams) pushed += stream.source->entries.size();
  metrics_.duplicates->add(pushed - result.entries_accepted);
  for (auto& change : changes) {
    StreamWriteState& state = write_state_[change.stream_id];
    metrics_.head_blocks->add(static_cast<double>(change.state.head_blocks) -
                              static_cast<double>(state.head_blocks));
    metrics_.head_bytes->add(static_cast<double>(change.state.head_bytes) -
                             static_cast<double>(state.head_bytes));
    state = std::move(change.state);
  }

  // The cache learns about the push only once it is committed.
  {
    std::unique_lock write_lock(cache.value()->mutex);
    auto& tenant_cache = *cache.value();
    for (auto& [key, written] : touched) {
      auto known = tenant_cache.by_key.find(key);
      if (known == tenant_cache.by_key.end()) {
        if (!written.any) continue;
        tenant_cache.by_key.emplace(key, tenant_cache.streams.size());
        tenant_cache.streams.push_back(
            StreamInfo{written.id, written.labels, written.min_ns, written.max_ns});
        continue;
      }
      if (!written.any) continue;
      StreamInfo& info = tenant_cache.streams[known->second];
      info.min_ns = std::min(info.min_ns, written.min_ns);
      info.max_ns = std::max(info.max_ns, written.max_ns);
    }
  }
  lock.unlock();
  if (compaction_due) {
    std::lock_guard wake_lock(wake_mutex_);
    compaction_wanted_ = true;
    wake_.notify_one();
  }
  return result;
}

Result<std::vector<LocalStore::MatchedStream>> LocalStore::select_streams(
    const std::string& tenant, const std::vector<logql::Matcher>& matchers,
    const TimeRange& range) {
  auto cache = tenant_streams(tenant, false);
  if (!cache) return cache.error();
  std::vector<MatchedStream> matched;
  std::shared_lock lock(cache.value()->mutex);
  for (const auto& info : cache.value()->streams) {
    if (info.max_ns < range.start_ns || info.min_ns >= range.end_ns) continue;
    if (!logql::matches(matchers, *info.labels)) continue;
    matched.push_back(MatchedStream{info.id, info.labels});
  }
  return matched;
}

Status LocalStore::scan(const std::string& tenant, const logql::ScanRequest& request,
                        const logql::ScanVisitor& visit) {
  return scan_selected(tenant, request, nullptr,
                       [&visit](const MatchedStream& stream, const LogEntry& entry) {
                         return visit(*stream.labels, entry);
                       });
}

Status LocalStore::scan_shard(const std::string& tenant, const logql::ScanRequest& request,
                              const logql::ScanShard& shard, const logql::ShardVisitor& visit) {
  std::vector<std::int64_t> only = shard.streams;
  std::sort(only.begin(), only.end());
  return scan_selected(tenant, request, &only,
                       [&visit](const MatchedStream& stream, const LogEntry& entry) {
                         return visit(stream.id, *stream.labels, entry);
                       });
}

Status LocalStore::scan_sizes(const std::string& tenant, const logql::ScanRequest& request,
                              const logql::ScanShard* shard, const logql::SizeVisitor& visit) {
  std::vector<std::int64_t> only;
  if (shard != nullptr) {
    only = shard->streams;
    std::sort(only.begin(), only.end());
  }
  return scan_selected(
      tenant, request, shard != nullptr ? &only : nullptr,
      [&visit](const MatchedStream& stream, const LogEntry& entry, std::size_t line_bytes) {
        return visit(stream.id, *stream.labels, entry, line_bytes);
      });
}

Result<std::vector<logql::ScanShard>> LocalStore::plan_shards(const std::string& tenant,
                                                              const logql::ScanRequest& request,
                                                              std::size_t count) {
  return guarded<std::vector<logql::ScanShard>>(
      "plan_shards", [&]() -> Result<std::vector<logql::ScanShard>> {
        std::vector<logql::ScanShard> none;
        auto tenant_ok = validate_tenant(tenant);
        if (!tenant_ok) return tenant_ok.error();
        if (count < 2 || request.range.end_ns <= request.range.start_ns) return none;
        auto matched = select_streams(tenant, request.matchers, request.range);
        if (!matched) return matched.error();
        if (matched.value().size() < 2) return none;

        // Each stream's weight: the bytes of lines of its chunks that overlap the range.
        std::vector<std::pair<std::uint64_t, std::int64_t>> weights;  // (bytes, stream id)
        std::uint64_t total = 0;
        auto listed = with_reader([&](Connection&, ChunkStatements& chunks) -> Status {
          for (const auto& stream : matched.value()) {
            auto refs = chunks.list(stream.id, request.range);
            if (!refs) return refs.error();
            std::uint64_t bytes = 0;
            for (const auto& ref : refs.value()) bytes += ref.line_bytes;
            weights.emplace_back(bytes, stream.id);
            total += bytes;
          }
          return success();
        });
        if (!listed) return listed.error();
        if (total < config_.query_shard_min_bytes) return none;

        // Heaviest stream first onto the lightest shard (longest processing time first).
        std::sort(weights.begin(), weights.end(), [](const auto& a, const auto& b) {
          return a.first != b.first ? a.first > b.first : a.second < b.second;
        });
        const std::size_t shard_count = std::min(count, weights.size());
        std::vector<std::uint64_t> loads(shard_count, 0);
        std::vector<logql::ScanShard> shards(shard_count);
        for (const auto& [bytes, id] : weights) {
          const auto lightest = static_cast<std::size_t>(
              std::min_element(loads.begin(), loads.end()) - loads.begin());
          loads[lightest] += bytes;
          shards[lightest].streams.push_back(id);
        }
        std::vector<std::size_t> order(shard_count);
        for (std::size_t i = 0; i < shard_count; ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&loads](std::size_t a, std::size_t b) { return loads[a] > loads[b]; });
        std::vector<logql::ScanShard> planned;
        for (std::size_t i : order) {
          if (shards[i].streams.empty()) continue;
          std::sort(shards[i].streams.begin(), shards[i].streams.end());
          planned.push_back(std::move(shards[i]));
        }
        if (planned.size() < 2) return none;
        return planned;
      });
}

template <typename Visit>
Status LocalStore::scan_selected(const std::string& tenant, const logql::ScanRequest& request,
                                 const std::vector<std::int64_t>* only, const Visit& visit) {
  return guarded<Unit>("scan", [&]() -> Status {
    auto tenant_ok = validate_tenant(tenant);
    if (!tenant_ok) return tenant_ok;
    if (request.range.end_ns <= request.range.start_ns) return success();

    auto matched = select_streams(tenant, request.matchers, request.range);
    if (!matched) return matched.error();
    if (only != nullptr) {
      // A shard reads its streams only, and only those the tenant's selector still matches.
      std::erase_if(matched.value(), [only](const MatchedStream& stream) {
        return !std::binary_search(only->begin(), only->end(), stream.id);
      });
    }
    if (matched.value().empty()) return success();

    auto reader = acquire_reader();
    if (!reader) return reader.error();
    auto snapshot = reader.value().snapshot();
    if (!snapshot) return snapshot;
    const std::int64_t deadline = steady_now_ns() + config_.limits_for(tenant).query_timeout_ns;
    reader.value()->set_deadline(deadline);
    return merge_scan(reader.value().chunks(), matched.value(), request, visit, deadline,
                      config_.limits_for(tenant).discover_log_levels);
  });
}

template <typename Visit>
Status LocalStore::merge_scan(ChunkStatements& chunks, const std::vector<MatchedStream>& streams,
                              const logql::ScanRequest& request, const Visit& visit,
                              std::int64_t deadline, bool discover_levels) {
  // Entries are handed out without their lines to a visitor that takes their sizes instead.
  constexpr bool kSizesOnly =
      std::is_invocable_v<const Visit&, const MatchedStream&, const LogEntry&, std::size_t>;
  // A cursor walks the entries of one chunk that are in the range and contain the required
  // literals, in the scan's direction.
  struct Cursor {
    const MatchedStream* stream = nullptr;
    ChunkRef ref;
    DecodedBlock block;
    std::vector<std::uint32_t> positions;
    std::size_t next = 0;  // index into positions, counted from the scan's start
    bool adds_level = false;  // entries without detected_level get the classified level
  };
  const bool forward = request.direction == Direction::forward;
  auto position = [forward](const Cursor& c) {
    return c.positions[forward ? c.next : c.positions.size() - 1 - c.next];
  };
  auto timestamp = [&](const Cursor& c) { return c.block.timestamp(position(c)); };

  // Every chunk that may hold entries, in the order the scan meets them.
  struct Pending {
    const MatchedStream* stream;
    ChunkRef ref;
  };
  std::vector<Pending> pending;
  for (const auto& stream : streams) {
    auto refs = chunks.list(stream.id, request.range);
    if (!refs) return refs.error();
    for (auto& ref : refs.value()) pending.push_back(Pending{&stream, std::move(ref)});
  }
  std::sort(pending.begin(), pending.end(), [forward](const Pending& a, const Pending& b) {
    return forward ? a.ref.min_ns < b.ref.min_ns : a.ref.max_ns > b.ref.max_ns;
  });

  // The heap's top is the cursor whose entry comes next. Forward that is the smallest
  // (timestamp, stream, seq, chunk); backward the largest, the exact reverse.
  auto after = [&](const Cursor* a, const Cursor* b) {
    const auto key_a = std::make_tuple(timestamp(*a), a->stream->id, a->ref.seq, a->ref.id);
    const auto key_b = std::make_tuple(timestamp(*b), b->stream->id, b->ref.seq, b->ref.id);
    return forward ? key_a > key_b : key_a < key_b;
  };
  std::vector<std::unique_ptr<Cursor>> open;
  std::priority_queue<Cursor*, std::vector<Cursor*>, decltype(after)> heap(after);
  std::vector<std::string> literals;
  for (const auto& literal : request.required_literals) {
    if (!literal.empty()) literals.push_back(literal);
  }

  // With several chunks ahead, a second thread decodes the next kPrefetchChunks of them while
  // this one evaluates. A chunk whose filter rules out a literal is neither read nor decoded.
  std::unique_ptr<ChunkPrefetcher> prefetcher;
  if (pending.size() >= kPrefetchMinChunks) {
    prefetcher = std::make_unique<ChunkPrefetcher>(request.range, literals, block_pool_);
  }
  std::vector<bool> ruled_out(pending.size(), false);
  std::size_t submitted = 0;
  auto filtered_out = [&](const ChunkRef& ref) -> Result<bool> {
    if (!ref.compacted || literals.empty()) return false;
    auto bits = chunks.filter(ref.id);
    if (!bits) return bits.error();
    for (const auto& literal : literals) {
      if (!NgramFilter::may_contain(bits.value(), literal)) return true;
    }
    return false;
  };
  auto submit_through = [&](std::size_t last) -> Status {
    for (; submitted < pending.size() && submitted <= last; ++submitted) {
      const ChunkRef& ref = pending[submitted].ref;
      auto skip = filtered_out(ref);
      if (!skip) return skip.error();
      if (skip.value()) {
        ruled_out[submitted] = true;
        continue;
      }
      auto bytes = chunks.stored_bytes(ref, block_pool_);
      if (!bytes) return bytes.error();
      prefetcher->submit(ChunkPrefetcher::Job{submitted, std::move(bytes.value()), ref.compacted});
    }
    return success();
  };

  auto open_chunk = [&](std::size_t index) -> Status {
    Pending& next = pending[index];
    auto cursor = std::make_unique<Cursor>();
    if (prefetcher) {
      // Decoding ahead only speeds the scan up: it waits while decoded blocks in use have
      // reached the store's budget.
      auto queued = submit_through(
          block_pool_.in_use_over_budget() ? index : index + kPrefetchChunks);
      if (!queued) return queued;
      if (ruled_out[index]) return success();
      auto decoded = prefetcher->take(index);
      if (!decoded.block) return decoded.block.error();
      cursor->block = std::move(decoded.block.value());
      cursor->positions = std::move(decoded.positions);
    } else {
      auto skip = filtered_out(next.ref);
      if (!skip) return skip.error();
      if (skip.value()) return success();
      auto block = chunks.load(next.ref);
      if (!block) return block.error();
      cursor->block = std::move(block.value());
      cursor->positions = cursor->block.matching(
          cursor->block.lower_bound(request.range.start_ns),
          cursor->block.lower_bound(request.range.end_ns), literals);
    }
    if (cursor->positions.empty()) return success();
    cursor->stream = next.stream;
    cursor->adds_level =
        discover_levels && find_label(*next.stream->labels, kDetectedLevel) == nullptr;
    cursor->ref = std::move(next.ref);
    heap.push(cursor.get());
    open.push_back(std::move(cursor));
    return success();
  };

  LogEntry entry;
  std::size_t next_pending = 0;
  std::uint32_t since_check = 0;
  for (;;) {
    // Open every chunk that could hold an entry at or before the heap's top.
    while (next_pending < pending.size()) {
      Pending& candidate = pending[next_pending];
      if (!heap.empty()) {
        const std::int64_t top = timestamp(*heap.top());
        if (forward ? candidate.ref.min_ns > top : candidate.ref.max_ns < top) break;
      }
      auto opened = open_chunk(next_pending++);
      if (!opened) return opened;
      if (steady_now_ns() > deadline) return query_timeout();
    }
    if (heap.empty()) return success();

    Cursor* cursor = heap.top();
    heap.pop();
    for (;;) {
      const std::uint32_t at = position(*cursor);
      entry.timestamp_ns = cursor->block.timestamp(at);
      if constexpr (!kSizesOnly) {
        const std::string_view line = cursor->block.line(at);
        entry.line.assign(line.data(), line.size());
      }
      if (!decode_metadata_pairs(cursor->block.metadata(at), entry.metadata)) {
        return internal_error("store.corrupt", "structured metadata of an entry in chunk " +
                                                   std::to_string(cursor->ref.id) +
                                                   " is damaged");
      }
      if (cursor->adds_level && find_label(entry.metadata, kDetectedLevel) == nullptr) {
        const std::string_view level = cursor->block.level(at);
        if (!level.empty()) entry.metadata.emplace_back(kDetectedLevel, std::string(level));
      }
      if constexpr (kSizesOnly) {
        if (!visit(*cursor->stream, entry, cursor->block.line_size(at))) return success();
      } else {
        if (!visit(*cursor->stream, entry)) return success();
      }
      if (++since_check >= 1024) {
        since_check = 0;
        if (steady_now_ns() > deadline) return query_timeout();
      }
      if (++cursor->next >= cursor->positions.size()) {
        // Exhausted: free its block now rather than at the end of the scan.
        cursor->block = DecodedBlock();
        cursor->positions = {};
        break;
      }
      // The same cursor goes on without a round through the heap while its next entry is
      // still the scan's next one: before every other open cursor's, and before anything a
      // chunk not yet opened may hold. A scan of one stream never leaves this loop but to
      // open the stream's next chunk.
      if (!heap.empty() && after(cursor, heap.top())) {
        heap.push(cursor);
        break;
      }
      if (next_pending < pending.size()) {
        const ChunkRef& candidate = pending[next_pending].ref;
        const std::int64_t ts = timestamp(*cursor);
        if (forward ? candidate.min_ns <= ts : candidate.max_ns >= ts) {
          heap.push(cursor);
          break;
        }
      }
    }
  }
}
Result<QueryResult> LocalStore::query(const LogQuery& query) {
  return guarded<QueryResult>("query", [&]() -> Result<QueryResult> {
    auto tenant_ok = validate_tenant(query.tenant);
    if (!tenant_ok) return tenant_ok.error();
    const StoreLimits& limits = config_.limits_for(query.tenant);
    auto range_ok = validate_query_range(query.range, limits);
    if (!range_ok) return range_ok.error();
    if (query.limit > limits.max_entries_limit_per_query) {
      return limit_exceeded("store.max_entries_limit",
                            "max entries limit per query exceeded, limit > "
                            "max_entries_limit_per_query (" +
                                std::to_string(query.limit) + " > " +
                                std::to_string(limits.max_entries_limit_per_query) +
                                "); lower the limit or narrow the query");
    }
    auto connected = connect();
    if (!connected) return connected.error();

    TenantSource source(*this, query.tenant);
    logql::Limits evaluator_limits;
    evaluator_limits.max_entries = limits.max_entries_limit_per_query;
    evaluator_limits.max_series = limits.max_query_series;
    evaluator_limits.timeout_seconds =
        static_cast<double>(limits.query_timeout_ns) / static_cast<double>(kNanosPerSecond);
    evaluator_limits.parallelism = config_.query_parallelism;
    return logql::execute(query.logql, query, source, evaluator_limits);
  });
}

Result<bool> LocalStore::has_entries(ChunkStatements& chunks, std::int64_t stream_id,
                                     const TimeRange& range) {
  auto refs = chunks.list(stream_id, range);
  if (!refs) return refs.error();
  for (const auto& ref : refs.value()) {
    if (ref.inside(range)) return true;
  }
  for (const auto& ref : refs.value()) {
    auto counted = chunks.count(ref, range);
    if (!counted) return counted.error();
    if (counted.value().entries > 0) return true;
  }
  return false;
}

Result<std::vector<LocalStore::MatchedStream>> LocalStore::streams_with_entries(
    const std::string& tenant, const TimeRange& range) {
  auto tenant_ok = validate_tenant(tenant);
  if (!tenant_ok) return tenant_ok.error();
  auto range_ok = validate_query_range(range, config_.limits_for(tenant));
  if (!range_ok) return range_ok.error();
  auto candidates = select_streams(tenant, {}, range);
  if (!candidates) return candidates.error();
  if (candidates.value().empty()) return candidates;

  std::vector<MatchedStream> active;
  auto probed = with_reader([&](Connection&, ChunkStatements& chunks) -> Status {
    for (auto& stream : candidates.value()) {
      auto has = has_entries(chunks, stream.id, range);
      if (!has) return has.error();
      if (has.value()) active.push_back(std::move(stream));
    }
    return success();
  });
  if (!probed) return probed.error();
  return active;
}

Result<std::vector<std::string>> LocalStore::labels(const std::string& tenant,
                                                    const TimeRange& range) {
  return guarded<std::vector<std::string>>("labels", [&]() -> Result<std::vector<std::string>> {
    auto streams = streams_with_entries(tenant, range);
    if (!streams) return streams.error();
    std::vector<std::string> names;
    for (const auto& stream : streams.value()) {
      for (const auto& label : *stream.labels) names.push_back(label.first);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  });
}

Result<std::vector<std::string>> LocalStore::label_values(const std::string& tenant,
                                                          const std::string& name,
                                                          const TimeRange& range) {
  return guarded<std::vector<std::string>>(
      "label_values", [&]() -> Result<std::vector<std::string>> {
        auto streams = streams_with_entries(tenant, range);
        if (!streams) return streams.error();
        std::vector<std::string> values;
        for (const auto& stream : streams.value()) {
          const std::string* value = find_label(*stream.labels, name);
          if (value != nullptr) values.push_back(*value);
        }
        std::sort(values.begin(), values.end());
        values.erase(std::unique(values.begin(), values.end()), values.end());
        return values;
      });
}

Result<SearchResult> LocalStore::search(const SearchRequest& request) {
  return guarded<SearchResult>("search", [&]() -> Result<SearchResult> {
    auto logql = logql::compile_search(request.filters);
    if (!logql) return logql.error();
    LogQuery query;
    query.tenant = request.tenant;
    query.logql = logql.value();
    query.range = request.range;
    query.limit = request.limit;
    query.direction = request.direction;
    auto result = this->query(query);
    if (!result) return result.error();
    return SearchResult{std::move(query.logql), std::move(result.value())};
  });
}

Result<LogMetrics> LocalStore::metrics(const std::string& tenant, const TimeRange& range) {
  return guarded<LogMetrics>("metrics", [&]() -> Result<LogMetrics> {
    auto tenant_ok = validate_tenant(tenant);
    if (!tenant_ok) return tenant_ok.error();
    auto range_ok = validate_query_range(range, config_.limits_for(tenant));
    if (!range_ok) return range_ok.error();
    LogMetrics metrics;
    metrics.range = range;

    auto streams = select_streams(tenant, {}, range);
    if (!streams) return streams.error();
    std::map<std::string, std::uint64_t> by_level;
    std::map<std::string, std::uint64_t> by_service;
    auto counted = with_reader([&](Connection&, ChunkStatements& chunks) -> Status {
      for (const auto& stream : streams.value()) {
        const std::string service = classify_service(*stream.labels);
        auto add = [&](std::string_view level, std::uint64_t lines, std::uint64_t bytes) {
          metrics.lines += lines;
          metrics.bytes += bytes;
          by_level[std::string(level)] += lines;
          by_service[service] += lines;
          if (is_error_level(level)) metrics.error_lines += lines;
        };
        auto status = visit_range(
            chunks, stream.id, range,
            [&](const ChunkRef& ref) -> Status {
              for (const auto& total : decode_level_totals(ref.levels)) {
                add(total.level, total.entries, total.bytes);
              }
              return success();
            },
            [&](const ChunkRef&, const DecodedBlock& block, std::size_t first,
                std::size_t last) -> Status {
              for (std::size_t i = first; i < last; ++i) add(block.level(i), 1, block.line_size(i));
              return success();
            });
        if (!status) return status;
      }
      return success();
    });
    if (!counted) return counted.error();
    metrics.by_level = sorted_counts(by_level);
    metrics.by_service = sorted_counts(by_service);
    if (metrics.lines > 0) {
      metrics.error_rate =
          static_cast<double>(metrics.error_lines) / static_cast<double>(metrics.lines);
    }
    return metrics;
  });
}

Status LocalStore::with_reader(
    const std::function<Status(Connection&, ChunkStatements&)>& body) {
  auto reader = acquire_reader();
  if (!reader) return reader.error();
  auto snapshot = reader.value().snapshot();
  if (!snapshot) return snapshot;
  return body(*reader.value(), reader.value().chunks());
}

Result<LocalStore::StorageStats> LocalStore::storage_stats() {
  return guarded<StorageStats>("storage_stats", [&]() -> Result<StorageStats> {
    StorageStats stats;
    auto counted = with_reader([&](Connection& reader, ChunkStatements&) -> Status {
      auto totals = reader.prepare(
          "SELECT compacted, count(*), sum(entries), sum(line_bytes), sum(length(data)) "
          "FROM chunks GROUP BY compacted");
      if (!totals) return totals.error();
      for (;;) {
        auto row = totals.value().step();
        if (!row) return row.error();
        if (!row.value()) break;
        const Statement& r = totals.value();
        const bool compacted = r.column_int(0) != 0;
        (compacted ? stats.chunks : stats.head_blocks) += static_cast<std::uint64_t>(r.column_int(1));
        stats.entries += static_cast<std::uint64_t>(r.column_int(2));
        stats.line_bytes += static_cast<std::uint64_t>(r.column_int(3));
        (compacted ? stats.chunk_bytes : stats.head_bytes) +=
            static_cast<std::uint64_t>(r.column_int(4));
      }
      auto filters = reader.prepare("SELECT coalesce(sum(length(bits)), 0) FROM chunk_filters");
      if (!filters) return filters.error();
      auto row = filters.value().step();
      if (!row) return row.error();
      stats.filter_bytes = static_cast<std::uint64_t>(filters.value().column_int(0));
      return success();
    });
    if (!counted) return counted.error();
    return stats;
  });
}

Status LocalStore::refresh_head_state(std::int64_t stream_id) {
  auto head = writer_->prepare(
      "SELECT count(*), coalesce(sum(line_bytes), 0), coalesce(min(created_ns), 0) FROM chunks "
      "WHERE compacted = 0 AND stream_id = ?1");
  if (!head) return head.error();
  head.value().bind(1, stream_id);
  auto row = head.value().step();
  if (!row) return row.error();
  StreamWriteState& state = write_state_[stream_id];
  const auto blocks = static_cast<std::uint64_t>(head.value().column_int(0));
  const auto bytes = static_cast<std::uint64_t>(head.value().column_int(1));
  metrics_.head_blocks->add(static_cast<double>(blocks) - static_cast<double>(state.head_blocks));
  metrics_.head_bytes->add(static_cast<double>(bytes) - static_cast<double>(state.head_bytes));
  state.head_blocks = blocks;
  state.head_bytes = bytes;
  state.oldest_head_ns = head.value().column_int(2);
  return success();
}

Result<std::size_t> LocalStore::compact_stream(std::int64_t stream_id) {
  // Read and encode outside the write lock: only the compactor deletes head blocks, and it
  // runs one pass at a time, so the blocks read here are still there at the commit.
  const auto started = std::chrono::steady_clock::now();
  std::vector<ChunkRef> sources;
  std::vector<DecodedBlock> blocks;
  {
    auto reader = acquire_reader();
    if (!reader) return reader.error();
    auto snapshot = reader.value().snapshot();
    if (!snapshot) return snapshot.error();
    auto heads = reader.value().chunks().head_blocks(stream_id, kMaxHeadBlocks * 4);
    if (!heads) return heads.error();
    std::uint64_t bytes = 0;
    for (auto& ref : heads.value()) {
      if (!sources.empty() && bytes + ref.line_bytes > kMaxCompactionBytes) break;
      auto block = reader.value().chunks().load(ref);
      if (!block) return block.error();
      bytes += ref.line_bytes;
      blocks.push_back(std::move(block.value()));
      sources.push_back(std::move(ref));
    }
  }
  if (sources.empty()) return std::size_t{0};

  // Every entry in time order; the stable sort keeps arrival order (seq, then position).
  struct Item {
    std::int64_t ts;
    std::uint32_t block;
    std::uint32_t index;
  };
  std::vector<Item> items;
  for (std::uint32_t b = 0; b < blocks.size(); ++b) {
    for (std::uint32_t i = 0; i < blocks[b].size(); ++i) {
      items.push_back(Item{blocks[b].timestamp(i), b, i});
    }
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.ts < b.ts; });

  // Cut chunks of about chunk_target_size, never between entries of equal timestamps.
  std::vector<EncodedChunk> encoded;
  BlockBuilder builder;
  for (std::size_t k = 0; k < items.size(); ++k) {
    const Item& item = items[k];
    if (builder.line_bytes() >= config_.chunk_target_size && item.ts != items[k - 1].ts) {
      auto chunk = encode_chunk(builder, true, config_.chunk_encoding);
      if (!chunk) return chunk.error();
      encoded.push_back(std::move(chunk.value()));
      builder.clear();
    }
    const DecodedBlock& block = blocks[item.block];
    builder.add(item.ts, block.line(item.index), block.metadata(item.index),
                block.level(item.index));
  }
  if (!builder.empty()) {
    auto chunk = encode_chunk(builder, true, config_.chunk_encoding);
    if (!chunk) return chunk.error();
    encoded.push_back(std::move(chunk.value()));
  }
  const std::int64_t seq = sources.back().seq;

  std::lock_guard lock(write_mutex_);
  Transaction transaction(*writer_);
  if (!transaction.ok()) return transaction.begin_status().error();
  const std::int64_t now = now_ns();
  for (const auto& chunk : encoded) {
    auto inserted = write_chunks_->insert(stream_id, seq, now, chunk);
    if (!inserted) return inserted.error();
  }
  for (const auto& source : sources) {
    auto removed = write_chunks_->remove(source.id);
    if (!removed) return removed.error();
  }
  auto committed = transaction.commit();
  if (!committed) return committed.error();
  auto refreshed = refresh_head_state(stream_id);
  if (!refreshed) return refreshed.error();
  metrics_.compactions->increment();
  metrics_.compacted_entries->add(items.size());
  metrics_.chunks_written->add(encoded.size());
  metrics_.compaction_seconds->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return sources.size();
}

Status LocalStore::apply_retention() {
  std::vector<std::string> tenants;
  {
    auto listed = with_reader([&](Connection& reader, ChunkStatements&) -> Status {
      auto rows = reader.prepare("SELECT DISTINCT tenant FROM streams");
      if (!rows) return rows.error();
      for (;;) {
        auto row = rows.value().step();
        if (!row) return row.error();
        if (!row.value()) return success();
        tenants.emplace_back(rows.value().column_bytes(0));
      }
    });
    if (!listed) return listed;
  }
  bool deleted_any = false;
  for (const auto& tenant : tenants) {
    const std::int64_t period = config_.limits_for(tenant).retention_period_ns;
    if (period <= 0) continue;
    const std::int64_t cutoff = now_ns() - period;
    for (;;) {
      std::lock_guard lock(write_mutex_);
      auto expired = writer_->prepare(
          "SELECT c.id, c.entries, c.line_bytes FROM chunks AS c JOIN streams AS s "
          "ON s.id = c.stream_id WHERE s.tenant = ?1 AND c.max_ns < ?2 LIMIT ?3");
      if (!expired) return expired.error();
      expired.value().bind_text(1, tenant);
      expired.value().bind(2, cutoff);
      expired.value().bind(3, kRetentionBatch);
      std::vector<std::int64_t> ids;
      std::int64_t entries = 0;
      std::int64_t bytes = 0;
      for (;;) {
        auto row = expired.value().step();
        if (!row) return row.error();
        if (!row.value()) break;
        ids.push_back(expired.value().column_int(0));
        entries += expired.value().column_int(1);
        bytes += expired.value().column_int(2);
      }
      expired.value() = Statement();
      if (ids.empty()) break;
      Transaction transaction(*writer_);
      if (!transaction.ok()) return transaction.begin_status();
      for (std::int64_t id : ids) {
        auto removed = write_chunks_->remove(id);
        if (!removed) return removed;
      }
      auto counted = statements_->add_to_counter("entries", -entries);
      if (!counted) return counted;
      counted = statements_->add_to_counter("bytes", -bytes);
      if (!counted) return counted;
      auto committed = transaction.commit();
      if (!committed) return committed;
      deleted_any = true;
      metrics_.retention_chunks->add(ids.size());
      metrics_.retention_entries->add(static_cast<std::uint64_t>(entries));
      log(LogLevel::info, "retention deleted " + std::to_string(ids.size()) +
                              " chunks of tenant '" + tenant + "' older than " +
                              format_time(cutoff));
    }
  }
  if (!deleted_any) return success();
  std::lock_guard lock(write_mutex_);
  return load_write_state();
}

Status LocalStore::compact(bool everything) {
  auto connected = connect();
  if (!connected) return connected;
  return guarded<Unit>("compact", [&]() -> Status {
    std::lock_guard pass(maintenance_mutex_);
    std::vector<std::int64_t> due;
    {
      std::lock_guard lock(write_mutex_);
      const std::int64_t now = now_ns();
      for (const auto& [stream_id, state] : write_state_) {
        if (state.head_blocks == 0) continue;
        if (everything || state.head_bytes >= config_.chunk_target_size ||
            state.head_blocks >= kMaxHeadBlocks ||
            now - state.oldest_head_ns >= config_.chunk_max_age_ns) {
          due.push_back(stream_id);
        }
      }
    }
    std::sort(due.begin(), due.end());
    for (std::int64_t stream_id : due) {
      // One pass reads at most kMaxCompactionBytes; repeat until the head is cut.
      for (;;) {
        auto compacted = compact_stream(stream_id);
        if (!compacted) return compacted.error();
        std::lock_guard lock(write_mutex_);
        const StreamWriteState& state = write_state_[stream_id];
        if (state.head_blocks == 0 || compacted.value() == 0) break;
        if (!everything && state.head_bytes < config_.chunk_target_size &&
            state.head_blocks < kMaxHeadBlocks) {
          break;
        }
      }
    }
    return apply_retention();
  });
}

void LocalStore::start_maintenance() {
  if (config_.compaction_interval_ns <= 0) return;
  std::lock_guard lock(wake_mutex_);
  if (maintenance_.joinable() || stopping_) return;
  maintenance_ = std::thread([this] { maintenance_loop(); });
}

void LocalStore::stop_maintenance() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (maintenance_.joinable()) maintenance_.join();
}

void LocalStore::maintenance_loop() {
  const auto interval = std::chrono::nanoseconds(config_.compaction_interval_ns);
  std::unique_lock lock(wake_mutex_);
  for (;;) {
    wake_.wait_for(lock, interval, [this] { return stopping_ || compaction_wanted_; });
    if (stopping_) return;
    compaction_wanted_ = false;
    lock.unlock();
    auto status = compact(false);
    if (!status) log(LogLevel::warn, "compaction failed: " + status.error().message);
    lock.lock();
  }
}

Health LocalStore::health() {
  auto started = std::chrono::steady_clock::now();
  Health health;
  health.backend = kBackendName;
  auto measured = [&]() {
    health.latency_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    return health;
  };
  auto counted = guarded<std::string>("health", [&]() -> Result<std::string> {
    auto reader = acquire_reader();
    if (!reader) return reader.error();
    auto counts = reader.value()->prepare(
        "SELECT (SELECT count(*) FROM streams), "
        "(SELECT value FROM counters WHERE name = 'entries')");
    if (!counts) return counts.error();
    auto row = counts.value().step();
    if (!row) return row.error();
    return std::to_string(counts.value().column_int(0)) + " streams, " +
           std::to_string(counts.value().column_int(1)) + " entries in " + config_.path;
  });
  if (!counted) {
    health.detail = counted.error().code + ": " + counted.error().message;
    return measured();
  }
  health.ready = true;
  health.detail = counted.value();
  return measured();
}

}  // namespace lognurse::local_store
