// The Nurse tools through the real host on both backends with the same
// assertions: the embedded store, and config/host-loki.yaml whose Loki plugin
// points (LOKI_ENDPOINT) at a second host on its embedded store.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <memory>

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

json value(const std::string& stamp, const std::string& line) {
  return json::array({stamp, line});
}

json push_body() {
  const auto stream = [](const json& labels, const json& values) {
    return json{{"stream", labels}, {"values", values}};
  };
  return {{"streams",
           json::array({stream({{"service_name", "api"}, {"detected_level", "info"}},
                               json::array({value(ts(0), "GET /users 200 12ms"),
                                            value(ts(10), "GET /orders 200 8ms")})),
                        stream({{"service_name", "api"}, {"detected_level", "error"}},
                               json::array({value(ts(5), "GET /orders 500 \"db\" timeout")})),
                        stream({{"service_name", "worker"}, {"detected_level", "info"}},
                               json::array({value(ts(7), "job 17 done")}))})}};
}

json post_json(int port, const std::string& path, const json& body, int expected = 200) {
  const auto response = http_post(port, path, body.dump());
  INFO(path << " -> " << response.status << " " << response.body);
  REQUIRE(response.status == expected);
  return json::parse(response.body);
}

std::vector<std::string> lines_of(const json& answer) {
  std::vector<std::string> lines;
  for (const auto& stream : answer["data"]["result"]) {
    for (const auto& v : stream["values"]) lines.push_back(v[1]);
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

/// The suite: pushes through the host on `port` and checks every tool.
void run_suite(int port, const std::string& backend) {
  const auto pushed = http_post(port, "/loki/api/v1/push", push_body().dump());
  INFO(pushed.body);
  REQUIRE(pushed.status == 204);

  const auto query = post_json(port, "/api/nurse/logs/query",
                               {{"query", "{service_name=\"api\"} |= \"orders\""}});
  CHECK(query["status"] == "success");
  CHECK(lines_of(query) ==
        std::vector<std::string>{"GET /orders 200 8ms", "GET /orders 500 \"db\" timeout"});
  CHECK(query["metadata"]["lines_returned"] == 2);
  CHECK(query["metadata"]["truncated"] == false);

  const auto limited = post_json(port, "/api/nurse/logs/query",
                                 {{"query", "{service_name=~\"api|worker\"}"}, {"limit", 2}});
  CHECK(limited["metadata"]["lines_returned"] == 2);
  CHECK(limited["metadata"]["truncated"] == true);

  const auto search = post_json(port, "/api/nurse/logs/search",
                                {{"filters", {{"service", "api"}, {"contains", "\"db\""}}},
                                 {"time_range", {{"since", "1h"}}}});
  CHECK(search["query"] == "{service_name=\"api\"} |= \"\\\"db\\\"\"");
  CHECK(lines_of(search) == std::vector<std::string>{"GET /orders 500 \"db\" timeout"});

  const auto bad = post_json(port, "/api/nurse/logs/query", {{"query", "{service_name=\"api\""}},
                             400);
  CHECK(bad["error"]["code"] == "logql.parse_error");

  const auto metrics_response = http_get(port, "/api/nurse/logs/metrics?since=1h");
  REQUIRE(metrics_response.status == 200);
  const auto metrics = json::parse(metrics_response.body)["data"];
  CHECK(metrics["lines"] == 4);
  CHECK(metrics["bytes"] == std::string("GET /users 200 12ms").size() +
                                std::string("GET /orders 200 8ms").size() +
                                std::string("GET /orders 500 \"db\" timeout").size() +
                                std::string("job 17 done").size());
  CHECK(metrics["error_lines"] == 1);
  CHECK(metrics["error_rate"].get<double>() == Approx(0.25));
  CHECK(metrics["by_service"] == json::array({{{"name", "api"}, {"lines", 3}},
                                              {{"name", "worker"}, {"lines", 1}}}));
  CHECK(metrics["by_level"] == json::array({{{"name", "info"}, {"lines", 3}},
                                            {{"name", "error"}, {"lines", 1}}}));

  const auto monitor_response = http_get(port, "/api/nurse/logs/aggregation");
  REQUIRE(monitor_response.status == 200);
  const auto monitor = json::parse(monitor_response.body);
  CHECK(monitor["status"] == "healthy");
  CHECK(monitor["backend"] == backend);
  CHECK(monitor["ready"] == true);
  CHECK(monitor["volume"]["lines"] == 4);

  const auto ready = http_get(port, "/ready");
  CHECK(ready.status == 200);
  CHECK(ready.body == "ready\n");

  const auto labels = json::parse(http_get(port, "/loki/api/v1/labels?since=1h").body);
  CHECK(labels["data"] == json::array({"detected_level", "service_name"}));
  const auto values =
      json::parse(http_get(port, "/loki/api/v1/label/service_name/values?since=1h").body);
  CHECK(values["data"] == json::array({"api", "worker"}));
}

}  // namespace

TEST_CASE("the Nurse tools pass the suite on the embedded store", "[loki][nurse]") {
  TempDir data;
  HostServer host({"--data-dir", data.path()});
  run_suite(host.port(), "local_store");
}

TEST_CASE("the Nurse tools pass the same suite on the Loki backend", "[loki][nurse]") {
  TempDir store_data;
  HostServer store({"--data-dir", store_data.path()});

  TempDir loki_data;
  ::setenv("LOKI_ENDPOINT", store.base_url().c_str(), 1);
  std::unique_ptr<HostServer> host;
  try {
    host = std::make_unique<HostServer>(
        std::vector<std::string>{"--data-dir", loki_data.path()},
        std::vector<std::string>{"--config", LOGNURSE_SOURCE_DIR "/config/host-loki.yaml"});
  } catch (...) {
    ::unsetenv("LOKI_ENDPOINT");
    throw;
  }
  ::unsetenv("LOKI_ENDPOINT");

  const auto plugins = json::parse(http_get(host->port(), "/api/plugins").body);
  CHECK(plugins["status"] == "success");
  run_suite(host->port(), "loki");

  // The entries are in the store behind the Loki backend, not in the host's own.
  const auto direct = json::parse(
      http_get(store.port(), "/loki/api/v1/label/service_name/values?since=1h").body);
  CHECK(direct["data"] == json::array({"api", "worker"}));
}
