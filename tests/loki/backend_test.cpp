// LokiBackend against the scripted fault server: retries and backoff, tenant
// choice, local validation, metrics, health and shutdown.

#include <catch2/catch.hpp>

#include <future>
#include <mutex>

#include "fault_server.hpp"
#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/logql.hpp"
#include "loki_backend.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using lognurse::loki::test::FaultServer;
using lognurse::loki::test::RecordedRequest;
using lognurse::loki::test::ScriptedResponse;
using lognurse::loki::test::success;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

class RecordingLogger final : public Logger {
public:
  void log(LogLevel level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(level, std::string(message));
  }

  std::vector<std::string> at(LogLevel level) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [l, message] : lines_) {
      if (l == level) out.push_back(message);
    }
    return out;
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

LokiConfig config_for(const FaultServer& server, int max_retries = 3, long initial_ms = 40,
                      long max_ms = 2000) {
  LokiConfig config;
  config.adapter.endpoint = server.url();
  config.adapter.connect_timeout = milliseconds(1000);
  config.adapter.timeout = milliseconds(2000);
  config.retry = RetryOptions{max_retries, milliseconds(initial_ms), milliseconds(max_ms)};
  return config;
}

ScriptedResponse text(int status, std::string body) {
  ScriptedResponse response;
  response.status = status;
  response.body = std::move(body);
  response.content_type = "text/plain";
  return response;
}

PushRequest one_stream(std::string tenant = kDefaultTenant) {
  PushRequest request;
  request.tenant = std::move(tenant);
  request.streams.push_back({{{"service_name", "api"}},
                             {{1700000000000000000, "a", {}}, {1700000000000000001, "b", {}}}});
  return request;
}

long gap_ms(const RecordedRequest& a, const RecordedRequest& b) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(b.at - a.at).count());
}

const char* kEmptyStreams = R"({"resultType":"streams","result":[]})";
const TimeRange kHour{1700000000LL * kNanosPerSecond, 1700003600LL * kNanosPerSecond};

}  // namespace

TEST_CASE("push retries after a 429 and waits for Retry-After", "[loki][backend]") {
  FaultServer server;
  ScriptedResponse limited = text(429, "Ingestion rate limit exceeded");
  limited.headers["Retry-After"] = "1";
  server.script("/loki/api/v1/push", {limited, text(204, "")});
  auto logger = std::make_shared<RecordingLogger>();
  LokiBackend backend(config_for(server), logger);

  const auto pushed = backend.push(one_stream());
  REQUIRE(pushed.ok());
  CHECK(pushed.value().entries_accepted == 2);
  CHECK(pushed.value().streams == 1);

  const auto requests = server.requests("/loki/api/v1/push");
  REQUIRE(requests.size() == 2);
  CHECK(gap_ms(requests[0], requests[1]) >= 1000);
  CHECK(gap_ms(requests[0], requests[1]) < 1500);
  CHECK(requests[1].body == requests[0].body);

  const auto warnings = logger->at(LogLevel::warn);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "loki push tenant=fake endpoint=" + server.url() +
                           " attempt 1/4 failed with loki.rate_limited (HTTP 429); "
                           "retrying in 1000 ms");
}

TEST_CASE("push gives up after max_retries with backoff between attempts", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {text(500, "internal"), text(503, "unavailable")});
  auto logger = std::make_shared<RecordingLogger>();
  LokiBackend backend(config_for(server, 3, 40, 2000), logger);

  const auto pushed = backend.push(one_stream());
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().code == "loki.server_error");
  CHECK(pushed.error().message ==
        "unavailable (Loki answered 503 to POST /loki/api/v1/push); gave up after 4 attempts");

  const auto requests = server.requests("/loki/api/v1/push");
  REQUIRE(requests.size() == 4);
  // Retry n waits within [b/2, b] for b = 40 ms · 2^(n-1); allow scheduling slack.
  const long bounds[3][2] = {{20, 40}, {40, 80}, {80, 160}};
  for (int i = 0; i < 3; ++i) {
    const long gap = gap_ms(requests[i], requests[i + 1]);
    CHECK(gap >= bounds[i][0]);
    CHECK(gap <= bounds[i][1] + 150);
  }

  CHECK(logger->at(LogLevel::warn).size() == 3);
  const auto errors = logger->at(LogLevel::error);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("loki push tenant=fake endpoint=" + server.url() +
                       " lost streams=1 entries=2: loki.server_error: ") == 0);
}

TEST_CASE("a 400 reaches the caller with Loki's message and no retry", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/push",
                {text(400, "error at least one label pair is required per stream")});
  LokiBackend backend(config_for(server), nullptr);

  const auto pushed = backend.push(one_stream());
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().code == "loki.bad_request");
  CHECK(pushed.error().kind == ErrorKind::invalid_argument);
  CHECK(pushed.error().message ==
        "error at least one label pair is required per stream "
        "(Loki answered 400 to POST /loki/api/v1/push)");
  CHECK(server.count("/loki/api/v1/push") == 1);
}

