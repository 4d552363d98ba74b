#pragma once

// Configuration of the embedded store: the plugin's YAML section, received as
// JSON. Every key, its type, default and meaning is listed once in
// config_keys(), which drives parsing and the documentation.
//
// Ingestion and query limits follow Loki's limits_config defaults, with one
// deliberate difference: old samples are accepted unless reject_old_samples is
// set, because the host's `ingest` command loads files of any age.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chunk_format.hpp"
#include "lognurse/host_api/result.hpp"

namespace lognurse::local_store {

/// Loki 3's default limits_config.discover_service_name: the labels a stream's service_name is
/// taken from, in order.
const std::vector<std::string>& default_service_name_discovery();

/// Limits applied to every push and query, named after Loki's limits_config.
struct StoreLimits {
  std::size_t max_line_size = 256 * 1024;                   ///< bytes per line
  std::size_t max_label_names_per_series = 15;              ///< labels per stream
  std::size_t max_label_name_length = 1024;                 ///< bytes
  std::size_t max_label_value_length = 2048;                ///< bytes
  std::size_t max_structured_metadata_size = 64 * 1024;     ///< bytes of names and values per entry
  std::size_t max_structured_metadata_entries_count = 128;  ///< pairs per entry
  bool reject_old_samples = false;                          ///< refuse entries older than max age
  std::int64_t reject_old_samples_max_age_ns = 7LL * 24 * 3600 * 1'000'000'000;
  std::int64_t creation_grace_period_ns = 10LL * 60 * 1'000'000'000;  ///< 0: no future check
  std::size_t max_entries_limit_per_query = 5000;        ///< largest accepted query limit
  std::size_t max_query_series = 500;                    ///< series a metric query may return
  std::int64_t query_timeout_ns = 60LL * 1'000'000'000;  ///< wall-clock budget of a query
  std::int64_t max_query_length_ns = 721LL * 3600 * 1'000'000'000;  ///< longest read; 0: any
  double ingestion_rate_mb = 4;             ///< sustained push rate, MB (2^20 bytes) per second
  double ingestion_rate_burst_size_mb = 6;  ///< largest burst, MB
  std::int64_t retention_period_ns = 0;     ///< delete entries older than this; 0 keeps all
  /// A pushed stream without a service_name label gets one: the value of the first of these
  /// labels it has, else "unknown_service". Empty: streams are kept as pushed.
  std::vector<std::string> discover_service_name = default_service_name_discovery();
  /// Entries read without a detected_level (neither as a stream label nor as structured
  /// metadata) are given the level the store classified at push, as structured metadata.
  bool discover_log_levels = true;
};

/// The processor threads of this machine, at least 1 and at most 8: the default number of
/// threads one query evaluates on.
std::size_t default_query_parallelism();

/// Everything the store reads from its configuration.
struct StoreConfig {
  std::string path;                                    ///< SQLite database file
  std::int64_t busy_timeout_ns = 5LL * 1'000'000'000;  ///< wait for a locked database
  /// durability "fsync": SQLite synchronous=FULL, every commit reaches the disk
  /// before the push is acknowledged; "process" (false): synchronous=NORMAL in
  /// WAL mode, which survives a process crash but may lose the last commits
  /// on a power loss.
  bool fsync_each_push = false;
  std::size_t read_connections = 4;  ///< idle read connections kept open
  /// Head blocks of a stream are compacted into chunks once they hold this many bytes of lines
  /// (uncompressed), each chunk about this size.
  std::size_t chunk_target_size = 2 * 1024 * 1024;
  /// ... or once the oldest of them is this old (wall-clock time since it was written).
  std::int64_t chunk_max_age_ns = 3600LL * 1'000'000'000;
  /// How compaction compresses chunks; chunks of either encoding are read. lz4 by default,
  /// as Loki's default (snappy) also favours decompression speed over size.
  ChunkEncoding chunk_encoding = ChunkEncoding::lz4;
  /// How often the background compactor runs; 0 turns it off (compact() still works).
  std::int64_t compaction_interval_ns = 10LL * 1'000'000'000;
  /// Past this size, the write-ahead log is restarted even while readers overlap: a commit
  /// waits up to busy_timeout for them, instead of letting the log grow without bound.
  std::size_t wal_restart_bytes = 64 * 1024 * 1024;
  /// Bytes of decoded blocks kept for reuse plus those in use, beyond which freed ones are
  /// returned to the system and scans stop decoding ahead (see BlockPool).
  std::size_t decoded_block_budget = 24 * 1024 * 1024;
  /// Threads one metric query evaluates on, each over its own streams (logql::Limits).
  std::size_t query_parallelism = default_query_parallelism();
  /// Bytes of lines a metric query's scan must cover before it is split across threads.
  std::size_t query_shard_min_bytes = 8 * 1024 * 1024;
  StoreLimits limits;
  /// Limits of particular tenants, each starting from `limits` (Loki's per-tenant overrides).
  std::map<std::string, StoreLimits> overrides;

  /// The limits that apply to `tenant`.
  const StoreLimits& limits_for(const std::string& tenant) const;
};

/// One documented configuration key.
struct ConfigKey {
  std::string name;  ///< "path" or "limits.max_line_size"
  std::string type;  ///< "string", "integer", "bytes", "duration", "boolean"
  std::string default_value;
  std::string description;
};

/// The table of accepted keys, in the order they are documented. Every "limits.*" key may also
/// appear under "overrides.<tenant>." to apply to that tenant only.
const std::vector<ConfigKey>& config_keys();

/// Parses the plugin's section. `data_dir` supplies the default path
/// (<data_dir>/lognurse.db). Unknown keys and wrong types fail with code
/// "store.config" naming the key. Sizes accept integers or strings like
/// "256KB" (KB, MB, GB are powers of 1024, as in Loki); durations accept
/// strings like "7d" or "10m", or integer seconds.
Result<StoreConfig> parse_store_config(const nlohmann::json& config, const std::string& data_dir);

}  // namespace lognurse::local_store
