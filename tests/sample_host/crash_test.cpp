// Durability through the real binary: `sample_host serve` is killed with
// SIGKILL at random moments while a client pushes over HTTP; after a restart
// every push the host acknowledged (204) is there exactly once. A second case
// runs the compactor and retention without pause meanwhile, so that kills
// land while chunks are cut and while expired ones are deleted.
//
// LOGNURSE_CRASH_TRIALS sets the number of kills (default 20); a longer run
// uses e.g. 200. LOGNURSE_CRASH_SEED fixes the random kill moments.

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_get;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

constexpr int kEntriesPerBatch = 50;
constexpr std::int64_t kEntrySpacingNs = 1000;

int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  return text ? std::atoi(text) : fallback;
}

/// Each entry has its own timestamp: trial, batch and index are encoded in it,
/// so that a missing or repeated entry is visible and paging is exact.
std::int64_t entry_ts(std::int64_t base, int trial, int batch, int index) {
  return base + ((static_cast<std::int64_t>(trial) * 100'000 + batch) * kEntriesPerBatch + index) *
                    kEntrySpacingNs;
}

std::string entry_line(int trial, int batch, int index) {
  return "trial=" + std::to_string(trial) + " batch=" + std::to_string(batch) +
         " entry=" + std::to_string(index);
}

/// A batch of the trial's stream; with `expired_base`, the same lines again in a stream of
/// service "expired" at times the host's retention has already passed.
std::string batch_body(std::int64_t base, int trial, int batch, std::int64_t expired_base = 0) {
  json streams = json::array();
  for (std::int64_t at : {base, expired_base}) {
    if (at == 0) continue;
    json values = json::array();
    for (int i = 0; i < kEntriesPerBatch; ++i) {
      values.push_back(
          json::array({std::to_string(entry_ts(at, trial, batch, i)), entry_line(trial, batch, i)}));
    }
    streams.push_back({{"stream",
                        {{"service_name", at == base ? "crash" : "expired"},
                         {"trial", std::to_string(trial)}}},
                       {"values", values}});
  }
  return json{{"streams", streams}}.dump();
}

/// Pushes batches over one keep-alive connection until the host dies or `stop`
/// is set; records the batches the host acknowledged.
void push_until_failure(int port, std::int64_t base, int trial, std::atomic<bool>& stop,
                        std::vector<int>& acknowledged, std::int64_t expired_base = 0) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(5, 0);
  for (int batch = 0; batch < 100'000 && !stop.load(); ++batch) {
    auto response = client.Post("/loki/api/v1/push",
                                batch_body(base, trial, batch, expired_base), "application/json");
    if (!response) return;
    if (response->status != 204) return;
    acknowledged.push_back(batch);
  }
}

/// Every line of the trial's stream, read back through Loki's query_range in
/// forward pages.
std::multiset<std::string> read_trial(int port, std::int64_t base, int trial,
                                      const std::string& service = "crash") {
  std::multiset<std::string> lines;
  std::int64_t start = entry_ts(base, trial, 0, 0);
  const std::int64_t end = entry_ts(base, trial + 1, 0, 0);
  const std::string selector = "%7Bservice_name%3D%22" + service + "%22%2Ctrial%3D%22" +
                               std::to_string(trial) + "%22%7D";
  for (int page = 0; page < 10'000; ++page) {
    const auto response =
        http_get(port, "/loki/api/v1/query_range?direction=forward&limit=5000&query=" + selector +
                           "&start=" + std::to_string(start) + "&end=" + std::to_string(end));
    REQUIRE(response.status == 200);
    const auto answer = json::parse(response.body);
    std::int64_t last = -1;
    std::size_t count = 0;
    for (const auto& stream : answer["data"]["result"]) {
      for (const auto& value : stream["values"]) {
        lines.insert(value[1].get<std::string>());
        last = std::max<std::int64_t>(last, std::stoll(value[0].get<std::string>()));
        ++count;
      }
    }
    if (count < 5000) break;
    start = last + 1;
  }
  return lines;
}

/// A host configuration whose compactor runs every 20 ms and cuts a chunk from every push,
/// and whose retention keeps one day.
std::string write_busy_compactor_config(const TempDir& dir) {
  const std::string path = dir.path() + "/host.yaml";
  std::ofstream(path) << "plugins:\n"
                         "  local_store:\n"
                         "    chunk_target_size: 1KB\n"
                         "    compaction_interval: 20ms\n"
                         "    limits:\n"
                         "      retention_period: 24h\n"
                         "      ingestion_rate_mb: 1000\n"
                         "      ingestion_rate_burst_size_mb: 1000\n";
  return path;
}

/// Kills the host `trials` times while a client pushes, then checks after a restart that
/// every acknowledged entry of the current stream is there exactly once. With `expired`, each
/// push also carries a stream older than the retention period, which the compactor keeps
/// deleting; of that stream no line may appear twice.
void kill_during_pushes(bool busy_compactor) {
  const int trials = env_int("LOGNURSE_CRASH_TRIALS", 20);
  const unsigned seed = static_cast<unsigned>(env_int("LOGNURSE_CRASH_SEED", std::random_device{}()));
  INFO("LOGNURSE_CRASH_SEED=" << seed);
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> kill_after_ms(5, 400);

  TempDir data;
  TempDir config_dir;
  std::vector<std::string> global_args;
  if (busy_compactor) global_args = {"--config", write_busy_compactor_config(config_dir)};
  const std::int64_t base = lognurse::now_ns() - 3600 * lognurse::kNanosPerSecond;
  const std::int64_t expired_base =
      busy_compactor ? base - 3LL * 86'400 * lognurse::kNanosPerSecond : 0;
  std::map<int, std::vector<int>> acknowledged;

  for (int trial = 0; trial < trials; ++trial) {
    HostServer server({"--data-dir", data.path()}, global_args);
    std::atomic<bool> stop{false};
    std::thread pusher(push_until_failure, server.port(), base, trial, std::ref(stop),
                       std::ref(acknowledged[trial]), expired_base);
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms(random)));
    server.kill_hard();
    stop = true;
    pusher.join();
  }

  HostServer restarted({"--data-dir", data.path()}, global_args);
  REQUIRE(http_get(restarted.port(), "/ready").status == 200);
  std::size_t total_acknowledged = 0;
  std::size_t expired_left = 0;
  for (int trial = 0; trial < trials; ++trial) {
    INFO("trial " << trial << ", " << acknowledged[trial].size() << " batches acknowledged");
    const auto lines = read_trial(restarted.port(), base, trial);
    for (int batch : acknowledged[trial]) {
      for (int i = 0; i < kEntriesPerBatch; ++i) {
        const auto line = entry_line(trial, batch, i);
        INFO(line);
        CHECK(lines.count(line) == 1);
      }
    }
    // A push cut short by the kill is stored whole or not at all, and no line is
    // stored twice.
    CHECK(lines.size() % kEntriesPerBatch == 0);
    CHECK(std::set<std::string>(lines.begin(), lines.end()).size() == lines.size());
    CHECK(lines.size() >= acknowledged[trial].size() * kEntriesPerBatch);
    CHECK(lines.size() <= (acknowledged[trial].size() + 1) * kEntriesPerBatch);
    total_acknowledged += acknowledged[trial].size();
    if (busy_compactor) {
      // Retention deletes whole chunks: what is left of the expired stream is at most one copy
      // of each line.
      const auto expired = read_trial(restarted.port(), expired_base, trial, "expired");
      CHECK(std::set<std::string>(expired.begin(), expired.end()).size() == expired.size());
      CHECK(expired.size() <= (acknowledged[trial].size() + 1) * kEntriesPerBatch);
      expired_left += expired.size();
    }
  }
  // Retention ran between the kills: most of the expired stream is gone.
  if (busy_compactor) CHECK(expired_left < total_acknowledged * kEntriesPerBatch / 2);
  // The kills must land during sustained pushing for the test to mean anything.
  CHECK(total_acknowledged >= static_cast<std::size_t>(trials));
}

}  // namespace

TEST_CASE("every push acknowledged before a SIGKILL is stored exactly once after restart") {
  kill_during_pushes(false);
}

TEST_CASE("a SIGKILL while the compactor cuts chunks and deletes expired ones loses nothing") {
  kill_during_pushes(true);
}

