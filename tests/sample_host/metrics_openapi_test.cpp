// /metrics in Prometheus text format and /api/openapi.json on the real server.

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "exposition_check.hpp"
#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_get;
using lognurse::test::http_post;
using lognurse::test::http_request;
using lognurse::test::TempDir;
using nlohmann::json;

TEST_CASE("/metrics counts tool calls by tool, transport and outcome and reports the backend") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  const auto ago = lognurse::now_ns() - 60 * lognurse::kNanosPerSecond;
  json values = json::array({json::array({std::to_string(ago), "GET / 200"}),
                             json::array({std::to_string(ago + 1), "GET /x 500"})});
  json push = {{"streams", json::array({{{"stream", {{"service_name", "api"}}},
                                         {"values", values}}})}};
  REQUIRE(http_post(port, "/loki/api/v1/push", push.dump()).status == 204);

  CHECK(http_post(port, "/api/nurse/logs/query", R"({"query":"{service_name=\"api\"}"})").status ==
        200);
  CHECK(http_post(port, "/api/nurse/logs/query", R"({"limit":5})").status == 400);
  const auto session = lognurse::test::mcp_session(port);
  CHECK(http_request(port, "POST", "/mcp",
                     R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":)"
                     R"({"name":"nurse_list_labels","arguments":{}}})",
                     session)
            .status == 200);

  auto metrics = http_get(port, "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = metrics.body;
  CHECK_THAT(text, Catch::Contains("lognurse_backend_up{backend=\"local_store\"} 1\n"));
  CHECK_THAT(text, Catch::Contains(
                       "lognurse_backend_check_seconds_count{backend=\"local_store\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("lognurse_log_lines_last_interval{backend=\"local_store\","
                                   "window=\"5m\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("lognurse_tool_calls_total{tool=\"nurse_query_logs\","
                                   "transport=\"rest\",outcome=\"ok\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("lognurse_tool_calls_total{tool=\"nurse_query_logs\","
                                   "transport=\"rest\",outcome=\"error\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("lognurse_tool_calls_total{tool=\"nurse_list_labels\","
                                   "transport=\"http\",outcome=\"ok\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("lognurse_tool_call_seconds_bucket{tool=\"nurse_query_logs\","
                                   "outcome=\"ok\",le=\"+Inf\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE lognurse_tool_call_seconds histogram\n"));
  std::string problem;
  CHECK_FALSE(lognurse::test::read_exposition(text, problem).empty());
  CHECK(problem == "");
}

TEST_CASE("/api/openapi.json describes every tool route from the catalog") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  auto response = http_get(server.port(), "/api/openapi.json");
  REQUIRE(response.status == 200);
  const auto doc = json::parse(response.body);
  CHECK(doc["openapi"] == "3.1.0");
  std::vector<std::string> paths;
  for (const auto& [path, item] : doc["paths"].items()) paths.push_back(path);
  CHECK(paths == std::vector<std::string>{
                     "/api/nurse/logs/aggregation", "/api/nurse/logs/error_patterns",
                     "/api/nurse/logs/label_values", "/api/nurse/logs/labels",
                     "/api/nurse/logs/metrics", "/api/nurse/logs/query", "/api/nurse/logs/search",
                     "/api/nurse/logs/tail", "/api/nurse/logs/trace"});

  const auto& query = doc["paths"]["/api/nurse/logs/query"]["post"];
  CHECK(query["operationId"] == "nurse_query_logs");
  const auto& body = query["requestBody"]["content"]["application/json"]["schema"];
  CHECK(body["required"] == json::array({"query"}));
  CHECK_FALSE(body.contains("x-output-schema"));
  CHECK(query["responses"]["200"]["content"]["application/json"]["schema"]["required"] ==
        json::array({"status", "data", "metadata"}));
  CHECK(query["responses"]["400"]["content"]["application/json"]["schema"]["$ref"] ==
        "#/components/schemas/Error");

  const auto& values = doc["paths"]["/api/nurse/logs/label_values"]["get"];
  bool name_required = false;
  for (const auto& parameter : values["parameters"]) {
    if (parameter["name"] == "name") name_required = parameter["required"];
  }
  CHECK(name_required);
}

TEST_CASE("/metrics shows the embedded store's compactor, retention and duplicates") {
  TempDir data;
  TempDir config_dir;
  const std::string config = config_dir.file("host.yaml");
  {
    std::ofstream file(config);
    file << "plugins:\n  local_store:\n    chunk_target_size: 1KB\n    compaction_interval: 50ms\n"
            "    limits:\n      retention_period: 24h\n";
  }
  HostServer server({"--data-dir", data.path()}, {"--config", config});
  const int port = server.port();
  const auto now = lognurse::now_ns();
  const auto expired = now - 3 * 86'400 * lognurse::kNanosPerSecond;
  auto push_body = [](std::int64_t first, const char* service) {
    json values = json::array();
    for (int i = 0; i < 40; ++i) {
      values.push_back(json::array({std::to_string(first + i),
                                    "level=info msg=\"line " + std::to_string(i) + "\" pad=" +
                                        std::string(40, 'x')}));
    }
    return json{{"streams", json::array({{{"stream", {{"service_name", service}}},
                                          {"values", values}}})}}
        .dump();
  };
  REQUIRE(http_post(port, "/loki/api/v1/push", push_body(now - 60'000'000'000, "api")).status ==
          204);
  REQUIRE(http_post(port, "/loki/api/v1/push", push_body(now - 60'000'000'000, "api")).status ==
          204);  // the same entries again: all duplicates
  REQUIRE(http_post(port, "/loki/api/v1/push", push_body(expired, "old")).status == 204);

  std::vector<lognurse::test::Sample> samples;
  auto value = [&](const std::string& name) {
    return lognurse::test::sample_value(samples, "lognurse_plugin_local_store_" + name);
  };
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string problem;
    samples = lognurse::test::read_exposition(http_get(port, "/metrics").body, problem);
    REQUIRE(problem == "");
    if (value("retention_deleted_entries_total") == "40" && value("head_blocks") == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(value("duplicate_entries_total") == "40");
  CHECK(value("compacted_entries_total") == "80");
  CHECK(value("compactions_total") == "2");
  CHECK(value("retention_deleted_chunks_total") != "0");
  CHECK(value("retention_deleted_entries_total") == "40");
  CHECK(value("head_blocks") == "0");
  CHECK(value("head_line_bytes") == "0");
  CHECK(std::stoi(value("chunks_written_total")) >= 2);
  CHECK(value("compaction_duration_seconds_count") == "2");
}
