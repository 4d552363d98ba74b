// Parsing the plugin's section: defaults, environment, and errors naming keys.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "loki_config.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using nlohmann::json;

namespace {

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const char* name) -> std::optional<std::string> {
    const auto it = values.find(name);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

const EnvLookup kNoEnv = env_of({});

std::string error_of(const json& section, const EnvLookup& env = kNoEnv) {
  const auto config = parse_config(section, env);
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().code == "loki.config_error");
  return config.error().message;
}

}  // namespace

TEST_CASE("an empty section gives Loki's local defaults", "[loki][config]") {
  for (const json& section : {json(nullptr), json::object()}) {
    const auto config = parse_config(section, kNoEnv);
    REQUIRE(config.ok());
    CHECK(config.value().adapter.endpoint == "http://127.0.0.1:3100");
    CHECK(config.value().tenant_id == "fake");
    CHECK(config.value().adapter.timeout == std::chrono::milliseconds(10000));
    CHECK(config.value().adapter.connect_timeout == std::chrono::milliseconds(2000));
    CHECK(config.value().retry.max_retries == 3);
    CHECK(config.value().retry.initial_backoff == std::chrono::milliseconds(100));
    CHECK(config.value().retry.max_backoff == std::chrono::milliseconds(5000));
    CHECK(config.value().adapter.username.empty());
    CHECK(config.value().adapter.bearer_token.empty());
    CHECK(config.value().adapter.verify_tls);
    CHECK(config.value().push_format == PushFormat::json);
    CHECK(config.value().batch.max_batch_bytes == 1048576);
    CHECK(config.value().batch.max_wait == std::chrono::milliseconds(0));
    CHECK(config.value().batch.max_queue_bytes == 67108864);
  }
}

TEST_CASE("every key of the table is read", "[loki][config]") {
  const json section = {{"endpoint", "https://loki.example:3100/gw/"},
                        {"tenant_id", "team-a"},
                        {"timeout_ms", 1500},
                        {"connect_timeout_ms", "250"},
                        {"max_retries", 5},
                        {"retry_initial_backoff_ms", 20},
                        {"retry_max_backoff_ms", 400},
                        {"username", "u"},
                        {"password", "p"},
                        {"ca_file", "/etc/ssl/loki.pem"},
                        {"client_cert_file", "/etc/ssl/client.pem"},
                        {"client_key_file", "/etc/ssl/client.key"},
                        {"tls_verify", "false"},
                        {"push_format", "protobuf"},
                        {"batch_max_bytes", 2048},
                        {"batch_max_wait_ms", 15},
                        {"max_queue_bytes", 8192},
                        {"push_concurrency", 3},
                        {"max_response_bytes", 4096},
                        {"max_idle_connections", 2}};
  const auto config = parse_config(section, kNoEnv);
  REQUIRE(config.ok());
  const LokiConfig& c = config.value();
  CHECK(c.adapter.endpoint == "https://loki.example:3100/gw");
  CHECK(c.tenant_id == "team-a");
  CHECK(c.adapter.timeout == std::chrono::milliseconds(1500));
  CHECK(c.adapter.connect_timeout == std::chrono::milliseconds(250));
  CHECK(c.retry.max_retries == 5);
  CHECK(c.retry.initial_backoff == std::chrono::milliseconds(20));
  CHECK(c.retry.max_backoff == std::chrono::milliseconds(400));
  CHECK(c.adapter.username == "u");
  CHECK(c.adapter.password == "p");
  CHECK(c.adapter.ca_file == "/etc/ssl/loki.pem");
  CHECK(c.adapter.max_response_bytes == 4096);
  CHECK(c.adapter.max_idle_connections == 2);
  CHECK(c.adapter.client_cert_file == "/etc/ssl/client.pem");
  CHECK(c.adapter.client_key_file == "/etc/ssl/client.key");
  CHECK_FALSE(c.adapter.verify_tls);
  CHECK(c.push_format == PushFormat::protobuf);
  CHECK(c.batch.max_batch_bytes == 2048);
  CHECK(c.batch.max_wait == std::chrono::milliseconds(15));
  CHECK(c.batch.max_queue_bytes == 8192);
  CHECK(c.batch.senders == 3);
  // bearer_token and the two secret files are exclusive with username/password.
  CHECK(config_table().size() == section.size() + 3);
}

