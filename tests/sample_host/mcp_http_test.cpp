// MCP's Streamable HTTP transport at /mcp on the real server.

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

std::string rpc(int id, const std::string& method, const json& params = json::object()) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump();
}

const json kInitialize = {{"protocolVersion", "2025-11-25"},
                          {"capabilities", json::object()},
                          {"clientInfo", {{"name", "test"}, {"version", "1"}}}};

}  // namespace

TEST_CASE("Streamable HTTP: sessions, protocol header, origin check and DELETE") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  const std::vector<std::pair<std::string, std::string>> accept = {
      {"Accept", "application/json, text/event-stream"}};

  auto init = http_request(port, "POST", "/mcp", rpc(1, "initialize", kInitialize), accept);
  REQUIRE(init.status == 200);
  CHECK(json::parse(init.body)["result"]["protocolVersion"] == "2025-11-25");
  const std::string session = init.header("Mcp-Session-Id");
  REQUIRE(session.size() == 32);

  auto with_session = accept;
  with_session.emplace_back("Mcp-Session-Id", session);
  with_session.emplace_back("MCP-Protocol-Version", "2025-11-25");

  auto initialized = http_request(port, "POST", "/mcp",
                                  R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
                                  with_session);
  CHECK(initialized.status == 202);
  CHECK(initialized.body.empty());

  auto list = http_request(port, "POST", "/mcp", rpc(2, "tools/list"), with_session);
  REQUIRE(list.status == 200);
  CHECK(json::parse(list.body)["result"]["tools"].size() == 9);

  auto no_session = http_request(port, "POST", "/mcp", rpc(3, "tools/list"), accept);
  CHECK(no_session.status == 400);
  CHECK_THAT(no_session.body, Catch::Contains("missing Mcp-Session-Id"));

  auto bad_version = with_session;
  bad_version.back().second = "1999-01-01";
  CHECK(http_request(port, "POST", "/mcp", rpc(4, "ping"), bad_version).status == 400);

  auto foreign = with_session;
  foreign.emplace_back("Origin", "http://evil.example");
  auto refused = http_request(port, "POST", "/mcp", rpc(5, "ping"), foreign);
  CHECK(refused.status == 403);

  auto local = with_session;
  local.emplace_back("Origin", "http://localhost:3000");
  CHECK(http_request(port, "POST", "/mcp", rpc(6, "ping"), local).status == 200);

  auto sse_only = with_session;
  sse_only[0].second = "text/event-stream";
  auto sse = http_request(port, "POST", "/mcp", rpc(7, "ping"), sse_only);
  CHECK(sse.status == 200);
  CHECK(sse.body == "event: message\ndata: {\"id\":7,\"jsonrpc\":\"2.0\",\"result\":{}}\n\n");

  auto malformed = http_request(port, "POST", "/mcp", "{oops", with_session);
  CHECK(malformed.status == 400);
  CHECK(json::parse(malformed.body)["error"]["code"] == -32700);

  CHECK(http_request(port, "DELETE", "/mcp", "", with_session).status == 204);
  CHECK(http_request(port, "POST", "/mcp", rpc(8, "ping"), with_session).status == 404);
}

namespace {

/// Opens a session and returns its headers for later requests.
std::vector<std::pair<std::string, std::string>> open_session(
    int port, std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Accept", "application/json, text/event-stream");
  auto init = http_request(port, "POST", "/mcp", rpc(1, "initialize", kInitialize), headers);
  REQUIRE(init.status == 200);
  headers.emplace_back("Mcp-Session-Id", init.header("Mcp-Session-Id"));
  headers.emplace_back("MCP-Protocol-Version", "2025-11-25");
  return headers;
}

}  // namespace

TEST_CASE("Streamable HTTP refuses a foreign Host header against DNS rebinding") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const auto session = open_session(server.port(), {});

  auto foreign = session;
  foreign.emplace_back("Host", "evil.example.com");
  auto refused = http_request(server.port(), "POST", "/mcp", rpc(2, "ping"), foreign);
  CHECK(refused.status == 403);
  CHECK(json::parse(refused.body)["error"]["message"] ==
        "Host evil.example.com is not allowed: this listener is on a loopback address; use "
        "localhost, 127.0.0.1 or [::1]");

  auto local = session;
  local.emplace_back("Host", "localhost:" + std::to_string(server.port()));
  CHECK(http_request(server.port(), "POST", "/mcp", rpc(3, "ping"), local).status == 200);
}

