// The host's side of the plugin metrics sink: names, escaping, one HELP and
// TYPE per family, histograms, refusals, and counts from many threads. The
// exposition is compared to the exact text and read back by a strict reader.

#include <catch2/catch.hpp>

#include <thread>

#include "exposition_check.hpp"
#include "plugin_metrics.hpp"
#include "prometheus_text.hpp"

using lognurse::MetricInfo;
using lognurse::host::PluginMetrics;
namespace prometheus = lognurse::host::prometheus;

namespace {

std::string render(const PluginMetrics& metrics) {
  std::string out;
  metrics.render(out);
  return out;
}

std::string problem_of(const std::string& text) {
  std::string problem;
  (void)lognurse::test::read_exposition(text, problem);
  return problem;
}

const MetricInfo kDropped{"entries_dropped_total", "Entries dropped, by reason."};

}  // namespace

TEST_CASE("a plugin's series share one HELP and TYPE under the plugin's prefix") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto sink = metrics->sink_for("loki");
  auto full = sink->counter(kDropped, {{"reason", "queue_full"}});
  auto failed = sink->counter(kDropped, {{"reason", "push_failed"}});
  REQUIRE(full.ok());
  REQUIRE(failed.ok());
  full.value()->add(3);
  failed.value()->increment();

  const std::string text = render(*metrics);
  CHECK(text ==
        "# HELP lognurse_plugin_loki_entries_dropped_total Entries dropped, by reason.\n"
        "# TYPE lognurse_plugin_loki_entries_dropped_total counter\n"
        "lognurse_plugin_loki_entries_dropped_total{reason=\"push_failed\"} 1\n"
        "lognurse_plugin_loki_entries_dropped_total{reason=\"queue_full\"} 3\n");
  CHECK(problem_of(text).empty());
}

TEST_CASE("asking again for a name and labels, in any order, returns the same series") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto sink = metrics->sink_for("p");
  const MetricInfo info{"requests_total", "Requests."};
  auto first = sink->counter(info, {{"a", "1"}, {"b", "2"}});
  auto again = sink->counter(info, {{"b", "2"}, {"a", "1"}});
  REQUIRE(first.ok());
  REQUIRE(again.ok());
  CHECK(first.value() == again.value());
  again.value()->add(2);
  CHECK_THAT(render(*metrics),
             Catch::EndsWith("lognurse_plugin_p_requests_total{a=\"1\",b=\"2\"} 2\n"));
}

TEST_CASE("label values escape backslash, quote and newline; HELP escapes backslash and newline") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto sink = metrics->sink_for("p");
  auto gauge = sink->gauge({"odd", "A help with \\ and\na newline \"quoted\"."},
                           {{"path", "C:\\logs\\\"x\"\nend"}});
  REQUIRE(gauge.ok());
  gauge.value()->set(1.5);

  const std::string text = render(*metrics);
  CHECK(text == "# HELP lognurse_plugin_p_odd A help with \\\\ and\\na newline \"quoted\".\n"
                "# TYPE lognurse_plugin_p_odd gauge\n"
                "lognurse_plugin_p_odd{path=\"C:\\\\logs\\\\\\\"x\\\"\\nend\"} 1.5\n");
  std::string problem;
  const auto samples = lognurse::test::read_exposition(text, problem);
  REQUIRE(problem.empty());
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].labels.at("path") == "C:\\logs\\\"x\"\nend");
}

TEST_CASE("a gauge is set and moved by deltas, and values print in their shortest form") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto gauge = metrics->sink_for("p")->gauge({"queue_bytes", "Bytes queued."}, {});
  REQUIRE(gauge.ok());
  gauge.value()->set(12345678901.0);
  CHECK_THAT(render(*metrics), Catch::EndsWith("lognurse_plugin_p_queue_bytes 12345678901\n"));
  gauge.value()->set(2.5);
  gauge.value()->add(-1.25);
  CHECK_THAT(render(*metrics), Catch::EndsWith("lognurse_plugin_p_queue_bytes 1.25\n"));
  CHECK(prometheus::number(0.1) == "0.1");
  CHECK(prometheus::number(1.0 / 0.0) == "+Inf");
  CHECK(prometheus::number(-1.0 / 0.0) == "-Inf");
  CHECK(prometheus::number(std::nan("")) == "NaN");
}

