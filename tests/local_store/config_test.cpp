// The store's configuration: defaults, accepted forms and refusals naming the key.

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "store_config.hpp"

namespace lognurse::local_store {
namespace {

Error config_error(const nlohmann::json& config) {
  auto parsed = parse_store_config(config, "/data");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == "store.config");
  return parsed.error();
}

}  // namespace

TEST_CASE("config defaults follow Loki's limits and put the database in the data dir") {
  auto parsed = parse_store_config(nlohmann::json::object(), "/var/lib/lognurse");
  REQUIRE(parsed.ok());
  const StoreConfig& config = parsed.value();
  CHECK(config.path == "/var/lib/lognurse/lognurse.db");
  CHECK(config.busy_timeout_ns == 5'000'000'000);
  CHECK_FALSE(config.fsync_each_push);
  CHECK(config.limits.max_line_size == 262144);
  CHECK(config.limits.max_label_names_per_series == 15);
  CHECK(config.limits.max_label_name_length == 1024);
  CHECK(config.limits.max_label_value_length == 2048);
  CHECK_FALSE(config.limits.reject_old_samples);
  CHECK(config.limits.reject_old_samples_max_age_ns == 7LL * 86400 * 1'000'000'000);
  CHECK(config.limits.creation_grace_period_ns == 600LL * 1'000'000'000);
  CHECK(config.limits.max_entries_limit_per_query == 5000);
  CHECK(config.limits.max_query_series == 500);
  CHECK(config.limits.query_timeout_ns == 60LL * 1'000'000'000);
  CHECK(config.decoded_block_budget == 24 * 1024 * 1024);
  CHECK(config.query_parallelism == default_query_parallelism());
  CHECK(config.chunk_encoding == ChunkEncoding::lz4);
  CHECK(config.query_shard_min_bytes == 8 * 1024 * 1024);
  CHECK(config.limits.discover_service_name.size() == 13);
  CHECK(config.limits.discover_service_name.front() == "service");
  CHECK(config.limits.discover_service_name.back() == "k8s_job_name");
  CHECK(config.limits.discover_log_levels);
  CHECK(parse_store_config(nullptr, "/data/").value().path == "/data/lognurse.db");
}

TEST_CASE("config reads every key in its documented forms") {
  auto parsed = parse_store_config({{"path", "/tmp/x.db"},
                                    {"busy_timeout", "250ms"},
                                    {"durability", "fsync"},
                                    {"chunk_target_size", "64KB"},
                                    {"chunk_max_age", "30m"},
                                    {"chunk_encoding", "lz4"},
                                    {"compaction_interval", "250ms"},
                                    {"read_connections", 2},
                                    {"decoded_block_budget", "48MB"},
                                    {"query_parallelism", 3},
                                    {"query_shard_min_size", "64MB"},
                                    {"limits",
                                     {{"max_line_size", "1MB"},
                                      {"max_label_names_per_series", 30},
                                      {"max_label_name_length", 64},
                                      {"max_label_value_length", 128},
                                      {"max_structured_metadata_size", "2KiB"},
                                      {"max_structured_metadata_entries_count", 4},
                                      {"reject_old_samples", true},
                                      {"reject_old_samples_max_age", "1w"},
                                      {"creation_grace_period", 30},
                                      {"max_entries_limit_per_query", 100},
                                      {"max_query_series", 7},
                                      {"query_timeout", "2m"},
                                      {"retention_period", "30d"},
                                      {"discover_service_name", {"team", "app"}},
                                      {"discover_log_levels", false}}}},
                                   "");
  REQUIRE(parsed.ok());
  const StoreConfig& config = parsed.value();
  CHECK(config.path == "/tmp/x.db");
  CHECK(config.busy_timeout_ns == 250'000'000);
  CHECK(config.fsync_each_push);
  CHECK(config.chunk_target_size == 65536);
  CHECK(config.chunk_max_age_ns == 1800LL * 1'000'000'000);
  CHECK(config.chunk_encoding == ChunkEncoding::lz4);
  CHECK(config.compaction_interval_ns == 250'000'000);
  CHECK(config.read_connections == 2);
  CHECK(config.decoded_block_budget == 48 * 1024 * 1024);
  CHECK(config.query_parallelism == 3);
  CHECK(config.query_shard_min_bytes == 64 * 1024 * 1024);
  CHECK(config.limits.max_line_size == 1048576);
  CHECK(config.limits.max_label_names_per_series == 30);
  CHECK(config.limits.max_label_name_length == 64);
  CHECK(config.limits.max_label_value_length == 128);
  CHECK(config.limits.max_structured_metadata_size == 2048);
  CHECK(config.limits.max_structured_metadata_entries_count == 4);
  CHECK(config.limits.reject_old_samples);
  CHECK(config.limits.reject_old_samples_max_age_ns == 7LL * 86400 * 1'000'000'000);
  CHECK(config.limits.creation_grace_period_ns == 30LL * 1'000'000'000);
  CHECK(config.limits.max_entries_limit_per_query == 100);
  CHECK(config.limits.max_query_series == 7);
  CHECK(config.limits.query_timeout_ns == 120LL * 1'000'000'000);
  CHECK(config.limits.retention_period_ns == 30LL * 86400 * 1'000'000'000);
  CHECK(config.limits.discover_service_name == std::vector<std::string>{"team", "app"});
  CHECK_FALSE(config.limits.discover_log_levels);
}

TEST_CASE("config refuses unknown keys by name") {
  CHECK(config_error({{"pth", "/x"}}).message ==
        "local_store config key 'pth': unknown key; see the local_store configuration table");
  CHECK(config_error({{"limits", {{"max_lines", 3}}}}).message ==
        "local_store config key 'limits.max_lines': unknown key; see the local_store "
        "configuration table");
}

TEST_CASE("config refuses wrong types and values naming the key") {
  CHECK(config_error({{"path", 3}}).message ==
        "local_store config key 'path': must be a non-empty string");
  CHECK(config_error({{"durability", "off"}}).message ==
        "local_store config key 'durability': must be \"process\" or \"fsync\"");
  CHECK(config_error({{"limits", {{"max_line_size", "12 parsecs"}}}}).message ==
        "local_store config key 'limits.max_line_size': '12 parsecs' is not a size; write e.g. "
        "\"256KB\" or \"1MB\"");
  CHECK(config_error({{"limits", {{"max_label_names_per_series", 0}}}}).message ==
        "local_store config key 'limits.max_label_names_per_series': must be at least 1");
  CHECK(config_error({{"limits", {{"reject_old_samples", "yes"}}}}).message ==
        "local_store config key 'limits.reject_old_samples': must be true or false");
  CHECK(config_error({{"limits", {{"query_timeout", "0s"}}}}).message ==
        "local_store config key 'limits.query_timeout': must be greater than zero");
  CHECK(config_error({{"chunk_encoding", "gzip"}}).message ==
        "local_store config key 'chunk_encoding': must be \"zstd\" or \"lz4\"");
  CHECK(config_error({{"query_parallelism", 0}}).message ==
        "local_store config key 'query_parallelism': must be at least 1");
  CHECK(config_error({{"limits", 5}}).message ==
        "local_store config key 'limits': must be a mapping");
  CHECK(config_error({{"busy_timeout", true}}).message ==
        "local_store config key 'busy_timeout': must be a duration such as \"10m\"");
  CHECK(config_error({{"limits", {{"discover_service_name", "app"}}}}).message ==
        "local_store config key 'limits.discover_service_name': must be a list of label names, "
        "e.g. [service, app, job], or []");
  CHECK(config_error({{"limits", {{"discover_service_name", {"app", "app-name"}}}}}).message ==
        "local_store config key 'limits.discover_service_name[1]': 'app-name' is not a label "
        "name; write [a-zA-Z_][a-zA-Z0-9_]*");
  CHECK(config_error({{"limits", {{"discover_service_name", {1}}}}}).message ==
        "local_store config key 'limits.discover_service_name[0]': must be a label name (a "
        "string)");
  CHECK(config_error({{"limits", {{"discover_log_levels", "on"}}}}).message ==
        "local_store config key 'limits.discover_log_levels': must be true or false");
}

TEST_CASE("config takes a decoded block budget of zero and refuses one that is not a size") {
  auto budget = [](const nlohmann::json& value) {
    auto parsed = parse_store_config({{"decoded_block_budget", value}}, "/data");
    REQUIRE(parsed.ok());
    return parsed.value().decoded_block_budget;
  };
  CHECK(budget(0) == 0);
  CHECK(budget(4096) == 4096);
  CHECK(budget("1MB") == 1024 * 1024);
  CHECK(config_error({{"decoded_block_budget", "lots"}}).message ==
        "local_store config key 'decoded_block_budget': 'lots' is not a size; write e.g. "
        "\"256KB\" or \"1MB\"");
  CHECK(config_error({{"decoded_block_budget", -1}}).message ==
        "local_store config key 'decoded_block_budget': must be at least 0");
}

TEST_CASE("config needs a path when the host gives no data dir") {
  auto parsed = parse_store_config(nlohmann::json::object(), "");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message ==
        "local_store has no database path: set 'path' in its config or give the host a data "
        "directory");
}

TEST_CASE("config documents every key it accepts, in the plugin's README") {
  std::vector<std::string> names;
  for (const auto& key : config_keys()) names.push_back(key.name);
  CHECK(names.size() == 31);
  CHECK(names.front() == "path");
  CHECK(names.back() == "overrides.<tenant>.<limit>");

  std::ifstream file(std::string(LOGNURSE_SOURCE_DIR) + "/plugins/local_store/README.md");
  REQUIRE(file);
  const std::string readme((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
  for (const auto& key : config_keys()) {
    INFO(key.name);
    CHECK(readme.find("| `" + key.name + "` | " + key.type + " |") != std::string::npos);
  }
}

}  // namespace lognurse::local_store
