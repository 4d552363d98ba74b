// LokiAdapter against the scripted fault server: request shapes, error
// mapping, timeouts and connection reuse.

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "fault_server.hpp"
#include "lognurse/host_api/time.hpp"
#include "loki_adapter.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using lognurse::loki::test::FaultServer;
using lognurse::loki::test::ScriptedResponse;
using lognurse::loki::test::success;

namespace {

LokiAdapterOptions options_for(const FaultServer& server) {
  LokiAdapterOptions options;
  options.endpoint = server.url();
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.timeout = std::chrono::milliseconds(2000);
  return options;
}

ScriptedResponse text(int status, std::string body) {
  ScriptedResponse response;
  response.status = status;
  response.body = std::move(body);
  response.content_type = "text/plain; charset=utf-8";
  return response;
}

ScriptedResponse json_answer(int status, std::string body) {
  ScriptedResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

PushRequest traced_request() {
  PushRequest request;
  LogStream stream;
  stream.labels = {{"app", "api"}, {"env", "prod"}};
  stream.entries.push_back(
      {1700000000000000001,
       "GET /health 200",
       {{"span_id", "00f067aa0ba902b7"}, {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"}}});
  stream.entries.push_back({1700000000000000002, "plain \"quoted\" line", {}});
  request.streams.push_back(stream);
  return request;
}

const char* kStreamsData =
    R"({"resultType":"streams","result":[{"stream":{"app":"api"},)"
    R"("values":[["1700000000000000002","second"],["1700000000000000001","first",)"
    R"({"trace_id":"abc"}]]}],"stats":{"summary":{"totalLinesProcessed":7,)"
    R"("totalBytesProcessed":120,"execTime":0.25}}})";

}  // namespace

TEST_CASE("ready succeeds on 200 and sends no tenant header", "[loki][adapter]") {
  FaultServer server;
  server.script("/ready", {text(200, "ready\n")});
  LokiAdapter adapter(options_for(server));

  REQUIRE(adapter.ready().ok());
  const auto requests = server.requests("/ready");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "GET");
  CHECK(requests[0].header("X-Scope-OrgID").empty());
}

TEST_CASE("ready reports loki.not_ready with Loki's text on 503", "[loki][adapter]") {
  FaultServer server;
  server.script("/ready", {text(503, "Ingester not ready: waiting for 15s after being ready\n")});
  LokiAdapter adapter(options_for(server));

  const auto ready = adapter.ready();
  REQUIRE_FALSE(ready.ok());
  CHECK(ready.error().error.code == "loki.not_ready");
  CHECK(ready.error().http_status == 503);
  CHECK(ready.error().error.message ==
        "Loki at " + server.url() +
            " is not ready: Ingester not ready: waiting for 15s after being ready");
}

TEST_CASE("push sends the tenant header and the exact JSON body", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {text(204, "")});
  LokiAdapter adapter(options_for(server));

  REQUIRE(adapter.push("team-a", traced_request()).ok());

  const auto requests = server.requests("/loki/api/v1/push");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].header("X-Scope-OrgID") == "team-a");
  CHECK(requests[0].header("Content-Type") == "application/json");
  CHECK(requests[0].header("Authorization").empty());
  CHECK(requests[0].body ==
        R"({"streams":[{"stream":{"app":"api","env":"prod"},"values":[)"
        R"(["1700000000000000001","GET /health 200",)"
        R"({"span_id":"00f067aa0ba902b7","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}],)"
        R"(["1700000000000000002","plain \"quoted\" line"]]}]})");
}

TEST_CASE("a 400 answer passes Loki's message through", "[loki][adapter]") {
  FaultServer server;
  const std::string loki_text =
      "entry for stream '{app=\"api\"}' has timestamp too old: 2020-01-01T00:00:00Z, "
      "oldest acceptable timestamp is: 2024-01-01T00:00:00Z";
  server.script("/loki/api/v1/push", {text(400, loki_text + "\n")});
  LokiAdapter adapter(options_for(server));

  const auto pushed = adapter.push("fake", traced_request());
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().error.code == "loki.bad_request");
  CHECK(pushed.error().error.kind == ErrorKind::invalid_argument);
  CHECK(pushed.error().http_status == 400);
  CHECK(pushed.error().loki_message == loki_text);
  CHECK(pushed.error().error.message ==
        loki_text + " (Loki answered 400 to POST /loki/api/v1/push)");
}