TEST_CASE("a histogram writes cumulative buckets, +Inf, sum and count") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto histogram = metrics->sink_for("p")->histogram({"push_seconds", "Push latency."},
                                                     {{"tenant", "a"}}, {0.1, 1});
  REQUIRE(histogram.ok());
  for (double value : {0.05, 0.1, 0.5, 7.0}) histogram.value()->observe(value);

  const std::string text = render(*metrics);
  CHECK(text == "# HELP lognurse_plugin_p_push_seconds Push latency.\n"
                "# TYPE lognurse_plugin_p_push_seconds histogram\n"
                "lognurse_plugin_p_push_seconds_bucket{tenant=\"a\",le=\"0.1\"} 2\n"
                "lognurse_plugin_p_push_seconds_bucket{tenant=\"a\",le=\"1\"} 3\n"
                "lognurse_plugin_p_push_seconds_bucket{tenant=\"a\",le=\"+Inf\"} 4\n"
                "lognurse_plugin_p_push_seconds_sum{tenant=\"a\"} 7.65\n"
                "lognurse_plugin_p_push_seconds_count{tenant=\"a\"} 4\n");
  CHECK(problem_of(text).empty());
}

TEST_CASE("families of several plugins come out in name order, one block each") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto zeta = metrics->sink_for("zeta");
  auto alpha = metrics->sink_for("alpha");
  REQUIRE(zeta->counter({"b_total", "B."}, {}).ok());
  REQUIRE(alpha->counter({"a_total", "A."}, {{"x", "1"}}).ok());
  REQUIRE(zeta->gauge({"a", "A gauge."}, {}).ok());
  REQUIRE(alpha->counter({"a_total", "A."}, {{"x", "2"}}).ok());

  const std::string text = render(*metrics);
  CHECK(problem_of(text).empty());
  const auto alpha_at = text.find("# HELP lognurse_plugin_alpha_a_total");
  const auto zeta_a_at = text.find("# HELP lognurse_plugin_zeta_a ");
  const auto zeta_b_at = text.find("# HELP lognurse_plugin_zeta_b_total");
  CHECK(alpha_at < zeta_a_at);
  CHECK(zeta_a_at < zeta_b_at);
}

TEST_CASE("a plugin name that a metric name cannot hold is written with underscores") {
  CHECK(PluginMetrics::prefix_of("nurse-logs.v2") == "lognurse_plugin_nurse_logs_v2_");
  CHECK(PluginMetrics::prefix_of("loki") == "lognurse_plugin_loki_");
}

TEST_CASE("the sink refuses names and labels the format cannot carry") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto sink = metrics->sink_for("p");
  const auto code_of = [](const auto& result) {
    return result.ok() ? std::string("ok") : result.error().code;
  };

  CHECK(code_of(sink->counter({"1st_total", "x"}, {})) == "metrics.invalid_name");
  CHECK(code_of(sink->counter({"bad-name", "x"}, {})) == "metrics.invalid_name");
  CHECK(code_of(sink->counter({"", "x"}, {})) == "metrics.invalid_name");
  CHECK(code_of(sink->counter({"ok_total", "x"}, {{"__reserved", "v"}})) ==
        "metrics.invalid_label");
  CHECK(code_of(sink->counter({"ok_total", "x"}, {{"a-b", "v"}})) == "metrics.invalid_label");
  CHECK(code_of(sink->counter({"ok_total", "x"}, {{"a", "1"}, {"a", "2"}})) ==
        "metrics.invalid_label");
  CHECK(code_of(sink->counter({"ok_total", "x"}, {{"a", "\xC3\x28"}})) ==
        "metrics.invalid_label");
  CHECK(code_of(sink->histogram({"h", "x"}, {{"le", "1"}}, {1})) == "metrics.invalid_label");
  CHECK(code_of(sink->histogram({"h", "x"}, {}, {1, 1})) == "metrics.invalid_bounds");
  CHECK(code_of(sink->histogram({"h", "x"}, {}, {1, 1.0 / 0.0})) == "metrics.invalid_bounds");
  CHECK(code_of(sink->counter({"ok_total", "x"}, {{"a", "caf\xC3\xA9"}})) == "ok");
  // Nothing refused was created.
  CHECK(render(*metrics) == "# HELP lognurse_plugin_p_ok_total x\n"
                            "# TYPE lognurse_plugin_p_ok_total counter\n"
                            "lognurse_plugin_p_ok_total{a=\"caf\xC3\xA9\"} 0\n");
}

