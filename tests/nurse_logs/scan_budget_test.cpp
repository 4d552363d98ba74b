// The scan budget of the cost guard against a backend whose index statistics
// the test sets: the selectors and ranges it asks about, the refusal and its
// message, and the answers when statistics are missing or the budget is off.

#include <catch2/catch.hpp>

#include <map>

#include "lognurse/host_api/time.hpp"
#include "scan_budget.hpp"

using namespace lognurse;
using namespace lognurse::nurse;

namespace {

constexpr std::int64_t kMinute = 60 * kNanosPerSecond;

/// Answers stats() from a table of selector → bytes, and records each call.
/// Every other operation is refused: the budget check must not need them.
class StatsBackend final : public LogAggregationProtocol {
public:
  std::string backend_name() const override { return "fixture"; }
  Status connect() override { return success(); }
  Health health() override { return {}; }
  Result<PushResult> push(const PushRequest&) override { return refused(); }
  Result<QueryResult> query(const LogQuery&) override { return refused(); }
  Result<std::vector<std::string>> labels(const std::string&, const TimeRange&) override {
    return refused();
  }
  Result<std::vector<std::string>> label_values(const std::string&, const std::string&,
                                                const TimeRange&) override {
    return refused();
  }
  Result<SearchResult> search(const SearchRequest&) override { return refused(); }
  Result<LogMetrics> metrics(const std::string&, const TimeRange&) override { return refused(); }

  Result<IndexStats> stats(const std::string& tenant, const std::string& selector,
                           const TimeRange& range) override {
    calls.push_back({tenant, selector, range});
    if (failure) return *failure;
    IndexStats stats;
    stats.bytes = bytes.at(selector);
    stats.entries = stats.bytes / 10;
    return stats;
  }

  struct Call {
    std::string tenant;
    std::string selector;
    TimeRange range;
  };
  std::map<std::string, std::uint64_t> bytes;
  std::optional<Error> failure;
  std::vector<Call> calls;

private:
  static Error refused() { return internal_error("test.unexpected", "not part of the check"); }
};

const TimeRange kHour{100 * kMinute, 160 * kMinute};

/// A range as minutes, so that checks compare and print it.
std::pair<std::int64_t, std::int64_t> minutes(const TimeRange& range) {
  return {range.start_ns / kMinute, range.end_ns / kMinute};
}

}  // namespace

TEST_CASE("scan_targets finds every selector and the range its data is read from") {
  auto log = scan_targets(R"({app="api"} |= "error" | json)", kHour);
  REQUIRE(log.ok());
  REQUIRE(log.value().size() == 1);
  CHECK(log.value()[0].selector == R"({app="api"})");
  CHECK(minutes(log.value()[0].range) == minutes(kHour));

  auto metric = scan_targets(
      R"(sum(rate({app="api"}[5m])) / sum(count_over_time({app="web"}[10m] offset 1h)))", kHour);
  REQUIRE(metric.ok());
  REQUIRE(metric.value().size() == 2);
  CHECK(metric.value()[0].selector == R"({app="api"})");
  CHECK(minutes(metric.value()[0].range) == std::pair<std::int64_t, std::int64_t>{95, 160});
  CHECK(metric.value()[1].selector == R"({app="web"})");
  CHECK(minutes(metric.value()[1].range) == std::pair<std::int64_t, std::int64_t>{30, 100});

  auto broken = scan_targets("{app=", kHour);
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().code == "logql.parse_error");
}

TEST_CASE("the scan budget lets through an estimate up to the budget and refuses one over it") {
  StatsBackend backend;
  backend.bytes = {{R"({app="small"})", 1000}, {R"({app="big"})", 1001}};

  auto under = check_scan_budget(backend, "team-a", {R"({app="small"} |= "x")"}, kHour, 1000);
  REQUIRE(under.ok());
  CHECK(under.value().checked);
  CHECK(under.value().bytes == 1000);
  CHECK(under.value().entries == 100);
  CHECK(under.value().to_json() == nlohmann::json{{"checked", true},
                                                  {"budget_bytes", 1000},
                                                  {"estimated_bytes", 1000},
                                                  {"estimated_entries", 100}});
  REQUIRE(backend.calls.size() == 1);
  CHECK(backend.calls[0].tenant == "team-a");
  CHECK(backend.calls[0].selector == R"({app="small"})");
  CHECK(minutes(backend.calls[0].range) == minutes(kHour));

  auto over = check_scan_budget(backend, "team-a", {R"({app="big"})"}, kHour, 1000);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == "nurse.scan_budget_exceeded");
  CHECK(over.error().kind == ErrorKind::limit_exceeded);
  CHECK(over.error().message ==
        "the query would read about 1001 B (1001 bytes in 100 entries, estimated from the index "
        "statistics of {app=\"big\"} over 1h), over the scan budget of 1000 B (1000 bytes, "
        "plugins.nurse_logs.max_scan_bytes); narrow it with a shorter range (since \"15m\", or "
        "start and end) or a more specific selector (more label matchers, e.g. "
        "service_name=\"…\" and detected_level=\"error\"), or raise "
        "plugins.nurse_logs.max_scan_bytes");
}

TEST_CASE("the scan budget adds up every query a tool runs") {
  StatsBackend backend;
  backend.bytes = {{R"({app="api"})", 600}};
  const std::vector<std::string> two = {R"({app="api"} |= "a")", R"({app="api"} |= "b")"};
  CHECK(check_scan_budget(backend, "fake", two, kHour, 1200).value().bytes == 1200);
  const auto over = check_scan_budget(backend, "fake", two, kHour, 1199);
  REQUIRE_FALSE(over.ok());
  CHECK_THAT(over.error().message,
             Catch::StartsWith("the query would read about 1.2 KiB (1200 bytes in 120 entries, "
                               "estimated from the index statistics of {app=\"api\"}, "
                               "{app=\"api\"} over 1h)"));
}

TEST_CASE("without index statistics the scan budget refuses nothing and says why") {
  StatsBackend backend;
  backend.failure = Error{ErrorKind::unavailable, "backend.unsupported",
                          "the fixture backend does not support index stats"};
  auto estimate = check_scan_budget(backend, "fake", {R"({app="api"})"}, kHour, 1);
  REQUIRE(estimate.ok());
  CHECK_FALSE(estimate.value().checked);
  CHECK(estimate.value().to_json() ==
        nlohmann::json{{"checked", false},
                       {"budget_bytes", 1},
                       {"reason", "the fixture backend gave no index statistics, so the scan "
                                  "budget was not checked: backend.unsupported: the fixture "
                                  "backend does not support index stats"}});
}

TEST_CASE("a budget of 0 turns the check off without asking the backend") {
  StatsBackend backend;
  auto estimate = check_scan_budget(backend, "fake", {R"({app="api"})"}, kHour, 0);
  REQUIRE(estimate.ok());
  CHECK_FALSE(estimate.value().checked);
  CHECK(estimate.value().reason ==
        "plugins.nurse_logs.max_scan_bytes is 0, which turns the scan budget off");
  CHECK(backend.calls.empty());
}

TEST_CASE("readable_bytes uses binary units with one decimal") {
  CHECK(readable_bytes(0) == "0 B");
  CHECK(readable_bytes(1023) == "1023 B");
  CHECK(readable_bytes(1536) == "1.5 KiB");
  CHECK(readable_bytes(10ULL << 30U) == "10.0 GiB");
}
