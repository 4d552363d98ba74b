#include "local_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_set>
#include <utility>

#include "classify.hpp"
#include "lognurse/host_api/time.hpp"
#include "schema.hpp"

namespace lognurse::local_store {
namespace {

constexpr const char* kBackendName = "local_store";

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

Error range_error(const TimeRange& range) {
  return invalid_argument("store.invalid_range", "time range end (" + format_time(range.end_ns) +
                                                     ") is before its start (" +
                                                     format_time(range.start_ns) +
                                                     "); swap start and end");
}

std::string encode_metadata(const Labels& metadata) {
  if (metadata.empty()) return {};
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : metadata) object[name] = value;
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Labels decode_metadata(std::string_view text) {
  Labels metadata;
  if (text.empty()) return metadata;
  auto object = nlohmann::json::parse(text, nullptr, false);
  if (!object.is_object()) return metadata;
  for (const auto& [name, value] : object.items()) {
    if (value.is_string()) metadata.emplace_back(name, value.get<std::string>());
  }
  return metadata;
}

/// The SQL that reads entries, with one instr() test per non-empty required literal.
std::string entries_sql(const char* head, const char* order_forward, const char* order_backward,
                        const logql::ScanRequest& request, int first_literal_parameter) {
  std::string sql = head;
  int parameter = first_literal_parameter;
  for (const auto& literal : request.required_literals) {
    if (literal.empty()) continue;
    sql += " AND instr(line, ?" + std::to_string(parameter++) + ") > 0";
  }
  sql += request.direction == Direction::forward ? order_forward : order_backward;
  return sql;
}

void bind_literals(Statement& statement, const logql::ScanRequest& request, int first_parameter) {
  int parameter = first_parameter;
  for (const auto& literal : request.required_literals) {
    if (!literal.empty()) statement.bind_blob(parameter++, literal);
  }
}

LogEntry read_entry(const Statement& statement, int first_column) {
  LogEntry entry;
  entry.timestamp_ns = statement.column_int(first_column);
  entry.line = std::string(statement.column_bytes(first_column + 1));
  if (!statement.column_is_null(first_column + 2)) {
    entry.metadata = decode_metadata(statement.column_bytes(first_column + 2));
  }
  return entry;
}

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
  Statement insert_entry;
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
        {&statements->insert_entry,
         "INSERT INTO entries (stream_id, ts, line, metadata, level) "
         "SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS "
         "(SELECT 1 FROM entries WHERE stream_id = ?1 AND ts = ?2 AND line = ?3)"},
        {&statements->update_bounds,
         "UPDATE streams SET min_ns = min(min_ns, ?2), max_ns = max(max_ns, ?3) WHERE id = ?1"},
        {&statements->add_counter, "UPDATE counters SET value = value + ?2 WHERE name = ?1"},
    };
    for (const auto& [target, sql] : sources) {
      auto prepared = connection.prepare(sql);
      if (!prepared) return prepared.error();
      *target = std::move(prepared.value());
    }
    return statements;
  }
};

/// A read connection borrowed from the pool and returned on destruction.
class LocalStore::ReaderLease {
public:
  ReaderLease(LocalStore* store, std::unique_ptr<Connection> connection)
      : store_(store), connection_(std::move(connection)) {}
  ReaderLease(ReaderLease&& other) noexcept = default;
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease() {
    if (connection_) store_->release_reader(std::move(connection_));
  }

  Connection& operator*() { return *connection_; }
  Connection* operator->() { return connection_.get(); }

private:
  LocalStore* store_;
  std::unique_ptr<Connection> connection_;
};

LocalStore::LocalStore(StoreConfig config, std::shared_ptr<Logger> logger)
    : config_(std::move(config)), logger_(std::move(logger)) {}

LocalStore::~LocalStore() {
  idle_readers_.clear();
  statements_.reset();
  writer_.reset();
}

std::string LocalStore::backend_name() const { return kBackendName; }

void LocalStore::log(LogLevel level, const std::string& message) const {
  if (logger_) logger_->log(level, message);
}