TEST_CASE("a Retry-After beyond the backoff cap fails at once", "[loki][backend]") {
  FaultServer server;
  ScriptedResponse limited = text(429, "slow down");
  limited.headers["Retry-After"] = "30";
  server.script("/loki/api/v1/push", {limited});
  LokiBackend backend(config_for(server, 3, 40, 2000), nullptr);

  const auto pushed = backend.push(one_stream());
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().code == "loki.rate_limited");
  CHECK(pushed.error().message.find("Loki asked to retry after 30 s") != std::string::npos);
  CHECK(server.count("/loki/api/v1/push") == 1);
}

TEST_CASE("push retries a timeout but a query does not", "[loki][backend]") {
  FaultServer server;
  ScriptedResponse slow = text(204, "");
  slow.delay = milliseconds(3000);
  server.script("/loki/api/v1/push", {slow});
  ScriptedResponse slow_query = success(kEmptyStreams);
  slow_query.delay = milliseconds(3000);
  server.script("/loki/api/v1/query_range", {slow_query});
  LokiConfig config = config_for(server, 1, 10, 100);
  config.adapter.timeout = milliseconds(200);
  LokiBackend backend(config, nullptr);

  const auto pushed = backend.push(one_stream());
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().code == "loki.timeout");
  CHECK(server.count("/loki/api/v1/push") == 2);

  LogQuery query;
  query.logql = R"({service_name="api"})";
  query.range = kHour;
  const auto result = backend.query(query);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "loki.timeout");
  CHECK(server.count("/loki/api/v1/query_range") == 1);
}

TEST_CASE("a query retries a 503 and then succeeds", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range",
                {text(503, "too many outstanding requests"), success(kEmptyStreams)});
  LokiBackend backend(config_for(server, 2, 10, 100), nullptr);

  LogQuery query;
  query.logql = R"({service_name="api"})";
  query.range = kHour;
  const auto result = backend.query(query);
  REQUIRE(result.ok());
  CHECK(result.value().result_type == "streams");
  CHECK(server.count("/loki/api/v1/query_range") == 2);
}

TEST_CASE("the configured tenant replaces only the default tenant", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {text(204, "")});
  LokiConfig config = config_for(server);
  config.tenant_id = "ops";
  LokiBackend backend(config, nullptr);

  REQUIRE(backend.push(one_stream(kDefaultTenant)).ok());
  REQUIRE(backend.push(one_stream("team-b")).ok());
  const auto requests = server.requests("/loki/api/v1/push");
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].header("X-Scope-OrgID") == "ops");
  CHECK(requests[1].header("X-Scope-OrgID") == "team-b");
  CHECK(backend.effective_tenant("") == "ops");
}

TEST_CASE("an empty push succeeds without a request", "[loki][backend]") {
  FaultServer server;
  LokiBackend backend(config_for(server), nullptr);

  PushRequest request;
  request.streams.push_back({{{"service_name", "api"}}, {}});
  const auto pushed = backend.push(request);
  REQUIRE(pushed.ok());
  CHECK(pushed.value().entries_accepted == 0);
  CHECK(server.requests().empty());
}

TEST_CASE("invalid LogQL fails locally with logql.parse_error", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range", {text(400, "parse error")});
  LokiBackend backend(config_for(server), nullptr);

  LogQuery query;
  query.logql = R"({service_name="api")";
  query.range = kHour;
  const auto result = backend.query(query);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "logql.parse_error");
  CHECK(server.requests().empty());
}

TEST_CASE("an empty range fails locally with loki.invalid_range", "[loki][backend]") {
  FaultServer server;
  LokiBackend backend(config_for(server), nullptr);

  LogQuery query;
  query.logql = R"({service_name="api"})";
  query.range = {kHour.end_ns, kHour.start_ns};
  const auto result = backend.query(query);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "loki.invalid_range");
  CHECK(backend.labels("fake", {5, 5}).error().code == "loki.invalid_range");
  CHECK(server.requests().empty());
}

