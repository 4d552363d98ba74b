// Facts that span several files: what one service's configuration says must
// match how compose runs it and how the others reach it.

#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "deploy_files.hpp"

using lognurse::deploy_test::load_yaml;
using lognurse::deploy_test::read_text;

namespace {

/// Container path of each named volume mounted by `service`.
std::map<std::string, std::string> volume_targets(const std::string& service) {
  std::map<std::string, std::string> out;
  const auto compose = load_yaml("config/docker-compose.infrastructure.yml");
  for (const auto& mount : compose["services"][service]["volumes"]) {
    const auto spec = mount.as<std::string>();
    const auto first = spec.find(':');
    const auto second = spec.find(':', first + 1);
    out[spec.substr(0, first)] = spec.substr(first + 1, second - first - 1);
  }
  return out;
}

}  // namespace

TEST_CASE("loki keeps all its data on the loki-data volume") {
  const auto loki = load_yaml("config/loki-config.yaml");
  const auto target = volume_targets("loki").at("loki-data");
  CHECK(target == "/loki");
  CHECK(loki["common"]["path_prefix"].as<std::string>() == target);
  for (const auto& path :
       {loki["common"]["storage"]["filesystem"]["chunks_directory"].as<std::string>(),
        loki["common"]["storage"]["filesystem"]["rules_directory"].as<std::string>(),
        loki["compactor"]["working_directory"].as<std::string>()}) {
    INFO(path);
    CHECK(path.rfind(target + "/", 0) == 0);
  }
  CHECK(volume_targets("loki").at("./loki-config.yaml") == "/etc/loki/config.yaml");
}

TEST_CASE("tempo keeps its write-ahead log and blocks on the tempo-data volume") {
  const auto trace = load_yaml("config/tempo-config.yaml")["storage"]["trace"];
  const auto target = volume_targets("tempo").at("tempo-data");
  CHECK(target == "/var/tempo");
  CHECK(trace["wal"]["path"].as<std::string>().rfind(target + "/", 0) == 0);
  CHECK(trace["local"]["path"].as<std::string>().rfind(target + "/", 0) == 0);
}

TEST_CASE("the collector's offsets and queues live on the otelcol-storage volume") {
  const auto collector = load_yaml("config/otel-collector-config.yaml");
  CHECK(collector["extensions"]["file_storage"]["directory"].as<std::string>() ==
        volume_targets("otel-collector").at("otelcol-storage"));
}

TEST_CASE("the host's data directory is the lognurse-data volume") {
  const auto env = read_text("config/production.env.example");
  const auto target = volume_targets("lognurse").at("lognurse-data");
  CHECK(env.find("\nLOGNURSE_DATA_DIR=" + target + "\n") != std::string::npos);
}

TEST_CASE("the stack's services reach each other on the ports their configs open") {
  const auto loki = load_yaml("config/loki-config.yaml");
  const auto collector = load_yaml("config/otel-collector-config.yaml");
  const auto compose = load_yaml("config/docker-compose.infrastructure.yml")["services"];
  CHECK(loki["server"]["http_listen_port"].as<int>() == 3100);
  CHECK(compose["loki"]["ports"][0].as<std::string>() == "127.0.0.1:3100:3100");
  CHECK(compose["tempo"]["ports"][0].as<std::string>() == "127.0.0.1:3200:3200");
  CHECK(compose["lognurse"]["ports"][0].as<std::string>() == "127.0.0.1:8470:8470");
  CHECK(collector["exporters"]["otlp_http/lognurse"]["endpoint"].as<std::string>() ==
        "http://lognurse:8470/otlp");
  CHECK(compose["otel-collector"]["command"][0].as<std::string>() ==
        "--config=/etc/otelcol-contrib/config.yaml");
  CHECK(volume_targets("otel-collector").at("./otel-collector-config.yaml") ==
        "/etc/otelcol-contrib/config.yaml");
  CHECK(volume_targets("grafana").at("./grafana-datasources.yaml") ==
        "/etc/grafana/provisioning/datasources/lognurse.yaml");
}
