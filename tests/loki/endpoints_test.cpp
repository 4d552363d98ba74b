// LokiAdapter's protobuf push and the index, discovery and status endpoints,
// against the scripted fault server (the host does not serve them all yet).

#include <catch2/catch.hpp>

#include "fault_server.hpp"
#include "lognurse/host_api/time.hpp"
#include "loki_adapter.hpp"
#include "protobuf_reader.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using lognurse::loki::test::decode_push;
using lognurse::loki::test::FaultServer;
using lognurse::loki::test::ScriptedResponse;
using lognurse::loki::test::success;

namespace {

LokiAdapterOptions options_for(const FaultServer& server) {
  LokiAdapterOptions options;
  options.endpoint = server.url();
  options.timeout = std::chrono::milliseconds(2000);
  return options;
}

ScriptedResponse raw_json(std::string body) {
  ScriptedResponse response;
  response.body = std::move(body);
  return response;
}

ScriptedResponse no_content() {
  ScriptedResponse response;
  response.status = 204;
  response.content_type = "text/plain";
  return response;
}

const TimeRange kRange{1700000000LL * kNanosPerSecond, 1700003600LL * kNanosPerSecond};

}  // namespace

TEST_CASE("a protobuf push is snappy-compressed push.proto with metadata", "[loki][endpoints]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {no_content()});
  LokiAdapter adapter(options_for(server));

  PushRequest request;
  request.streams.push_back(
      {{{"service_name", "api"}, {"env", "prod \"eu\""}},
       {{1700000000123456789, "GET /a 200", {{"trace_id", "4bf92f35"}, {"span_id", "00f0"}}},
        {1700000001000000000, std::string(300, 'x'), {}}}});
  request.streams.push_back({{{"service_name", "web"}}, {{5, "tiny", {}}}});
  REQUIRE(adapter.push("team-a", request, PushFormat::protobuf).ok());

  const auto sent = server.requests("/loki/api/v1/push");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].header("Content-Type") == "application/x-protobuf");
  CHECK(sent[0].header("X-Scope-OrgID") == "team-a");
  const auto streams = decode_push(sent[0].body);
  REQUIRE(streams.size() == 2);
  CHECK(streams[0].labels == R"({env="prod \"eu\"", service_name="api"})");
  REQUIRE(streams[0].entries.size() == 2);
  CHECK(streams[0].entries[0].timestamp_ns == 1700000000123456789);
  CHECK(streams[0].entries[0].line == "GET /a 200");
  CHECK(streams[0].entries[0].metadata == Labels{{"trace_id", "4bf92f35"}, {"span_id", "00f0"}});
  CHECK(streams[0].entries[1].timestamp_ns == 1700000001000000000);
  CHECK(streams[0].entries[1].line == std::string(300, 'x'));
  CHECK(streams[0].entries[1].metadata.empty());
  CHECK(streams[1].labels == R"({service_name="web"})");
  CHECK(streams[1].entries[0].timestamp_ns == 5);
}

TEST_CASE("the protobuf encoding matches hand-computed bytes", "[loki][endpoints]") {
  PushRequest request;
  request.streams.push_back({{{"a", "b"}}, {{1000000001, "hi", {}}}});
  // streams(1) { labels(1) "{a=\"b\"}", entries(2) { timestamp(1) {1 s, 1 ns}, line(2) "hi" } }
  const std::string expected =
      std::string("\x0a\x15", 2) + "\x0a\x07{a=\"b\"}" + std::string("\x12\x0a", 2) +
      std::string("\x0a\x04\x08\x01\x10\x01", 6) + "\x12\x02hi";
  CHECK(encode_push_protobuf(request) == expected);
}

TEST_CASE("index stats reads Loki's unwrapped answer", "[loki][endpoints]") {
  FaultServer server;
  server.script("/loki/api/v1/index/stats",
                {raw_json(R"({"streams":3,"chunks":7,"entries":120,"bytes":9000})")});
  LokiAdapter adapter(options_for(server));

  const auto stats = adapter.index_stats("t1", R"({service_name="api"})", kRange);
  REQUIRE(stats.ok());
  CHECK(stats.value().streams == 3);
  CHECK(stats.value().chunks == 7);
  CHECK(stats.value().entries == 120);
  CHECK(stats.value().bytes == 9000);
  const auto sent = server.requests("/loki/api/v1/index/stats");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].param("query") == R"({service_name="api"})");
  CHECK(sent[0].param("start") == std::to_string(kRange.start_ns));
  CHECK(sent[0].param("end") == std::to_string(kRange.end_ns));
  CHECK(sent[0].header("X-Scope-OrgID") == "t1");

  server.script("/loki/api/v1/index/stats", {raw_json(R"({"streams":-1})")});
  const auto bad = adapter.index_stats("t1", R"({a="b"})", kRange);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().error.message ==
        "Loki's answer to GET /loki/api/v1/index/stats has an unexpected shape: \"streams\" is "
        "not a non-negative number");
}

