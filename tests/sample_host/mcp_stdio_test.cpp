// An MCP session over stdio with the real binary: newline-delimited JSON-RPC
// on stdout, logs on stderr only.

#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"

using lognurse::test::host_binary;
using lognurse::test::run_command;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

std::string request(int id, const std::string& method, const json& params) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump() + "\n";
}

}  // namespace

TEST_CASE("an MCP stdio session initializes, lists and calls tools") {
  TempDir data;
  const auto file = data.file("svc.log");
  {
    std::ofstream out(file);
    out << "2026-12-02T08:00:00Z payment failed card=declined\n"
        << "2026-12-02T08:00:05Z payment ok\n";
  }
  auto ingest = run_command({host_binary(), "ingest", "--data-dir", data.path(), "--labels",
                             "service_name=payments", file});
  REQUIRE(ingest.exit_code == 0);

  std::string input;
  input += request(1, "initialize",
                   {{"protocolVersion", "2025-06-18"},
                    {"capabilities", json::object()},
                    {"clientInfo", {{"name", "test"}, {"version", "1"}}}});
  input += R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n";
  input += request(2, "tools/list", json::object());
  input += request(3, "tools/call",
                   {{"name", "nurse_query_logs"},
                    {"arguments", {{"query", "{service_name=\"payments\"} |= \"failed\""},
                                   {"start", "2026-12-02T00:00:00Z"},
                                   {"end", "2026-12-03T00:00:00Z"}}}});
  input += request(4, "tools/call", {{"name", "nurse_query_logs"}, {"arguments", json::object()}});
  input += request(5, "tools/call", {{"name", "no_such_tool"}, {"arguments", json::object()}});
  input += "{this is not json\n";
  input += request(6, "resources/list", json::object());
  input += request(7, "ping", json::object());
  input += request(8, "tools/call",
                   {{"name", "nurse_query_logs"}, {"arguments", {{"query", "{service_name=~\"pay(\"}"}}}});

  auto session = run_command({host_binary(), "mcp", "--data-dir", data.path()}, input);
  REQUIRE(session.exit_code == 0);

  std::map<std::string, json> by_id;
  std::istringstream lines(session.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    INFO(line);
    const auto message = json::parse(line);  // stdout holds only JSON-RPC
    CHECK(message["jsonrpc"] == "2.0");
    by_id[message["id"].dump()] = message;
    ++count;
  }
  CHECK(count == 9);  // eight requests and the parse error; no answer to the notification
  CHECK_THAT(session.err, Catch::Contains("plugin loaded"));

  const auto& init = by_id["1"]["result"];
  CHECK(init["protocolVersion"] == "2025-06-18");
  CHECK(init["serverInfo"]["name"] == "lognurse");
  CHECK(init["capabilities"]["tools"]["listChanged"] == true);

  std::vector<std::string> names;
  for (const auto& tool : by_id["2"]["result"]["tools"]) {
    names.push_back(tool["name"]);
    CHECK(tool["inputSchema"]["type"] == "object");
    CHECK(tool["annotations"]["readOnlyHint"] == true);
    CHECK(tool["outputSchema"]["type"] == "object");
    CHECK_FALSE(tool["inputSchema"].contains("x-output-schema"));
  }
  CHECK(names == std::vector<std::string>{"nurse_find_error_patterns", "nurse_get_log_metrics",
                                          "nurse_get_trace_logs", "nurse_label_values",
                                          "nurse_list_labels", "nurse_monitor_log_aggregation",
                                          "nurse_query_logs", "nurse_search_logs",
                                          "nurse_tail_logs"});

  const auto& call = by_id["3"]["result"];
  CHECK(call["isError"] == false);
  CHECK(call["content"][0]["type"] == "text");
  CHECK(json::parse(call["content"][0]["text"].get<std::string>()) == call["structuredContent"]);
  CHECK(call["structuredContent"]["data"]["result"][0]["values"][0][1] ==
        "2026-12-02T08:00:00Z payment failed card=declined");

  const auto& missing = by_id["4"]["result"];
  CHECK(missing["isError"] == true);
  CHECK_THAT(missing["content"][0]["text"].get<std::string>(),
             Catch::StartsWith("tool.invalid_arguments: arguments.query is required"));
  CHECK_FALSE(missing.contains("structuredContent"));

  CHECK(by_id["5"]["error"]["code"] == -32602);
  CHECK(by_id["null"]["error"]["code"] == -32700);
  CHECK(by_id["6"]["error"]["code"] == -32601);
  CHECK(by_id["7"]["result"] == json::object());

  const auto& bad_regex = by_id["8"]["result"];
  CHECK(bad_regex["isError"] == true);
  CHECK_THAT(bad_regex["content"][0]["text"].get<std::string>(),
             Catch::StartsWith("logql.parse_error: "));
}
