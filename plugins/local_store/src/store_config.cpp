#include "store_config.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <thread>

#include "lognurse/host_api/time.hpp"
#include "validation.hpp"

namespace lognurse::local_store {
namespace {

Error config_error(const std::string& key, const std::string& what) {
  return invalid_argument("store.config", "local_store config key '" + key + "': " + what);
}

Result<std::int64_t> read_integer(const nlohmann::json& value, const std::string& key,
                                  std::int64_t min) {
  if (!value.is_number_integer()) return config_error(key, "must be an integer");
  auto number = value.get<std::int64_t>();
  if (number < min) return config_error(key, "must be at least " + std::to_string(min));
  return number;
}

Result<std::size_t> read_count(const nlohmann::json& value, const std::string& key) {
  auto number = read_integer(value, key, 1);
  if (!number) return number.error();
  return static_cast<std::size_t>(number.value());
}

Result<bool> read_boolean(const nlohmann::json& value, const std::string& key) {
  if (!value.is_boolean()) return config_error(key, "must be true or false");
  return value.get<bool>();
}

/// "256KB", "1MB", "1048576", 1048576: the units are powers of 1024.
Result<std::size_t> read_bytes(const nlohmann::json& value, const std::string& key) {
  if (value.is_number_integer()) return read_count(value, key);
  if (!value.is_string()) return config_error(key, "must be a size such as 262144 or \"256KB\"");
  std::string text = value.get<std::string>();
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  std::string unit = text.substr(digits);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "KB" || unit == "KIB" || unit == "K") scale = 1024;
  if (unit == "MB" || unit == "MIB" || unit == "M") scale = 1024 * 1024;
  if (unit == "GB" || unit == "GIB" || unit == "G") scale = 1024 * 1024 * 1024;
  if (digits == 0 || digits > 12 || scale == 0) {
    return config_error(key, "'" + text + "' is not a size; write e.g. \"256KB\" or \"1MB\"");
  }
  std::uint64_t bytes = std::stoull(text.substr(0, digits)) * scale;
  if (bytes == 0) return config_error(key, "must be greater than zero");
  return static_cast<std::size_t>(bytes);
}

/// "7d", "10m", "0s" or integer seconds.
Result<std::int64_t> read_duration(const nlohmann::json& value, const std::string& key) {
  if (value.is_number_integer()) {
    auto seconds = read_integer(value, key, 0);
    if (!seconds) return seconds.error();
    if (seconds.value() > std::numeric_limits<std::int64_t>::max() / kNanosPerSecond) {
      return config_error(key, "is too large");
    }
    return seconds.value() * kNanosPerSecond;
  }
  if (!value.is_string()) return config_error(key, "must be a duration such as \"10m\"");
  auto parsed = parse_duration(value.get<std::string>());
  if (!parsed) return config_error(key, parsed.error().message);
  if (parsed.value() < 0) return config_error(key, "must not be negative");
  return parsed.value();
}

/// A positive number of megabytes (2^20 bytes), as Loki's *_mb limits take.
Result<double> read_megabytes(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number()) return config_error(key, "must be a number of megabytes, e.g. 4 or 0.5");
  const double number = value.get<double>();
  if (!(number > 0) || number > 1e9) return config_error(key, "must be greater than zero");
  return number;
}

/// A list of label names, e.g. [service, app]; an empty list is allowed.
Result<std::vector<std::string>> read_label_names(const nlohmann::json& value,
                                                  const std::string& key) {
  if (!value.is_array()) {
    return config_error(key, "must be a list of label names, e.g. [service, app, job], or []");
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto& item = value[i];
    const std::string where = key + "[" + std::to_string(i) + "]";
    if (!item.is_string()) return config_error(where, "must be a label name (a string)");
    const auto name = item.get<std::string>();
    if (!is_valid_label_name(name)) {
      return config_error(where, "'" + name + "' is not a label name; write [a-zA-Z_][a-zA-Z0-9_]*");
    }
    names.push_back(name);
  }
  return names;
}

