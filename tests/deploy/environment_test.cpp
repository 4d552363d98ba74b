#include <map>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "auth.hpp"
#include "deploy_files.hpp"
#include "loki_config.hpp"

using lognurse::deploy_test::read_text;
using lognurse::deploy_test::referenced_variables;

namespace {

/// NAME=VALUE lines of the example environment file, comments skipped.
std::map<std::string, std::string> example_environment() {
  std::map<std::string, std::string> out;
  std::istringstream lines(read_text("config/production.env.example"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    REQUIRE(eq != std::string::npos);
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

/// Environment variables the host consults: its own, the Loki plugin's table,
/// and the ${VAR} expansions of the host YAML files the image ships.
std::set<std::string> read_by_host() {
  std::set<std::string> out = {lognurse::host::kAuthTokenVariable};
  for (const auto& key : lognurse::loki::config_table()) {
    if (key.env != nullptr) out.insert(key.env);
  }
  for (const auto& file : {"config/host.yaml", "config/host-loki.yaml"}) {
    for (const auto& name : referenced_variables(read_text(file))) out.insert(name);
  }
  return out;
}

/// Variables the deployment files themselves expand.
std::set<std::string> read_by_stack() {
  std::set<std::string> out;
  for (const auto& file :
       {"config/docker-compose.infrastructure.yml", "config/docker-compose.embedded.yml",
        "config/otel-collector-config.yaml",
        "config/otel-collector-embedded.yaml", "config/grafana-datasources.yaml"}) {
    for (const auto& name : referenced_variables(read_text(file))) out.insert(name);
  }
  return out;
}

}  // namespace

TEST_CASE("the example environment names the Loki endpoint and tenant the host reads") {
  const auto env = example_environment();
  REQUIRE(env.count("LOKI_ENDPOINT") == 1);
  REQUIRE(env.count("LOKI_TENANT_ID") == 1);
  CHECK(env.at("LOKI_ENDPOINT") == "http://loki:3100");
  CHECK(env.at("LOKI_TENANT_ID") == "production");
  const auto host = read_by_host();
  CHECK(host.count("LOKI_ENDPOINT") == 1);
  CHECK(host.count("LOKI_TENANT_ID") == 1);
}

TEST_CASE("every variable of the example environment is read by the host or the stack") {
  const auto host = read_by_host();
  const auto stack = read_by_stack();
  for (const auto& [name, value] : example_environment()) {
    INFO(name);
    CHECK((host.count(name) == 1 || stack.count(name) == 1));
  }
}

TEST_CASE("the example environment lists every variable the host reads") {
  const auto env = example_environment();
  for (const auto& name : read_by_host()) {
    INFO(name);
    CHECK(env.count(name) == 1);
  }
}

TEST_CASE("every variable the stack's files expand is in the example environment") {
  const auto env = example_environment();
  for (const auto& name : read_by_stack()) {
    INFO(name);
    CHECK(env.count(name) == 1);
  }
}

TEST_CASE("the example environment lets the host listen inside its container") {
  const auto env = example_environment();
  CHECK(env.at("LOGNURSE_LISTEN") == "0.0.0.0:8470");
  CHECK(env.at("LOGNURSE_DATA_DIR") == "/var/lib/lognurse");
  CHECK(env.at("LOGNURSE_LOG_LEVEL") == "info");
  CHECK(read_text("config/lognurse.Dockerfile").find("VOLUME /var/lib/lognurse") !=
        std::string::npos);
}
