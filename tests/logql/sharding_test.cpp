// Sharded evaluation: a metric query whose source splits its streams into
// shards runs them on several threads and merges them into exactly what one
// scan of all streams gives, bit for bit, whatever the query.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "lognurse/logql/logql.hpp"
#include "exact_result.hpp"

namespace {

using namespace lognurse;

constexpr std::int64_t kSecond = 1'000'000'000;

/// Streams of entries in memory, scanned as the store scans: by timestamp, ties by stream
/// key, then arrival. Splits into shards by dealing the matching streams round-robin.
class ShardingSource : public logql::EntrySource {
public:
  struct Stream {
    std::int64_t key;
    Labels labels;
    std::vector<LogEntry> entries;  ///< by timestamp, ties in arrival order
  };

  explicit ShardingSource(std::vector<Stream> streams) : streams_(std::move(streams)) {}

  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    return scan_keys(request, nullptr, [&](std::int64_t, const Labels& labels,
                                           const LogEntry& entry) { return visit(labels, entry); });
  }

  Result<std::vector<logql::ScanShard>> shards(const logql::ScanRequest& request,
                                               std::size_t count) override {
    ++plans_;
    std::vector<logql::ScanShard> out(count);
    std::size_t next = 0;
    for (const auto& stream : streams_) {
      if (!logql::matches(request.matchers, stream.labels)) continue;
      out[next++ % count].streams.push_back(stream.key);
    }
    // Shards without streams are kept: the evaluator must take them too.
    if (next < 2) return std::vector<logql::ScanShard>{};
    return out;
  }

  Status scan_shard(const logql::ScanRequest& request, const logql::ScanShard& shard,
                    const logql::ShardVisitor& visit) override {
    ++shard_scans_;
    return scan_keys(request, &shard.streams, visit);
  }

  int plans() const { return plans_; }
  int shard_scans() const { return shard_scans_; }

private:
  Status scan_keys(const logql::ScanRequest& request, const std::vector<std::int64_t>* only,
                   const logql::ShardVisitor& visit) {
    struct Item {
      std::int64_t ts;
      std::int64_t key;
      std::size_t arrival;
      const Stream* stream;
      const LogEntry* entry;
    };
    std::vector<Item> items;
    for (const auto& stream : streams_) {
      if (!logql::matches(request.matchers, stream.labels)) continue;
      if (only != nullptr && std::find(only->begin(), only->end(), stream.key) == only->end()) {
        continue;
      }
      for (std::size_t i = 0; i < stream.entries.size(); ++i) {
        const LogEntry& entry = stream.entries[i];
        if (entry.timestamp_ns < request.range.start_ns ||
            entry.timestamp_ns >= request.range.end_ns) {
          continue;
        }
        items.push_back(Item{entry.timestamp_ns, stream.key, i, &stream, &entry});
      }
    }
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return std::tie(a.ts, a.key, a.arrival) < std::tie(b.ts, b.key, b.arrival);
    });
    if (request.direction == Direction::backward) std::reverse(items.begin(), items.end());
    for (const auto& item : items) {
      if (!visit(item.key, item.stream->labels, *item.entry)) break;
    }
    return success();
  }

  std::vector<Stream> streams_;
  std::atomic<int> plans_{0};
  std::atomic<int> shard_scans_{0};
};

/// `count` streams {app="shop", pod="p<k>", zone="a"|"b"} of logfmt lines, mostly two a
/// second and often at the same timestamps across streams and within one, with values
/// whose float sums depend on the order they are added in. Keys are dealt in an order
/// unlike the labels' so that the tie order is the keys', not the labels'.
std::vector<ShardingSource::Stream> shop_streams(int count, int per_stream, unsigned seed) {
  const char* levels[] = {"info", "warn", "error", "debug"};
  const char* values[] = {"0.1", "0.2", "0.3", "1e16", "-1e16", "3.25", "7", "oops", "-0.7"};
  std::mt19937 random(seed);
  std::vector<ShardingSource::Stream> streams;
  for (int k = 0; k < count; ++k) {
    ShardingSource::Stream stream;
    stream.key = (k * 7 + 3) % 11 + 100 * k;
    stream.labels = {{"app", "shop"}, {"pod", "p" + std::to_string(k)},
                     {"zone", k % 2 == 0 ? "a" : "b"}};
    std::int64_t ts = 0;
    for (int i = 0; i < per_stream; ++i) {
      ts += static_cast<std::int64_t>(random() % 3) * kSecond / 2;
      // Numbers only, so that unwrap fails nowhere unless a query picks `bad`.
      std::string line = "level=" + std::string(levels[random() % 4]) +
                         " v=" + values[random() % 7] + " bad=" + values[random() % 9] +
                         " n=" + std::to_string(random() % 5);
      stream.entries.push_back(LogEntry{ts, line, {}});
    }
    streams.push_back(std::move(stream));
  }
  return streams;
}

