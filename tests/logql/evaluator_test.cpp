// Runtime limits of query execution: each failure names the limit and says
// how to narrow the query.

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "lognurse/logql/logql.hpp"

namespace {

using namespace lognurse;

constexpr std::int64_t kSecond = 1'000'000'000;

/// `streams` streams {app="load", n="<i>"} of `per_stream` entries, one a second.
class GeneratedSource : public logql::EntrySource {
public:
  GeneratedSource(int streams, int per_stream) : streams_(streams), per_stream_(per_stream) {}

  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    for (int t = 0; t < per_stream_; ++t) {
      for (int s = 0; s < streams_; ++s) {
        Labels labels{{"app", "load"}, {"n", std::to_string(s)}};
        if (!logql::matches(request.matchers, labels)) continue;
        int second = request.direction == Direction::forward ? t : per_stream_ - 1 - t;
        LogEntry entry{second * kSecond, "level=info n=" + std::to_string(s), {}};
        if (entry.timestamp_ns < request.range.start_ns ||
            entry.timestamp_ns >= request.range.end_ns) {
          continue;
        }
        if (!visit(labels, entry)) return success();
      }
    }
    return success();
  }

private:
  int streams_;
  int per_stream_;
};

/// GeneratedSource that also scans sizes, checking the required literals as the contract
/// asks, and counts the scans of each kind.
class SizingSource : public GeneratedSource {
public:
  using GeneratedSource::GeneratedSource;

  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    ++line_scans;
    return GeneratedSource::scan(request, visit);
  }

  bool scans_sizes() const override { return true; }

  Status scan_sizes(const logql::ScanRequest& request, const logql::ScanShard* shard,
                    const logql::SizeVisitor& visit) override {
    REQUIRE(shard == nullptr);
    ++size_scans;
    return GeneratedSource::scan(request, [&](const Labels& labels, const LogEntry& entry) {
      for (const auto& literal : request.required_literals) {
        if (entry.line.find(literal) == std::string::npos) return true;
      }
      return visit(0, labels, LogEntry{entry.timestamp_ns, "", entry.metadata}, entry.line.size());
    });
  }

  int line_scans = 0;
  int size_scans = 0;
};

LogQuery range_query(const std::string& logql, std::int64_t end_seconds) {
  LogQuery query;
  query.logql = logql;
  query.range = {0, end_seconds * kSecond};
  query.step_ns = 10 * kSecond;
  return query;
}

}  // namespace

TEST_CASE("a log query asking for more entries than max_entries fails naming the limit") {
  GeneratedSource source(2, 10);
  logql::Limits limits;
  limits.max_entries = 5;
  auto query = range_query("{app=\"load\"}", 10);
  query.limit = 6;
  auto result = logql::execute(query.logql, query, source, limits);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "logql.max_entries");
  CHECK(result.error().message ==
        "the query asks for 6 entries, more than the limit of 5 (max_entries); lower the limit");
}

TEST_CASE("a metric query with more result series than max_series fails and says how to narrow") {
  GeneratedSource source(30, 5);
  logql::Limits limits;
  limits.max_series = 20;
  auto query = range_query("count_over_time({app=\"load\"}[10s])", 5);
  auto result = logql::execute(query.logql, query, source, limits);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "logql.max_series");
  CHECK(result.error().message.find("more than 20 series (limit max_series)") !=
        std::string::npos);
  CHECK(result.error().message.find("sum by (...)") != std::string::npos);
}

TEST_CASE("an aggregation over more inner series than max_series stays within the limit") {
  GeneratedSource source(30, 5);
  logql::Limits limits;
  limits.max_series = 20;
  auto query = range_query("sum(count_over_time({app=\"load\"}[10s]))", 5);
  auto result = logql::execute(query.logql, query, source, limits);
  REQUIRE(result.ok());
  REQUIRE(result.value().series.size() == 1);
  CHECK(result.value().series[0].samples.at(0).value == 30);
}

TEST_CASE("a query that runs past the timeout fails naming the limit and how to narrow it") {
  GeneratedSource source(10, 1000);
  logql::Limits limits;
  limits.timeout_seconds = 0;
  auto query = range_query("{app=\"load\"} |= \"nothing matches this\"", 1000);
  auto result = logql::execute(query.logql, query, source, limits);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "logql.timeout");
  CHECK(result.error().message ==
        "the query ran longer than the timeout of 0s (limit timeout_seconds); narrow the time "
        "range or make the selector more specific");
}

