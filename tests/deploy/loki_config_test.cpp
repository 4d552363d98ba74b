#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "deploy_files.hpp"

using lognurse::deploy_test::load_yaml;
using lognurse::deploy_test::read_text;

namespace {

const char* kLokiConfig = "config/loki-config.yaml";

}  // namespace

TEST_CASE("loki config stores on the filesystem with tsdb, schema v13 and a 24h index") {
  const auto config = load_yaml(kLokiConfig);
  const auto schemas = config["schema_config"]["configs"];
  REQUIRE(schemas.IsSequence());
  REQUIRE(schemas.size() == 1);
  const auto schema = schemas[0];
  CHECK(schema["store"].as<std::string>() == "tsdb");
  CHECK(schema["schema"].as<std::string>() == "v13");
  CHECK(schema["object_store"].as<std::string>() == "filesystem");
  CHECK(schema["index"]["period"].as<std::string>() == "24h");
  CHECK(schema["index"]["prefix"].as<std::string>() == "index_");
  CHECK(config["common"]["storage"]["filesystem"]["chunks_directory"].as<std::string>() ==
        "/loki/chunks");
  CHECK(config["common"]["ring"]["kvstore"]["store"].as<std::string>() == "inmemory");
  CHECK(config["common"]["replication_factor"].as<int>() == 1);
}

TEST_CASE("loki config names no store or schema that Loki 3 refuses with structured metadata") {
  const auto text = read_text(kLokiConfig);
  for (const auto& line_start : {"store: boltdb", "schema: v11", "schema: v12"}) {
    INFO(line_start);
    CHECK(text.find(line_start) == std::string::npos);
  }
}

TEST_CASE("loki config keeps structured metadata, volume, patterns and retention on") {
  const auto config = load_yaml(kLokiConfig);
  const auto limits = config["limits_config"];
  CHECK(limits["allow_structured_metadata"].as<bool>());
  CHECK(limits["volume_enabled"].as<bool>());
  CHECK(limits["retention_period"].as<std::string>() == "744h");
  CHECK(config["pattern_ingester"]["enabled"].as<bool>());

  const auto compactor = config["compactor"];
  CHECK(compactor["retention_enabled"].as<bool>());
  CHECK(compactor["delete_request_store"].as<std::string>() == "filesystem");
  CHECK(compactor["working_directory"].as<std::string>() == "/loki/compactor");
}

TEST_CASE("loki config turns anonymous usage reporting off and requires a tenant") {
  const auto config = load_yaml(kLokiConfig);
  CHECK_FALSE(config["analytics"]["reporting_enabled"].as<bool>());
  CHECK(config["auth_enabled"].as<bool>());
  CHECK(config["server"]["http_listen_port"].as<int>() == 3100);
}

TEST_CASE("loki otlp_config uses only actions Loki knows, each on named attributes") {
  const auto otlp = load_yaml(kLokiConfig)["limits_config"]["otlp_config"];
  REQUIRE(otlp.IsMap());
  const std::set<std::string> actions = {"index_label", "structured_metadata", "drop"};

  const auto resource = otlp["resource_attributes"];
  CHECK_FALSE(resource["ignore_defaults"].as<bool>());
  std::vector<YAML::Node> rules;
  for (const auto& rule : resource["attributes_config"]) rules.push_back(rule);
  for (const auto& rule : otlp["log_attributes"]) rules.push_back(rule);
  REQUIRE(rules.size() == 2);
  for (const auto& rule : rules) {
    CHECK(actions.count(rule["action"].as<std::string>()) == 1);
    CHECK((rule["attributes"].IsSequence() || rule["regex"].IsScalar()));
  }
  // container.id stays out of the index; the file path is dropped.
  CHECK(rules[0]["action"].as<std::string>() == "structured_metadata");
  CHECK(rules[0]["attributes"][0].as<std::string>() == "container.id");
  CHECK(rules[1]["action"].as<std::string>() == "drop");
  CHECK(rules[1]["attributes"][0].as<std::string>() == "log.file.path");
  CHECK_FALSE(otlp["severity_text_as_label"].as<bool>());
}

TEST_CASE("loki config explains each otlp_config choice in a comment") {
  const auto text = read_text(kLokiConfig);
  for (const auto& phrase : {"# - Resource attributes in Loki's default list",
                             "# - container.id is deliberately NOT promoted to a label",
                             "log.file.path is dropped", "# - severity_text_as_label"}) {
    INFO(phrase);
    CHECK(text.find(phrase) != std::string::npos);
  }
}