TEST_CASE("a JSON error body yields its message", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range",
                {json_answer(400, R"({"code":400,"message":"parse error at line 1"})")});
  LokiAdapter adapter(options_for(server));

  const auto result = adapter.query_range("fake", "{", {1, 2}, 10, 0, Direction::backward);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().loki_message == "parse error at line 1");
}

TEST_CASE("a 429 answer is loki.rate_limited with its Retry-After", "[loki][adapter]") {
  FaultServer server;
  ScriptedResponse limited = text(429, "Ingestion rate limit exceeded for user fake");
  limited.headers["Retry-After"] = "7";
  server.script("/loki/api/v1/push", {limited});
  LokiAdapter adapter(options_for(server));

  const auto pushed = adapter.push("fake", traced_request());
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().error.code == "loki.rate_limited");
  CHECK(pushed.error().error.kind == ErrorKind::rate_limited);
  CHECK(pushed.error().http_status == 429);
  REQUIRE(pushed.error().retry_after.has_value());
  CHECK(pushed.error().retry_after->count() == 7000);
  CHECK(pushed.error().error.message.find("Ingestion rate limit exceeded for user fake") == 0);
}

TEST_CASE("5xx answers are loki.server_error", "[loki][adapter]") {
  FaultServer server;
  LokiAdapter adapter(options_for(server));
  for (int status : {500, 502, 503}) {
    server.script("/loki/api/v1/labels", {text(status, "too many outstanding requests")});
    const auto labels = adapter.labels("fake", {1, 2});
    REQUIRE_FALSE(labels.ok());
    CHECK(labels.error().error.code == "loki.server_error");
    CHECK(labels.error().http_status == status);
    CHECK(labels.error().loki_message == "too many outstanding requests");
  }
}

TEST_CASE("401 and 403 answers are loki.unauthorized", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {text(401, "no org id")});
  LokiAdapter adapter(options_for(server));

  const auto labels = adapter.labels("fake", {1, 2});
  REQUIRE_FALSE(labels.ok());
  CHECK(labels.error().error.code == "loki.unauthorized");
  CHECK(labels.error().http_status == 401);
}

TEST_CASE("an answer slower than the timeout fails with loki.timeout in time", "[loki][adapter]") {
  FaultServer server;
  ScriptedResponse slow = success(kStreamsData);
  slow.delay = std::chrono::milliseconds(5000);
  server.script("/loki/api/v1/query_range", {slow});
  LokiAdapterOptions options = options_for(server);
  options.timeout = std::chrono::milliseconds(300);
  LokiAdapter adapter(options);

  const auto started = std::chrono::steady_clock::now();
  const auto result =
      adapter.query_range("fake", "{app=\"api\"}", {1, 2}, 10, 0, Direction::backward);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  REQUIRE_FALSE(result.ok());
  CHECK(result.error().error.code == "loki.timeout");
  CHECK(result.error().error.kind == ErrorKind::timeout);
  CHECK(result.error().http_status == 0);
  CHECK(elapsed >= std::chrono::milliseconds(250));
  CHECK(elapsed < std::chrono::milliseconds(2000));
}

TEST_CASE("a body that is not JSON fails with loki.bad_response", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range", {json_answer(200, "{\"status\":\"succ")});
  LokiAdapter adapter(options_for(server));

  const auto result =
      adapter.query_range("fake", "{app=\"api\"}", {1, 2}, 10, 0, Direction::backward);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().error.code == "loki.bad_response");
  CHECK(result.error().http_status == 200);
  CHECK(result.error().error.message ==
        "Loki's answer to GET /loki/api/v1/query_range is not a JSON object; is " + server.url() +
            " a Loki server?");
}

TEST_CASE("JSON of the wrong shape fails with loki.bad_response", "[loki][adapter]") {
  FaultServer server;
  LokiAdapter adapter(options_for(server));

  server.script("/loki/api/v1/query_range", {success(R"({"resultType":"streams"})")});
  auto result = adapter.query_range("fake", "{a=\"b\"}", {1, 2}, 10, 0, Direction::backward);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().error.code == "loki.bad_response");

  server.script("/loki/api/v1/query_range", {json_answer(200, R"({"status":"error"})")});
  result = adapter.query_range("fake", "{a=\"b\"}", {1, 2}, 10, 0, Direction::backward);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().error.code == "loki.bad_response");

  server.script("/loki/api/v1/labels", {success(R"(["app", 3])")});
  const auto labels = adapter.labels("fake", {1, 2});
  REQUIRE_FALSE(labels.ok());
  CHECK(labels.error().error.code == "loki.bad_response");
}

