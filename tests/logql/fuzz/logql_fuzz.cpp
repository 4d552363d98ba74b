// libFuzzer target for the LogQL parser, printer and evaluator. Each input is
// a query. A query that parses must print to text that parses back to the
// same tree, and must evaluate (log and metric, range and instant) over a
// small fixed dataset without crashing, hanging past the time limit or
// tripping a sanitizer. Built only with -DLOGNURSE_FUZZ=ON and clang.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
  (void)logql::execute(query, params, source, limits);
  (void)logql::execute_instant(query, 130 * kSecond, kDefaultTenant, 20, params.direction, source,
                               limits);
  return 0;
}
