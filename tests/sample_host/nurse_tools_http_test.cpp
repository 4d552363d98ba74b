// The Nurse discovery tools, hints, compact form and cost guard (range and
// scan budget) through their REST routes, and MCP, on the real server and the
// embedded store.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_get;
using lognurse::test::http_post;
using lognurse::test::http_request;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

const std::int64_t kBase = lognurse::now_ns() - 600 * lognurse::kNanosPerSecond;

std::string at(int offset_ms) {
  return std::to_string(kBase + static_cast<std::int64_t>(offset_ms) * 1'000'000);
}

json value(int offset_ms, const std::string& line, const json& metadata = nullptr) {
  json v = json::array({at(offset_ms), line});
  if (!metadata.is_null()) v.push_back(metadata);
  return v;
}

json stream(const json& labels, const json& values) {
  return json{{"stream", labels}, {"values", values}};
}

/// A checkout trace that crosses two services, once in metadata and once in the text.
json push_body() {
  return {{"streams",
           json::array(
               {stream({{"service_name", "checkout"}, {"detected_level", "error"}},
                       json::array({value(10, "payment 4411 failed after 120ms",
                                          {{"trace_id", "t-77"}}),
                                    value(30, "payment 4412 failed after 95ms"),
                                    value(50, "payment 4413 failed after 310ms")})),
                stream({{"service_name", "checkout"}, {"detected_level", "info"}},
                       json::array({value(5, "cart opened trace=t-77"),
                                    value(60, "cart closed")})),
                stream({{"service_name", "inventory"}, {"detected_level", "warn"}},
                       json::array({value(20, "stock low for sku \"A-1\" trace=t-77"),
                                    value(40, "stock low for sku \"B-2\"")}))})}};
}

json call(int port, const std::string& path, const json& body, int expected_status = 200) {
  auto response = http_post(port, path, body.dump());
  INFO(path << " -> " << response.status << " " << response.body);
  REQUIRE(response.status == expected_status);
  return json::parse(response.body);
}