TEST_CASE("an answer over max_response_bytes fails with loki.bad_response", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {success("[\"" + std::string(4096, 'x') + "\"]")});
  LokiAdapterOptions options = options_for(server);
  options.max_response_bytes = 1024;
  LokiAdapter adapter(options);

  const auto labels = adapter.labels("fake", {1, 2});
  REQUIRE_FALSE(labels.ok());
  CHECK(labels.error().error.code == "loki.bad_response");
  CHECK(labels.error().error.message.find("max_response_bytes (1024)") != std::string::npos);
}

TEST_CASE("a closed port fails with loki.unreachable", "[loki][adapter]") {
  std::string url;
  {
    FaultServer closed;
    url = closed.url();
  }
  LokiAdapterOptions options;
  options.endpoint = url;
  options.timeout = std::chrono::milliseconds(2000);
  LokiAdapter adapter(options);

  const auto ready = adapter.ready();
  REQUIRE_FALSE(ready.ok());
  CHECK(ready.error().error.code == "loki.unreachable");
  CHECK(ready.error().error.kind == ErrorKind::unavailable);
  CHECK(ready.error().error.message.find("cannot reach Loki at " + url + " for GET /ready") == 0);
}

TEST_CASE("query_range sends the LogQL and range and parses streams", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range", {success(kStreamsData)});
  LokiAdapter adapter(options_for(server));

  const std::string logql = R"({app="api"} |= "a&b c+d")";
  const auto result = adapter.query_range("team-a", logql, {1000, 2000}, 50, 15 * kNanosPerSecond,
                                          Direction::forward);
  REQUIRE(result.ok());

  const auto requests = server.requests("/loki/api/v1/query_range");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].header("X-Scope-OrgID") == "team-a");
  CHECK(requests[0].param("query") == logql);
  CHECK(requests[0].param("start") == "1000");
  CHECK(requests[0].param("end") == "2000");
  CHECK(requests[0].param("limit") == "50");
  CHECK(requests[0].param("direction") == "forward");
  CHECK(requests[0].param("step") == "15");

  const QueryResult& parsed = result.value();
  CHECK(parsed.result_type == "streams");
  REQUIRE(parsed.streams.size() == 1);
  CHECK(parsed.streams[0].labels == Labels{{"app", "api"}});
  REQUIRE(parsed.streams[0].entries.size() == 2);
  CHECK(parsed.streams[0].entries[1].line == "first");
  CHECK(parsed.streams[0].entries[1].metadata == Labels{{"trace_id", "abc"}});
  CHECK(parsed.stats.lines_scanned == 7);
  CHECK(parsed.stats.bytes_scanned == 120);
}

TEST_CASE("an instant query sends the time and parses a vector", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/query",
                {success(R"({"resultType":"vector","result":[)"
                         R"({"metric":{"detected_level":"error"},"value":[1700000000,"12"]}]})")});
  LokiAdapter adapter(options_for(server));

  const auto result = adapter.query("fake", "sum(count_over_time({a=\"b\"}[5m]))",
                                    1700000000 * kNanosPerSecond, 100, Direction::backward);
  REQUIRE(result.ok());
  const auto requests = server.requests("/loki/api/v1/query");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].param("time") == "1700000000000000000");
  CHECK(requests[0].header("X-Scope-OrgID") == "fake");
  REQUIRE(result.value().series.size() == 1);
  CHECK(result.value().series[0].samples[0].value == 12.0);
  CHECK(result.value().series[0].samples[0].timestamp_ns == 1700000000 * kNanosPerSecond);
}