/// The result written out exactly (tests/support/exact_result.hpp).
std::string exact(const Result<QueryResult>& result) {
  return lognurse::test::exact_result(result);
}

LogQuery range_query(const std::string& logql, std::int64_t from_s, std::int64_t to_s,
                     std::int64_t step_s) {
  LogQuery query;
  query.logql = logql;
  query.range = {from_s * kSecond, to_s * kSecond};
  query.step_ns = step_s * kSecond;
  return query;
}

logql::Limits limits_with(std::size_t parallelism) {
  logql::Limits limits;
  limits.max_series = 100'000;
  limits.parallelism = parallelism;
  return limits;
}

const char* const kShardable[] = {
    "sum by (level) (count_over_time({app=\"shop\"} | logfmt [1m]))",
    "sum without (pod, v, bad, n) (rate({app=\"shop\"} | logfmt [30s]))",
    "count_over_time({app=\"shop\"} [1m] offset 30s)",
    "sum(bytes_over_time({app=\"shop\"} [45s]))",
    "sum by (zone) (bytes_rate({app=\"shop\"} [20s] offset 10s))",
    "sum by (level) (sum_over_time({app=\"shop\"} | logfmt | unwrap v [1m]))",
    "sum(sum_over_time({app=\"shop\"} | logfmt | unwrap v [2m] offset 1m))",
    "avg by (level) (avg_over_time({app=\"shop\"} | logfmt | unwrap v [1m]))",
    "avg(rate({app=\"shop\"} | logfmt [40s]))",
    "max by (zone) (max_over_time({app=\"shop\"} | logfmt | unwrap v [1m]))",
    "min(min_over_time({app=\"shop\"} | logfmt | unwrap v [1m]))",
    "count by (level) (count_over_time({app=\"shop\"} | logfmt [1m]))",
    "quantile_over_time(0.9, {app=\"shop\"} | logfmt | unwrap v [1m]) by (level)",
    "topk(2, sum by (pod) (rate({app=\"shop\"} [1m])))",
    "first_over_time({app=\"shop\"} | logfmt | unwrap v [1m]) by (level)",
    "last_over_time({app=\"shop\"} | logfmt | unwrap v [1m]) by (zone)",
    "stddev_over_time({app=\"shop\"} | logfmt | unwrap v [1m]) by (level)",
    "rate({app=\"shop\"} | logfmt | unwrap v [1m]) by (level)",
    "sum by (level) (count_over_time({app=\"shop\"} | logfmt | drop pod, zone [1m]))",
    "count_over_time({app=\"shop\"} | logfmt | keep level [1m])",
    "sum by (level) (count_over_time({app=\"shop\"} |= \"warn\" [1m]))",
    "sum(rate({app=\"shop\"} | logfmt | level=\"error\" [1m])) / sum(rate({app=\"shop\"}[1m]))",
    "absent_over_time({app=\"shop\", pod=\"p1\"} |= \"never there\" [1m])",
    "sum by (level) (count_over_time({app=\"shop\", zone=\"b\"} | logfmt [1m]))",
    "sum(count_over_time({app=\"shop\", pod=\"none\"} [1m]))",
};

}  // namespace

