#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <re2/re2.h>

#include "deploy_files.hpp"

using lognurse::deploy_test::all_scalars;
using lognurse::deploy_test::component_type;
using lognurse::deploy_test::load_yaml;
using lognurse::deploy_test::map_keys;

namespace {

const char* kCollectorConfig = "config/otel-collector-config.yaml";
const char* kEmbeddedOverlay = "config/otel-collector-embedded.yaml";

YAML::Node collector() { return load_yaml(kCollectorConfig); }

/// The filelog receiver's operator with this id.
YAML::Node filelog_operator(const YAML::Node& config, const std::string& id) {
  for (const auto& op : config["receivers"]["filelog/docker"]["operators"]) {
    if (op["id"].as<std::string>() == id) return op;
  }
  FAIL("no filelog operator with id " << id);
  return YAML::Node();
}

std::vector<std::string> operator_types(const YAML::Node& config) {
  std::vector<std::string> out;
  for (const auto& op : config["receivers"]["filelog/docker"]["operators"]) {
    out.push_back(op["type"].as<std::string>());
  }
  return out;
}

}  // namespace

TEST_CASE("collector config has no loki exporter and no deprecated OTLP exporter names") {
  const auto exporters = map_keys(collector()["exporters"]);
  REQUIRE(exporters.size() == 3);
  for (const auto& id : exporters) {
    INFO(id);
    CHECK(component_type(id) != "loki");
    CHECK(component_type(id) != "otlphttp");
    CHECK(component_type(id) != "otlp");
  }
}

TEST_CASE("collector sends logs to Loki's OTLP base path with the tenant header") {
  const auto config = collector();
  const auto loki = config["exporters"]["otlp_http/loki"];
  // The exporter appends /v1/logs itself; a full path here would post to
  // /otlp/v1/logs/v1/logs.
  CHECK(loki["endpoint"].as<std::string>() == "http://loki:3100/otlp");
  CHECK(loki["headers"]["X-Scope-OrgID"].as<std::string>() == "${env:LOKI_TENANT_ID}");
  CHECK(loki["compression"].as<std::string>() == "gzip");
  CHECK(loki["sending_queue"]["storage"].as<std::string>() == "file_storage");

  const auto logs = config["service"]["pipelines"]["logs"]["exporters"];
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].as<std::string>() == "otlp_http/loki");
}

TEST_CASE("collector's embedded variant posts to the host's /otlp/v1/logs") {
  const auto config = collector();
  const auto lognurse = config["exporters"]["otlp_http/lognurse"];
  CHECK(lognurse["endpoint"].as<std::string>() == "http://lognurse:8470/otlp");
  CHECK(lognurse["headers"]["X-Scope-OrgID"].as<std::string>() == "${env:LOKI_TENANT_ID}");

  const auto overlay = load_yaml(kEmbeddedOverlay);
  CHECK(map_keys(overlay) == std::vector<std::string>{"service"});
  CHECK(map_keys(overlay["service"]["pipelines"]) == std::vector<std::string>{"logs"});
  const auto exporters = overlay["service"]["pipelines"]["logs"]["exporters"];
  REQUIRE(exporters.size() == 1);
  CHECK(exporters[0].as<std::string>() == "otlp_http/lognurse");
}

TEST_CASE("collector sends traces to Tempo over OTLP gRPC") {
  const auto config = collector();
  const auto tempo = config["exporters"]["otlp_grpc/tempo"];
  CHECK(tempo["endpoint"].as<std::string>() == "tempo:4317");
  CHECK(tempo["tls"]["insecure"].as<bool>());
  const auto traces = config["service"]["pipelines"]["traces"];
  CHECK(traces["exporters"][0].as<std::string>() == "otlp_grpc/tempo");
  CHECK(traces["receivers"][0].as<std::string>() == "otlp");
}

TEST_CASE("every collector pipeline runs memory_limiter first, then resource, then batch") {
  const auto config = collector();
  const auto pipelines = config["service"]["pipelines"];
  REQUIRE(map_keys(pipelines) == std::vector<std::string>{"logs", "traces"});
  for (const auto& pipeline : pipelines) {
    INFO(pipeline.first.Scalar());
    std::vector<std::string> processors;
    for (const auto& p : pipeline.second["processors"]) processors.push_back(p.as<std::string>());
    CHECK(processors == std::vector<std::string>{"memory_limiter", "resource", "batch"});
  }
  const auto limiter = config["processors"]["memory_limiter"];
  CHECK(limiter["check_interval"].as<std::string>() == "1s");
  CHECK(limiter["limit_percentage"].as<int>() == 80);
  CHECK(limiter["spike_limit_percentage"].as<int>() == 20);
}

TEST_CASE("every component a collector pipeline names is defined, and every extension is on") {
  const auto config = collector();
  for (const auto& pipeline : config["service"]["pipelines"]) {
    for (const auto& kind : {"receivers", "processors", "exporters"}) {
      for (const auto& id : pipeline.second[kind]) {
        INFO(pipeline.first.Scalar() << " " << kind << " " << id.as<std::string>());
        CHECK(config[kind][id.as<std::string>()].IsDefined());
      }
    }
  }
  std::vector<std::string> enabled;
  for (const auto& id : config["service"]["extensions"]) enabled.push_back(id.as<std::string>());
  CHECK(enabled == map_keys(config["extensions"]));
}

