// LokiBackend against the real sample_host on its embedded store, over
// loopback HTTP: every call the host serves (push, query_range, labels, label
// values, /ready, protobuf push, series, index stats and volume, patterns), and the
// metric queries behind metrics().

#include <catch2/catch.hpp>

#include <algorithm>

#include "lognurse/host_api/time.hpp"
#include "loki_backend.hpp"
#include "process.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using lognurse::test::HostServer;
using lognurse::test::TempDir;

namespace {

LokiConfig config_for(const HostServer& host) {
  LokiConfig config;
  config.adapter.endpoint = host.base_url();
  config.adapter.timeout = std::chrono::milliseconds(5000);
  config.retry = RetryOptions{1, std::chrono::milliseconds(20), std::chrono::milliseconds(100)};
  return config;
}

/// Entries ten minutes ago, one millisecond apart, so that the default hour covers them.
const std::int64_t kBase = now_ns() - 600 * kNanosPerSecond;

PushRequest sample_push(const std::string& tenant) {
  PushRequest request;
  request.tenant = tenant;
  request.streams.push_back({{{"service_name", "api"}, {"detected_level", "info"}},
                             {{kBase + 1'000'000, "GET /users 200", {}},
                              {kBase + 2'000'000, "GET /orders 200", {{"trace_id", "t-42"}}}}});
  request.streams.push_back({{{"service_name", "api"}, {"detected_level", "error"}},
                             {{kBase + 3'000'000, "GET /orders 500 db timeout", {}}}});
  request.streams.push_back({{{"service_name", "worker"}, {"detected_level", "info"}},
                             {{kBase + 4'000'000, "job 7 done", {}}}});
  return request;
}

TimeRange last_hour() { return {now_ns() - 3600 * kNanosPerSecond, now_ns() + kNanosPerSecond}; }

std::vector<std::string> lines_of(const QueryResult& result) {
  std::vector<std::string> out;
  for (const auto& stream : result.streams) {
    for (const auto& entry : stream.entries) out.push_back(entry.line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("the backend pushes to and reads from a real host", "[loki][host]") {
  TempDir data;
  HostServer host({"--data-dir", data.path()});
  LokiBackend backend(config_for(host), nullptr);

  REQUIRE(backend.connect().ok());
  const Health health = backend.health();
  CHECK(health.ready);
  CHECK(health.detail == "ready at " + host.base_url());

  const auto pushed = backend.push(sample_push("team-a"));
  REQUIRE(pushed.ok());
  CHECK(pushed.value().entries_accepted == 4);
  CHECK(pushed.value().streams == 3);

  LogQuery query;
  query.tenant = "team-a";
  query.logql = R"({service_name="api"} |= "orders")";
  query.range = last_hour();
  const auto result = backend.query(query);
  REQUIRE(result.ok());
  CHECK(lines_of(result.value()) ==
        std::vector<std::string>{"GET /orders 200", "GET /orders 500 db timeout"});
  bool traced = false;
  for (const auto& stream : result.value().streams) {
    for (const auto& entry : stream.entries) {
      if (entry.line == "GET /orders 200") traced = entry.metadata == Labels{{"trace_id", "t-42"}};
    }
  }
  CHECK(traced);

  const auto labels = backend.labels("team-a", last_hour());
  REQUIRE(labels.ok());
  CHECK(labels.value() == std::vector<std::string>{"detected_level", "service_name"});
  const auto values = backend.label_values("team-a", "service_name", last_hour());
  REQUIRE(values.ok());
  CHECK(values.value() == std::vector<std::string>{"api", "worker"});

  // The tenant travels: another tenant sees nothing.
  const auto other = backend.label_values("team-b", "service_name", last_hour());
  INFO((other.ok() ? std::string() : other.error().code + ": " + other.error().message));
  REQUIRE(other.ok());
  CHECK(other.value().empty());
}

TEST_CASE("metrics from metric queries match the host's own counts", "[loki][host]") {
  TempDir data;
  HostServer host({"--data-dir", data.path()});
  LokiBackend backend(config_for(host), nullptr);
  REQUIRE(backend.push(sample_push("fake")).ok());

  const TimeRange range = last_hour();
  const auto metrics = backend.metrics("fake", range);
  REQUIRE(metrics.ok());
  const LogMetrics& m = metrics.value();
  CHECK(m.lines == 4);
  CHECK(m.bytes == std::string("GET /users 200").size() + std::string("GET /orders 200").size() +
                       std::string("GET /orders 500 db timeout").size() +
                       std::string("job 7 done").size());
  CHECK(m.error_lines == 1);
  CHECK(m.error_rate == Approx(0.25));
  using Counts = std::vector<std::pair<std::string, std::uint64_t>>;
  CHECK(m.by_level == Counts{{"info", 3}, {"error", 1}});
  CHECK(m.by_service == Counts{{"api", 3}, {"worker", 1}});
}

TEST_CASE("pushes from many threads all arrive once at a real host", "[loki][host]") {
  TempDir data;
  HostServer host({"--data-dir", data.path()});
  LokiBackend backend(config_for(host), nullptr);

  std::vector<std::thread> writers;
  std::atomic<int> acknowledged{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int r = 0; r < 25; ++r) {
        PushRequest request;
        const int n = w * 25 + r;
        request.streams.push_back(
            {{{"service_name", "load"}}, {{kBase + n * 1000, "entry " + std::to_string(n), {}}}});
        if (backend.push(request).ok()) ++acknowledged;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  REQUIRE(acknowledged == 100);

  LogQuery query;
  query.logql = R"({service_name="load"})";
  query.range = last_hour();
  query.limit = 1000;
  const auto result = backend.query(query);
  REQUIRE(result.ok());
  const auto lines = lines_of(result.value());
  CHECK(lines.size() == 100);
  CHECK(std::adjacent_find(lines.begin(), lines.end()) == lines.end());
  CHECK(backend.push_counters().entries_sent == 100);
  CHECK(backend.push_counters().batches_sent <= 100);
}

TEST_CASE("the host's own refusals reach the caller without retries", "[loki][host]") {
  TempDir data;
  HostServer host({"--data-dir", data.path()});
  LokiBackend backend(config_for(host), nullptr);

  PushRequest bad;
  bad.streams.push_back({{}, {{kBase, "a line without labels", {}}}});
  const auto pushed = backend.push(bad);
  REQUIRE_FALSE(pushed.ok());
  CHECK(pushed.error().code == "loki.bad_request");
  CHECK(pushed.error().message.find("(Loki answered 400 to POST /loki/api/v1/push)") !=
        std::string::npos);
  CHECK(backend.push_counters().entries_failed == 1);
}

TEST_CASE("a host that stopped is reported down", "[loki][host]") {
  TempDir data;
  auto host = std::make_unique<HostServer>(std::vector<std::string>{"--data-dir", data.path()});
  LokiBackend backend(config_for(*host), nullptr);
  REQUIRE(backend.connect().ok());
  const std::string url = host->base_url();
  host.reset();

  const auto connected = backend.connect();
  REQUIRE_FALSE(connected.ok());
  CHECK(connected.error().code == "loki.unreachable");
  const Health health = backend.health();
  CHECK_FALSE(health.ready);
  CHECK(health.detail.find("loki.unreachable: cannot reach Loki at " + url + " for GET /ready") ==
        0);
}

TEST_CASE("protobuf pushes and the index and discovery calls work against a real host",
          "[loki][host]") {
  TempDir data;
  HostServer host({"--data-dir", data.path()});
  LokiConfig config = config_for(host);
  config.push_format = PushFormat::protobuf;
  LokiBackend backend(config, nullptr);
  REQUIRE(backend.connect().ok());

  const auto pushed = backend.push(sample_push("team-p"));
  REQUIRE(pushed.ok());
  CHECK(pushed.value().entries_accepted == 4);

  LogQuery query;
  query.tenant = "team-p";
  query.logql = R"({service_name=~".+"})";
  query.range = last_hour();
  const auto result = backend.query(query);
  REQUIRE(result.ok());
  CHECK(lines_of(result.value()) == std::vector<std::string>{"GET /orders 200",
                                                             "GET /orders 500 db timeout",
                                                             "GET /users 200", "job 7 done"});
  bool traced = false;
  for (const auto& stream : result.value().streams) {
    for (const auto& entry : stream.entries) {
      if (entry.line == "GET /orders 200") traced = entry.metadata == Labels{{"trace_id", "t-42"}};
    }
  }
  CHECK(traced);

  const auto series = backend.series("team-p", {R"({service_name="api"})"}, last_hour());
  REQUIRE(series.ok());
  auto sets = series.value();
  std::sort(sets.begin(), sets.end());
  CHECK(sets == std::vector<Labels>{{{"detected_level", "error"}, {"service_name", "api"}},
                                    {{"detected_level", "info"}, {"service_name", "api"}}});

  const auto stats = backend.stats("team-p", R"({service_name="api"})", last_hour());
  REQUIRE(stats.ok());
  CHECK(stats.value().streams == 2);
  CHECK(stats.value().entries == 3);
  CHECK(stats.value().bytes == std::string("GET /users 200").size() +
                                   std::string("GET /orders 200").size() +
                                   std::string("GET /orders 500 db timeout").size());

  VolumeRequest volume;
  volume.tenant = "team-p";
  volume.selector = R"({service_name=~".+"})";
  volume.range = last_hour();
  volume.target_labels = {"service_name"};
  const auto volumes = backend.volume(volume);
  REQUIRE(volumes.ok());
  REQUIRE(volumes.value().result_type == "vector");
  REQUIRE(volumes.value().series.size() == 2);
  // Largest first: api holds 14 + 15 + 26 = 55 bytes of lines, worker 10.
  CHECK(volumes.value().series[0].metric == Labels{{"service_name", "api"}});
  CHECK(volumes.value().series[0].samples.at(0).value == 55);
  CHECK(volumes.value().series[1].metric == Labels{{"service_name", "worker"}});
  CHECK(volumes.value().series[1].samples.at(0).value == 10);

  const auto patterns = backend.patterns("team-p", R"({service_name="api"})", last_hour(),
                                         60 * kNanosPerSecond);
  REQUIRE(patterns.ok());
  CHECK_FALSE(patterns.value().empty());

  const auto other = backend.stats("team-q", R"({service_name="api"})", last_hour());
  REQUIRE(other.ok());
  CHECK(other.value().entries == 0);
}