TEST_CASE("sharded evaluation gives exactly the result of one scan, for every kind of query") {
  const int streams = GENERATE(2, 3, 5);
  const unsigned seed = GENERATE(1u, 2u);
  const std::size_t parallelism = GENERATE(2, 3);
  ShardingSource source(shop_streams(streams, 300, seed));
  for (const char* text : kShardable) {
    INFO(text << " over " << streams << " streams, seed " << seed << ", " << parallelism
              << " threads");
    const auto query = range_query(text, 30, 200, 10);
    const std::string one = exact(logql::execute(text, query, source, limits_with(1)));
    const int scans_before = source.shard_scans();
    const std::string sharded =
        exact(logql::execute(text, query, source, limits_with(parallelism)));
    CHECK(sharded == one);
    CHECK(one.rfind("error", 0) != 0);
    // Every range aggregation ran over shards, one scan per shard (2 per thread).
    const int range_aggregations = std::string(text).find(" / ") != std::string::npos ? 2 : 1;
    const int matching = std::string(text).find("zone=\"b\"") != std::string::npos
                             ? streams / 2
                         : std::string(text).find("pod=") != std::string::npos ? 0
                                                                               : streams;
    if (matching >= 2) {
      CHECK(source.shard_scans() - scans_before ==
            range_aggregations * static_cast<int>(parallelism) * 2);
    } else {
      CHECK(source.shard_scans() == scans_before);
    }
  }
}

TEST_CASE("sharded evaluation of an instant query gives exactly the result of one scan") {
  ShardingSource source(shop_streams(4, 300, 3));
  for (const char* text : kShardable) {
    INFO(text);
    const auto one = logql::execute_instant(text, 150 * kSecond, "fake", 100,
                                            Direction::backward, source, limits_with(1));
    const auto sharded = logql::execute_instant(text, 150 * kSecond, "fake", 100,
                                                Direction::backward, source, limits_with(2));
    CHECK(exact(sharded) == exact(one));
  }
}

TEST_CASE("a sharded sum of counts has the values counted by hand") {
  // Two streams, entries at 1s, 1s, 2s in one and 1s, 3s in the other: in the window
  // (0s, 3s] of the step at 3s all five count, split by level.
  ShardingSource source({
      {5, {{"app", "shop"}, {"pod", "a"}},
       {{kSecond, "level=info", {}}, {kSecond, "level=warn", {}}, {2 * kSecond, "level=info", {}}}},
      {2, {{"app", "shop"}, {"pod", "b"}}, {{kSecond, "level=info", {}}, {3 * kSecond, "x=1", {}}}},
  });
  const auto query = range_query("sum by (level) (count_over_time({app=\"shop\"} | logfmt [3s]))",
                                 3, 3, 1);
  const auto result = logql::execute(query.logql, query, source, limits_with(2));
  REQUIRE(result.ok());
  CHECK(source.shard_scans() == 4);  // two threads, two shards each, two of them empty
  REQUIRE(result.value().series.size() == 3);
  CHECK(labels_to_string(result.value().series[0].metric) == "{}");
  CHECK(result.value().series[0].samples.at(0).value == 1);
  CHECK(labels_to_string(result.value().series[1].metric) == "{level=\"info\"}");
  CHECK(result.value().series[1].samples.at(0).value == 3);
  CHECK(labels_to_string(result.value().series[2].metric) == "{level=\"warn\"}");
  CHECK(result.value().series[2].samples.at(0).value == 1);
  CHECK(result.value().stats.lines_scanned == 5);
  CHECK(result.value().stats.streams_matched == 2);
}

