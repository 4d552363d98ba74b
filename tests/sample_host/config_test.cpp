#include <cstdlib>

#include <catch2/catch.hpp>

#include "config.hpp"

using lognurse::host::expand_environment;
using lognurse::host::parse_config;

TEST_CASE("config reads the host keys and hands plugin sections over as JSON") {
  auto config = parse_config(R"(
server:
  listen: 127.0.0.1:9000
  data_dir: /var/lib/lognurse
plugin_dirs: [/opt/plugins]
log_aggregation:
  backend: loki
plugins:
  loki:
    endpoint: http://loki:3100
    timeout_ms: 1500
    tls: false
    tenant_id: "007"
)", "host.yaml");
  REQUIRE(config.ok());
  const auto& c = config.value();
  CHECK(c.listen == "127.0.0.1:9000");
  CHECK(c.data_dir == "/var/lib/lognurse");
  CHECK(c.plugin_dirs == std::vector<std::string>{"/opt/plugins"});
  CHECK(c.log_aggregation_backend == "loki");
  CHECK(c.plugins["loki"] == nlohmann::json{{"endpoint", "http://loki:3100"},
                                            {"timeout_ms", 1500},
                                            {"tls", false},
                                            {"tenant_id", "007"}});
  CHECK(c.plugin_locations["loki"] == "host.yaml:9");
}

TEST_CASE("config names the file, line and key of an unknown key") {
  auto config = parse_config("server:\n  listen: 127.0.0.1:1\n  lisen: x\n", "host.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().code == "config.invalid");
  CHECK(config.error().message ==
        "host.yaml:3: unknown key \"server.lisen\"; known keys here: listen, data_dir, "
        "max_body_bytes, auth_token_file, read_timeout");
}

TEST_CASE("config rejects wrong types and YAML syntax errors with a line") {
  auto wrong_type = parse_config("plugin_dirs: /opt\n", "a.yaml");
  REQUIRE_FALSE(wrong_type.ok());
  CHECK(wrong_type.error().message == "a.yaml:1: plugin_dirs must be a list of directories");

  auto syntax = parse_config("server:\n  listen: [\n", "b.yaml");
  REQUIRE_FALSE(syntax.ok());
  CHECK_THAT(syntax.error().message, Catch::StartsWith("b.yaml:"));
  CHECK_THAT(syntax.error().message, Catch::Contains("YAML syntax error"));

  auto level = parse_config("logging:\n  level: loud\n", "c.yaml");
  REQUIRE_FALSE(level.ok());
  CHECK(level.error().message == "c.yaml:2: logging.level must be debug, info, warn or error, got \"loud\"");
}

TEST_CASE("config reads server.read_timeout as a duration and refuses what is not one") {
  auto defaults = parse_config("server:\n  listen: 127.0.0.1:1\n", "a.yaml");
  REQUIRE(defaults.ok());
  CHECK(defaults.value().read_timeout_ms == 30'000);

  auto set = parse_config("server:\n  read_timeout: 1m30s\n", "a.yaml");
  REQUIRE(set.ok());
  CHECK(set.value().read_timeout_ms == 90'000);

  for (const std::string bad : {"soon", "0s", "2h", "-5s"}) {
    auto refused = parse_config("server:\n  read_timeout: " + bad + "\n", "a.yaml");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message ==
          "a.yaml:2: server.read_timeout must be a duration from 1ms to 1h, e.g. 30s");
  }
}

TEST_CASE("config expands ${VAR} and ${VAR:-default} in scalars") {
  setenv("LOGNURSE_TEST_ENDPOINT", "http://10.0.0.1:3100", 1);
  unsetenv("LOGNURSE_TEST_UNSET");
  CHECK(expand_environment("${LOGNURSE_TEST_ENDPOINT}/x").value() == "http://10.0.0.1:3100/x");
  CHECK(expand_environment("${LOGNURSE_TEST_UNSET:-fallback}").value() == "fallback");
  CHECK(expand_environment("plain $HOME text").value() == "plain $HOME text");
  auto missing = expand_environment("${LOGNURSE_TEST_UNSET}");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message ==
        "environment variable LOGNURSE_TEST_UNSET is not set; set it or write "
        "${LOGNURSE_TEST_UNSET:-default}");

  auto config = parse_config("plugins:\n  loki:\n    endpoint: ${LOGNURSE_TEST_ENDPOINT}\n"
                             "    retries: ${LOGNURSE_TEST_UNSET:-3}\n",
                             "env.yaml");
  REQUIRE(config.ok());
  CHECK(config.value().plugins["loki"]["endpoint"] == "http://10.0.0.1:3100");
  CHECK(config.value().plugins["loki"]["retries"] == 3);

  auto bad = parse_config("server:\n  listen: ${LOGNURSE_TEST_UNSET}\n", "env.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::StartsWith("env.yaml:2: environment variable"));
}

TEST_CASE("the shipped host configs parse") {
  for (const char* file : {"host.yaml", "host-loki.yaml"}) {
    INFO(file);
    auto config = lognurse::host::load_config(std::string(LOGNURSE_SOURCE_DIR) + "/config/" + file);
    REQUIRE(config.ok());
  }
}
