// The push path under faults and load: batching by size and age, the bounded
// queue, connection resets, cut and malformed answers, and the accounting of
// entries (none acknowledged is lost, none is acknowledged twice).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <future>
#include <map>
#include <set>

#include "fault_server.hpp"
#include "lognurse/host_api/time.hpp"
#include "loki_backend.hpp"
#include "protobuf_reader.hpp"
#include "raw_fault_server.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using lognurse::loki::test::FaultServer;
using lognurse::loki::test::RawAction;
using lognurse::loki::test::RawFaultServer;
using lognurse::loki::test::RawStep;
using lognurse::loki::test::ScriptedResponse;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

class RecordingLogger final : public Logger {
public:
  void log(LogLevel level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    if (level == LogLevel::warn) warnings_.emplace_back(message);
  }
  std::vector<std::string> warnings() const {
    std::lock_guard lock(mutex_);
    return warnings_;
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> warnings_;
};

LokiConfig config_for(const std::string& url) {
  LokiConfig config;
  config.adapter.endpoint = url;
  config.adapter.connect_timeout = milliseconds(1000);
  config.adapter.timeout = milliseconds(2000);
  config.retry = RetryOptions{3, milliseconds(20), milliseconds(200)};
  return config;
}

PushRequest entries(const std::string& service, int first, int count) {
  PushRequest request;
  LogStream stream;
  stream.labels = {{"service_name", service}};
  for (int i = first; i < first + count; ++i) {
    stream.entries.push_back({1700000000000000000LL + i, "line " + std::to_string(i), {}});
  }
  request.streams.push_back(std::move(stream));
  return request;
}

ScriptedResponse accepted(milliseconds delay = milliseconds(0)) {
  ScriptedResponse response;
  response.status = 204;
  response.content_type = "text/plain";
  response.delay = delay;
  return response;
}

/// The lines of a JSON push body.
std::vector<std::string> lines_of(const std::string& body) {
  std::vector<std::string> out;
  const auto document = nlohmann::json::parse(body);
  for (const auto& stream : document["streams"]) {
    for (const auto& value : stream["values"]) out.push_back(value[1].get<std::string>());
  }
  return out;
}

}  // namespace