TEST_CASE("a metric query past the timeout fails with the same message") {
  GeneratedSource source(10, 1000);
  logql::Limits limits;
  limits.timeout_seconds = 0;
  auto query = range_query("sum(rate({app=\"load\"}[1m]))", 1000);
  auto result = logql::execute(query.logql, query, source, limits);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "logql.timeout");
}

TEST_CASE("a sum over more label sets than the series limit allows stays within the limit") {
  GeneratedSource source(1200, 2);
  logql::Limits limits;
  limits.max_series = 10;
  auto query = range_query("sum by (app) (count_over_time({app=\"load\"}[10s]))", 2);
  auto result = logql::execute(query.logql, query, source, limits);
  REQUIRE(result.ok());
  REQUIRE(result.value().series.size() == 1);
  // The only step is at 0: its window (-10s, 0] holds the first entry of every stream.
  CHECK(result.value().series[0].samples.at(0).value == 1200);
}

namespace {

/// One stream {app="re"} with one long line of 'a's ending in '!'.
class PathologicalSource : public logql::EntrySource {
public:
  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    Labels labels{{"app", "re"}};
    if (!logql::matches(request.matchers, labels)) return success();
    LogEntry entry{kSecond, std::string(100'000, 'a') + "!", {}};
    visit(labels, entry);
    return success();
  }
};

}  // namespace

TEST_CASE("a regex that backtracking engines take exponential time on is answered all the same") {
  // RE2 runs in time linear in the line: nested quantifiers cannot stall a query.
  PathologicalSource source;
  for (const char* query : {"{app=\"re\"} |~ \"(a+)+b\"", "{app=\"re\"} |~ \"(a|aa)*c\"",
                            "{app=\"re\"} | regexp \"(?P<x>(a*)*b)\""}) {
    auto result = logql::execute(query, range_query(query, 10), source);
    INFO(query);
    REQUIRE(result.ok());
    std::size_t entries = 0;
    for (const auto& stream : result.value().streams) entries += stream.entries.size();
    bool regexp_parser = std::string(query).find("regexp") != std::string::npos;
    CHECK(entries == (regexp_parser ? 1 : 0));
  }
}

namespace {

/// Two streams of varied logfmt lines, one every 3 seconds: keys that clash
/// with a stream label, keys that need sanitising, quoted values with
/// escapes, empty values, and text that is not logfmt at all.
class VariedSource : public logql::EntrySource {
public:
  VariedSource() {
    const char* levels[] = {"info", "warn", "error", "debug", ""};
    const char* extras[] = {"app=inner", "a.b=1", "1x=2", "msg=\"say \\\"hi\\\"\"", "",
                            "free text", "k=", "{\"json\":1}"};
    std::mt19937 random(7);
    for (int i = 0; i < 400; ++i) {
      std::string line = "level=" + std::string(levels[random() % 5]) +
                         " status=" + std::to_string(200 + (random() % 4) * 100) + " one=1 " +
                         extras[random() % 8];
      entries_.push_back({i % 2, LogEntry{i * 3 * kSecond, line, {}}});
    }
  }

  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const auto& [stream, entry] = entries_[request.direction == Direction::forward
                                                 ? i
                                                 : entries_.size() - 1 - i];
      if (!logql::matches(request.matchers, streams_[stream]) ||
          entry.timestamp_ns < request.range.start_ns ||
          entry.timestamp_ns >= request.range.end_ns) {
        continue;
      }
      if (!visit(streams_[stream], entry)) break;
    }
    return success();
  }

private:
  Labels streams_[2] = {{{"app", "load"}, {"env", "a"}}, {{"app", "load"}, {"env", "b"}}};
  std::vector<std::pair<int, LogEntry>> entries_;
};

