// Sustained push throughput through the Loki plugin to a sample_host on its
// embedded store over loopback, against pushing the same batches directly
// with a plain HTTP client (cpp-httplib, keep-alive, bodies encoded ahead of
// time, so the plugin alone pays for encoding), measured in the same run.
// Each mode pushes into a tenant of its own; they take turns every ten
// batches so that both meet the same store state and machine load.
//
// usage: loki_push_bench [--batches N] [--entries N] [--rounds N] [--writers N]
//                        [--push-concurrency N]

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "loki_backend.hpp"
#include "process.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int batches = 200;
  int entries = 500;
  int rounds = 3;
  int writers = 1;
  int push_concurrency = 1;  ///< the plugin's push_concurrency
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (value <= 0) throw std::invalid_argument(name + " needs a positive integer");
    if (name == "--batches") {
      options.batches = value;
    } else if (name == "--entries") {
      options.entries = value;
    } else if (name == "--rounds") {
      options.rounds = value;
    } else if (name == "--writers") {
      options.writers = value;
    } else if (name == "--push-concurrency") {
      options.push_concurrency = value;
    } else {
      throw std::invalid_argument("unknown option " + name);
    }
  }
  return options;
}

/// Batches of nginx-like lines over four streams, timestamps a microsecond apart.
std::vector<lognurse::PushRequest> make_batches(const Options& options) {
  const std::int64_t base = lognurse::now_ns() - 1800 * lognurse::kNanosPerSecond;
  std::vector<lognurse::PushRequest> batches(static_cast<std::size_t>(options.batches));
  std::int64_t n = 0;
  for (auto& batch : batches) {
    for (int s = 0; s < 4; ++s) {
      batch.streams.push_back({{{"service_name", "bench-" + std::to_string(s)},
                                {"detected_level", s == 3 ? "error" : "info"}},
                               {}});
    }
    for (int e = 0; e < options.entries; ++e, ++n) {
      auto& stream = batch.streams[static_cast<std::size_t>(e % 4)];
      stream.entries.push_back(
          {base + n * 1000,
           "127.0.0.1 - - \"GET /api/orders/" + std::to_string(n) +
               " HTTP/1.1\" 200 512 \"-\" \"bench/1.0\" rt=0.012 uct=0.001",
           {}});
    }
  }
  return batches;
}

/// Pushes batches [first, last) with `writers` threads taking batches in
/// turn; returns the seconds it took.
template <typename Push>
double run_slice(std::size_t first, std::size_t last, int writers, const Push& push) {
  std::atomic<std::size_t> next{first};
  std::atomic<bool> failed{false};
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (;;) {
        const std::size_t i = next++;
        if (i >= last || failed) return;
        if (!push(w, i)) failed = true;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  if (failed) throw std::runtime_error("a push failed; see the host's log");
  return std::chrono::duration<double>(Clock::now() - started).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  const Options options = parse(argc, argv);
  const auto batches = make_batches(options);
  std::vector<std::string> bodies;
  std::size_t body_bytes = 0;
  for (const auto& batch : batches) {
    bodies.push_back(lognurse::push_request_to_json(batch).dump());
    body_bytes += bodies.back().size();
  }

  lognurse::test::TempDir data;
  lognurse::test::HostServer host({"--data-dir", data.path()});

  // The store slows down as it fills, so the modes take turns slice by
  // slice (alternating which goes first) and both meet the same store.
  constexpr std::size_t kSlice = 10;
  std::vector<double> direct_rates;
  std::vector<double> plugin_rates;
  for (int round = 0; round < options.rounds; ++round) {
    const std::string direct_tenant = "direct-" + std::to_string(round);
    std::vector<std::unique_ptr<httplib::Client>> clients;
    for (int w = 0; w < options.writers; ++w) {
      clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", host.port()));
      clients.back()->set_keep_alive(true);
      clients.back()->set_tcp_nodelay(true);
      clients.back()->set_read_timeout(30, 0);
    }
    const auto direct = [&](int w, std::size_t i) {
      const auto answer = clients[static_cast<std::size_t>(w)]->Post(
          "/loki/api/v1/push", {{"X-Scope-OrgID", direct_tenant}}, bodies[i], "application/json");
      return answer && answer->status == 204;
    };

    lognurse::loki::LokiConfig config;
    config.adapter.endpoint = host.base_url();
    config.adapter.timeout = std::chrono::milliseconds(30000);
    config.tenant_id = "plugin-" + std::to_string(round);
    config.batch.senders = static_cast<std::size_t>(options.push_concurrency);
    lognurse::loki::LokiBackend backend(config, nullptr);
    const auto plugin = [&](int, std::size_t i) { return backend.push(batches[i]).ok(); };

    double direct_seconds = 0;
    double plugin_seconds = 0;
    for (std::size_t first = 0, slice = 0; first < batches.size(); first += kSlice, ++slice) {
      const std::size_t last = std::min(first + kSlice, batches.size());
      if (slice % 2 == 0) {
        direct_seconds += run_slice(first, last, options.writers, direct);
        plugin_seconds += run_slice(first, last, options.writers, plugin);
      } else {
        plugin_seconds += run_slice(first, last, options.writers, plugin);
        direct_seconds += run_slice(first, last, options.writers, direct);
      }
    }
    const double entries = static_cast<double>(batches.size()) * options.entries;
    direct_rates.push_back(entries / direct_seconds);
    plugin_rates.push_back(entries / plugin_seconds);
    std::printf("round %d: direct %.0f entries/s, plugin %.0f entries/s, ratio %.3f\n", round + 1,
                direct_rates.back(), plugin_rates.back(),
                plugin_rates.back() / direct_rates.back());
  }

  const double direct = median(direct_rates);
  const double plugin = median(plugin_rates);
  std::printf("batches=%d entries_per_batch=%d writers=%d rounds=%d json_bytes_per_round=%zu\n",
              options.batches, options.entries, options.writers, options.rounds, body_bytes);
  std::printf("median direct: %.0f entries/s\n", direct);
  std::printf("median plugin: %.0f entries/s\n", plugin);
  std::vector<double> ratios;
  for (std::size_t i = 0; i < direct_rates.size(); ++i) {
    ratios.push_back(plugin_rates[i] / direct_rates[i]);
  }
  std::printf("plugin / direct (median of rounds): %.3f\n", median(ratios));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "loki_push_bench: %s\n", e.what());
  return 1;
}