TEST_CASE("volume asks for a vector, or a matrix with a step", "[loki][endpoints]") {
  FaultServer server;
  server.script("/loki/api/v1/index/volume",
                {success(R"({"resultType":"vector","result":[)"
                         R"({"metric":{"service_name":"api"},"value":[1700003600,"4096"]}]})")});
  server.script("/loki/api/v1/index/volume_range",
                {success(R"({"resultType":"matrix","result":[{"metric":{"service_name":"api"},)"
                         R"("values":[[1700000000,"1"],[1700001800,"2"]]}]})")});
  LokiAdapter adapter(options_for(server));

  VolumeRequest request;
  request.selector = R"({service_name=~".+"})";
  request.range = kRange;
  request.target_labels = {"service_name", "env"};
  request.limit = 5;
  const auto vector = adapter.index_volume("fake", request);
  REQUIRE(vector.ok());
  CHECK(vector.value().result_type == "vector");
  REQUIRE(vector.value().series.size() == 1);
  CHECK(vector.value().series[0].samples[0].value == 4096.0);
  const auto sent = server.requests("/loki/api/v1/index/volume");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].param("targetLabels") == "service_name,env");
  CHECK(sent[0].param("aggregateBy") == "series");
  CHECK(sent[0].param("limit") == "5");

  request.target_labels.clear();
  request.step_ns = 1800 * kNanosPerSecond;
  const auto matrix = adapter.index_volume("fake", request);
  REQUIRE(matrix.ok());
  CHECK(matrix.value().result_type == "matrix");
  CHECK(matrix.value().series[0].samples.size() == 2);
  const auto ranged = server.requests("/loki/api/v1/index/volume_range");
  REQUIRE(ranged.size() == 1);
  CHECK(ranged[0].param("step") == "1800");
  CHECK(ranged[0].param("aggregateBy") == "series");
}

TEST_CASE("patterns parses patterns with their counts per step", "[loki][endpoints]") {
  FaultServer server;
  server.script("/loki/api/v1/patterns",
                {success(R"([{"pattern":"<_> GET /users <_>","samples":[[1700000000,3],)"
                         R"([1700000060,5]]},{"pattern":"job <_> done","samples":null}])")});
  LokiAdapter adapter(options_for(server));

  const auto patterns =
      adapter.patterns("fake", R"({service_name="api"})", kRange, 60 * kNanosPerSecond);
  REQUIRE(patterns.ok());
  REQUIRE(patterns.value().size() == 2);
  CHECK(patterns.value()[0].pattern == "<_> GET /users <_>");
  REQUIRE(patterns.value()[0].samples.size() == 2);
  CHECK(patterns.value()[0].samples[1].timestamp_ns == 1700000060LL * kNanosPerSecond);
  CHECK(patterns.value()[0].samples[1].value == 5.0);
  CHECK(patterns.value()[1].samples.empty());
  CHECK(server.requests("/loki/api/v1/patterns")[0].param("step") == "60");

  server.script("/loki/api/v1/patterns", {success(R"([{"pattern":"x","samples":[[1]]}])")});
  const auto bad = adapter.patterns("fake", R"({a="b"})", kRange, 0);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().error.code == "loki.bad_response");
  CHECK(bad.error().error.message.find("data[0].samples holds a value that is not") !=
        std::string::npos);
}

TEST_CASE("detected fields reads labels, types, cardinality and parsers", "[loki][endpoints]") {
  FaultServer server;
  server.script("/loki/api/v1/detected_fields",
                {raw_json(R"({"fields":[{"label":"duration","type":"duration",)"
                          R"("cardinality":12,"parsers":["logfmt"]},)"
                          R"({"label":"trace_id","type":"string","cardinality":40,)"
                          R"("parsers":null}],"limit":1000})")});
  LokiAdapter adapter(options_for(server));

  const auto fields = adapter.detected_fields("fake", R"({service_name="api"})", kRange, 500);
  REQUIRE(fields.ok());
  REQUIRE(fields.value().size() == 2);
  CHECK(fields.value()[0].label == "duration");
  CHECK(fields.value()[0].type == "duration");
  CHECK(fields.value()[0].cardinality == 12);
  CHECK(fields.value()[0].parsers == std::vector<std::string>{"logfmt"});
  CHECK(fields.value()[1].parsers.empty());
  CHECK(server.requests("/loki/api/v1/detected_fields")[0].param("line_limit") == "500");
}

TEST_CASE("build info reads the version and refuses an answer without one", "[loki][endpoints]") {
  FaultServer server;
  server.script("/loki/api/v1/status/buildinfo",
                {raw_json(R"({"version":"3.1.0","revision":"935aee77","branch":"HEAD",)"
                          R"("buildUser":"root","buildDate":"","goVersion":"go1.22.2"})"),
                 raw_json(R"({"revision":"x"})")});
  LokiAdapter adapter(options_for(server));

  const auto info = adapter.build_info();
  REQUIRE(info.ok());
  CHECK(info.value().version == "3.1.0");
  CHECK(info.value().revision == "935aee77");
  CHECK(info.value().go_version == "go1.22.2");
  CHECK(server.requests("/loki/api/v1/status/buildinfo")[0].header("X-Scope-OrgID").empty());

  const auto missing = adapter.build_info();
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().error.message ==
        "Loki's answer to GET /loki/api/v1/status/buildinfo has an unexpected shape: no string "
        "\"version\"");
}

TEST_CASE("verification refuses a server that does not speak TLS", "[loki][endpoints]") {
  FaultServer server;
  LokiAdapterOptions options = options_for(server);
  options.endpoint = "https://127.0.0.1:" + std::to_string(server.port());
  LokiAdapter adapter(options);

  const auto ready = adapter.ready();
  REQUIRE_FALSE(ready.ok());
  CHECK(ready.error().error.code == "loki.tls_error");
  CHECK(ready.error().error.message.find("TLS with Loki at " + options.endpoint +
                                         " failed for GET /ready") == 0);
}
