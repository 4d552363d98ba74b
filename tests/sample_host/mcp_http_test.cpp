// MCP's Streamable HTTP transport at /mcp on the real server.

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
