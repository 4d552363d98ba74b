#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "deploy_files.hpp"

using lognurse::deploy_test::load_yaml;
using lognurse::deploy_test::map_keys;

namespace {

const char* kTempoConfig = "config/tempo-config.yaml";

}  // namespace

TEST_CASE("tempo config has none of the blocks Tempo 3 removed") {
  // Tempo 3 refuses unknown top-level fields: these existed in 2.x only.
  const auto keys = map_keys(load_yaml(kTempoConfig));
  for (const auto& removed : {"ingester", "ingester_client", "compactor",
                              "metrics_generator_client"}) {
    INFO(removed);
    CHECK(std::find(keys.begin(), keys.end(), removed) == keys.end());
  }
  CHECK(keys == std::vector<std::string>{"stream_over_http_enabled", "server", "distributor",
                                         "backend_worker", "storage", "usage_report"});
}

TEST_CASE("tempo receives OTLP from the stack's network and serves Grafana on 3200") {
  const auto config = load_yaml(kTempoConfig);
  const auto protocols = config["distributor"]["receivers"]["otlp"]["protocols"];
  CHECK(protocols["grpc"]["endpoint"].as<std::string>() == "0.0.0.0:4317");
  CHECK(protocols["http"]["endpoint"].as<std::string>() == "0.0.0.0:4318");
  // 3200 is also where `tempo -health` looks by default.
  CHECK(config["server"]["http_listen_port"].as<int>() == 3200);
}

TEST_CASE("tempo keeps 14 days of traces on its local volume and reports no usage") {
  const auto config = load_yaml(kTempoConfig);
  CHECK(config["backend_worker"]["compaction"]["block_retention"].as<std::string>() == "336h");
  const auto trace = config["storage"]["trace"];
  CHECK(trace["backend"].as<std::string>() == "local");
  CHECK(trace["wal"]["path"].as<std::string>() == "/var/tempo/wal");
  CHECK(trace["local"]["path"].as<std::string>() == "/var/tempo/blocks");
  CHECK_FALSE(config["usage_report"]["reporting_enabled"].as<bool>());
}
