// Series, index stats, volume, patterns and detected fields of the embedded store.

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace lognurse;
using namespace lognurse::local_store::test;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

/// Three streams of tenant "fake" and one of tenant "other", all within the first minute.
std::unique_ptr<local_store::LocalStore> seeded_store(const TempDir& dir) {
  auto store = open_store(dir);
  auto pushed = store->push(request({
      stream({{"app", "api"}, {"env", "prod"}},
             {entry(0, "level=info msg=hello status=200 took=12ms", {{"trace_id", "t1"}}),
              entry(10 * kSecond, "level=info msg=bye status=404 took=1.5s")}),
      stream({{"app", "api"}, {"env", "dev"}},
             {entry(20 * kSecond, R"({"user":{"id":7},"ok":true,"size":"10KB"})")}),
      stream({{"app", "web"}, {"env", "prod"}}, {entry(30 * kSecond, "GET /index.html 200")}),
  }));
  REQUIRE(pushed.ok());
  auto other = store->push(request(
      {stream({{"app", "api"}, {"env", "secret"}}, {entry(5 * kSecond, "other tenant line")})},
      "other"));
  REQUIRE(other.ok());
  return store;
}

const TimeRange kMinute{kBase, kBase + 60 * kSecond};

}  // namespace

TEST_CASE("series returns the label sets matching any selector, within the tenant") {
  TempDir dir;
  auto store = seeded_store(dir);

  auto api = store->series(kDefaultTenant, {"{app=\"api\"}"}, kMinute);
  REQUIRE(api.ok());
  CHECK(api.value() ==
        std::vector<Labels>{{{"app", "api"}, {"env", "dev"}}, {{"app", "api"}, {"env", "prod"}}});

  auto both = store->series(kDefaultTenant, {"{env=\"dev\"}", "{app=\"web\"}"}, kMinute);
  REQUIRE(both.ok());
  CHECK(both.value() ==
        std::vector<Labels>{{{"app", "api"}, {"env", "dev"}}, {{"app", "web"}, {"env", "prod"}}});

  auto everything = store->series(kDefaultTenant, {"{}"}, kMinute);
  REQUIRE(everything.ok());
  CHECK(everything.value().size() == 3);

  auto other = store->series("other", {"{}"}, kMinute);
  REQUIRE(other.ok());
  CHECK(other.value() == std::vector<Labels>{{{"app", "api"}, {"env", "secret"}}});
}

TEST_CASE("series leaves out streams with no entry in the range") {
  TempDir dir;
  auto store = seeded_store(dir);
  auto late = store->series(kDefaultTenant, {"{app=~\".+\"}"},
                            TimeRange{kBase + 15 * kSecond, kBase + 25 * kSecond});
  REQUIRE(late.ok());
  CHECK(late.value() == std::vector<Labels>{{{"app", "api"}, {"env", "dev"}}});
}