TEST_CASE("collector's resource processor works on resource attributes and keeps SDK names") {
  const auto attributes = collector()["processors"]["resource"]["attributes"];
  REQUIRE(attributes.size() == 2);
  CHECK(attributes[0]["key"].as<std::string>() == "service.name");
  CHECK(attributes[0]["action"].as<std::string>() == "insert");
  CHECK(attributes[1]["key"].as<std::string>() == "deployment.environment.name");
  CHECK(attributes[1]["value"].as<std::string>() == "${env:DEPLOYMENT_ENVIRONMENT:-production}");
}

TEST_CASE("collector's otlp receiver listens for gRPC and HTTP beyond its container") {
  const auto protocols = collector()["receivers"]["otlp"]["protocols"];
  CHECK(protocols["grpc"]["endpoint"].as<std::string>() == "0.0.0.0:4317");
  CHECK(protocols["http"]["endpoint"].as<std::string>() == "0.0.0.0:4318");
}

TEST_CASE("filelog parses Docker json-file with the container operator and keeps offsets") {
  const auto config = collector();
  const auto filelog = config["receivers"]["filelog/docker"];
  CHECK(filelog["include"][0].as<std::string>() == "/var/lib/docker/containers/*/*-json.log");
  CHECK(filelog["include_file_path"].as<bool>());
  CHECK(filelog["storage"].as<std::string>() == "file_storage");
  CHECK(config["extensions"]["file_storage"]["directory"].as<std::string>() ==
        "/var/lib/otelcol/file_storage");

  const auto types = operator_types(config);
  CHECK(types == std::vector<std::string>{"container", "recombine", "regex_parser", "move",
                                          "remove", "regex_parser", "move"});
  // The envelope is parsed by the container operator, not by hand.
  CHECK(std::count(types.begin(), types.end(), "json_parser") == 0);
  const auto envelope = filelog_operator(config, "docker_envelope");
  CHECK(envelope["format"].as<std::string>() == "docker");
  CHECK_FALSE(envelope["add_metadata_from_filepath"].as<bool>());
}

TEST_CASE("filelog recombines Docker's 16 KB partial lines per file") {
  const auto recombine = filelog_operator(collector(), "docker_partial_lines");
  CHECK(recombine["combine_field"].as<std::string>() == "body");
  CHECK(recombine["combine_with"].as<std::string>() == "");
  // Only the last piece of a split line ends with a newline.
  CHECK(recombine["is_last_entry"].as<std::string>() == "body endsWith \"\\n\"");
  CHECK_FALSE(recombine["is_first_entry"].IsDefined());
  CHECK(recombine["source_identifier"].as<std::string>() == "attributes[\"log.file.path\"]");
  CHECK(recombine["max_log_size"].as<long long>() == 1048576);
}

TEST_CASE("collector config, filelog operators included, uses no Go templates") {
  // Nothing in the Collector's configuration evaluates {{ }}: it would be kept
  // as literal text.
  for (const auto& scalar : all_scalars(collector())) {
    INFO(scalar);
    CHECK(scalar.find("{{") == std::string::npos);
  }
  for (const auto& op : collector()["receivers"]["filelog/docker"]["operators"]) {
    CHECK(op["type"].as<std::string>() != "add");
  }
}

TEST_CASE("filelog takes the container id from the file path into the resource") {
  const auto config = collector();
  const auto parser = filelog_operator(config, "docker_container_id");
  CHECK(parser["parse_from"].as<std::string>() == "attributes[\"log.file.path\"]");
  const auto move = filelog_operator(config, "docker_container_id_to_resource");
  CHECK(move["from"].as<std::string>() == "attributes.container_id");
  CHECK(move["to"].as<std::string>() == "resource[\"container.id\"]");

  // The Collector's regexp package is RE2, as is this one.
  const RE2 regex(parser["regex"].as<std::string>());
  REQUIRE(regex.ok());
  const std::string id = "4f2c0ab9d1e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2";
  std::string captured;
  CHECK(RE2::FullMatch("/var/lib/docker/containers/" + id + "/" + id + "-json.log", regex,
                       &captured));
  CHECK(captured == id);
  CHECK_FALSE(RE2::FullMatch("/var/lib/docker/containers/" + id + "/" + id + "-json.log.1",
                             regex, &captured));
}

TEST_CASE("filelog strips only Docker's trailing newline from the recombined line") {
  const auto config = collector();
  const auto parser = filelog_operator(config, "docker_trailing_newline");
  CHECK(parser["parse_from"].as<std::string>() == "body");
  const RE2 regex(parser["regex"].as<std::string>());
  REQUIRE(regex.ok());
  std::string line;
  CHECK(RE2::FullMatch("GET /health 200\n", regex, &line));
  CHECK(line == "GET /health 200");
  CHECK(RE2::FullMatch("first\nsecond\r\n", regex, &line));
  CHECK(line == "first\nsecond");
  CHECK(RE2::FullMatch("no newline", regex, &line));
  CHECK(line == "no newline");
  CHECK(filelog_operator(config, "docker_line_to_body")["from"].as<std::string>() ==
        "attributes.log_line");
}
