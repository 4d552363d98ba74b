// The HTTP surfaces of `sample_host serve` over real loopback sockets.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_get;
using lognurse::test::http_post;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

const std::int64_t kBase = lognurse::now_ns() - 600 * lognurse::kNanosPerSecond;

std::string ts(int offset_ms) {
  return std::to_string(kBase + static_cast<std::int64_t>(offset_ms) * 1'000'000);
}

/// One Loki push value: ["<ns>", "line"] or ["<ns>", "line", {metadata}]. Built as an
/// explicit array because a braced pair of strings would become a JSON object.
json value(const std::string& stamp, const std::string& line, const json& metadata = nullptr) {
  json v = json::array({stamp, line});
  if (!metadata.is_null()) v.push_back(metadata);
  return v;
}

json stream(const json& labels, const json& values) {
  return json{{"stream", labels}, {"values", values}};
}

json push_body() {
  return {{"streams",
           json::array({stream({{"service_name", "api"}, {"detected_level", "info"}},
                               json::array({value(ts(0), "GET /users 200 12ms"),
                                            value(ts(10), "GET /orders 200 8ms")})),
                        stream({{"service_name", "api"}, {"detected_level", "error"}},
                               json::array({value(ts(5), "GET /orders 500 timeout talking to db",
                                                  {{"trace_id", "abc123"}})})),
                        stream({{"service_name", "worker"}, {"detected_level", "info"}},
                               json::array({value(ts(7), "job 17 done")}))})}};
}

json post_json(int port, const std::string& path, const json& body, int expected_status = 200) {
  auto response = http_post(port, path, body.dump());
  INFO(path << " -> " << response.status << " " << response.body);
  REQUIRE(response.status == expected_status);
  return response.body.empty() ? json() : json::parse(response.body);
}

}  // namespace