TEST_CASE("Streamable HTTP streams the log lines a tool writes as events before its answer") {
  TempDir data;
  const auto config = data.file("host.yaml");
  {
    std::ofstream out(config);
    out << "plugin_dirs:\n  - " << LOGNURSE_CONFORMANCE_PLUGIN_DIR << "\n";
  }
  HostServer server({"--data-dir", data.path()}, {"--config", config});
  const auto session = open_session(server.port(), {});

  const json call = {{"name", "test_tool_with_logging"}, {"arguments", json::object()}};
  auto quiet = http_request(server.port(), "POST", "/mcp", rpc(2, "tools/call", call), session);
  REQUIRE(quiet.status == 200);
  CHECK(quiet.content_type == "application/json");  // no level set: no log lines

  auto level = http_request(server.port(), "POST", "/mcp",
                            rpc(3, "logging/setLevel", {{"level", "info"}}), session);
  CHECK(json::parse(level.body)["result"] == json::object());

  auto streamed = http_request(server.port(), "POST", "/mcp", rpc(4, "tools/call", call), session);
  REQUIRE(streamed.status == 200);
  CHECK(streamed.content_type == "text/event-stream");
  std::vector<json> events;
  std::istringstream lines(streamed.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("data: ", 0) == 0) events.push_back(json::parse(line.substr(6)));
  }
  REQUIRE(events.size() == 4);
  const std::vector<std::string> texts = {"Tool execution started", "Tool processing data",
                                          "Tool execution completed"};
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(events[i]["method"] == "notifications/message");
    CHECK(events[i]["params"] ==
          json{{"level", "info"}, {"logger", "conformance_tools"}, {"data", texts[i]}});
  }
  CHECK(events[3]["id"] == 4);
  CHECK(events[3]["result"]["content"][0]["text"] == "Tool with logging executed successfully");

  auto warnings_only = http_request(server.port(), "POST", "/mcp",
                                    rpc(5, "logging/setLevel", {{"level", "warning"}}), session);
  REQUIRE(warnings_only.status == 200);
  auto filtered = http_request(server.port(), "POST", "/mcp", rpc(6, "tools/call", call), session);
  CHECK(filtered.body.find("notifications/message") == std::string::npos);
}

TEST_CASE("Streamable HTTP requires the bearer token when the server has one") {
  TempDir data;
  setenv("LOGNURSE_AUTH_TOKEN", "s3cret-token", 1);
  HostServer server({"--data-dir", data.path()});
  unsetenv("LOGNURSE_AUTH_TOKEN");

  auto missing = http_request(server.port(), "POST", "/mcp", rpc(1, "initialize", kInitialize),
                              {{"Accept", "application/json"}});
  CHECK(missing.status == 401);
  CHECK(missing.header("WWW-Authenticate") == "Bearer");
  auto wrong = http_request(server.port(), "POST", "/mcp", rpc(1, "initialize", kInitialize),
                            {{"Accept", "application/json"}, {"Authorization", "Bearer nope"}});
  CHECK(wrong.status == 401);
  const auto session = open_session(server.port(), {{"Authorization", "Bearer s3cret-token"}});
  CHECK(http_request(server.port(), "POST", "/mcp", rpc(2, "ping"), session).status == 200);
}

TEST_CASE("sessions left behind make room: the least recently used ends when the table is full") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  // The host keeps 1000 sessions. The first is used again after all the others opened.
  const auto first = open_session(port, {});
  const auto second = open_session(port, {});
  for (int i = 2; i < 1000; ++i) open_session(port, {});
  REQUIRE(http_request(port, "POST", "/mcp", rpc(2, "ping"), first).status == 200);

  // Client 1001 gets its session; the one idle longest, the second, is the one that ends.
  const auto newest = open_session(port, {});
  CHECK(http_request(port, "POST", "/mcp", rpc(3, "ping"), newest).status == 200);
  CHECK(http_request(port, "POST", "/mcp", rpc(4, "ping"), second).status == 404);
  CHECK(http_request(port, "POST", "/mcp", rpc(5, "ping"), first).status == 200);
}

TEST_CASE("an event stream whose client hung up frees its place within a second") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  auto open_stream = [&](const std::vector<std::pair<std::string, std::string>>& session) {
    const int fd = lognurse::test::connect_loopback(port, 5);
    REQUIRE(fd >= 0);
    std::string request = "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    for (const auto& [name, value] : session) {
      if (name != "Accept") request += name + ": " + value + "\r\n";
    }
    request += "\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
    char head[16] = {};
    REQUIRE(::recv(fd, head, 12, MSG_WAITALL) == 12);
    return std::make_pair(fd, std::string(head));
  };
  // The host keeps four streams open at once.
  std::vector<int> streams;
  for (int i = 0; i < 4; ++i) {
    auto [fd, status] = open_stream(open_session(port, {}));
    CHECK(status == "HTTP/1.1 200");
    streams.push_back(fd);
  }
  auto [refused, status] = open_stream(open_session(port, {}));
  ::close(refused);
  CHECK(status == "HTTP/1.1 503");
  for (int fd : streams) ::close(fd);

  const auto closed = std::chrono::steady_clock::now();
  std::string reopened;
  while (reopened != "HTTP/1.1 200" &&
         std::chrono::steady_clock::now() - closed < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto [fd, again] = open_stream(open_session(port, {}));
    ::close(fd);
    reopened = again;
  }
  CHECK(reopened == "HTTP/1.1 200");
  CHECK(std::chrono::steady_clock::now() - closed < std::chrono::seconds(2));
}
