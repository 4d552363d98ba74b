// Bearer-token authentication on every HTTP surface of the real binary.

#include <fstream>

#include <catch2/catch.hpp>

#include "auth.hpp"
#include "process.hpp"

using lognurse::host::BearerAuth;
using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::TempDir;

TEST_CASE("a bearer token is accepted only when it matches exactly") {
  const auto auth = BearerAuth::with_token("s3cret-token");
  CHECK(auth.allows("Bearer s3cret-token"));
  CHECK(auth.allows("bearer s3cret-token"));
  CHECK_FALSE(auth.allows(""));
  CHECK_FALSE(auth.allows("Bearer"));
  CHECK_FALSE(auth.allows("Bearer s3cret-toke"));
  CHECK_FALSE(auth.allows("Bearer s3cret-token "));
  CHECK_FALSE(auth.allows("Basic czNjcmV0LXRva2Vu"));
  CHECK(BearerAuth().allows(""));
}

TEST_CASE("an unreadable or empty token file is refused without showing a token") {
  TempDir dir;
  auto missing = BearerAuth::from_settings(dir.file("absent"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "config.auth_token_file");
  std::ofstream(dir.file("empty")) << "\n";
  auto empty = BearerAuth::from_settings(dir.file("empty"));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message == "server.auth_token_file " + dir.file("empty") + " holds no token");
}

TEST_CASE("with a token configured, every route but /ready needs it") {
  TempDir dir;
  std::ofstream(dir.file("token")) << "tok-123\n";
  std::ofstream(dir.file("host.yaml")) << "server:\n  auth_token_file: " << dir.file("token")
                                       << "\n";
  HostServer server({"--data-dir", dir.file("data")}, {"--config", dir.file("host.yaml")});
  const int port = server.port();
  const std::vector<std::pair<std::string, std::string>> good = {
      {"Authorization", "Bearer tok-123"}};
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"Authorization", "Bearer tok-124"}};

  CHECK(http_request(port, "GET", "/ready").status == 200);

  const std::string push = R"({"streams":[{"stream":{"service_name":"a"},"values":[[")" +
                           std::to_string(std::time(nullptr)) + R"(000000000","x"]]}]})";
  struct Route {
    std::string method, path, body;
  };
  for (const auto& route : std::vector<Route>{
           {"GET", "/api/nurse/logs/aggregation", ""},
           {"POST", "/api/nurse/logs/query", R"({"query":"{service_name=\"a\"}"})"},
           {"POST", "/loki/api/v1/push", push},
           {"GET", "/loki/api/v1/labels", ""},
           {"GET", "/api/plugins", ""},
           {"POST", "/mcp", R"({"jsonrpc":"2.0","id":1,"method":"ping"})"}}) {
    INFO(route.method << " " << route.path);
    const auto anonymous = http_request(port, route.method, route.path, route.body);
    CHECK(anonymous.status == 401);
    CHECK(anonymous.header("WWW-Authenticate") == "Bearer");
    CHECK_THAT(anonymous.body, Catch::Contains("http.unauthorized"));
    CHECK_THAT(anonymous.body, !Catch::Contains("tok-123"));
    CHECK(http_request(port, route.method, route.path, route.body, wrong).status == 401);
  }
  CHECK(http_request(port, "POST", "/loki/api/v1/push", push, good).status == 204);
  CHECK(http_request(port, "GET", "/api/nurse/logs/aggregation", "", good).status == 200);
  CHECK(http_request(port, "GET", "/loki/api/v1/labels", "", good).status == 200);
}