TEST_CASE("a query sends its parameters and returns the parsed streams", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range",
                {success(R"({"resultType":"streams","result":[{"stream":{"service_name":"api"},)"
                         R"("values":[["1700000000000000005","hello"]]}]})")});
  LokiBackend backend(config_for(server), nullptr);

  LogQuery query;
  query.tenant = "team-a";
  query.logql = R"({service_name="api"} |= "hello")";
  query.range = kHour;
  query.limit = 20;
  query.direction = Direction::forward;
  const auto result = backend.query(query);
  REQUIRE(result.ok());
  REQUIRE(result.value().streams.size() == 1);
  CHECK(result.value().streams[0].entries[0].line == "hello");

  const auto sent = server.requests("/loki/api/v1/query_range");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].header("X-Scope-OrgID") == "team-a");
  CHECK(sent[0].param("query") == query.logql);
  CHECK(sent[0].param("start") == std::to_string(kHour.start_ns));
  CHECK(sent[0].param("end") == std::to_string(kHour.end_ns));
  CHECK(sent[0].param("limit") == "20");
  CHECK(sent[0].param("direction") == "forward");
  CHECK(sent[0].param("step").empty());
}

TEST_CASE("search sends the LogQL that the filters compile to", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range", {success(kEmptyStreams)});
  LokiBackend backend(config_for(server), nullptr);

  SearchRequest request;
  request.filters.service = "api";
  request.filters.text = "timeout \"db\"";
  request.range = kHour;
  request.limit = 7;
  const auto result = backend.search(request);
  REQUIRE(result.ok());

  const auto expected = logql::compile_search(request.filters);
  REQUIRE(expected.ok());
  CHECK(result.value().logql == expected.value());
  CHECK(result.value().logql.find(R"(service_name="api")") != std::string::npos);
  const auto sent = server.requests("/loki/api/v1/query_range");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].param("query") == expected.value());
  CHECK(sent[0].param("limit") == "7");
}

TEST_CASE("labels and label values map the tenant and pass results", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/labels", {success(R"(["service_name"])")});
  server.script("/loki/api/v1/label/service_name/values", {success(R"(["api"])")});
  LokiConfig config = config_for(server);
  config.tenant_id = "ops";
  LokiBackend backend(config, nullptr);

  const auto labels = backend.labels("fake", kHour);
  REQUIRE(labels.ok());
  CHECK(labels.value() == std::vector<std::string>{"service_name"});
  const auto values = backend.label_values("team-c", "service_name", kHour);
  REQUIRE(values.ok());
  CHECK(values.value() == std::vector<std::string>{"api"});
  CHECK(server.requests("/loki/api/v1/labels")[0].header("X-Scope-OrgID") == "ops");
  CHECK(server.requests("/loki/api/v1/label/service_name/values")[0].header("X-Scope-OrgID") ==
        "team-c");
  CHECK(backend.label_values("fake", "", kHour).error().code == "loki.bad_request");
}

TEST_CASE("metric queries are valid LogQL over the whole range", "[loki][backend]") {
  const MetricQueries hour = metric_queries(3600 * kNanosPerSecond);
  CHECK(hour.by_level ==
        R"(sum by (detected_level) (count_over_time({service_name=~".+"} [3600s])))");
  CHECK(hour.by_service ==
        R"(sum by (service_name) (count_over_time({service_name=~".+"} [3600s])))");
  CHECK(hour.bytes == R"(sum(bytes_over_time({service_name=~".+"} [3600s])))");
  CHECK(metric_queries(1'500'000'000).bytes ==
        R"(sum(bytes_over_time({service_name=~".+"} [1500ms])))");
  for (const auto& query : {hour.by_level, hour.by_service, hour.bytes}) {
    const auto valid = logql::validate(query);
    CHECK(valid.ok());
  }
}

TEST_CASE("metrics derives lines, bytes, levels, services and error rate", "[loki][backend]") {
  FaultServer server;
  const MetricQueries queries = metric_queries(kHour.end_ns - kHour.start_ns);
  server.route("/loki/api/v1/query_range", [&](const RecordedRequest& request) {
    const std::string query = request.param("query");
    if (query == queries.by_level) {
      return success(R"({"resultType":"matrix","result":[)"
                     R"({"metric":{"detected_level":"info"},"values":[[1700003600,"90"]]},)"
                     R"({"metric":{"detected_level":"error"},"values":[[1700003600,"8"]]},)"
                     R"({"metric":{"detected_level":"FATAL"},"values":[[1700003600,"2"]]},)"
                     R"({"metric":{},"values":[[1700003600,"5"]]}]})");
    }
    if (query == queries.by_service) {
      return success(R"({"resultType":"matrix","result":[)"
                     R"({"metric":{"service_name":"web"},"values":[[1700003600,"40"]]},)"
                     R"({"metric":{"service_name":"api"},"values":[[1700003600,"65"]]}]})");
    }
    if (query == queries.bytes) {
      return success(R"({"resultType":"matrix","result":[)"
                     R"({"metric":{},"values":[[1700003600,"12345"]]}]})");
    }
    return text(400, "unexpected query " + query);
  });
  LokiBackend backend(config_for(server), nullptr);

  const auto metrics = backend.metrics("fake", kHour);
  REQUIRE(metrics.ok());
  const LogMetrics& m = metrics.value();
  CHECK(m.lines == 105);
  CHECK(m.bytes == 12345);
  CHECK(m.error_lines == 10);
  CHECK(m.error_rate == Approx(10.0 / 105.0));
  using Counts = std::vector<std::pair<std::string, std::uint64_t>>;
  CHECK(m.by_level == Counts{{"info", 90}, {"error", 8}, {"unknown", 5}, {"FATAL", 2}});
  CHECK(m.by_service == Counts{{"api", 65}, {"web", 40}});
  CHECK(m.range.start_ns == kHour.start_ns);

  const auto sent = server.requests("/loki/api/v1/query_range");
  REQUIRE(sent.size() == 3);
  for (const auto& request : sent) {
    CHECK(request.param("start") == std::to_string(kHour.end_ns));
    CHECK(request.param("end") == std::to_string(kHour.end_ns));
    CHECK(request.param("step") == "3600");
    CHECK(request.header("X-Scope-OrgID") == "fake");
  }
}

TEST_CASE("metrics over an empty store are zero", "[loki][backend]") {
  FaultServer server;
  server.script("/loki/api/v1/query_range",
                {success(R"({"resultType":"matrix","result":[]})")});
  LokiBackend backend(config_for(server), nullptr);

  const auto metrics = backend.metrics("fake", kHour);
  REQUIRE(metrics.ok());
  CHECK(metrics.value().lines == 0);
  CHECK(metrics.value().bytes == 0);
  CHECK(metrics.value().error_rate == 0.0);
  CHECK(metrics.value().by_level.empty());
}

TEST_CASE("connect checks readiness and logs the outcome", "[loki][backend]") {
  FaultServer server;
  server.script("/ready", {text(200, "ready"), text(503, "Ingester not ready")});
  auto logger = std::make_shared<RecordingLogger>();
  LokiBackend backend(config_for(server), logger);

  REQUIRE(backend.connect().ok());
  REQUIRE(logger->at(LogLevel::info).size() == 1);
  CHECK(logger->at(LogLevel::info)[0].find("loki endpoint=" + server.url() +
                                           " tenant=fake ready in ") == 0);

  const auto again = backend.connect();
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == "loki.not_ready");
  CHECK(logger->at(LogLevel::warn).size() == 1);
}