std::vector<std::string> lines_in_order(const json& data) {
  std::vector<std::pair<std::string, std::string>> stamped;
  for (const auto& s : data["result"]) {
    for (const auto& v : s["values"]) stamped.emplace_back(v[0], v[1]);
  }
  std::sort(stamped.begin(), stamped.end());
  std::vector<std::string> out;
  for (const auto& [stamp, line] : stamped) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("the Nurse discovery tools answer over REST on the embedded store") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  auto pushed = http_post(port, "/loki/api/v1/push", push_body().dump());
  INFO(pushed.body);
  REQUIRE(pushed.status == 204);

  SECTION("list_labels and label_values name what a selector can use") {
    auto labels = http_get(port, "/api/nurse/logs/labels?since=1h");
    REQUIRE(labels.status == 200);
    CHECK(json::parse(labels.body)["data"] ==
          json::array({"detected_level", "service_name"}));
    auto values = http_get(port, "/api/nurse/logs/label_values?name=service_name&since=1h");
    REQUIRE(values.status == 200);
    CHECK(json::parse(values.body)["data"] == json::array({"checkout", "inventory"}));
    CHECK(json::parse(values.body)["metadata"]["count"] == 2);

    auto typo = json::parse(
        http_get(port, "/api/nurse/logs/label_values?name=service&since=1h").body);
    CHECK(typo["data"] == json::array());
    CHECK(typo["metadata"]["hints"][0] ==
          "no stream has the label \"service\" in the range; closest label names: "
          "\"service_name\", \"detected_level\"");

    // A name no label can have is a mistake to correct, not an empty answer.
    auto invalid = http_get(port, "/api/nurse/logs/label_values?name=bad%20name&since=1h");
    CHECK(invalid.status == 400);
    CHECK(json::parse(invalid.body)["error"]["message"] ==
          "arguments.name: \"bad name\" is not a label name; label names are letters, digits "
          "and underscores, not starting with a digit (nurse_list_labels lists them)");
  }

  SECTION("a mistyped label value is answered with the closest known values") {
    const auto answer = call(port, "/api/nurse/logs/query",
                             {{"query", "{service_name=\"checkuot\"}"}, {"since", "1h"}});
    CHECK(answer["metadata"]["lines_returned"] == 0);
    const std::string hint = answer["metadata"]["hints"][0];
    CHECK_THAT(hint, Catch::StartsWith("label service_name has no value \"checkuot\" in "));
    CHECK_THAT(hint, Catch::EndsWith("; closest known values: \"checkout\", \"inventory\""));
  }

  SECTION("an empty answer over a day suggests a week, not the day asked for") {
    const auto answer = call(port, "/api/nurse/logs/search",
                             {{"filters", {{"service", "checkout"}, {"text", "no-such-text"}}},
                              {"time_range", {{"since", "24h"}}}});
    CHECK(answer["metadata"]["lines_returned"] == 0);
    CHECK(answer["metadata"]["hints"].back() ==
          "widen time_range with since (e.g. \"7d\") or drop a filter");
  }

  SECTION("a filter that drops every line says so") {
    const auto answer = call(port, "/api/nurse/logs/query",
                             {{"query", "{service_name=\"checkout\"} |= \"refund\""},
                              {"since", "1h"}});
    const std::string hint = answer["metadata"]["hints"][0];
    CHECK_THAT(hint, Catch::StartsWith("streams of {service_name=\"checkout\"} may hold lines"));
    CHECK_THAT(hint, Catch::EndsWith("but the pipeline filtered every one out; run the selector "
                                     "alone to see what the lines look like"));
  }

  SECTION("the compact form groups lines by stream") {
    const auto answer = call(port, "/api/nurse/logs/query",
                             {{"query", "{service_name=\"inventory\"}"},
                              {"since", "1h"},
                              {"format", "compact"},
                              {"direction", "forward"}});
    const auto& data = answer["data"];
    CHECK(data["resultType"] == "compact");
    REQUIRE(data["streams"].size() == 1);
    CHECK(data["streams"][0]["labels"] ==
          json{{"detected_level", "warn"}, {"service_name", "inventory"}});
    REQUIRE(data["streams"][0]["lines"].size() == 2);
    CHECK(data["streams"][0]["lines"][0] ==
          lognurse::format_time(kBase + 20'000'000) + " stock low for sku \"A-1\" trace=t-77");
  }

  SECTION("the cost guard refuses a selector without a needed value and a long range") {
    const auto broad = call(port, "/api/nurse/logs/query",
                            {{"query", "{service_name=~\".*\"}"}, {"since", "1h"}}, 400);
    CHECK(broad["error"]["code"] == "logql.parse_error");
    CHECK_THAT(broad["error"]["message"].get<std::string>(),
               Catch::Contains("the stream selector needs at least one matcher that does not "
                               "match the empty value"));
    const auto wide = call(port, "/api/nurse/logs/query",
                           {{"query", "{service_name=\"checkout\"}"}, {"since", "48h"}}, 400);
    CHECK(wide["error"]["code"] == "nurse.range_too_long");
    CHECK(wide["error"]["message"] ==
          "the time range 2d is longer than the maximum 1d; narrow it with since (e.g. \"1h\") "
          "or start and end, or raise plugins.nurse_logs.max_range_hours");
  }

  SECTION("tail_logs returns the newest lines first") {
    const auto answer = call(port, "/api/nurse/logs/tail",
                             {{"selector", "{service_name=\"checkout\"}"}, {"limit", 2},
                              {"since", "1h"}});
    CHECK(answer["metadata"]["truncated"] == true);
    CHECK(lines_in_order(answer["data"]) ==
          std::vector<std::string>{"payment 4413 failed after 310ms", "cart closed"});
    const auto filtered = call(port, "/api/nurse/logs/tail",
                               {{"selector", "{service_name=\"checkout\"} |= \"x\""}}, 400);
    CHECK(filtered["error"]["code"] == "tool.invalid_arguments");
  }

  SECTION("get_trace_logs follows a trace id through metadata and text across services") {
    const auto answer =
        call(port, "/api/nurse/logs/trace", {{"trace_id", "t-77"}, {"since", "1h"}});
    CHECK(lines_in_order(answer["data"]) ==
          std::vector<std::string>{"cart opened trace=t-77", "payment 4411 failed after 120ms",
                                   "stock low for sku \"A-1\" trace=t-77"});
    CHECK(answer["metadata"]["lines_returned"] == 3);
    CHECK(answer["metadata"]["direction"] == "forward");

    // With no selector, an id found nowhere says which streams were read.
    const auto missing =
        call(port, "/api/nurse/logs/trace", {{"trace_id", "t-00"}, {"since", "1h"}});
    CHECK(missing["metadata"]["hints"].back() ==
          "without a selector only streams with a service_name label are read; give one, such "
          "as {app=\"checkout\"}, to read streams without it");
  }

  SECTION("find_error_patterns clusters error and warning lines with counts") {
    const auto answer = call(port, "/api/nurse/logs/error_patterns", {{"since", "1h"}});
    REQUIRE(answer["data"].size() == 3);
    const auto& first = answer["data"][0];
    CHECK(first["pattern"] == "payment <_> failed after <_>");
    CHECK(first["count"] == 3);
    CHECK(first["first_seen"] == lognurse::format_time(kBase + 10'000'000));
    CHECK(first["last_seen"] == lognurse::format_time(kBase + 50'000'000));
    CHECK(first["example"] == "payment 4413 failed after 310ms");
    CHECK(first["services"] == json::array({"checkout"}));
    const auto& second = answer["data"][1];
    CHECK(second["pattern"] == "stock low for sku <_>");
    CHECK(second["count"] == 1);
    CHECK(answer["data"][2]["pattern"] == "stock low for sku <_> trace=<_>");
    CHECK(answer["data"][2]["services"] == json::array({"inventory"}));
    CHECK(answer["metadata"]["lines_clustered"] == 5);
    CHECK(answer["metadata"]["patterns"] == 3);
    CHECK(answer["metadata"]["truncated"] == false);
  }
}