TEST_CASE("REST routes answer over HTTP on the embedded store") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();

  auto ready = http_get(port, "/ready");
  CHECK(ready.status == 200);
  CHECK(ready.body == "ready\n");

  auto pushed = http_post(port, "/loki/api/v1/push", push_body().dump());
  INFO(pushed.body);
  REQUIRE(pushed.status == 204);

  SECTION("query returns Loki's query_range data, newest first, with metadata") {
    const auto answer = post_json(port, "/api/nurse/logs/query",
                                  {{"query", "{service_name=\"api\"} |= \"orders\""}});
    CHECK(answer["status"] == "success");
    CHECK(answer["data"]["resultType"] == "streams");
    std::vector<std::string> lines;
    for (const auto& stream : answer["data"]["result"]) {
      for (const auto& value : stream["values"]) lines.push_back(value[1]);
    }
    std::sort(lines.begin(), lines.end());
    CHECK(lines == std::vector<std::string>{"GET /orders 200 8ms", "GET /orders 500 timeout talking to db"});
    CHECK(answer["metadata"]["lines_returned"] == 2);
    CHECK(answer["metadata"]["limit"] == 100);
    CHECK(answer["metadata"]["truncated"] == false);
    CHECK(answer["metadata"]["time_range"]["source"] == "default: the 1h before end");
  }

  SECTION("query marks an answer truncated when more lines matched than the limit") {
    const auto answer = post_json(port, "/api/nurse/logs/query",
                                  {{"query", "{service_name=~\"api|worker\"}"}, {"limit", 2}});
    CHECK(answer["metadata"]["lines_returned"] == 2);
    CHECK(answer["metadata"]["truncated"] == true);
    // Backward: the two newest are at +10 ms and +7 ms.
    std::vector<std::string> stamps;
    for (const auto& stream : answer["data"]["result"]) {
      for (const auto& value : stream["values"]) stamps.push_back(value[0]);
    }
    std::sort(stamps.begin(), stamps.end());
    CHECK(stamps == std::vector<std::string>{ts(7), ts(10)});
  }

  SECTION("search builds LogQL from filters and runs it") {
    const auto answer = post_json(port, "/api/nurse/logs/search",
                                  {{"filters", {{"service", "api"}, {"level", "error"}}},
                                   {"time_range", {{"since", "1h"}}}});
    CHECK(answer["query"] == "{service_name=\"api\"} | detected_level=\"error\"");
    REQUIRE(answer["data"]["result"].size() == 1);
    CHECK(answer["data"]["result"][0]["values"][0][1] == "GET /orders 500 timeout talking to db");
  }

  SECTION("metrics counts lines, bytes, levels and services") {
    auto response = http_get(port, "/api/nurse/logs/metrics?since=1h");
    REQUIRE(response.status == 200);
    const auto data = json::parse(response.body)["data"];
    CHECK(data["lines"] == 4);
    CHECK(data["bytes"] == std::string("GET /users 200 12ms").size() +
                               std::string("GET /orders 200 8ms").size() +
                               std::string("GET /orders 500 timeout talking to db").size() +
                               std::string("job 17 done").size());
    CHECK(data["error_lines"] == 1);
    CHECK(data["error_rate"].get<double>() == Approx(0.25));
    CHECK(data["by_service"] == json::array({{{"name", "api"}, {"lines", 3}},
                                             {{"name", "worker"}, {"lines", 1}}}));
    CHECK(data["by_level"] == json::array({{{"name", "info"}, {"lines", 3}},
                                           {{"name", "error"}, {"lines", 1}}}));
  }

  SECTION("the aggregation check reports a healthy embedded store") {
    auto response = http_get(port, "/api/nurse/logs/aggregation");
    REQUIRE(response.status == 200);
    const auto answer = json::parse(response.body);
    CHECK(answer["status"] == "healthy");
    CHECK(answer["backend"] == "local_store");
    CHECK(answer["ready"] == true);
    CHECK(answer["volume"]["lines"] == 4);
  }

  SECTION("Loki's query_range and labels API read the same data") {
    auto response = http_get(port, "/loki/api/v1/query_range?query=%7Bservice_name%3D%22worker%22%7D&since=1h");
    REQUIRE(response.status == 200);
    const auto answer = json::parse(response.body);
    CHECK(answer["status"] == "success");
    CHECK(answer["data"]["result"][0]["values"][0] == json::array({ts(7), "job 17 done"}));

    auto labels = json::parse(http_get(port, "/loki/api/v1/labels?since=1h").body);
    CHECK(labels["data"] == json::array({"detected_level", "service_name"}));
    auto values = json::parse(http_get(port, "/loki/api/v1/label/service_name/values?since=1h").body);
    CHECK(values["data"] == json::array({"api", "worker"}));
  }

  SECTION("bad input is a 400 that names the problem, and nothing stored is lost") {
    auto malformed = http_post(port, "/loki/api/v1/push", R"({"streams":[{"stream":{"a":"b"},)");
    CHECK(malformed.status == 400);
    CHECK_THAT(malformed.body, Catch::Contains("not valid JSON at byte"));

    auto bad_args = http_post(port, "/api/nurse/logs/query", "{\"query\":");
    CHECK(bad_args.status == 400);
    CHECK(json::parse(bad_args.body)["error"]["code"] == "http.malformed_json");

    auto missing = post_json(port, "/api/nurse/logs/query", {{"limit", 5}}, 400);
    CHECK(missing["status"] == "error");
    CHECK(missing["error"]["code"] == "tool.invalid_arguments");

    auto bad_selector = post_json(port, "/api/nurse/logs/query", {{"query", "{service_name=\"api\""}}, 400);
    CHECK(bad_selector["error"]["code"] == "logql.parse_error");

    auto bad_regex = post_json(port, "/api/nurse/logs/search",
                               {{"filters", {{"service", "api"}, {"regex", "(unclosed"}}}}, 400);
    CHECK_THAT(bad_regex["error"]["message"].get<std::string>(), Catch::Contains("(unclosed"));

    auto wrong_type = post_json(port, "/api/nurse/logs/query", {{"query", "{a=\"b\"}"}, {"limit", "ten"}}, 400);
    CHECK(wrong_type["error"]["message"] == "arguments.limit must be an integer, got \"ten\"");

    auto unknown_route = http_post(port, "/api/nurse/logs/nope", "{}");
    CHECK(unknown_route.status == 404);

    const auto after = post_json(port, "/api/nurse/logs/query", {{"query", "{service_name=~\".+\"}"}});
    CHECK(after["metadata"]["lines_returned"] == 4);
  }
}

