// Sustained push throughput through the Loki plugin to a sample_host on its
// embedded store over loopback, against pushing the same batches directly
// with a plain HTTP client (cpp-httplib, keep-alive, bodies encoded ahead of
// time), measured in the same run. Modes alternate round by round, each into
// a tenant of its own, so that both see the same store state and load.
//
// usage: loki_push_bench [--batches N] [--entries N] [--rounds N] [--writers N]

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

/// Pushes every batch with `writers` threads taking batches in turn; returns entries/s.
template <typename Push>
double run_mode(const std::vector<lognurse::PushRequest>& batches, int entries, int writers,
                const Push& push) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (;;) {
        const std::size_t i = next++;
        if (i >= batches.size() || failed) return;
        if (!push(w, i)) failed = true;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (failed) throw std::runtime_error("a push failed; see the host's log");
  return static_cast<double>(batches.size()) * entries / seconds;
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

  std::vector<double> direct_rates;
  std::vector<double> plugin_rates;
  for (int round = 0; round < options.rounds; ++round) {
    const auto direct = [&] {
      const std::string tenant = "direct-" + std::to_string(round);
      std::vector<std::unique_ptr<httplib::Client>> clients;
      for (int w = 0; w < options.writers; ++w) {
        clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", host.port()));
        clients.back()->set_keep_alive(true);
        clients.back()->set_tcp_nodelay(true);
        clients.back()->set_read_timeout(30, 0);
      }
      return run_mode(batches, options.entries, options.writers, [&](int w, std::size_t i) {
        const auto answer = clients[static_cast<std::size_t>(w)]->Post(
            "/loki/api/v1/push", {{"X-Scope-OrgID", tenant}}, bodies[i], "application/json");
        return answer && answer->status == 204;
      });
    };
    const auto plugin = [&] {
      lognurse::loki::LokiConfig config;
      config.adapter.endpoint = host.base_url();
      config.adapter.timeout = std::chrono::milliseconds(30000);
      config.tenant_id = "plugin-" + std::to_string(round);
      lognurse::loki::LokiBackend backend(config, nullptr);
      return run_mode(batches, options.entries, options.writers, [&](int, std::size_t i) {
        return backend.push(batches[i]).ok();
      });
    };
    // Alternate which mode goes first so that neither always meets a warmer store.
    if (round % 2 == 0) {
      direct_rates.push_back(direct());
      plugin_rates.push_back(plugin());
    } else {
      plugin_rates.push_back(plugin());
      direct_rates.push_back(direct());
    }
    std::printf("round %d: direct %.0f entries/s, plugin %.0f entries/s\n", round + 1,
                direct_rates.back(), plugin_rates.back());
  }

  const double direct = median(direct_rates);
  const double plugin = median(plugin_rates);
  std::printf("batches=%d entries_per_batch=%d writers=%d rounds=%d json_bytes_per_round=%zu\n",
              options.batches, options.entries, options.writers, options.rounds, body_bytes);
  std::printf("median direct: %.0f entries/s\n", direct);
  std::printf("median plugin: %.0f entries/s\n", plugin);
  std::printf("plugin / direct: %.3f\n", plugin / direct);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "loki_push_bench: %s\n", e.what());
  return 1;
}
