// Bearer-token authentication on every HTTP surface of the real binary.

#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "auth.hpp"
#include "mcp_http.hpp"
#include "process.hpp"

using lognurse::host::BearerAuth;
using lognurse::test::connect_loopback;
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

TEST_CASE("a loopback listener answers no page of another site, on any route") {
  TempDir dir;
  HostServer server({"--data-dir", dir.file("data")});
  const int port = server.port();
  const std::string stamp = std::to_string(std::time(nullptr)) + "000000000";
  // A page can send this without asking first: a POST of text/plain.
  const std::string push = R"({"streams":[{"stream":{"service_name":"csrf"},"values":[[")" +
                           stamp + R"(","planted"]]}]})";
  struct Route {
    std::string method, path, body;
  };
  const std::vector<Route> routes = {
      {"GET", "/ready", ""},
      {"GET", "/api/nurse/logs/labels", ""},
      {"POST", "/api/nurse/logs/query", R"({"query":"{service_name=\"csrf\"}"})"},
      {"POST", "/loki/api/v1/push", push},
      {"GET", "/loki/api/v1/query_range?query=%7Bservice_name%3D%22csrf%22%7D", ""},
      {"GET", "/metrics", ""}};
  const std::vector<std::pair<std::string, std::string>> text_plain = {
      {"Content-Type", "text/plain"}};
  for (const auto& route : routes) {
    INFO(route.method << " " << route.path);
    auto rebound = text_plain;
    rebound.emplace_back("Host", "attacker.example:" + std::to_string(port));
    const auto by_host = http_request(port, route.method, route.path, route.body, rebound);
    CHECK(by_host.status == 403);
    CHECK_THAT(by_host.body, Catch::Contains("\"code\":\"http.forbidden_origin\""));
    CHECK_THAT(by_host.body, Catch::Contains("Host attacker.example:" + std::to_string(port) +
                                             " is not allowed: this listener is on a loopback "
                                             "address; use localhost, 127.0.0.1 or [::1]"));
    auto cross_site = text_plain;
    cross_site.emplace_back("Origin", "https://attacker.example");
    const auto by_origin = http_request(port, route.method, route.path, route.body, cross_site);
    CHECK(by_origin.status == 403);
    CHECK_THAT(by_origin.body,
               Catch::Contains("Origin https://attacker.example is not allowed: this listener is "
                               "on a loopback address and answers pages of local origins only"));
    auto sandboxed = text_plain;
    sandboxed.emplace_back("Origin", "null");
    CHECK(http_request(port, route.method, route.path, route.body, sandboxed).status == 403);
  }
  // Nothing the refused pushes carried was stored.
  const auto stored = http_request(port, "GET", "/api/nurse/logs/labels?since=1h");
  REQUIRE(stored.status == 200);
  CHECK_THAT(stored.body, !Catch::Contains("csrf"));

  // A WebSocket tail from a foreign page is refused before the upgrade.
  const int fd = connect_loopback(port, 5);
  REQUIRE(fd >= 0);
  const std::string upgrade =
      "GET /loki/api/v1/tail?query=%7Bservice_name%3D%22csrf%22%7D HTTP/1.1\r\n"
      "Host: 127.0.0.1\r\nOrigin: http://attacker.example\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  REQUIRE(::send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(upgrade.size()));
  char head[64] = {};
  REQUIRE(::recv(fd, head, sizeof head - 1, 0) > 12);
  ::close(fd);
  CHECK(std::string(head).rfind("HTTP/1.1 403 ", 0) == 0);

  // Names that only start like a local one are another machine's.
  for (const char* host :
       {"127.0.0.1.attacker.example", "127.0.0.1evil", "127.0.0.1:18801.attacker.example",
        "[::1].attacker.example", "127.0.0.1:80x", "localhost.attacker.example", "127.1",
        "127.0.0.256"}) {
    INFO(host);
    CHECK(http_request(port, "GET", "/api/plugins", "", {{"Host", host}}).status == 403);
  }
  for (const char* origin :
       {"http://127.0.0.1.attacker.example", "http://127.0.0.1evil.example",
        "http://[::1].attacker.example", "http://127.0.0.1:80.attacker.example",
        "http://127.0.0.1:18801@attacker.example", "file:///tmp/page.html"}) {
    INFO(origin);
    CHECK(http_request(port, "GET", "/api/plugins", "", {{"Origin", origin}}).status == 403);
  }
  // Local names and origins, with and without ports, in any case, are this host's own.
  for (const std::string& host : std::vector<std::string>{
           "localhost", "LOCALHOST", "localhost:" + std::to_string(port),
           "127.0.0.1:" + std::to_string(port), "127.1.2.3", "[::1]:1"}) {
    INFO(host);
    const std::vector<std::pair<std::string, std::string>> local = {
        {"Host", host}, {"Origin", "http://localhost:3000"}};
    CHECK(http_request(port, "GET", "/api/nurse/logs/labels", "", local).status == 200);
  }
  CHECK(http_request(port, "POST", "/loki/api/v1/push", push,
                     {{"Content-Type", "application/json"}, {"Origin", "http://127.0.0.1:8080"}})
            .status == 204);

  // A listener on another address serves names it cannot know: Host is not checked there.
  CHECK(lognurse::host::mcp_http_options_for("0.0.0.0:8470").allow_any_host);
  CHECK(lognurse::host::mcp_http_options_for("10.1.2.3:8470").allow_any_host);
  CHECK_FALSE(lognurse::host::mcp_http_options_for("127.0.0.1:8470").allow_any_host);
  CHECK_FALSE(lognurse::host::mcp_http_options_for("localhost:8470").allow_any_host);
}