Status LocalStore::connect() {
  if (connected_.load(std::memory_order_acquire)) return success();
  return guarded<Unit>("connect", [&]() -> Status {
    std::lock_guard lock(write_mutex_);
    if (writer_) return success();

    std::error_code ignored;
    auto parent = std::filesystem::path(config_.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ignored);

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

    writer_ = std::move(connection);
    statements_ = std::move(statements.value());
    connected_.store(true, std::memory_order_release);
    log(LogLevel::info,
        "opened " + config_.path + " (schema version " + std::to_string(version.value()) + ")");
    return success();
  });
}

Result<std::unique_ptr<Connection>> LocalStore::open_reader() {
  auto opened = Connection::open(config_.path, false);
  if (!opened) return opened.error();
  sqlite3_busy_timeout(opened.value()->handle(),
                       static_cast<int>(config_.busy_timeout_ns / 1'000'000));
  auto read_only = opened.value()->exec("PRAGMA query_only = 1");
  if (!read_only) return read_only.error();
  return std::move(opened.value());
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
      auto connection = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(connection));
    }
  }
  auto opened = open_reader();
  if (!opened) {
    end_lease();
    return opened.error();
  }
  return ReaderLease(this, std::move(opened.value()));
}

void LocalStore::release_reader(std::unique_ptr<Connection> connection) {
  connection->set_deadline(0);
  {
    std::lock_guard lock(readers_mutex_);
    if (idle_readers_.size() < config_.read_connections) {
      idle_readers_.push_back(std::move(connection));
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
                              "': " + validated.error().code + ": " + validated.error().message);
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
                              "': " + admitted.error().code + ": " + admitted.error().message);
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

Result<PushResult> LocalStore::write(const std::string& tenant,
                                     const std::vector<ValidatedStream>& streams) {
  struct Written {
    std::int64_t id = 0;
    std::shared_ptr<const Labels> labels;
    std::int64_t min_ns = 0;
    std::int64_t max_ns = 0;
  };

  std::lock_guard lock(write_mutex_);
  auto cache = tenant_streams(tenant, true);
  if (!cache) return cache.error();
  WriteStatements& sql = *statements_;
  std::int64_t now = now_ns();

  Transaction transaction(*writer_);
  if (!transaction.ok()) return transaction.begin_status().error();

  std::map<std::string, Written> touched;
  PushResult result;
  std::uint64_t bytes = 0;
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
      written.min_ns = stream.source->entries.front().timestamp_ns;
      written.max_ns = written.min_ns;
      ++result.streams;
    }

    for (const LogEntry& entry : stream.source->entries) {
      sql.insert_entry.reset();
      sql.insert_entry.bind(1, written.id);
      sql.insert_entry.bind(2, entry.timestamp_ns);
      sql.insert_entry.bind_blob(3, entry.line);
      std::string metadata = encode_metadata(entry.metadata);
      if (metadata.empty()) {
        sql.insert_entry.bind_null(4);
      } else {
        sql.insert_entry.bind_text(4, metadata);
      }
      sql.insert_entry.bind_text(5, classify_level(stream.labels, entry));
      auto status = sql.insert_entry.run();
      if (!status) return status.error();
      if (writer_->changes() > 0) {
        ++result.entries_accepted;
        bytes += entry.line.size();
      }
      written.min_ns = std::min(written.min_ns, entry.timestamp_ns);
      written.max_ns = std::max(written.max_ns, entry.timestamp_ns);
    }
  }

  for (const auto& [key, written] : touched) {
    sql.update_bounds.reset();
    sql.update_bounds.bind(1, written.id);
    sql.update_bounds.bind(2, written.min_ns);
    sql.update_bounds.bind(3, written.max_ns);
    auto status = sql.update_bounds.run();
    if (!status) return status.error();
  }
  for (const auto& [name, amount] :
       {std::pair<const char*, std::uint64_t>{"entries", result.entries_accepted},
        {"bytes", bytes}}) {
    sql.add_counter.reset();
    sql.add_counter.bind_text(1, name);
    sql.add_counter.bind(2, static_cast<std::int64_t>(amount));
    auto status = sql.add_counter.run();
    if (!status) return status.error();
  }
  auto committed = transaction.commit();
  if (!committed) return committed.error();

  // The cache learns about the push only once it is committed.
  std::unique_lock write_lock(cache.value()->mutex);
  auto& tenant_cache = *cache.value();
  for (auto& [key, written] : touched) {
    auto known = tenant_cache.by_key.find(key);
    if (known == tenant_cache.by_key.end()) {
      tenant_cache.by_key.emplace(key, tenant_cache.streams.size());
      tenant_cache.streams.push_back(
          StreamInfo{written.id, written.labels, written.min_ns, written.max_ns});
      continue;
    }
    StreamInfo& info = tenant_cache.streams[known->second];
    info.min_ns = std::min(info.min_ns, written.min_ns);
    info.max_ns = std::max(info.max_ns, written.max_ns);
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
  return guarded<Unit>("scan", [&]() -> Status {
    auto tenant_ok = validate_tenant(tenant);
    if (!tenant_ok) return tenant_ok;
    if (request.range.end_ns <= request.range.start_ns) return success();

    auto matched = select_streams(tenant, request.matchers, request.range);
    if (!matched) return matched.error();
    if (matched.value().empty()) return success();

    auto reader = acquire_reader();
    if (!reader) return reader.error();
    // The evaluator enforces the timeout between entries; the deadline covers long stretches
    // of rows that SQL filters out before the visitor sees them.
    auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    reader.value()->set_deadline(now + config_.limits_for(tenant).query_timeout_ns);
    if (matched.value().size() <= config_.scan_merge_max_streams) {
      return merge_scan(*reader.value(), matched.value(), request, visit);
    }
    return time_index_scan(*reader.value(), matched.value(), request, visit);
  });
}