Status parse_limits(const nlohmann::json& object, StoreLimits& limits, const std::string& prefix) {
  if (!object.is_object()) return config_error(prefix, "must be a mapping");
  for (const auto& item : object.items()) {
    // Named references rather than a structured binding: the lambdas below
    // capture them, which clang 14 (the fuzzing compiler) does not allow for
    // bindings.
    const std::string& name = item.key();
    const nlohmann::json& value = item.value();
    std::string key = prefix + "." + name;
    auto assign_count = [&](std::size_t& target) -> Status {
      auto parsed = read_count(value, key);
      if (!parsed) return parsed.error();
      target = parsed.value();
      return success();
    };
    auto assign_bytes = [&](std::size_t& target) -> Status {
      auto parsed = read_bytes(value, key);
      if (!parsed) return parsed.error();
      target = parsed.value();
      return success();
    };
    auto assign_duration = [&](std::int64_t& target) -> Status {
      auto parsed = read_duration(value, key);
      if (!parsed) return parsed.error();
      target = parsed.value();
      return success();
    };
    Status status = success();
    if (name == "max_line_size") {
      status = assign_bytes(limits.max_line_size);
    } else if (name == "max_label_names_per_series") {
      status = assign_count(limits.max_label_names_per_series);
    } else if (name == "max_label_name_length") {
      status = assign_count(limits.max_label_name_length);
    } else if (name == "max_label_value_length") {
      status = assign_count(limits.max_label_value_length);
    } else if (name == "max_structured_metadata_size") {
      status = assign_bytes(limits.max_structured_metadata_size);
    } else if (name == "max_structured_metadata_entries_count") {
      status = assign_count(limits.max_structured_metadata_entries_count);
    } else if (name == "reject_old_samples") {
      auto parsed = read_boolean(value, key);
      if (!parsed) return parsed.error();
      limits.reject_old_samples = parsed.value();
    } else if (name == "reject_old_samples_max_age") {
      status = assign_duration(limits.reject_old_samples_max_age_ns);
    } else if (name == "creation_grace_period") {
      status = assign_duration(limits.creation_grace_period_ns);
    } else if (name == "max_entries_limit_per_query") {
      status = assign_count(limits.max_entries_limit_per_query);
    } else if (name == "max_query_series") {
      status = assign_count(limits.max_query_series);
    } else if (name == "ingestion_rate_mb" || name == "ingestion_rate_burst_size_mb") {
      auto parsed = read_megabytes(value, key);
      if (!parsed) return parsed.error();
      (name == "ingestion_rate_mb" ? limits.ingestion_rate_mb
                                   : limits.ingestion_rate_burst_size_mb) = parsed.value();
    } else if (name == "query_timeout") {
      status = assign_duration(limits.query_timeout_ns);
      if (status && limits.query_timeout_ns == 0) {
        return config_error(key, "must be greater than zero");
      }
    } else if (name == "max_query_length") {
      status = assign_duration(limits.max_query_length_ns);
    } else if (name == "retention_period") {
      status = assign_duration(limits.retention_period_ns);
    } else if (name == "discover_service_name") {
      auto parsed = read_label_names(value, key);
      if (!parsed) return parsed.error();
      limits.discover_service_name = std::move(parsed.value());
    } else if (name == "discover_log_levels") {
      auto parsed = read_boolean(value, key);
      if (!parsed) return parsed.error();
      limits.discover_log_levels = parsed.value();
    } else {
      return config_error(key, "unknown key; see the local_store configuration table");
    }
    if (!status) return status;
  }
  return success();
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = {
      {"path", "string", "<data_dir>/lognurse.db", "SQLite database file"},
      {"busy_timeout", "duration", "5s", "how long to wait for a database locked elsewhere"},
      {"durability", "string", "process",
       "\"process\": an acknowledged push survives a crash of the process; \"fsync\": each "
       "push is also flushed to the disk, so it survives a power loss"},
      {"read_connections", "integer", "4", "idle read connections kept open"},
      {"chunk_target_size", "bytes", "2MB",
       "a stream's head blocks are compacted into chunks of about this many bytes of "
       "lines (uncompressed) once they hold that much"},
      {"chunk_max_age", "duration", "1h",
       "... or once the oldest of them was written this long ago"},
      {"chunk_encoding", "string", "lz4",
       "how compaction compresses chunks: \"lz4\" (about a third of the lines, decompressed "
       "about three times as fast as zstd) or \"zstd\" (about a fifth); chunks of either are "
       "read"},
      {"compaction_interval", "duration", "10s",
       "how often the background compactor runs (compaction and retention); 0s turns it off"},
      {"wal_restart_size", "bytes", "64MB",
       "write-ahead log size past which a push waits (busy_timeout at most) for running "
       "queries to finish so that the log can start over; without it, queries that always "
       "overlap let the log grow without bound"},
      {"decoded_block_budget", "bytes", "24MB",
       "memory for decoded blocks: freed ones are kept for reuse only while those kept and "
       "those in use stay within this, and scans stop decoding ahead while those in use "
       "exceed it; a scan still decodes the blocks it needs beyond it; 0 keeps none"},
      {"query_parallelism", "integer", "cores (at most 8)",
       "threads one metric query evaluates on: its streams are split into shards evaluated "
       "at once, and the results merged exactly; 1 evaluates on one thread"},
      {"query_shard_min_size", "bytes", "8MB",
       "bytes of lines a metric query must read before it is split across threads"},
      {"limits.max_line_size", "bytes", "256KB", "longest accepted line"},
      {"limits.max_label_names_per_series", "integer", "15", "labels per stream"},
      {"limits.max_label_name_length", "integer", "1024", "bytes per label name"},
      {"limits.max_label_value_length", "integer", "2048", "bytes per label value"},
      {"limits.max_structured_metadata_size", "bytes", "64KB",
       "structured metadata bytes per entry"},
      {"limits.max_structured_metadata_entries_count", "integer", "128",
       "structured metadata pairs per entry"},
      {"limits.reject_old_samples", "boolean", "false",
       "refuse entries older than reject_old_samples_max_age (Loki's default is true; off "
       "here so that old files can be ingested)"},
      {"limits.reject_old_samples_max_age", "duration", "7d", "age limit when enabled"},
      {"limits.creation_grace_period", "duration", "10m",
       "how far in the future a timestamp may be; 0 turns the check off"},
      {"limits.max_entries_limit_per_query", "integer", "5000", "largest query limit"},
      {"limits.max_query_series", "integer", "500", "series a metric query may return"},
      {"limits.query_timeout", "duration", "1m", "wall-clock budget of one query"},
      {"limits.max_query_length", "duration", "30d1h",
       "longest time range a query, label, series, statistics, volume, pattern or metrics "
       "request may cover (Loki's default); 0s allows any"},
      {"limits.ingestion_rate_mb", "number", "4",
       "sustained push rate per tenant, in MB (2^20 bytes) of lines and structured metadata "
       "per second; over it pushes fail with 429"},
      {"limits.ingestion_rate_burst_size_mb", "number", "6",
       "bytes a tenant may push at once above the sustained rate, in MB"},
      {"limits.retention_period", "duration", "0s",
       "the compactor deletes chunks whose newest entry is older than this; 0s keeps "
       "everything (Loki's default)"},
      {"limits.discover_service_name", "list",
       "[service, app, application, app_name, name, app_kubernetes_io_name, container, "
       "container_name, k8s_container_name, component, workload, job, k8s_job_name]",
       "a pushed stream without a service_name label gets one: the value of the first of "
       "these labels it has, else \"unknown_service\" (Loki's default list); [] keeps "
       "streams as pushed"},
      {"limits.discover_log_levels", "boolean", "true",
       "entries without a detected_level label or structured metadata are read with "
       "detected_level set to the level the store classified at push (trace, debug, info, "
       "warn, error, critical, fatal or unknown), so that | detected_level=\"error\" "
       "works on every push, as in Loki"},
      {"overrides.<tenant>.<limit>", "mapping", "none",
       "any limits.* key for one tenant, e.g. overrides.team-a.ingestion_rate_mb: 16"},
  };
  return keys;
}

