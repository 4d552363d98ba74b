// Real third-party clients push to the real sample_host binary on loopback:
// the OpenTelemetry JS logs SDK through both OTLP/HTTP exporters (JSON, and
// protobuf with gzip) and winston-loki in its protobuf+snappy and JSON modes.
// What they sent is read back through /loki/api/v1/query_range and compared
// exactly: lines, stream labels and structured metadata.

#include <sys/stat.h>

#include <algorithm>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::run_command;
using lognurse::test::TempDir;
using lognurse::test::url_encode;
using nlohmann::json;

namespace {

const std::string kClients = std::string(LOGNURSE_SOURCE_DIR) + "/tests/clients";

/// The streams of `tenant` matching `selector` over the hour around `base_ns`, oldest first.
json query_streams(int port, const std::string& tenant, const std::string& selector,
                   std::int64_t base_ns) {
  const std::int64_t hour = 3600 * lognurse::kNanosPerSecond;
  const std::string path = "/loki/api/v1/query_range?query=" + url_encode(selector) +
                           "&start=" + std::to_string(base_ns - hour) +
                           "&end=" + std::to_string(base_ns + hour) +
                           "&direction=forward&limit=100";
  auto response = http_request(port, "GET", path, "", {{"X-Scope-OrgID", tenant}});
  INFO(tenant << " " << selector << " -> " << response.status << " " << response.body);
  REQUIRE(response.status == 200);
  auto answer = json::parse(response.body);
  REQUIRE(answer["data"]["resultType"] == "streams");
  // Loki's answer splits streams by labels and structured metadata together; their order
  // carries no meaning, so they are compared oldest first.
  json streams = answer["data"]["result"];
  std::sort(streams.begin(), streams.end(), [](const json& a, const json& b) {
    return a["values"][0][0].get<std::string>() < b["values"][0][0].get<std::string>();
  });
  return streams;
}

/// One stream of a query answer: without the categorize-labels encoding flag, Loki
/// shows an entry's structured metadata among the stream's labels, and each value
/// is just [timestamp, line].
json answer_stream(json labels, const std::string& stamp, const std::string& line,
                   const json& metadata) {
  labels.update(metadata);
  return {{"stream", labels}, {"values", json::array({json::array({stamp, line})})}};
}

std::string ns(std::int64_t base_ms, int offset_ms) {
  return std::to_string((base_ms + offset_ms) * 1'000'000);
}

/// What Loki 3's OTLP mapping makes of the three records the script emits.
json expected_otlp_stream(std::int64_t base_ms) {
  const json resource = {{"service_version", "1.2.3"},
                         {"host_name", "node-1"},
                         {"scope_name", "checkout-logger"},
                         {"scope_version", "2.0.0"}};
  json first = {{"http_method", "GET"},
                {"user_id", "42"},
                {"cart_ratio", "0.5"},
                {"cart_ok", "true"},
                {"observed_timestamp", ns(base_ms, 500)},
                {"severity_number", "9"},
                {"severity_text", "INFO"},
                {"flags", "1"},
                {"trace_id", "0af7651916cd43dd8448eb211c80319c"},
                {"span_id", "b7ad6b7169203331"},
                {"detected_level", "info"}};
  json second = {{"tags", "[\"a\",\"b\"]"},
                 {"observed_timestamp", ns(base_ms, 501)},
                 {"severity_number", "18"},
                 {"severity_text", "ERROR"},
                 {"detected_level", "error"}};
  json third = {{"observed_timestamp", ns(base_ms, 502)},
                {"severity_number", "13"},
                {"detected_level", "warn"}};
  for (json* metadata : {&first, &second, &third}) metadata->update(resource);
  const json labels = {{"service_name", "checkout"},
                       {"service_namespace", "shop"},
                       {"deployment_environment", "test"}};
  return json::array(
      {answer_stream(labels, ns(base_ms, 0), "order 7 placed", first),
       answer_stream(labels, ns(base_ms, 1), "{\"items\":[\"book\",\"pen\"],\"order\":7}", second),
       answer_stream(labels, ns(base_ms, 2), "stock low", third)});
}

}  // namespace

TEST_CASE("real OTLP and Loki clients push records that read back exactly") {
  struct stat info {};
  if (::stat((kClients + "/node_modules/winston-loki").c_str(), &info) != 0) {
    FAIL("the npm test clients are missing: run scripts/install-test-clients.sh");
  }
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  // A minute ago, on a whole millisecond, so that every client can carry the time exactly.
  const std::int64_t base_ms = lognurse::now_ns() / 1'000'000 - 60'000;
  const std::int64_t base_ns = base_ms * 1'000'000;

  auto run = run_command({"/usr/bin/env", "node", kClients + "/push_with_real_clients.mjs",
                          server.base_url(), std::to_string(base_ms)},
                         "", std::chrono::seconds(90));
  INFO("node stdout: " << run.out << "\nnode stderr: " << run.err);
  REQUIRE(run.exit_code == 0);

  SECTION("the OTLP/HTTP JSON exporter's records map like Loki 3 maps OTLP") {
    CHECK(query_streams(server.port(), "otel-json", "{service_name=\"checkout\"}", base_ns) ==
          expected_otlp_stream(base_ms));
  }

  SECTION("the OTLP/HTTP protobuf exporter with gzip gives the same streams") {
    CHECK(query_streams(server.port(), "otel-proto", "{service_name=\"checkout\"}", base_ns) ==
          expected_otlp_stream(base_ms));
  }

  // winston-loki sends app but no service_name, so the store names the service after app; each
  // entry reads back with the level the store detected, as Loki 3 shows them.
  const json shop = {{"app", "shop"}, {"env", "test"}, {"service_name", "shop"}};
  auto with_level = [&shop](const std::string& level) {
    json labels = shop;
    labels["level"] = level;
    labels["detected_level"] = level;
    return labels;
  };

  SECTION("winston-loki's protobuf and snappy mode keeps its labels and lines") {
    const json expected = json::array(
        {answer_stream(with_level("info"), ns(base_ms, 0),
                       "user logged in {\"user\":\"ann\",\"attempt\":2,\"level\":\"info\"}",
                       json::object()),
         answer_stream(with_level("warn"), ns(base_ms, 1), "disk almost full {\"level\":\"warn\"}",
                       json::object())});
    CHECK(query_streams(server.port(), "winston-proto", "{app=\"shop\"}", base_ns) == expected);
  }

  SECTION("winston-loki's JSON mode adds its metadata as structured metadata") {
    const json expected = json::array(
        {answer_stream(with_level("info"), ns(base_ms, 0),
                       "user logged in {\"user\":\"ann\",\"attempt\":2,\"level\":\"info\"}",
                       {{"level", "info"}, {"user", "ann"}, {"attempt", "2"}}),
         answer_stream(with_level("warn"), ns(base_ms, 1), "disk almost full {\"level\":\"warn\"}",
                       {{"level", "warn"}})});
    CHECK(query_streams(server.port(), "winston-json", "{app=\"shop\"}", base_ns) == expected);
  }
}