TEST_CASE("pushes that arrive while one is in flight share the next batch", "[loki][faults]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {accepted(milliseconds(600)), accepted()});
  LokiBackend backend(config_for(server.url()), nullptr);

  auto first = std::async(std::launch::async, [&] { return backend.push(entries("a", 0, 1)); });
  for (int i = 0; i < 200 && server.count("/loki/api/v1/push") == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  std::vector<std::future<Result<PushResult>>> later;
  for (int i = 1; i <= 4; ++i) {
    later.push_back(
        std::async(std::launch::async, [&, i] { return backend.push(entries("a", i * 10, 2)); }));
  }
  REQUIRE(first.get().ok());
  for (auto& push : later) {
    const auto pushed = push.get();
    REQUIRE(pushed.ok());
    CHECK(pushed.value().entries_accepted == 2);
  }

  const auto sent = server.requests("/loki/api/v1/push");
  REQUIRE(sent.size() == 2);
  CHECK(lines_of(sent[0].body) == std::vector<std::string>{"line 0"});
  const auto merged = lines_of(sent[1].body);
  CHECK(std::multiset<std::string>(merged.begin(), merged.end()) ==
        std::multiset<std::string>{"line 10", "line 11", "line 20", "line 21", "line 30",
                                   "line 31", "line 40", "line 41"});
  const PushCounters counters = backend.push_counters();
  CHECK(counters.batches_sent == 2);
  CHECK(counters.entries_sent == 9);
  CHECK(counters.entries_dropped == 0);
}

TEST_CASE("a batch waits batch_max_wait_ms for company, then goes", "[loki][faults]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {accepted()});
  LokiConfig config = config_for(server.url());
  config.batch.max_wait = milliseconds(250);
  LokiBackend backend(config, nullptr);

  const auto started = Clock::now();
  auto a = std::async(std::launch::async, [&] { return backend.push(entries("a", 0, 1)); });
  std::this_thread::sleep_for(milliseconds(50));
  auto b = std::async(std::launch::async, [&] { return backend.push(entries("a", 1, 1)); });
  REQUIRE(a.get().ok());
  REQUIRE(b.get().ok());
  const auto waited = Clock::now() - started;

  CHECK(server.count("/loki/api/v1/push") == 1);
  CHECK(waited >= milliseconds(240));
  CHECK(waited < milliseconds(1500));
}

TEST_CASE("a batch is sent once it holds batch_max_bytes", "[loki][faults]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {accepted()});
  LokiConfig config = config_for(server.url());
  config.batch.max_wait = milliseconds(5000);
  config.batch.max_batch_bytes = 1024;
  LokiBackend backend(config, nullptr);

  PushRequest big = entries("a", 0, 1);
  big.streams[0].entries[0].line = std::string(2000, 'x');
  const auto started = Clock::now();
  REQUIRE(backend.push(big).ok());
  CHECK(Clock::now() - started < milliseconds(1000));
  CHECK(server.count("/loki/api/v1/push") == 1);
}

TEST_CASE("batches of different tenants are never merged", "[loki][faults]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {accepted()});
  LokiConfig config = config_for(server.url());
  config.batch.max_wait = milliseconds(200);
  LokiBackend backend(config, nullptr);

  PushRequest other = entries("a", 1, 1);
  other.tenant = "team-b";
  auto a = std::async(std::launch::async, [&] { return backend.push(entries("a", 0, 1)); });
  auto b = std::async(std::launch::async, [&] { return backend.push(other); });
  REQUIRE(a.get().ok());
  REQUIRE(b.get().ok());
  const auto sent = server.requests("/loki/api/v1/push");
  REQUIRE(sent.size() == 2);
  std::set<std::string> tenants{sent[0].header("X-Scope-OrgID"), sent[1].header("X-Scope-OrgID")};
  CHECK(tenants == std::set<std::string>{"fake", "team-b"});
}

TEST_CASE("a full queue refuses a push, counts it and warns", "[loki][faults]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {accepted(milliseconds(700)), accepted()});
  LokiConfig config = config_for(server.url());
  config.batch.max_batch_bytes = 1024;
  config.batch.max_queue_bytes = 1024;
  config.batch.senders = 1;  // one push on the wire, the next one waits in the queue
  auto logger = std::make_shared<RecordingLogger>();
  LokiBackend backend(config, logger);

  PushRequest half = entries("a", 0, 1);
  half.streams[0].entries[0].line = std::string(900, 'x');
  auto in_flight = std::async(std::launch::async, [&] { return backend.push(half); });
  for (int i = 0; i < 200 && server.count("/loki/api/v1/push") == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  auto queued = std::async(std::launch::async, [&] { return backend.push(half); });
  std::this_thread::sleep_for(milliseconds(150));
  const auto refused = backend.push(entries("a", 5, 3));

  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "loki.queue_full");
  CHECK(refused.error().kind == ErrorKind::limit_exceeded);
  CHECK(refused.error().message.find(" more would exceed max_queue_bytes (1024); 3 entries were "
                                     "not stored: retry later, or raise max_queue_bytes") !=
        std::string::npos);
  REQUIRE(in_flight.get().ok());
  REQUIRE(queued.get().ok());
  CHECK(backend.push_counters().entries_dropped == 3);
  const auto warnings = logger->warnings();
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "loki push tenant=fake dropped entries=3 (dropped 3 in all): queue full");
  CHECK(backend.health().detail.find("; dropped 3 entries because the push queue was full") !=
        std::string::npos);
}

TEST_CASE("trace and span labels travel as structured metadata", "[loki][faults]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {accepted()});
  LokiBackend backend(config_for(server.url()), nullptr);

  PushRequest request;
  request.streams.push_back({{{"service_name", "api"}, {"trace_id", "t-1"}, {"span_id", "s-1"}},
                             {{1, "a", {}}, {2, "b", {{"trace_id", "t-own"}}}}});
  REQUIRE(backend.push(request).ok());
  const auto sent = server.requests("/loki/api/v1/push");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].body ==
        R"({"streams":[{"stream":{"service_name":"api"},"values":[)"
        R"(["1","a",{"span_id":"s-1","trace_id":"t-1"}],)"
        R"(["2","b",{"span_id":"s-1","trace_id":"t-own"}]]}]})");
}

TEST_CASE("a reset connection and a cut answer are retried", "[loki][faults]") {
  RawFaultServer server({{RawAction::reset}, {RawAction::truncate}, {RawAction::answer, 204}});
  LokiBackend backend(config_for(server.url()), nullptr);

  const auto pushed = backend.push(entries("a", 0, 2));
  REQUIRE(pushed.ok());
  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].body == requests[2].body);
  CHECK(requests[1].body == requests[2].body);
}

TEST_CASE("a reset and a cut answer have precise error texts", "[loki][faults]") {
  RawFaultServer reset(std::vector<RawStep>{RawStep(RawAction::reset)});
  LokiAdapter adapter(config_for(reset.url()).adapter);
  const auto failed = adapter.labels("fake", {1, 2});
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().error.code == "loki.unreachable");
  CHECK(failed.error().error.message.find("cannot reach Loki at " + reset.url() +
                                          " for GET /loki/api/v1/labels: ") == 0);

  RawFaultServer cut(std::vector<RawStep>{RawStep(RawAction::truncate)});
  LokiAdapter cut_adapter(config_for(cut.url()).adapter);
  const auto partial = cut_adapter.labels("fake", {1, 2});
  REQUIRE_FALSE(partial.ok());
  CHECK(partial.error().error.code == "loki.unreachable");
  CHECK(partial.error().error.message.find("the connection to Loki at " + cut.url() +
                                           " closed before the answer to GET "
                                           "/loki/api/v1/labels was complete") == 0);
}

