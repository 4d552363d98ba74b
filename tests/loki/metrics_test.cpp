// The Loki plugin's metrics as an operator sees them: the real host with the
// loki backend, pointed at a fault server on loopback, read from the host's
// /metrics over HTTP. Pushes are stalled to fill a tiny queue until entries
// are dropped; answers of 503 and 400 show retries and push outcomes.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <future>
#include <thread>

#include "exposition_check.hpp"
#include "fault_server.hpp"
#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::loki::test::FaultServer;
using lognurse::loki::test::RecordedRequest;
using lognurse::loki::test::ScriptedResponse;
using lognurse::test::HostServer;
using lognurse::test::http_get;
using lognurse::test::http_post;
using lognurse::test::Sample;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

constexpr const char* kPush = "/loki/api/v1/push";
constexpr const char* kPrefix = "lognurse_plugin_loki_";

/// A plain-text answer with `status`.
ScriptedResponse answer(int status, const std::string& body = "") {
  ScriptedResponse response;
  response.status = status;
  response.body = body;
  response.content_type = "text/plain";
  return response;
}

/// A host config whose loki plugin talks to `endpoint` with batches and a
/// queue of `max_queue_bytes` (1024 at least) and quick retries.
std::string write_config(const TempDir& dir, const std::string& endpoint, int max_queue_bytes) {
  const std::string path = dir.file("host.yaml");
  std::ofstream out(path);
  out << "log_aggregation:\n"
         "  backend: loki\n"
         "plugins:\n"
         "  loki:\n"
         "    endpoint: "
      << endpoint
      << "\n"
         "    max_retries: 2\n"
         "    retry_initial_backoff_ms: 10\n"
         "    retry_max_backoff_ms: 50\n"
         "    batch_max_bytes: 1024\n"
         "    push_concurrency: 1\n"
         "    max_queue_bytes: "
      << max_queue_bytes
      << "\n"
         "  nurse_logs:\n"
         "    monitor_interval_seconds: 0\n";
  return path;
}

/// A Loki push body of `count` entries of service `service`, each line of 300
/// bytes, so that three of them fill a queue of 1024 bytes.
std::string push_body(const std::string& service, int count) {
  json values = json::array();
  const auto base = lognurse::now_ns() - 60 * lognurse::kNanosPerSecond;
  for (int i = 0; i < count; ++i) {
    std::string line = service + " line " + std::to_string(i) + " ";
    line.resize(300, 'x');
    values.push_back(json::array({std::to_string(base + i), line}));
  }
  return json{{"streams", json::array({{{"stream", {{"service_name", service}}},
                                        {"values", values}}})}}
      .dump();
}

/// Every sample on the host's /metrics, after checking that it is valid exposition.
std::vector<Sample> scrape(int port) {
  const auto response = http_get(port, "/metrics");
  REQUIRE(response.status == 200);
  std::string problem;
  auto samples = lognurse::test::read_exposition(response.body, problem);
  INFO(response.body);
  REQUIRE(problem == "");
  return samples;
}

std::string metric(int port, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  return lognurse::test::sample_value(scrape(port), kPrefix + name, labels);
}

/// Waits (at most 10 s) until `done` holds.
template <typename Predicate>
bool eventually(const Predicate& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

}  // namespace

TEST_CASE("a full push queue shows as dropped entries on the host's /metrics", "[loki][metrics]") {
  FaultServer loki;
  loki.script("/ready", {answer(204)});
  // The first push stalls until the test lets it go, so that the next one waits in the queue.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  loki.route(kPush, [released](const RecordedRequest&) {
    released.wait_for(std::chrono::seconds(20));
    return answer(204);
  });

  TempDir dir;
  HostServer host({"--data-dir", dir.path()},
                  {"--config", write_config(dir, loki.url(), /*max_queue_bytes=*/1024)});
  const int port = host.port();
  CHECK(metric(port, "entries_dropped_total", {{"reason", "queue_full"}}) == "0");
  CHECK(metric(port, "push_queue_entries") == "0");

  auto on_the_wire = std::async(std::launch::async,
                                [&] { return http_post(port, kPush, push_body("a", 2)).status; });
  REQUIRE(eventually([&] { return loki.count(kPush) == 1; }));
  auto queued = std::async(std::launch::async,
                           [&] { return http_post(port, kPush, push_body("b", 3)).status; });
  REQUIRE(eventually([&] { return metric(port, "push_queue_entries") == "3"; }));

  const auto refused = http_post(port, kPush, push_body("c", 4));
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body,
             Catch::Contains("exceed max_queue_bytes (1024); 4 entries were not stored"));
  CHECK(metric(port, "entries_dropped_total", {{"reason", "queue_full"}}) == "4");
  CHECK(metric(port, "entries_pushed_total") == "0");
  CHECK(std::stoull(metric(port, "push_queue_bytes")) > 0);

  release.set_value();
  CHECK(on_the_wire.get() == 204);
  CHECK(queued.get() == 204);
  REQUIRE(eventually([&] { return metric(port, "entries_pushed_total") == "5"; }));
  const auto samples = scrape(port);
  const auto value = [&](const std::string& name, const std::map<std::string, std::string>& l) {
    return lognurse::test::sample_value(samples, kPrefix + name, l);
  };
  CHECK(value("push_requests_total", {{"outcome", "success"}}) == "2");
  CHECK(value("push_queue_entries", {}) == "0");
  CHECK(value("push_queue_bytes", {}) == "0");
  CHECK(value("entries_dropped_total", {{"reason", "queue_full"}}) == "4");
  CHECK(value("entries_dropped_total", {{"reason", "push_failed"}}) == "0");
  CHECK(value("retries_total", {{"operation", "push"}}) == "0");
  std::size_t sent = 0;
  for (const auto& request : loki.requests(kPush)) sent += request.body.size();
  CHECK(value("bytes_pushed_total", {}) == std::to_string(sent));
  // The host's own families are still there beside the plugin's.
  CHECK(lognurse::test::sample_value(samples, "lognurse_backend_up", {{"backend", "loki"}}) ==
        "1");
}

TEST_CASE("retries and push outcomes are counted on the host's /metrics", "[loki][metrics]") {
  FaultServer loki;
  loki.script("/ready", {answer(204)});
  loki.script(kPush, {answer(503, "overloaded"),
                      answer(204),
                      answer(400, "entry out of order")});

  TempDir dir;
  HostServer host({"--data-dir", dir.path()},
                  {"--config", write_config(dir, loki.url(), 1 << 20)});
  const int port = host.port();

  CHECK(http_post(port, kPush, push_body("a", 2)).status == 204);
  CHECK(http_post(port, kPush, push_body("b", 3)).status == 400);

  const auto samples = scrape(port);
  const auto value = [&](const std::string& name, const std::map<std::string, std::string>& l) {
    return lognurse::test::sample_value(samples, kPrefix + name, l);
  };
  CHECK(value("push_requests_total", {{"outcome", "server_error"}}) == "1");
  CHECK(value("push_requests_total", {{"outcome", "success"}}) == "1");
  CHECK(value("push_requests_total", {{"outcome", "client_error"}}) == "1");
  CHECK(value("push_requests_total", {{"outcome", "transport_error"}}) == "0");
  CHECK(value("retries_total", {{"operation", "push"}}) == "1");
  CHECK(value("entries_pushed_total", {}) == "2");
  CHECK(value("entries_dropped_total", {{"reason", "push_failed"}}) == "3");
  CHECK(value("entries_dropped_total", {{"reason", "queue_full"}}) == "0");
}