namespace {

/// `count` lines of service `service` that add up to exactly `bytes` bytes.
json stream_of_bytes(const std::string& service, int count, std::size_t bytes) {
  json values = json::array();
  for (int i = 0; i < count; ++i) {
    std::string line = service + " request " + std::to_string(i) + " ";
    line.resize(bytes / count + (i == 0 ? bytes % count : 0), '.');
    values.push_back(value(i, line));
  }
  return stream({{"service_name", service}}, values);
}

}  // namespace

TEST_CASE("the scan budget lets a query just under it run and refuses one just over it") {
  TempDir data;
  const std::string config = data.file("host.yaml");
  {
    std::ofstream out(config);
    out << "plugins:\n  nurse_logs:\n    max_scan_bytes: 1000\n    monitor_interval_seconds: 0\n";
  }
  HostServer server({"--data-dir", data.path()}, {"--config", config});
  const int port = server.port();
  const json push = {{"streams", json::array({stream_of_bytes("under", 9, 999),
                                              stream_of_bytes("at", 10, 1000),
                                              stream_of_bytes("over", 7, 1001)})}};
  REQUIRE(http_post(port, "/loki/api/v1/push", push.dump()).status == 204);

  const auto under = call(port, "/api/nurse/logs/query",
                          {{"query", "{service_name=\"under\"}"}, {"since", "1h"}});
  CHECK(under["metadata"]["lines_returned"] == 9);
  CHECK(under["metadata"]["scan_estimate"] == json{{"checked", true},
                                                   {"budget_bytes", 1000},
                                                   {"estimated_bytes", 999},
                                                   {"estimated_entries", 9}});
  const auto at_budget = call(port, "/api/nurse/logs/query",
                              {{"query", "{service_name=\"at\"}"}, {"since", "1h"}});
  CHECK(at_budget["metadata"]["scan_estimate"]["estimated_bytes"] == 1000);

  const auto over = call(port, "/api/nurse/logs/query",
                         {{"query", "{service_name=\"over\"} |= \"request\""}, {"since", "1h"}},
                         400);
  CHECK(over["error"]["code"] == "nurse.scan_budget_exceeded");
  const std::string message = over["error"]["message"];
  CHECK_THAT(message, Catch::StartsWith("the query would read about 1001 B (1001 bytes in 7 "
                                        "entries, estimated from the index statistics of "
                                        "{service_name=\"over\"} over 1h), over the scan budget "
                                        "of 1000 B (1000 bytes, "
                                        "plugins.nurse_logs.max_scan_bytes); narrow it with a "
                                        "shorter range"));

  // The same guard stands before search and tail, with the same code.
  const auto search = call(port, "/api/nurse/logs/search",
                           {{"filters", {{"service", "over"}}}, {"time_range", {{"since", "1h"}}}},
                           400);
  CHECK(search["error"]["code"] == "nurse.scan_budget_exceeded");
  const auto searched = call(port, "/api/nurse/logs/search",
                             {{"filters", {{"service", "under"}}},
                              {"time_range", {{"since", "1h"}}}});
  CHECK(searched["metadata"]["scan_estimate"]["estimated_bytes"] == 999);
  const auto tail = call(port, "/api/nurse/logs/tail", {{"selector", "{service_name=\"over\"}"}},
                         400);
  CHECK(tail["error"]["code"] == "nurse.scan_budget_exceeded");

  // MCP passes the code through as a tool error.
  const auto session = lognurse::test::mcp_session(port);
  const json tool_call = {{"jsonrpc", "2.0"},
                          {"id", 2},
                          {"method", "tools/call"},
                          {"params",
                           {{"name", "nurse_query_logs"},
                            {"arguments", {{"query", "{service_name=\"over\"}"}}}}}};
  const auto answer = json::parse(http_request(port, "POST", "/mcp", tool_call.dump(),
                                               session).body);
  CHECK(answer["result"]["isError"] == true);
  CHECK_THAT(answer["result"]["content"][0]["text"].get<std::string>(),
             Catch::StartsWith("nurse.scan_budget_exceeded: the query would read about 1001 B"));
}