std::string rendered(const Result<QueryResult>& result) {
  if (!result.ok()) return "error " + result.error().code;
  std::string out;
  for (const auto& series : result.value().series) {
    out += labels_to_string(series.metric);
    for (const auto& sample : series.samples) {
      out += " " + std::to_string(sample.timestamp_ns / kSecond) + "=" +
             std::to_string(sample.value);
    }
    out += "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("a grouped count gives what grouping every label afterwards gives") {
  // The first query of each pair runs with parser hints, series found by the
  // grouping values and points merged per window cell; the second (a sum of
  // unwrapped ones, compared with -1 so that the grouping happens after the
  // range aggregation) runs without any of them, over every label.
  VariedSource source;
  logql::Limits limits;
  limits.max_series = 100'000;
  const char* pipelines[] = {
      "| logfmt",
      "| logfmt | status >= 300",
      "| logfmt | label_format lvl=level | drop level=\"warn\"",
      "| logfmt | keep level, app_extracted, a_b, _1x, one",
  };
  const char* groupings[] = {"level", "app_extracted, level", "a_b, _1x", "lvl, env", "msg"};
  const char* windows[] = {"[40s]", "[40s] offset 5s", "[1m]", "[20s]"};
  std::int64_t steps[] = {30, 60};
  for (const char* pipeline : pipelines) {
    for (const char* by : groupings) {
      for (const char* window : windows) {
        for (std::int64_t step : steps) {
          std::string selector = std::string("{app=\"load\"} ") + pipeline;
          std::string hinted = std::string("sum by (") + by + ") (count_over_time(" + selector +
                               " " + window + "))";
          std::string plain = std::string("sum by (") + by + ") (sum_over_time(" + selector +
                              " | unwrap one " + window + ") > -1)";
          LogQuery query = range_query(hinted, 1200);
          query.step_ns = step * kSecond;
          auto a = logql::execute(hinted, query, source, limits);
          auto b = logql::execute(plain, query, source, limits);
          INFO(hinted << "\n" << plain << "\nstep " << step);
          REQUIRE(a.ok());
          CHECK(rendered(a) == rendered(b));
          CHECK(!rendered(a).empty());
        }
      }
    }
  }
}

TEST_CASE("a metric query of |= filters alone scans sizes where the source can") {
  const std::vector<std::string> by_sizes = {
      "sum(count_over_time({app=\"load\"} |= \"n=1\" [10s]))",
      "sum by (n) (rate({app=\"load\"} |= \"level\" |= \"n=2\" [10s]))",
      "bytes_over_time({app=\"load\"} |= \"n=1\" [10s])",
      "count_over_time({app=\"load\"}[10s])",
      "count_over_time({app=\"load\"} |= \"\" [10s])",
  };
  const std::vector<std::string> by_lines = {
      "sum(count_over_time({app=\"load\"} |~ \"n=1\" [10s]))",
      "sum(count_over_time({app=\"load\"} != \"n=1\" [10s]))",
      "sum(count_over_time({app=\"load\"} |= \"n=1\" or \"n=2\" [10s]))",
      "sum(count_over_time({app=\"load\"} |= ip(\"10.0.0.1\") [10s]))",
      "sum(count_over_time({app=\"load\"} |= \"n=1\" | logfmt [10s]))",
      "sum(count_over_time({app=\"load\"} |= \"n=1\" | line_format \"x\" [10s]))",
      "sum(sum_over_time({app=\"load\"} |= \"n=1\" | logfmt | unwrap n [10s]))",
  };
  for (const auto& text : by_sizes) {
    INFO(text);
    SizingSource sizing(4, 30);
    GeneratedSource plain(4, 30);
    const auto query = range_query(text, 30);
    const auto sized = logql::execute(query.logql, query, sizing, {});
    const auto read = logql::execute(query.logql, query, plain, {});
    REQUIRE(sized.ok());
    REQUIRE(read.ok());
    CHECK(sizing.size_scans == 1);
    CHECK(sizing.line_scans == 0);
    REQUIRE(sized.value().series.size() == read.value().series.size());
    REQUIRE_FALSE(sized.value().series.empty());
    for (std::size_t i = 0; i < sized.value().series.size(); ++i) {
      const Series& a = sized.value().series[i];
      const Series& b = read.value().series[i];
      CHECK(a.metric == b.metric);
      REQUIRE(a.samples.size() == b.samples.size());
      for (std::size_t k = 0; k < a.samples.size(); ++k) {
        CHECK(a.samples[k].timestamp_ns == b.samples[k].timestamp_ns);
        CHECK(a.samples[k].value == b.samples[k].value);
      }
    }
  }
  for (const auto& text : by_lines) {
    INFO(text);
    SizingSource sizing(4, 30);
    const auto query = range_query(text, 30);
    REQUIRE(logql::execute(query.logql, query, sizing, {}).ok());
    CHECK(sizing.size_scans == 0);
    CHECK(sizing.line_scans == 1);
  }
}