TEST_CASE("an unknown key is an error naming it", "[loki][config]") {
  const std::string message = error_of({{"endpoint", "http://x:1"}, {"timeuot_ms", 5}});
  CHECK(message.find("loki config: unknown key \"timeuot_ms\"; known keys: endpoint, "
                     "tenant_id, timeout_ms") == 0);
}

TEST_CASE("a wrong type is an error naming the key", "[loki][config]") {
  CHECK(error_of({{"timeout_ms", "soon"}}) ==
        "loki config: key \"timeout_ms\" must be an integer, got \"soon\"");
  CHECK(error_of({{"endpoint", 3100}}) ==
        "loki config: key \"endpoint\" must be a string, got number");
  CHECK(error_of({{"max_retries", 2.5}}) ==
        "loki config: key \"max_retries\" must be an integer, got number");
  CHECK(error_of(json::array()) == "loki config: the section must be a mapping of keys, got array");
}

TEST_CASE("an out-of-range value is an error naming the key and bounds", "[loki][config]") {
  CHECK(error_of({{"max_retries", 11}}) ==
        "loki config: key \"max_retries\" must be between 0 and 10, got 11");
  CHECK(error_of({{"timeout_ms", 0}}) ==
        "loki config: key \"timeout_ms\" must be between 1 and 3600000, got 0");
  CHECK(error_of({{"retry_initial_backoff_ms", 500}, {"retry_max_backoff_ms", 100}}) ==
        "loki config: retry_max_backoff_ms must be at least retry_initial_backoff_ms");
}

TEST_CASE("endpoints must be http or https URLs without credentials", "[loki][config]") {
  CHECK(error_of({{"endpoint", "127.0.0.1:3100"}}).find("must start with http://") !=
        std::string::npos);
  CHECK(error_of({{"endpoint", "http://"}}) == "loki config: endpoint \"http://\" names no host");
  const std::string message = error_of({{"endpoint", "http://admin:hunter2@loki:3100"}});
  CHECK(message.find("must not contain credentials") != std::string::npos);
  CHECK(message.find("hunter2") == std::string::npos);
}

TEST_CASE("LOKI_ENDPOINT and LOKI_TENANT_ID override the section", "[loki][config]") {
  const auto env =
      env_of({{"LOKI_ENDPOINT", "http://127.0.0.1:9999/"}, {"LOKI_TENANT_ID", "from-env"}});
  const auto config =
      parse_config({{"endpoint", "http://loki:3100"}, {"tenant_id", "from-yaml"}}, env);
  REQUIRE(config.ok());
  CHECK(config.value().adapter.endpoint == "http://127.0.0.1:9999");
  CHECK(config.value().tenant_id == "from-env");
}

TEST_CASE("an empty environment variable does not override", "[loki][config]") {
  const auto config = parse_config({{"tenant_id", "from-yaml"}}, env_of({{"LOKI_TENANT_ID", ""}}));
  REQUIRE(config.ok());
  CHECK(config.value().tenant_id == "from-yaml");
}

TEST_CASE("credentials come from the environment when the section has none", "[loki][config]") {
  const auto env = env_of({{"LOKI_BEARER_TOKEN", "env-token"}, {"LOKI_USERNAME", "env-user"}});
  const auto from_env = parse_config({{"username", "yaml-user"}, {"password", "pw"}},
                                     env_of({{"LOKI_USERNAME", "env-user"}}));
  REQUIRE(from_env.ok());
  CHECK(from_env.value().adapter.username == "yaml-user");

  const auto bearer = parse_config(json::object(), env_of({{"LOKI_BEARER_TOKEN", "t"}}));
  REQUIRE(bearer.ok());
  CHECK(bearer.value().adapter.bearer_token == "t");

  CHECK(error_of(json::object(), env) ==
        "loki config: set either username/password or bearer_token, not both");
}

