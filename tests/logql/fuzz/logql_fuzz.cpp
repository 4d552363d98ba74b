// libFuzzer target for the LogQL parser, printer and evaluator. Each input is
// a query. A query that parses must print to text that parses back to the
// same tree, and must evaluate (log and metric, range and instant) over a
// small fixed dataset without crashing, hanging past the time limit or
// tripping a sanitizer. A metric query must give the same series from a
// source that hands out entries without their lines (EntrySource::scan_sizes)
// as from one that hands out whole entries. Built only with -DLOGNURSE_FUZZ=ON
// and clang.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "lognurse/logql/logql.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/printer.hpp"

namespace {

using namespace lognurse;

constexpr std::int64_t kSecond = 1'000'000'000;

/// A few streams in logfmt, JSON and plain text, with metadata and colour codes.
class FixedSource : public logql::EntrySource {
public:
  FixedSource() {
    streams_.push_back(
        {{{"app", "api"}, {"env", "prod"}},
         {{10 * kSecond, "level=info method=GET status=200 duration=15ms size=1KB", {}},
          {20 * kSecond, "level=error method=POST status=500 duration=1.5s size=3",
           {{"trace_id", "t1"}}},
          {70 * kSecond, "level=warn msg=\"not found\" status=404 =x flag", {}}}});
    streams_.push_back(
        {{{"app", "web"}, {"env", "dev"}},
         {{5 * kSecond, R"({"level":"info","user":{"id":7,"tags":["a"]},"latency":0.25})", {}},
          {65 * kSecond, "not json \x1b[31mred\x1b[0m 10.0.0.5", {}},
          {125 * kSecond, R"({"_entry":"level=debug n=1","pod":"p-1"})", {}}}});
  }

  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    struct Item {
      const LogStream* stream;
      const LogEntry* entry;
    };
    std::vector<Item> items;
    for (const auto& stream : streams_) {
      if (!logql::matches(request.matchers, stream.labels)) continue;
      for (const auto& entry : stream.entries) {
        if (entry.timestamp_ns >= request.range.start_ns &&
            entry.timestamp_ns < request.range.end_ns) {
          items.push_back({&stream, &entry});
        }
      }
    }
    bool forward = request.direction == Direction::forward;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const Item& item = items[forward ? i : items.size() - 1 - i];
      if (!visit(item.stream->labels, *item.entry)) break;
    }
    return success();
  }

private:
  std::vector<LogStream> streams_;
};

/// The same entries, also handed out without their lines to a scan of sizes, which keeps
/// only the lines holding every required literal, as the contract asks.
class SizingSource : public FixedSource {
public:
  bool scans_sizes() const override { return true; }

  Status scan_sizes(const logql::ScanRequest& request, const logql::ScanShard* shard,
                    const logql::SizeVisitor& visit) override {
    if (shard != nullptr) std::abort();  // this source makes no shards
    return scan(request, [&](const Labels& labels, const LogEntry& entry) {
      for (const auto& literal : request.required_literals) {
        if (entry.line.find(literal) == std::string::npos) return true;
      }
      return visit(0, labels, LogEntry{entry.timestamp_ns, "", entry.metadata},
                   entry.line.size());
    });
  }
};

/// Whether two results hold the same series, to the bit (their statistics may differ).
bool same_series(const QueryResult& a, const QueryResult& b) {
  if (a.result_type != b.result_type || a.series.size() != b.series.size()) return false;
  for (std::size_t i = 0; i < a.series.size(); ++i) {
    const Series& x = a.series[i];
    const Series& y = b.series[i];
    if (x.metric != y.metric || x.samples.size() != y.samples.size()) return false;
    for (std::size_t k = 0; k < x.samples.size(); ++k) {
      if (x.samples[k].timestamp_ns != y.samples[k].timestamp_ns ||
          std::memcmp(&x.samples[k].value, &y.samples[k].value, sizeof(double)) != 0) {
        return false;
      }
    }
  }
  return true;
}

[[noreturn]] void fail(const char* what, const std::string& query, const std::string& printed) {
  std::fprintf(stderr, "%s\nquery:   %s\nprinted: %s\n", what, query.c_str(), printed.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  std::string query(reinterpret_cast<const char*>(data), size);

  auto parsed = logql::parse(query);
  if (!parsed.ok()) return 0;
  std::string printed = logql::print(parsed.value());
  auto reparsed = logql::parse(printed);
  if (!reparsed.ok()) fail("the printed query does not parse", query, printed);
  if (!(reparsed.value() == parsed.value())) {
    fail("the printed query parses differently", query, printed);
  }

  static FixedSource source;
  logql::Limits limits;
  limits.max_entries = 100;
  limits.max_series = 50;
  limits.timeout_seconds = 2;
  LogQuery params;
  params.range = {0, 200 * kSecond};
  params.step_ns = 10 * kSecond;
  params.limit = 20;
  params.direction = (size % 2) == 0 ? Direction::forward : Direction::backward;
  const auto whole = logql::execute(query, params, source, limits);
  if (!std::holds_alternative<logql::LogExpr>(parsed.value())) {
    static SizingSource sizing;
    const auto sized = logql::execute(query, params, sizing, limits);
    // A timeout (wall-clock) may strike one run and not the other.
    const bool timed_out = (!whole.ok() && whole.error().code == "logql.timeout") ||
                           (!sized.ok() && sized.error().code == "logql.timeout");
    if (!timed_out &&
        (whole.ok() != sized.ok() || (whole.ok() && !same_series(whole.value(), sized.value())))) {
      fail("a scan of sizes gives other series than a scan of lines", query, printed);
    }
  }
  (void)logql::execute_instant(query, 130 * kSecond, kDefaultTenant, 20, params.direction, source,
                               limits);
  return 0;
}