TEST_CASE("health reports readiness, latency and the last error", "[loki][backend]") {
  FaultServer server;
  server.script("/ready", {text(200, "ready")});
  server.script("/loki/api/v1/push", {text(400, "stream has no labels")});
  LokiBackend backend(config_for(server), nullptr);

  Health health = backend.health();
  CHECK(health.ready);
  CHECK(health.backend == "loki");
  CHECK(health.latency_ms > 0);
  CHECK(health.detail == "ready at " + server.url());

  REQUIRE_FALSE(backend.push(one_stream()).ok());
  health = backend.health();
  CHECK(health.ready);
  CHECK(health.detail == "ready at " + server.url() +
                             "; last error 0 s ago: loki.bad_request: stream has no labels "
                             "(Loki answered 400 to POST /loki/api/v1/push)");

  server.script("/ready", {text(503, "Ingester not ready")});
  health = backend.health();
  CHECK_FALSE(health.ready);
  CHECK(health.detail.find("loki.not_ready: Loki at " + server.url() +
                           " is not ready: Ingester not ready") == 0);
}

TEST_CASE("health of an unreachable Loki is not ready", "[loki][backend]") {
  std::string url;
  {
    FaultServer closed;
    url = closed.url();
  }
  LokiConfig config;
  config.adapter.endpoint = url;
  LokiBackend backend(config, nullptr);

  const Health health = backend.health();
  CHECK_FALSE(health.ready);
  CHECK(health.detail.find("loki.unreachable: cannot reach Loki at " + url) == 0);
}

TEST_CASE("shutdown ends a retry wait promptly", "[loki][backend]") {
  FaultServer server;
  ScriptedResponse limited = text(429, "slow down");
  limited.headers["Retry-After"] = "5";
  server.script("/loki/api/v1/push", {limited});
  LokiBackend backend(config_for(server, 3, 10, 10000), nullptr);

  const auto started = Clock::now();
  auto pushed = std::async(std::launch::async, [&] { return backend.push(one_stream()); });
  for (int i = 0; i < 200 && server.count("/loki/api/v1/push") == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::this_thread::sleep_for(milliseconds(100));
  backend.shutdown();

  REQUIRE(pushed.wait_for(std::chrono::seconds(3)) == std::future_status::ready);
  const auto result = pushed.get();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "loki.rate_limited");
  CHECK(result.error().message.find("retries abandoned because the plugin is shutting down") !=
        std::string::npos);
  CHECK(Clock::now() - started < std::chrono::seconds(3));
  CHECK(server.count("/loki/api/v1/push") == 1);
}