TEST_CASE("a family keeps one type, help text, bounds and owner") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto sink = metrics->sink_for("a_b");
  REQUIRE(sink->counter({"n_total", "N."}, {}).ok());
  REQUIRE(sink->histogram({"h", "H."}, {}, {1, 2}).ok());

  auto as_gauge = sink->gauge({"n_total", "N."}, {});
  REQUIRE_FALSE(as_gauge.ok());
  CHECK(as_gauge.error().code == "metrics.conflict");
  CHECK(as_gauge.error().message ==
        "plugin a_b: metric lognurse_plugin_a_b_n_total is a counter, not a gauge");
  CHECK(sink->counter({"n_total", "Other help."}, {}).error().code == "metrics.conflict");
  CHECK(sink->histogram({"h", "H."}, {}, {1, 3}).error().code == "metrics.conflict");
  // The lines a histogram writes are taken, and a histogram cannot take another's name.
  CHECK(sink->gauge({"h_count", "C."}, {}).error().code == "metrics.conflict");
  REQUIRE(sink->gauge({"g", "G."}, {}).ok());
  REQUIRE(sink->gauge({"g_sum", "G sum."}, {}).ok());
  CHECK(sink->histogram({"g", "G."}, {}, {1}).error().code == "metrics.conflict");

  // "a-b" maps to the same prefix, but the family stays a_b's.
  auto other = metrics->sink_for("a-b")->counter({"n_total", "N."}, {});
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message ==
        "plugin a-b: metric lognurse_plugin_a_b_n_total belongs to plugin a_b");
  CHECK(problem_of(render(*metrics)).empty());
}

TEST_CASE("counters and histograms updated from several threads add up exactly") {
  auto metrics = std::make_shared<PluginMetrics>();
  auto sink = metrics->sink_for("p");
  auto counter = sink->counter({"hits_total", "Hits."}, {}).value();
  auto histogram = sink->histogram({"sizes", "Sizes."}, {}, {10}).value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter->increment();
        histogram->observe(i % 2 == 0 ? 5 : 50);
      }
    });
  }
  // Scrapes while the threads count are well-formed too.
  for (int i = 0; i < 20; ++i) CHECK(problem_of(render(*metrics)).empty());
  for (auto& thread : threads) thread.join();

  std::string problem;
  const auto samples = lognurse::test::read_exposition(render(*metrics), problem);
  REQUIRE(problem.empty());
  using lognurse::test::sample_value;
  CHECK(sample_value(samples, "lognurse_plugin_p_hits_total") == "40000");
  CHECK(sample_value(samples, "lognurse_plugin_p_sizes_bucket", {{"le", "10"}}) == "20000");
  CHECK(sample_value(samples, "lognurse_plugin_p_sizes_count") == "40000");
  CHECK(sample_value(samples, "lognurse_plugin_p_sizes_sum") == "1100000");
}

TEST_CASE("the exposition reader refuses what a scraper would") {
  CHECK_THAT(problem_of("# HELP a x\n# HELP a y\na 1\n"), Catch::StartsWith("second HELP"));
  CHECK_THAT(problem_of("a{x=\"1\"} 1\nb 1\na{x=\"2\"} 1\n"), Catch::Contains("two blocks"));
  CHECK_THAT(problem_of("a{x=\"\\q\"} 1\n"), Catch::StartsWith("bad escape"));
  CHECK_THAT(problem_of("a 1\n# TYPE a counter\n"), Catch::StartsWith("HELP or TYPE after"));
  CHECK_THAT(problem_of("a one\n"), Catch::StartsWith("bad value"));
  CHECK_THAT(problem_of("a 1\na 2\n"), Catch::StartsWith("duplicate series"));
}