TEST_CASE("search quoting: hostile filter values never change the query's meaning") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();

  const std::vector<std::string> hostile = {
      "\"", "\\", "`", "}", "\n", "\" or service_name=~\".*", "a\\\"b", "{x=\"y\"}",
      "|= \"", "\\n", "${HOME}", "ünïcødé", "tab\there", "\"}\n{service_name=\"api"};
  json streams = json::array();
  json values = json::array();
  int i = 0;
  for (const auto& value : hostile) {
    values.push_back(::value(ts(100 + i), "line " + std::to_string(i) + " <" + value + ">"));
    // A stream whose service name is the hostile value itself.
    streams.push_back(stream({{"service_name", value}},
                             json::array({::value(ts(200 + i), "service line " + std::to_string(i))})));
    ++i;
  }
  values.push_back(::value(ts(500), "plain line without specials"));
  streams.push_back(stream({{"service_name", "hostile"}}, values));
  auto pushed = http_post(port, "/loki/api/v1/push", json{{"streams", streams}}.dump());
  INFO(pushed.body);
  REQUIRE(pushed.status == 204);

  i = 0;
  for (const auto& value : hostile) {
    INFO("value #" << i << ": " << json(value).dump());
    // contains: exactly the lines of the hostile stream that hold the value.
    const auto by_text = post_json(port, "/api/nurse/logs/search",
                                   {{"filters", {{"service", "hostile"}, {"contains", value}}},
                                    {"limit", 1000}});
    std::set<std::string> got;
    for (const auto& stream : by_text["data"]["result"]) {
      for (const auto& v : stream["values"]) got.insert(v[1].get<std::string>());
    }
    std::set<std::string> expected;
    for (const auto& v : values) {
      const auto line = v[1].get<std::string>();
      if (line.find(value) != std::string::npos) expected.insert(line);
    }
    CHECK(got == expected);

    // service: exactly the one stream named by the value.
    const auto by_service = post_json(port, "/api/nurse/logs/search",
                                      {{"filters", {{"service", value}}}, {"limit", 1000}});
    REQUIRE(by_service["data"]["result"].size() == 1);
    CHECK(by_service["data"]["result"][0]["stream"]["service_name"] == value);
    CHECK(by_service["data"]["result"][0]["values"][0][1] == "service line " + std::to_string(i));
    ++i;
  }
}

namespace {

/// Sends `request` as is on a fresh loopback connection and returns what the server answers
/// within 5 s: its status line, or "" when nothing came.
std::string status_line_of_raw_request(int port, const std::string& request) {
  const int fd = lognurse::test::connect_loopback(port, 5);
  REQUIRE(fd >= 0);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string answer;
  char buffer[4096];
  while (answer.find("\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer.substr(0, answer.find("\r\n"));
}

}  // namespace

TEST_CASE("a POST without Content-Length has an empty body and is answered at once") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const auto started = std::chrono::steady_clock::now();
  CHECK(status_line_of_raw_request(server.port(),
                                   "POST /api/nurse/logs/error_patterns HTTP/1.1\r\n"
                                   "Host: 127.0.0.1\r\n\r\n") == "HTTP/1.1 200 OK");
  CHECK(status_line_of_raw_request(server.port(),
                                   "POST /api/nurse/logs/query HTTP/1.1\r\n"
                                   "Host: 127.0.0.1\r\n\r\n") == "HTTP/1.1 400 Bad Request");
  CHECK(status_line_of_raw_request(server.port(), "PUT /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .rfind("HTTP/1.1 4", 0) == 0);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
}

TEST_CASE("form and JSON bodies over 8 KiB are read up to server.max_body_bytes") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  REQUIRE(http_post(server.port(), "/loki/api/v1/push", push_body().dump()).status == 204);

  // A LogQL query of 10 KB, sent as Loki's clients send long queries: a urlencoded form.
  const std::string needle(10'000, 'x');
  const std::string query = R"({service_name="api"} != ")" + needle + R"(")";
  const std::string form = "query=" + lognurse::test::url_encode(query) + "&start=" +
                           ts(-60'000) + "&end=" + ts(60'000) + "&limit=10";
  auto loki = http_post(server.port(), "/loki/api/v1/query_range", form,
                        "application/x-www-form-urlencoded");
  INFO(loki.body);
  REQUIRE(loki.status == 200);
  CHECK(json::parse(loki.body)["data"]["resultType"] == "streams");
  CHECK_FALSE(json::parse(loki.body)["data"]["result"].empty());

  // The same query to the Nurse tool, as `curl -d` sends JSON: labelled as a form.
  const json arguments = {{"query", query}, {"since", "1h"}, {"limit", 10}};
  auto tool = http_post(server.port(), "/api/nurse/logs/query", arguments.dump(),
                        "application/x-www-form-urlencoded");
  INFO(tool.body);
  REQUIRE(tool.status == 200);
  CHECK(json::parse(tool.body)["metadata"]["lines_returned"].get<int>() > 0);
}
