// Throughput of the LogQL evaluator over entries held in memory, next to a
// baseline measured in the same run: a plain substring count over the same
// lines (what grep -c does, without I/O). The ratios show what the pipeline
// costs on top of reading the text; they exclude storage (SQLite, chunk
// decompression), which the store's own benchmarks cover.
//
// Data: 400,000 lines over one hour from three services, a third logfmt, a
// third JSON, a third plain text; a rare term in 1 line in 10,000 and a
// common term in 1 line in 10.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lognurse/logql/logql.hpp"

namespace {

using namespace lognurse;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kHour = 3600 * kSecond;
constexpr std::size_t kLines = 400'000;

struct Entry {
  std::size_t stream;
  LogEntry entry;
};

struct Dataset {
  std::vector<Labels> streams;
  std::vector<Entry> entries;  ///< in time order across streams
  std::size_t bytes = 0;
};

const Dataset& dataset() {
  static const Dataset data = [] {
    Dataset d;
    const char* services[] = {"api", "web", "db"};
    for (const char* service : services) {
      d.streams.push_back({{"env", "prod"}, {"service_name", service}});
    }
    const char* levels[] = {"info", "info", "info", "warn", "error", "debug"};
    const char* paths[] = {"/users", "/orders", "/health", "/cart", "/search"};
    std::mt19937_64 random(42);
    d.entries.reserve(kLines);
    for (std::size_t i = 0; i < kLines; ++i) {
      std::size_t stream = i % 3;
      const char* level = levels[random() % 6];
      const char* path = paths[random() % 5];
      std::string extra = i % 10 == 3 ? " common_word" : "";
      if (i % 10'000 == 7) extra += " RARE_NEEDLE";
      std::string line;
      unsigned status = 200 + static_cast<unsigned>(random() % 4) * 100;
      unsigned duration = static_cast<unsigned>(random() % 900);
      switch (i % 3) {
        case 0:
          line = "level=" + std::string(level) + " method=GET path=" + path +
                 " status=" + std::to_string(status) + " duration=" + std::to_string(duration) +
                 "ms msg=\"request served" + extra + "\"";
          break;
        case 1:
          line = "{\"level\":\"" + std::string(level) + "\",\"path\":\"" + path +
                 "\",\"status\":" + std::to_string(status) + ",\"latency\":0." +
                 std::to_string(duration) + ",\"msg\":\"page rendered" + extra + "\"}";
          break;
        default:
          line = "2026-01-01T00:00:00Z " + std::string(level) + " query on table " + path +
                 " took " + std::to_string(duration) + "ms" + extra;
      }
      std::int64_t ts = static_cast<std::int64_t>(i) * kHour / static_cast<std::int64_t>(kLines);
      d.bytes += line.size();
      d.entries.push_back({stream, {ts, std::move(line), {}}});
    }
    return d;
  }();
  return data;
}

class MemorySource : public logql::EntrySource {
public:
  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    const Dataset& d = dataset();
    std::vector<char> selected(d.streams.size());
    for (std::size_t s = 0; s < d.streams.size(); ++s) {
      selected[s] = logql::matches(request.matchers, d.streams[s]) ? 1 : 0;
    }
    bool forward = request.direction == Direction::forward;
    for (std::size_t i = 0; i < d.entries.size(); ++i) {
      const Entry& e = d.entries[forward ? i : d.entries.size() - 1 - i];
      if (!selected[e.stream] || e.entry.timestamp_ns < request.range.start_ns ||
          e.entry.timestamp_ns >= request.range.end_ns) {
        continue;
      }
      if (!visit(d.streams[e.stream], e.entry)) break;
    }
    return success();
  }
};

void count_substring(benchmark::State& state, const char* term) {
  const Dataset& d = dataset();
  for (auto _ : state) {
    std::size_t matches = 0;
    for (const auto& e : d.entries) matches += e.entry.line.find(term) != std::string::npos;
    benchmark::DoNotOptimize(matches);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * d.bytes));
}

void run_instant(benchmark::State& state, const char* query) {
  const Dataset& d = dataset();
  MemorySource source;
  logql::Limits limits;
  limits.max_series = 100'000;
  for (auto _ : state) {
    auto result = logql::execute_instant(query, kHour, kDefaultTenant, 100, Direction::backward,
                                         source, limits);
    if (!result.ok()) state.SkipWithError(result.error().message.c_str());
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * d.bytes));
}

void run_range(benchmark::State& state, const char* query, std::size_t limit) {
  const Dataset& d = dataset();
  MemorySource source;
  logql::Limits limits;
  LogQuery params;
  params.range = {0, kHour + kSecond};
  params.step_ns = 60 * kSecond;
  params.limit = limit;
  for (auto _ : state) {
    auto result = logql::execute(query, params, source, limits);
    if (!result.ok()) state.SkipWithError(result.error().message.c_str());
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * d.bytes));
}

void BM_BaselineFindRare(benchmark::State& state) { count_substring(state, "RARE_NEEDLE"); }
void BM_BaselineFindCommon(benchmark::State& state) { count_substring(state, "common_word"); }
void BM_CountRareTerm(benchmark::State& state) {
  run_instant(state, "sum(count_over_time({env=\"prod\"} |= \"RARE_NEEDLE\" [1h]))");
}
void BM_CountCommonTerm(benchmark::State& state) {
  run_instant(state, "sum(count_over_time({env=\"prod\"} |= \"common_word\" [1h]))");
}
void BM_CountRegexTerm(benchmark::State& state) {
  run_instant(state, "sum(count_over_time({env=\"prod\"} |~ \"comm?on_w.rd\" [1h]))");
}
void BM_SumByLevelLogfmt(benchmark::State& state) {
  run_range(state, "sum by (level) (count_over_time({service_name=~\".+\"} | logfmt [1m]))", 100);
}
void BM_SumByLevelJson(benchmark::State& state) {
  run_range(state, "sum by (level) (count_over_time({service_name=\"web\"} | json [1m]))", 100);
}
void BM_FirstPageBackward(benchmark::State& state) {
  run_range(state, "{env=\"prod\"}", 100);
}

}  // namespace

BENCHMARK(BM_BaselineFindRare)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountRareTerm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BaselineFindCommon)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountCommonTerm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountRegexTerm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SumByLevelLogfmt)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SumByLevelJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FirstPageBackward)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