/// Pushes an error and an info line in logfmt to one stream of `labels` through the Loki API,
/// then searches service "plain" for errors in the last hour.
static json push_and_search_errors(int port, const json& labels) {
  const json body = {{"streams", json::array({stream(labels,
                                                     json::array({value(10, "level=error msg=boom"),
                                                                  value(20, "level=info msg=ok")}))})}};
  REQUIRE(http_post(port, "/loki/api/v1/push", body.dump()).status == 204);
  return call(port, "/api/nurse/logs/search",
              {{"filters", {{"service", "plain"}, {"level", "error"}}},
               {"time_range", {{"since", "1h"}}}});
}

TEST_CASE("a Loki push with no service_name and no detected_level is found by service and level") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  const auto answer = push_and_search_errors(port, {{"app", "plain"}});
  CHECK(answer["metadata"]["lines_returned"] == 1);
  CHECK_THAT(answer.dump(), Catch::Contains("level=error msg=boom") &&
                                !Catch::Contains("level=info msg=ok"));
}

TEST_CASE("a level search over lines without detected_level says what to filter instead") {
  TempDir data;
  const std::string config = data.file("host.yaml");
  std::ofstream(config) << "plugins:\n  local_store:\n    limits:\n"
                        << "      discover_log_levels: false\n";
  HostServer server({"--data-dir", data.file("store")}, {"--config", config});
  const int port = server.port();
  const auto answer = push_and_search_errors(port, {{"service_name", "plain"}});
  CHECK(answer["metadata"]["lines_returned"] == 0);
  const std::string hints = answer["metadata"]["hints"].dump();
  CHECK_THAT(hints, Catch::Contains("carries detected_level, which the level filter reads") &&
                        Catch::Contains("discover_log_levels") &&
                        Catch::Contains("{service_name=\\\"plain\\\"} | json | "
                                        "level=\\\"error\\\""));
}