TEST_CASE("a password without a user is an error", "[loki][config]") {
  CHECK(error_of({{"password", "pw"}}) ==
        "loki config: password is set but username is not; set username too");
}

TEST_CASE("an invalid tenant_id is an error", "[loki][config]") {
  CHECK(error_of({{"tenant_id", "a b"}}).find("tenant_id \"a b\" is not a valid Loki tenant") !=
        std::string::npos);
}

TEST_CASE("a null value keeps the default", "[loki][config]") {
  const auto config = parse_config({{"timeout_ms", nullptr}}, kNoEnv);
  REQUIRE(config.ok());
  CHECK(config.value().adapter.timeout == std::chrono::milliseconds(10000));
}

namespace {

/// A file in the temp directory with `content`, removed at scope exit.
class SecretFile {
public:
  explicit SecretFile(const std::string& content)
      : path_(std::filesystem::temp_directory_path() /
              ("lognurse-loki-secret-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter_++))) {
    std::ofstream(path_) << content;
  }
  ~SecretFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("secrets are read from files without their trailing newline", "[loki][config]") {
  const SecretFile password("pa ss\n");
  const SecretFile token("tok.en\r\n");

  const auto basic = parse_config({{"username", "u"}, {"password_file", password.path()}},
                                  env_of({{"LOKI_PASSWORD", "from-env"}}));
  REQUIRE(basic.ok());
  CHECK(basic.value().adapter.password == "pa ss");

  const auto bearer = parse_config({{"bearer_token_file", token.path()}},
                                   env_of({{"LOKI_BEARER_TOKEN", "from-env"}}));
  REQUIRE(bearer.ok());
  CHECK(bearer.value().adapter.bearer_token == "tok.en");
}

TEST_CASE("a secret file that is missing, empty or several lines is an error", "[loki][config]") {
  const SecretFile empty("\n");
  const SecretFile two_lines("one\ntwo-secret\n");
  CHECK(error_of({{"bearer_token_file", "/nonexistent/token"}}) ==
        "loki config: bearer_token_file \"/nonexistent/token\" cannot be read; check that the "
        "file exists and is readable");
  CHECK(error_of({{"bearer_token_file", empty.path()}}) ==
        "loki config: bearer_token_file \"" + empty.path() + "\" is empty");
  const std::string message = error_of({{"bearer_token_file", two_lines.path()}});
  CHECK(message == "loki config: bearer_token_file \"" + two_lines.path() +
                       "\" holds more than one line; put only the secret in it");
  CHECK(message.find("two-secret") == std::string::npos);
  CHECK(error_of({{"bearer_token", "t"}, {"bearer_token_file", empty.path()}}) ==
        "loki config: set either bearer_token or bearer_token_file, not both");
}

TEST_CASE("TLS, push format and batch keys are checked", "[loki][config]") {
  CHECK(error_of({{"client_cert_file", "/c.pem"}}) ==
        "loki config: client_cert_file and client_key_file must be set together");
  CHECK(error_of({{"tls_verify", "no"}}) ==
        "loki config: key \"tls_verify\" must be true or false, got \"no\"");
  CHECK(error_of({{"push_format", "xml"}}) ==
        "loki config: push_format \"xml\" is not known; use json or protobuf");
  CHECK(error_of({{"batch_max_bytes", 4096}, {"max_queue_bytes", 2048}}) ==
        "loki config: max_queue_bytes must be at least batch_max_bytes");
  const auto verify = parse_config({{"tls_verify", true}}, kNoEnv);
  REQUIRE(verify.ok());
  CHECK(verify.value().adapter.verify_tls);
}
