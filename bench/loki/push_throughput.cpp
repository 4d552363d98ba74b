// Sustained push throughput through the Loki plugin to a sample_host on its
// embedded store over loopback, against pushing the same batches directly
// with a plain HTTP client (cpp-httplib, keep-alive, bodies encoded ahead of
// time, so the plugin alone pays for encoding), measured in the same run, for
// each push format: the plugin with push_format json against direct JSON
// bodies, and the plugin with push_format protobuf against direct
// snappy-compressed protobuf bodies. Each mode pushes into a tenant of its
// own. With one writer the modes take turns batch by batch, the first of them
// rotating, so that all meet the same store state and machine load: the
// host's pauses of up to 100 ms (its background work and other programs)
// then fall on all modes alike instead of on whichever mode's turn they hit.
// With several writers the turns are slices of ten batches.
//
// Besides rates, each mode's CPU time in this process (the client side: the
// plugin with its threads, or the plain client) is reported per 1000
// entries, which other programs on the machine hardly disturb.
//
// usage: loki_push_bench [--batches N] [--entries N] [--rounds N] [--writers N]
//                        [--push-concurrency N] [--format json|protobuf|both]

#include <httplib.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "loki_backend.hpp"
#include "process.hpp"
#include "push_encoding.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using lognurse::loki::PushFormat;

struct Options {
  int batches = 200;
  int entries = 500;
  int rounds = 3;
  int writers = 1;
  int push_concurrency = 1;  ///< the plugin's push_concurrency
  std::vector<PushFormat> formats{PushFormat::json, PushFormat::protobuf};
};

int positive(const std::string& name, const char* text) {
  const int value = std::atoi(text);
  if (value <= 0) throw std::invalid_argument(name + " needs a positive integer");
  return value;
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const std::string value = argv[i + 1];
    if (name == "--batches") {
      options.batches = positive(name, argv[i + 1]);
    } else if (name == "--entries") {
      options.entries = positive(name, argv[i + 1]);
    } else if (name == "--rounds") {
      options.rounds = positive(name, argv[i + 1]);
    } else if (name == "--writers") {
      options.writers = positive(name, argv[i + 1]);
    } else if (name == "--push-concurrency") {
      options.push_concurrency = positive(name, argv[i + 1]);
    } else if (name == "--format" && value == "json") {
      options.formats = {PushFormat::json};
    } else if (name == "--format" && value == "protobuf") {
      options.formats = {PushFormat::protobuf};
    } else if (name == "--format" && value != "both") {
      throw std::invalid_argument("--format takes json, protobuf or both");
    } else if (name != "--format") {
      throw std::invalid_argument("unknown option " + name);
    }
  }
  if (argc % 2 == 0) throw std::invalid_argument(std::string(argv[argc - 1]) + " needs a value");
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

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

/// Wall and client CPU seconds a mode spent pushing.
struct Spent {
  double wall = 0;
  double cpu = 0;
  std::vector<double> slices;  ///< milliseconds per batch of each slice
};

