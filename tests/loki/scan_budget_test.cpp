// The scan budget of the Nurse tools when the backend cannot give index
// statistics: the real host on the loki backend, pointed at a fault server on
// loopback whose index/stats fails. The query runs, and its metadata says the
// budget was not checked and why.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "fault_server.hpp"
#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::loki::test::FaultServer;
using lognurse::loki::test::ScriptedResponse;
using lognurse::test::HostServer;
using lognurse::test::http_post;
using lognurse::test::TempDir;
using nlohmann::json;

TEST_CASE("a failing index/stats leaves the query to run and says the budget was not checked",
          "[loki][nurse]") {
  FaultServer loki;
  ScriptedResponse ready;
  ready.status = 204;
  loki.script("/ready", {ready});
  ScriptedResponse broken;
  broken.status = 500;
  broken.body = "index gateway unavailable";
  broken.content_type = "text/plain";
  loki.script("/loki/api/v1/index/stats", {broken});
  const std::string stamp = std::to_string(lognurse::now_ns() - 60 * lognurse::kNanosPerSecond);
  loki.script("/loki/api/v1/query_range",
              {lognurse::loki::test::success(
                  R"({"resultType":"streams","result":[{"stream":{"service_name":"api"},)"
                  R"("values":[[")" + stamp + R"(","GET /users 200"]]}]})")});

  TempDir dir;
  const std::string config = dir.file("host.yaml");
  {
    std::ofstream out(config);
    out << "log_aggregation:\n  backend: loki\nplugins:\n  loki:\n    endpoint: " << loki.url()
        << "\n    max_retries: 0\n  nurse_logs:\n    max_scan_bytes: 1\n"
           "    monitor_interval_seconds: 0\n";
  }
  HostServer host({"--data-dir", dir.path()}, {"--config", config});

  const auto response = http_post(host.port(), "/api/nurse/logs/query",
                                  json{{"query", "{service_name=\"api\"}"}}.dump());
  INFO(response.body);
  REQUIRE(response.status == 200);
  const auto answer = json::parse(response.body);
  CHECK(answer["metadata"]["lines_returned"] == 1);
  const auto& estimate = answer["metadata"]["scan_estimate"];
  CHECK(estimate["checked"] == false);
  CHECK(estimate["budget_bytes"] == 1);
  CHECK_THAT(estimate["reason"].get<std::string>(),
             Catch::StartsWith("the loki backend gave no index statistics, so the scan budget "
                               "was not checked: loki.server_error: "));
  CHECK(loki.count("/loki/api/v1/index/stats") == 1);
}