Status LocalStore::merge_scan(Connection& reader, const std::vector<MatchedStream>& streams,
                              const logql::ScanRequest& request, const logql::ScanVisitor& visit) {
  struct Cursor {
    Statement statement;
    const MatchedStream* stream = nullptr;
    std::int64_t ts = 0;
  };
  const bool forward = request.direction == Direction::forward;
  std::string sql = entries_sql(
      "SELECT ts, line, metadata FROM entries WHERE stream_id = ?1 AND ts >= ?2 AND ts < ?3",
      " ORDER BY ts ASC, id ASC", " ORDER BY ts DESC, id DESC", request, 4);

  // The heap's top is the cursor whose row comes next: the smallest (ts, stream id) forward,
  // the largest backward.
  auto after = [forward](const Cursor* a, const Cursor* b) {
    if (a->ts != b->ts) return forward ? a->ts > b->ts : a->ts < b->ts;
    return forward ? a->stream->id > b->stream->id : a->stream->id < b->stream->id;
  };
  std::vector<Cursor> cursors(streams.size());
  std::priority_queue<Cursor*, std::vector<Cursor*>, decltype(after)> heap(after);
  for (std::size_t i = 0; i < streams.size(); ++i) {
    auto prepared = reader.prepare(sql);
    if (!prepared) return prepared.error();
    Cursor& cursor = cursors[i];
    cursor.statement = std::move(prepared.value());
    cursor.stream = &streams[i];
    cursor.statement.bind(1, streams[i].id);
    cursor.statement.bind(2, request.range.start_ns);
    cursor.statement.bind(3, request.range.end_ns);
    bind_literals(cursor.statement, request, 4);
    auto row = cursor.statement.step();
    if (!row) return row.error();
    if (!row.value()) continue;
    cursor.ts = cursor.statement.column_int(0);
    heap.push(&cursor);
  }

  while (!heap.empty()) {
    Cursor* cursor = heap.top();
    heap.pop();
    LogEntry entry = read_entry(cursor->statement, 0);
    if (!visit(*cursor->stream->labels, entry)) return success();
    auto row = cursor->statement.step();
    if (!row) return row.error();
    if (!row.value()) continue;
    cursor->ts = cursor->statement.column_int(0);
    heap.push(cursor);
  }
  return success();
}