TEST_CASE("log queries and single-stream selectors are not sharded") {
  ShardingSource source(shop_streams(3, 100, 4));
  for (const char* text :
       {"{app=\"shop\"} |= \"warn\"", "{app=\"shop\"} | logfmt | level=\"error\""}) {
    INFO(text);
    auto query = range_query(text, 0, 100, 10);
    query.limit = 50;
    const auto one = logql::execute(text, query, source, limits_with(1));
    const auto sharded = logql::execute(text, query, source, limits_with(2));
    REQUIRE(one.ok());
    REQUIRE(sharded.ok());
    REQUIRE(one.value().streams.size() == sharded.value().streams.size());
    for (std::size_t s = 0; s < one.value().streams.size(); ++s) {
      CHECK(one.value().streams[s].labels == sharded.value().streams[s].labels);
      CHECK(one.value().streams[s].entries.size() == sharded.value().streams[s].entries.size());
    }
  }
  CHECK(source.plans() == 0);

  const char* single = "sum(count_over_time({app=\"shop\", pod=\"p1\"} [1m]))";
  const auto query = range_query(single, 30, 100, 10);
  CHECK(exact(logql::execute(single, query, source, limits_with(2))) ==
        exact(logql::execute(single, query, source, limits_with(1))));
  CHECK(source.plans() == 1);
  CHECK(source.shard_scans() == 0);
}

TEST_CASE("a sharded query fails as one scan fails: a failing entry, the series limit, time") {
  ShardingSource source(shop_streams(4, 300, 5));
  // unwrap of "bad", which holds "oops" now and then: the first failing entry is reported.
  const char* failing = "sum by (level) (sum_over_time({app=\"shop\"} | logfmt | unwrap bad [1m]))";
  const auto query = range_query(failing, 30, 200, 10);
  const auto one = logql::execute(failing, query, source, limits_with(1));
  const auto sharded = logql::execute(failing, query, source, limits_with(2));
  REQUIRE_FALSE(one.ok());
  CHECK(one.error().code == "logql.pipeline_error");
  CHECK(exact(sharded) == exact(one));

  // 4 streams, 4 levels and 5 values of n: 80 series, more than the result may have.
  logql::Limits few = limits_with(2);
  few.max_series = 1;
  const char* many = "count_over_time({app=\"shop\"} | logfmt | drop v, bad [1m])";
  const auto many_query = range_query(many, 30, 200, 10);
  const auto limited = logql::execute(many, many_query, source, few);
  REQUIRE_FALSE(limited.ok());
  CHECK(limited.error().code == "logql.max_series");
  few.parallelism = 1;
  CHECK(exact(logql::execute(many, many_query, source, few)) == exact(limited));

  logql::Limits no_time = limits_with(2);
  no_time.timeout_seconds = 0;
  const auto timed_out = logql::execute(many, many_query, source, no_time);
  REQUIRE_FALSE(timed_out.ok());
  CHECK(timed_out.error().code == "logql.timeout");
}

TEST_CASE("sharded scans fail at the series bound of one scan, checked on the merge") {
  // An inner count per id (1400 ids, 700 in each stream) reduced to one series by count():
  // one scan fails once it collects more than 4 * max_series + 1000 series; each shard stays
  // under that bound, their merge does not.
  std::vector<ShardingSource::Stream> streams;
  for (int k = 0; k < 2; ++k) {
    ShardingSource::Stream stream{k, {{"app", "many"}, {"half", std::to_string(k)}}, {}};
    for (int i = 0; i < 700; ++i) {
      stream.entries.push_back(
          LogEntry{(i + 1) * kSecond, "id=" + std::to_string(k * 700 + i), {}});
    }
    streams.push_back(std::move(stream));
  }
  ShardingSource source(std::move(streams));
  const char* text = "count(count_over_time({app=\"many\"} | logfmt [1h]))";
  const auto query = range_query(text, 3600, 3600, 60);
  logql::Limits limits = limits_with(2);
  limits.max_series = 99;  // bound 1396
  const auto sharded = logql::execute(text, query, source, limits);
  CHECK(source.shard_scans() == 4);
  limits.parallelism = 1;
  const auto one = logql::execute(text, query, source, limits);
  REQUIRE_FALSE(one.ok());
  CHECK(one.error().code == "logql.max_series");
  CHECK(exact(sharded) == exact(one));

  limits.max_series = 100;  // bound 1400: the query passes, sharded or not
  const auto within = logql::execute(text, query, source, limits);
  limits.parallelism = 2;
  CHECK(exact(logql::execute(text, query, source, limits)) == exact(within));
  REQUIRE(within.ok());
  REQUIRE(within.value().series.size() == 1);
  CHECK(within.value().series[0].samples.at(0).value == 1400);
}