const std::vector<std::string>& default_service_name_discovery() {
  static const std::vector<std::string> names = {
      "service",   "app",           "application",        "app_name",  "name",
      "app_kubernetes_io_name",     "container",          "container_name",
      "k8s_container_name",         "component",          "workload",  "job",
      "k8s_job_name"};
  return names;
}

std::size_t default_query_parallelism() {
  const unsigned threads = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(threads, 1, 8);
}

const StoreLimits& StoreConfig::limits_for(const std::string& tenant) const {
  const auto found = overrides.find(tenant);
  return found == overrides.end() ? limits : found->second;
}

Result<StoreConfig> parse_store_config(const nlohmann::json& config, const std::string& data_dir) {
  StoreConfig result;
  if (!config.is_null() && !config.is_object()) {
    return invalid_argument("store.config", "local_store config must be a mapping");
  }
  if (config.is_object()) {
    for (const auto& [name, value] : config.items()) {
      if (name == "path") {
        if (!value.is_string() || value.get<std::string>().empty()) {
          return config_error(name, "must be a non-empty string");
        }
        result.path = value.get<std::string>();
      } else if (name == "busy_timeout") {
        auto parsed = read_duration(value, name);
        if (!parsed) return parsed.error();
        result.busy_timeout_ns = parsed.value();
      } else if (name == "durability") {
        std::string mode = value.is_string() ? value.get<std::string>() : "";
        if (mode != "process" && mode != "fsync") {
          return config_error(name, "must be \"process\" or \"fsync\"");
        }
        result.fsync_each_push = mode == "fsync";
      } else if (name == "chunk_target_size") {
        auto parsed = read_bytes(value, name);
        if (!parsed) return parsed.error();
        if (parsed.value() < 1024) return config_error(name, "must be at least 1KB");
        result.chunk_target_size = parsed.value();
      } else if (name == "chunk_max_age") {
        auto parsed = read_duration(value, name);
        if (!parsed) return parsed.error();
        result.chunk_max_age_ns = parsed.value();
      } else if (name == "chunk_encoding") {
        const std::string encoding = value.is_string() ? value.get<std::string>() : "";
        if (encoding != "zstd" && encoding != "lz4") {
          return config_error(name, "must be \"zstd\" or \"lz4\"");
        }
        result.chunk_encoding = encoding == "lz4" ? ChunkEncoding::lz4 : ChunkEncoding::zstd;
      } else if (name == "compaction_interval") {
        auto parsed = read_duration(value, name);
        if (!parsed) return parsed.error();
        result.compaction_interval_ns = parsed.value();
      } else if (name == "read_connections") {
        auto parsed = read_count(value, name);
        if (!parsed) return parsed.error();
        result.read_connections = parsed.value();
      } else if (name == "wal_restart_size") {
        auto parsed = read_bytes(value, name);
        if (!parsed) return parsed.error();
        result.wal_restart_bytes = parsed.value();
      } else if (name == "decoded_block_budget") {
        // Zero is a budget too: nothing is kept, every decoded block is freed when dropped.
        if (value.is_number_integer()) {
          auto parsed = read_integer(value, name, 0);
          if (!parsed) return parsed.error();
          result.decoded_block_budget = static_cast<std::size_t>(parsed.value());
          continue;
        }
        auto parsed = read_bytes(value, name);
        if (!parsed) return parsed.error();
        result.decoded_block_budget = parsed.value();
      } else if (name == "query_parallelism") {
        auto parsed = read_count(value, name);
        if (!parsed) return parsed.error();
        result.query_parallelism = parsed.value();
      } else if (name == "query_shard_min_size") {
        auto parsed = read_bytes(value, name);
        if (!parsed) return parsed.error();
        result.query_shard_min_bytes = parsed.value();
      } else if (name == "limits") {
        auto status = parse_limits(value, result.limits, "limits");
        if (!status) return status.error();
      } else if (name == "overrides") {
        if (!value.is_object()) return config_error(name, "must be a mapping of tenant IDs");
      } else {
        return config_error(name, "unknown key; see the local_store configuration table");
      }
    }
  }
  // Overrides start from the global limits, wherever the two appear in the file.
  if (config.is_object() && config.contains("overrides")) {
    for (const auto& [tenant, limits] : config["overrides"].items()) {
      StoreLimits tenant_limits = result.limits;
      auto status = parse_limits(limits, tenant_limits, "overrides." + tenant);
      if (!status) return status.error();
      result.overrides.emplace(tenant, tenant_limits);
    }
  }
  if (result.path.empty()) {
    if (data_dir.empty()) {
      return invalid_argument("store.config",
                              "local_store has no database path: set 'path' in its config or "
                              "give the host a data directory");
    }
    result.path = data_dir + (data_dir.back() == '/' ? "" : "/") + "lognurse.db";
  }
  return result;
}

}  // namespace lognurse::local_store