TEST_CASE("labels, label values and series use Loki's paths", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {success(R"(["app","service_name"])")});
  server.script("/loki/api/v1/label/service_name/values", {success(R"(["api","web"])")});
  server.script("/loki/api/v1/series", {success(R"([{"app":"api","env":"prod"}])")});
  LokiAdapter adapter(options_for(server));

  const auto labels = adapter.labels("fake", {10, 20});
  REQUIRE(labels.ok());
  CHECK(labels.value() == std::vector<std::string>{"app", "service_name"});
  CHECK(server.requests("/loki/api/v1/labels")[0].param("start") == "10");
  CHECK(server.requests("/loki/api/v1/labels")[0].param("end") == "20");

  const auto values = adapter.label_values("fake", "service_name", {10, 20});
  REQUIRE(values.ok());
  CHECK(values.value() == std::vector<std::string>{"api", "web"});

  const auto series = adapter.series("fake", {"{app=\"api\"}", "{env=\"prod\"}"}, {10, 20});
  REQUIRE(series.ok());
  REQUIRE(series.value().size() == 1);
  CHECK(series.value()[0] == Labels{{"app", "api"}, {"env", "prod"}});
  const auto sent = server.requests("/loki/api/v1/series");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].params.count("match[]") == 2);
}

TEST_CASE("a null data member reads as an empty list", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {success("null")});
  LokiAdapter adapter(options_for(server));

  const auto labels = adapter.labels("fake", {1, 2});
  REQUIRE(labels.ok());
  CHECK(labels.value().empty());
}

TEST_CASE("basic and bearer credentials are sent as Authorization", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {success("[]")});

  LokiAdapterOptions basic = options_for(server);
  basic.username = "user";
  basic.password = "s3cret";
  REQUIRE(LokiAdapter(basic).labels("fake", {1, 2}).ok());

  LokiAdapterOptions bearer = options_for(server);
  bearer.bearer_token = "tok.en";
  REQUIRE(LokiAdapter(bearer).labels("fake", {1, 2}).ok());

  const auto requests = server.requests("/loki/api/v1/labels");
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].header("Authorization") == "Basic dXNlcjpzM2NyZXQ=");
  CHECK(requests[1].header("Authorization") == "Bearer tok.en");
}

TEST_CASE("secrets never appear in error messages", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {text(500, "boom")});
  LokiAdapterOptions options = options_for(server);
  options.bearer_token = "very-secret-token";
  LokiAdapter adapter(options);

  const auto labels = adapter.labels("fake", {1, 2});
  REQUIRE_FALSE(labels.ok());
  CHECK(labels.error().error.message.find("very-secret-token") == std::string::npos);
}

TEST_CASE("gzip answers are accepted", "[loki][adapter]") {
  FaultServer server;
  std::string values = "[";
  for (int i = 0; i < 500; ++i)
    values += (i ? ",\"" : "\"") + std::string("label_") + std::to_string(i) + "\"";
  values += "]";
  server.script("/loki/api/v1/labels", {success(values)});
  LokiAdapter adapter(options_for(server));

  const auto labels = adapter.labels("fake", {1, 2});
  REQUIRE(labels.ok());
  CHECK(labels.value().size() == 500);
  CHECK(labels.value()[499] == "label_499");
  CHECK(server.requests("/loki/api/v1/labels")[0].header("Accept-Encoding").find("gzip") !=
        std::string::npos);
}

TEST_CASE("a tenant that could break the header is refused before sending", "[loki][adapter]") {
  FaultServer server;
  LokiAdapter adapter(options_for(server));

  const auto labels = adapter.labels("a\r\nX-Evil: 1", {1, 2});
  REQUIRE_FALSE(labels.ok());
  CHECK(labels.error().error.code == "loki.invalid_tenant");
  CHECK(server.requests().empty());
}

TEST_CASE("sequential calls reuse one connection", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {success("[]")});
  LokiAdapter adapter(options_for(server));

  for (int i = 0; i < 3; ++i) REQUIRE(adapter.labels("fake", {1, 2}).ok());
  const auto requests = server.requests("/loki/api/v1/labels");
  REQUIRE(requests.size() == 3);
  CHECK(requests[1].remote_port == requests[0].remote_port);
  CHECK(requests[2].remote_port == requests[0].remote_port);
}

TEST_CASE("concurrent calls from several threads all succeed", "[loki][adapter]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {success(R"(["app"])")});
  LokiAdapter adapter(options_for(server));

  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (adapter.labels("fake", {1, 2}).ok()) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(ok == 60);
  CHECK(server.count("/loki/api/v1/labels") == 60);
}