/// Pushes batches [first, last) with `writers` threads taking batches in
/// turn (one writer pushes on the calling thread); adds the time it took to
/// `spent`.
template <typename Push>
void run_slice(std::size_t first, std::size_t last, int writers, const Push& push,
               Spent& spent) {
  std::atomic<std::size_t> next{first};
  std::atomic<bool> failed{false};
  const double cpu_before = process_cpu_seconds();
  const auto started = Clock::now();
  if (writers == 1) {
    for (std::size_t i = first; i < last && !failed; ++i) failed = !push(0, i);
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < writers && writers > 1; ++w) {
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
  const double wall = std::chrono::duration<double>(Clock::now() - started).count();
  spent.wall += wall;
  spent.cpu += process_cpu_seconds() - cpu_before;
  spent.slices.push_back(wall * 1000 / static_cast<double>(last - first));
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// The pre-encoded bodies of one format, for the direct client.
struct DirectBodies {
  std::string content_type;
  std::vector<std::string> bodies;
  std::size_t bytes = 0;
};

DirectBodies direct_bodies(const std::vector<lognurse::PushRequest>& batches, PushFormat format) {
  DirectBodies out;
  for (const auto& batch : batches) {
    if (format == PushFormat::json) {
      // The host's own JSON writer, independent of the plugin's encoder.
      out.content_type = "application/json";
      out.bodies.push_back(lognurse::push_request_to_json(batch).dump());
    } else {
      lognurse::loki::PushBody body = lognurse::loki::encode_push(batch, format);
      out.content_type = body.content_type;
      out.bodies.push_back(std::move(body.bytes));
    }
    out.bytes += out.bodies.back().size();
  }
  return out;
}

/// One pushing mode of a round: how it pushes batch i from writer w, and
/// what that took. Modes come in pairs per format: direct, then plugin.
struct Mode {
  std::function<bool(int, std::size_t)> push;
  Spent spent;
};

/// Per-format figures over the rounds.
struct FormatFigures {
  std::vector<double> direct_rates;
  std::vector<double> plugin_rates;
  std::vector<double> ratios;
  std::vector<double> direct_cpu_ms;  ///< client CPU per 1000 entries
  std::vector<double> plugin_cpu_ms;
  std::vector<double> direct_batch_ms;  ///< median time of a batch (of a slice's batches)
  std::vector<double> plugin_batch_ms;
};

}  // namespace

int main(int argc, char** argv) try {
  const Options options = parse(argc, argv);
  const auto batches = make_batches(options);
  std::vector<DirectBodies> bodies;
  for (const PushFormat format : options.formats) bodies.push_back(direct_bodies(batches, format));

  lognurse::test::TempDir data;
  lognurse::test::HostServer host({"--data-dir", data.path()});

  // The store slows down as it fills, so the modes take turns slice by
  // slice (rotating which goes first) and all meet the same store.
  const std::size_t slice_batches = options.writers == 1 ? 1 : 10;
  const double entries = static_cast<double>(batches.size()) * options.entries;
  std::vector<FormatFigures> figures(options.formats.size());
  for (int round = 0; round < options.rounds; ++round) {
    std::vector<std::unique_ptr<httplib::Client>> clients;
    for (int w = 0; w < options.writers; ++w) {
      clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", host.port()));
      clients.back()->set_keep_alive(true);
      clients.back()->set_tcp_nodelay(true);
      clients.back()->set_read_timeout(30, 0);
    }
    std::vector<std::unique_ptr<lognurse::loki::LokiBackend>> backends;
    std::vector<Mode> modes;
    for (std::size_t f = 0; f < options.formats.size(); ++f) {
      const PushFormat format = options.formats[f];
      const std::string suffix = std::string(lognurse::loki::to_string(format)) + "-" +
                                 std::to_string(round);
      const std::string direct_tenant = "direct-" + suffix;
      const DirectBodies* direct = &bodies[f];
      modes.push_back({[&clients, direct, direct_tenant](int w, std::size_t i) {
        const auto answer = clients[static_cast<std::size_t>(w)]->Post(
            "/loki/api/v1/push", {{"X-Scope-OrgID", direct_tenant}}, direct->bodies[i],
            direct->content_type);
        return answer && answer->status == 204;
      }, Spent{}});

      lognurse::loki::LokiConfig config;
      config.adapter.endpoint = host.base_url();
      config.adapter.timeout = std::chrono::milliseconds(30000);
      config.tenant_id = "plugin-" + suffix;
      config.push_format = format;
      config.batch.senders = static_cast<std::size_t>(options.push_concurrency);
      backends.push_back(std::make_unique<lognurse::loki::LokiBackend>(config, nullptr));
      lognurse::loki::LokiBackend& backend = *backends.back();
      const auto plugin = [&backend, &batches](int, std::size_t i) {
        return backend.push(batches[i]).ok();
      };
      modes.push_back({plugin, Spent{}});
    }

    for (std::size_t first = 0, slice = 0; first < batches.size();
         first += slice_batches, ++slice) {
      const std::size_t last = std::min(first + slice_batches, batches.size());
      for (std::size_t k = 0; k < modes.size(); ++k) {
        Mode& mode = modes[(slice + k) % modes.size()];
        run_slice(first, last, options.writers, mode.push, mode.spent);
      }
    }

    std::printf("round %d:", round + 1);
    for (std::size_t f = 0; f < options.formats.size(); ++f) {
      const Mode& direct = modes[2 * f];
      const Mode& plugin = modes[2 * f + 1];
      FormatFigures& figure = figures[f];
      figure.direct_rates.push_back(entries / direct.spent.wall);
      figure.plugin_rates.push_back(entries / plugin.spent.wall);
      figure.ratios.push_back(figure.plugin_rates.back() / figure.direct_rates.back());
      figure.direct_cpu_ms.push_back(direct.spent.cpu * 1e6 / entries);
      figure.plugin_cpu_ms.push_back(plugin.spent.cpu * 1e6 / entries);
      figure.direct_batch_ms.push_back(median(direct.spent.slices));
      figure.plugin_batch_ms.push_back(median(plugin.spent.slices));
      std::printf("%s %s: direct %.0f entries/s, plugin %.0f entries/s, ratio %.3f", f ? ";" : "",
                  lognurse::loki::to_string(options.formats[f]), figure.direct_rates.back(),
                  figure.plugin_rates.back(), figure.ratios.back());
    }
    std::printf("\n");
  }

  std::printf("batches=%d entries_per_batch=%d writers=%d push_concurrency=%d rounds=%d\n",
              options.batches, options.entries, options.writers, options.push_concurrency,
              options.rounds);
  for (std::size_t f = 0; f < options.formats.size(); ++f) {
    const FormatFigures& figure = figures[f];
    const auto [lowest, highest] = std::minmax_element(figure.ratios.begin(), figure.ratios.end());
    std::printf("%s (%zu body bytes per round):\n", lognurse::loki::to_string(options.formats[f]),
                bodies[f].bytes);
    std::printf("  median direct: %.0f entries/s, median batch %.2f ms, client CPU %.3f ms per "
                "1000 entries\n",
                median(figure.direct_rates), median(figure.direct_batch_ms),
                median(figure.direct_cpu_ms));
    std::printf("  median plugin: %.0f entries/s, median batch %.2f ms, client CPU %.3f ms per "
                "1000 entries\n",
                median(figure.plugin_rates), median(figure.plugin_batch_ms),
                median(figure.plugin_cpu_ms));
    std::printf("  plugin / direct (median of rounds): %.3f (rounds %.3f to %.3f)\n",
                median(figure.ratios), *lowest, *highest);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "loki_push_bench: %s\n", e.what());
  return 1;
}