TEST_CASE("a malformed answer to a read is not retried", "[loki][faults]") {
  RawFaultServer server({{RawAction::answer, 200, "{\"status\":\"success\",\"data\":[1,"}});
  LokiBackend backend(config_for(server.url()), nullptr);

  const auto labels = backend.labels("fake", {1, 2});
  REQUIRE_FALSE(labels.ok());
  CHECK(labels.error().code == "loki.bad_response");
  CHECK(labels.error().message == "Loki's answer to GET /loki/api/v1/labels is not a JSON object; "
                                  "is " + server.url() + " a Loki server?");
  CHECK(server.requests().size() == 1);
}

TEST_CASE("under faults no acknowledged entry is lost or acknowledged twice", "[loki][faults]") {
  // Every fault the push path retries, in a fixed order, then success.
  std::vector<RawStep> steps;
  const std::vector<RawStep> cycle = {
      {RawAction::answer, 204},
      {RawAction::reset},
      {RawAction::answer, 500, "internal error"},
      {RawAction::answer, 204},
      {RawAction::answer, 429, "rate limited", {{"Retry-After", "0"}}},
      {RawAction::truncate},
      {RawAction::answer, 503, "ingester not ready"},
      {RawAction::answer, 204},
      {RawAction::answer, 204}};
  for (int i = 0; i < 6; ++i) steps.insert(steps.end(), cycle.begin(), cycle.end());
  steps.push_back({RawAction::answer, 204});
  RawFaultServer server(steps);
  LokiBackend backend(config_for(server.url()), nullptr);

  // Four writers push 10 requests of 3 entries each.
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int r = 0; r < 10; ++r) {
        const int first = (w * 10 + r) * 3;
        const auto pushed = backend.push(entries("svc", first, 3));
        if (!pushed) continue;
        std::lock_guard lock(mutex);
        for (int i = first; i < first + 3; ++i) acknowledged.insert("line " + std::to_string(i));
      }
    });
  }
  for (auto& writer : writers) writer.join();

  std::map<std::string, int> stored;  // lines in answers that were 2xx and whole
  for (const auto& request : server.requests()) {
    if (request.action != RawAction::answer || request.status != 204) continue;
    for (const auto& line : lines_of(request.body)) ++stored[line];
  }
  CHECK(acknowledged.size() == 120);
  for (const auto& line : acknowledged) {
    INFO(line);
    CHECK(stored[line] == 1);
  }
  CHECK(stored.size() == acknowledged.size());
}

TEST_CASE("retry warnings and errors never show a credential", "[loki][faults]") {
  FaultServer server;
  ScriptedResponse failing;
  failing.status = 500;
  failing.body = "internal";
  server.script("/loki/api/v1/push", {failing});
  LokiConfig config = config_for(server.url());
  config.retry.max_retries = 2;
  config.adapter.bearer_token = "super-secret-token";
  auto logger = std::make_shared<RecordingLogger>();
  LokiBackend backend(config, logger);

  const auto pushed = backend.push(entries("a", 0, 1));
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().message.find("super-secret-token") == std::string::npos);
  const auto warnings = logger->warnings();
  CHECK(warnings.size() == 2);
  for (const auto& line : warnings) CHECK(line.find("super-secret-token") == std::string::npos);
  CHECK(server.requests("/loki/api/v1/push")[0].header("Authorization") ==
        "Bearer super-secret-token");
}

TEST_CASE("push_format protobuf sends merged batches as push.proto", "[loki][faults]") {
  FaultServer server;
  server.script("/loki/api/v1/push", {accepted()});
  LokiConfig config = config_for(server.url());
  config.push_format = PushFormat::protobuf;
  LokiBackend backend(config, nullptr);

  PushRequest request = entries("api", 0, 2);
  request.streams[0].labels.push_back({"trace_id", "t-9"});
  REQUIRE(backend.push(request).ok());
  const auto sent = server.requests("/loki/api/v1/push");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].header("Content-Type") == "application/x-protobuf");
  const auto streams = lognurse::loki::test::decode_push(sent[0].body);
  REQUIRE(streams.size() == 1);
  CHECK(streams[0].labels == R"({service_name="api"})");
  REQUIRE(streams[0].entries.size() == 2);
  CHECK(streams[0].entries[1].line == "line 1");
  CHECK(streams[0].entries[1].metadata == Labels{{"trace_id", "t-9"}});
}