TEST_CASE("series refuses a metric query with a message naming it") {
  TempDir dir;
  auto store = seeded_store(dir);
  auto refused = store->series(kDefaultTenant, {"count_over_time({app=\"api\"}[1m])"}, kMinute);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.not_a_log_query");
  CHECK(refused.error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("index stats count streams, entries and line bytes of one tenant") {
  TempDir dir;
  auto store = seeded_store(dir);
  auto stats = store->stats(kDefaultTenant, "{app=\"api\"}", kMinute);
  REQUIRE(stats.ok());
  CHECK(stats.value().streams == 2);
  CHECK(stats.value().chunks == 2);
  CHECK(stats.value().entries == 3);
  CHECK(stats.value().bytes ==
        std::string("level=info msg=hello status=200 took=12ms").size() +
            std::string("level=info msg=bye status=404 took=1.5s").size() +
            std::string(R"({"user":{"id":7},"ok":true,"size":"10KB"})").size());

  auto other = store->stats("other", "{app=\"api\"}", kMinute);
  REQUIRE(other.ok());
  CHECK(other.value().entries == 1);
  CHECK(other.value().bytes == std::string("other tenant line").size());

  auto nobody = store->stats("nobody", "{app=\"api\"}", kMinute);
  REQUIRE(nobody.ok());
  CHECK(nobody.value().streams == 0);
  CHECK(nobody.value().entries == 0);
}

TEST_CASE("volume groups bytes by the selector's labels, largest first, at the range end") {
  TempDir dir;
  auto store = seeded_store(dir);
  VolumeRequest request;
  request.selector = "{app=~\".+\"}";
  request.range = kMinute;
  auto volume = store->volume(request);
  REQUIRE(volume.ok());
  REQUIRE(volume.value().result_type == "vector");
  REQUIRE(volume.value().series.size() == 2);
  CHECK(volume.value().series[0].metric == Labels{{"app", "api"}});
  CHECK(volume.value().series[0].samples.size() == 1);
  CHECK(volume.value().series[0].samples[0].timestamp_ns == kMinute.end_ns);
  CHECK(volume.value().series[0].samples[0].value == 41 + 39 + 41);
  CHECK(volume.value().series[1].metric == Labels{{"app", "web"}});
  CHECK(volume.value().series[1].samples[0].value == 19);

  SECTION("target labels replace the selector's labels and exclude streams without them") {
    request.target_labels = {"env"};
    auto by_env = store->volume(request);
    REQUIRE(by_env.ok());
    REQUIRE(by_env.value().series.size() == 2);
    CHECK(by_env.value().series[0].metric == Labels{{"env", "prod"}});
    CHECK(by_env.value().series[0].samples[0].value == 41 + 39 + 19);
    CHECK(by_env.value().series[1].metric == Labels{{"env", "dev"}});
  }

  SECTION("the limit keeps the largest series") {
    request.limit = 1;
    auto top = store->volume(request);
    REQUIRE(top.ok());
    REQUIRE(top.value().series.size() == 1);
    CHECK(top.value().series[0].metric == Labels{{"app", "api"}});
  }

  SECTION("a step gives a matrix with a sample at the end of each step that has bytes") {
    request.step_ns = 15 * kSecond;
    auto ranged = store->volume(request);
    REQUIRE(ranged.ok());
    REQUIRE(ranged.value().result_type == "matrix");
    const auto& api = ranged.value().series[0];
    REQUIRE(api.samples.size() == 2);
    CHECK(api.samples[0].timestamp_ns == kBase + 15 * kSecond);
    CHECK(api.samples[0].value == 41 + 39);
    CHECK(api.samples[1].timestamp_ns == kBase + 30 * kSecond);
    CHECK(api.samples[1].value == 41);
  }
}

TEST_CASE("detected fields report metadata, logfmt and json fields with types and cardinality") {
  TempDir dir;
  auto store = seeded_store(dir);
  auto fields = store->detected_fields(kDefaultTenant, "{app=\"api\"}", kMinute, 100);
  REQUIRE(fields.ok());
  std::vector<std::string> described;
  for (const auto& field : fields.value()) {
    std::string parsers;
    for (const auto& parser : field.parsers) parsers += (parsers.empty() ? "" : ",") + parser;
    described.push_back(field.label + " " + field.type + " " + std::to_string(field.cardinality) +
                        " [" + parsers + "]");
  }
  CHECK(described == std::vector<std::string>{
                         "level string 1 [logfmt]",
                         "msg string 2 [logfmt]",
                         "ok boolean 1 [json]",
                         "size bytes 1 [json]",
                         "status int 2 [logfmt]",
                         "took duration 2 [logfmt]",
                         "trace_id string 1 []",
                         "user_id int 1 [json]",
                     });

  SECTION("the line limit reads only the newest lines") {
    auto newest = store->detected_fields(kDefaultTenant, "{app=\"api\"}", kMinute, 1);
    REQUIRE(newest.ok());
    std::vector<std::string> names;
    for (const auto& field : newest.value()) names.push_back(field.label);
    CHECK(names == std::vector<std::string>{"ok", "size", "user_id"});
  }

  SECTION("another tenant's lines are never read") {
    auto other = store->detected_fields("other", "{app=\"api\"}", kMinute, 100);
    REQUIRE(other.ok());
    CHECK(other.value().empty());
  }
}

TEST_CASE("patterns merge lines that differ in a few tokens and count them per step") {
  TempDir dir;
  auto store = open_store(dir);
  auto pushed = store->push(request({stream(
      {{"app", "api"}}, {entry(0, "GET /users 200 12ms"), entry(1 * kSecond, "GET /orders 200 8ms"),
                         entry(12 * kSecond, "GET /items 200 3ms"),
                         entry(13 * kSecond, "worker job 17 done now")})}));
  REQUIRE(pushed.ok());
  auto patterns = store->patterns(kDefaultTenant, "{app=\"api\"}", kMinute, 10 * kSecond);
  REQUIRE(patterns.ok());
  REQUIRE(patterns.value().size() == 2);
  CHECK(patterns.value()[0].pattern == "GET <_> 200 <_>");
  REQUIRE(patterns.value()[0].samples.size() == 2);
  CHECK(patterns.value()[0].samples[0].value == 2);
  CHECK(patterns.value()[0].samples[1].value == 1);
  CHECK(patterns.value()[0].samples[1].timestamp_ns - patterns.value()[0].samples[0].timestamp_ns ==
        10 * kSecond);
  CHECK(patterns.value()[1].pattern == "worker job 17 done now");

  auto other = store->patterns("other", "{app=\"api\"}", kMinute, 10 * kSecond);
  REQUIRE(other.ok());
  CHECK(other.value().empty());
}
