// The embedded variant of the Collector config, proven against the real host:
// a request shaped as the `otlp_http/lognurse` exporter sends it (its endpoint
// with /v1/logs appended, its tenant header, gzip, protobuf or JSON) is
// accepted by sample_host and reads back through Loki's query API.

#include <zlib.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "deploy_files.hpp"
#include "lognurse/host_api/time.hpp"
#include "process.hpp"
#include "protobuf_builder.hpp"

using lognurse::deploy_test::load_yaml;
using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::Proto;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

std::string gzip(const std::string& data) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK);
  std::string out(deflateBound(&stream, data.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

/// The path the exporter posts to: its endpoint's path with /v1/logs appended.
std::string exporter_logs_path(const YAML::Node& exporter) {
  const std::string endpoint = exporter["endpoint"].as<std::string>();
  const auto scheme = endpoint.find("://");
  REQUIRE(scheme != std::string::npos);
  const auto slash = endpoint.find('/', scheme + 3);
  REQUIRE(slash != std::string::npos);
  return endpoint.substr(slash) + "/v1/logs";
}

/// One record as the Collector's filelog receiver makes it from a Docker line.
Proto collector_request(std::int64_t time_ns, const std::string& line) {
  auto attribute = [](const std::string& key, const std::string& value) {
    return Proto().bytes(1, key).message(2, Proto().bytes(1, value));
  };
  Proto resource;
  resource.message(1, attribute("service.name", "checkout"))
      .message(1, attribute("container.id", "4f2c9a1b"))
      .message(1, attribute("deployment.environment.name", "production"));
  Proto record;
  record.fixed64(1, static_cast<std::uint64_t>(time_ns))
      .varint(2, 17)  // SEVERITY_NUMBER_ERROR
      .message(5, Proto().bytes(1, line))
      .message(6, attribute("log.iostream", "stderr"));
  Proto scope_logs;
  scope_logs.message(2, record);
  Proto resource_logs;
  resource_logs.message(1, resource).message(2, scope_logs);
  return Proto().message(1, resource_logs);
}

json read_back(int port, const std::string& tenant, std::int64_t time_ns) {
  const std::string path =
      "/loki/api/v1/query_range?query=%7Bservice_name%3D%22checkout%22%7D&direction=forward"
      "&start=" + std::to_string(time_ns - 1000) + "&end=" + std::to_string(time_ns + 1000);
  const auto response = http_request(port, "GET", path, "", {{"X-Scope-OrgID", tenant}});
  REQUIRE(response.status == 200);
  return json::parse(response.body)["data"]["result"];
}

}  // namespace

TEST_CASE("the embedded Collector variant's OTLP requests land in the host's store") {
  const auto config = load_yaml("config/otel-collector-config.yaml");
  const auto exporter = config["exporters"]["otlp_http/lognurse"];
  REQUIRE(exporter.IsMap());
  const std::string path = exporter_logs_path(exporter);
  CHECK(path == "/otlp/v1/logs");
  CHECK(exporter["compression"].as<std::string>() == "gzip");
  // The tenant header comes from the environment in the file; the test picks one.
  REQUIRE(exporter["headers"]["X-Scope-OrgID"].IsScalar());
  const std::string tenant = "production";

  TempDir data;
  HostServer host({"--data-dir", data.path()});
  const std::int64_t time_ns = lognurse::now_ns() - 60 * lognurse::kNanosPerSecond;

  SECTION("protobuf, as otlp_http sends by default") {
    const auto body = gzip(collector_request(time_ns, "payment failed: card declined").str());
    const auto response = http_request(host.port(), "POST", path, body,
                                       {{"Content-Type", "application/x-protobuf"},
                                        {"Content-Encoding", "gzip"},
                                        {"X-Scope-OrgID", tenant}});
    REQUIRE(response.status == 200);
    const auto streams = read_back(host.port(), tenant, time_ns);
    REQUIRE(streams.size() == 1);
    CHECK(streams[0]["stream"]["service_name"] == "checkout");
    CHECK(streams[0]["stream"]["deployment_environment_name"] == "production");
    CHECK(streams[0]["stream"]["detected_level"] == "error");
    CHECK(streams[0]["stream"]["container_id"] == "4f2c9a1b");
    CHECK(streams[0]["stream"]["log_iostream"] == "stderr");
    CHECK(streams[0]["values"] == json::array({json::array(
                                      {std::to_string(time_ns), "payment failed: card declined"})}));
  }

  SECTION("JSON, as otlp_http sends with encoding: json") {
    const json request = {
        {"resourceLogs",
         json::array({{{"resource",
                        {{"attributes",
                          json::array({{{"key", "service.name"},
                                        {"value", {{"stringValue", "checkout"}}}}})}}},
                       {"scopeLogs",
                        json::array({{{"logRecords",
                                       json::array({{{"timeUnixNano", std::to_string(time_ns)},
                                                     {"severityNumber", 9},
                                                     {"body", {{"stringValue", "order placed"}}}}})}}})}}})}};
    const auto response = http_request(host.port(), "POST", path, gzip(request.dump()),
                                       {{"Content-Type", "application/json"},
                                        {"Content-Encoding", "gzip"},
                                        {"X-Scope-OrgID", tenant}});
    REQUIRE(response.status == 200);
    const auto streams = read_back(host.port(), tenant, time_ns);
    REQUIRE(streams.size() == 1);
    CHECK(streams[0]["stream"]["detected_level"] == "info");
    CHECK(streams[0]["values"][0][1] == "order placed");
  }
}