Status LocalStore::time_index_scan(Connection& reader, const std::vector<MatchedStream>& streams,
                                   const logql::ScanRequest& request,
                                   const logql::ScanVisitor& visit) {
  std::unordered_map<std::int64_t, const Labels*> labels_by_id;
  labels_by_id.reserve(streams.size());
  for (const auto& stream : streams) labels_by_id.emplace(stream.id, stream.labels.get());

  std::string sql = entries_sql(
      "SELECT stream_id, ts, line, metadata FROM entries INDEXED BY entries_by_time "
      "WHERE ts >= ?1 AND ts < ?2",
      " ORDER BY ts ASC, stream_id ASC, id ASC", " ORDER BY ts DESC, stream_id DESC, id DESC",
      request, 3);
  auto prepared = reader.prepare(sql);
  if (!prepared) return prepared.error();
  Statement& statement = prepared.value();
  statement.bind(1, request.range.start_ns);
  statement.bind(2, request.range.end_ns);
  bind_literals(statement, request, 3);
  for (;;) {
    auto row = statement.step();
    if (!row) return row.error();
    if (!row.value()) return success();
    auto stream = labels_by_id.find(statement.column_int(0));
    if (stream == labels_by_id.end()) continue;
    LogEntry entry = read_entry(statement, 1);
    if (!visit(*stream->second, entry)) return success();
  }
}

Result<QueryResult> LocalStore::query(const LogQuery& query) {
  return guarded<QueryResult>("query", [&]() -> Result<QueryResult> {
    auto tenant_ok = validate_tenant(query.tenant);
    if (!tenant_ok) return tenant_ok.error();
    if (query.range.end_ns < query.range.start_ns) return range_error(query.range);
    const StoreLimits& limits = config_.limits_for(query.tenant);
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
    return logql::execute(query.logql, query, source, evaluator_limits);
  });
}

Result<std::vector<LocalStore::MatchedStream>> LocalStore::streams_with_entries(
    const std::string& tenant, const TimeRange& range) {
  auto tenant_ok = validate_tenant(tenant);
  if (!tenant_ok) return tenant_ok.error();
  if (range.end_ns < range.start_ns) return range_error(range);
  auto candidates = select_streams(tenant, {}, range);
  if (!candidates) return candidates.error();
  if (candidates.value().empty()) return candidates;

  auto reader = acquire_reader();
  if (!reader) return reader.error();
  auto probe = reader.value()->prepare(
      "SELECT EXISTS (SELECT 1 FROM entries WHERE stream_id = ?1 AND ts >= ?2 AND ts < ?3)");
  if (!probe) return probe.error();
  std::vector<MatchedStream> active;
  for (auto& stream : candidates.value()) {
    probe.value().reset();
    probe.value().bind(1, stream.id);
    probe.value().bind(2, range.start_ns);
    probe.value().bind(3, range.end_ns);
    auto row = probe.value().step();
    if (!row) return row.error();
    if (probe.value().column_int(0) != 0) active.push_back(std::move(stream));
  }
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
    if (range.end_ns < range.start_ns) return range_error(range);
    LogMetrics metrics;
    metrics.range = range;

    auto reader = acquire_reader();
    if (!reader) return reader.error();
    auto totals = reader.value()->prepare(
        "SELECT s.service, e.level, count(*), sum(length(e.line)) "
        "FROM streams AS s JOIN entries AS e ON e.stream_id = s.id "
        "WHERE s.tenant = ?1 AND s.max_ns >= ?2 AND s.min_ns < ?3 "
        "AND e.ts >= ?2 AND e.ts < ?3 GROUP BY s.service, e.level");
    if (!totals) return totals.error();
    Statement& statement = totals.value();
    statement.bind_text(1, tenant);
    statement.bind(2, range.start_ns);
    statement.bind(3, range.end_ns);

    std::map<std::string, std::uint64_t> by_level;
    std::map<std::string, std::uint64_t> by_service;
    for (;;) {
      auto row = statement.step();
      if (!row) return row.error();
      if (!row.value()) break;
      std::string service(statement.column_bytes(0));
      std::string level(statement.column_bytes(1));
      auto lines = static_cast<std::uint64_t>(statement.column_int(2));
      metrics.lines += lines;
      metrics.bytes += static_cast<std::uint64_t>(statement.column_int(3));
      by_level[level] += lines;
      by_service[service] += lines;
      if (is_error_level(level)) metrics.error_lines += lines;
    }
    metrics.by_level = sorted_counts(by_level);
    metrics.by_service = sorted_counts(by_service);
    if (metrics.lines > 0) {
      metrics.error_rate =
          static_cast<double>(metrics.error_lines) / static_cast<double>(metrics.lines);
    }
    return metrics;
  });
}

Status LocalStore::with_reader(const std::function<Status(Connection&)>& body) {
  auto reader = acquire_reader();
  if (!reader) return reader.error();
  return body(*reader.value());
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
