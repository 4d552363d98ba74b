// Loki 3's discovery at push, as the store does it: a service_name for every
// stream, and a detected_level on every entry read back.

#include <catch2/catch.hpp>
#include <map>

#include "test_support.hpp"
#include "validation.hpp"

namespace lognurse::local_store::test {
namespace {

LogQuery log_query(std::string logql) {
  LogQuery query;
  query.tenant = kDefaultTenant;
  query.logql = std::move(logql);
  query.range = range(0, 1000);
  query.limit = 100;
  query.direction = Direction::forward;
  return query;
}

/// The label sets of the streams `selector` matches, rendered and sorted.
std::vector<std::string> stored_series(LocalStore& store,
                                       const std::string& selector = R"({service_name=~".+"})") {
  auto series = store.series(kDefaultTenant, {selector}, range(0, 1000));
  if (!series) throw std::runtime_error(series.error().message);
  std::vector<std::string> rendered;
  for (const auto& labels : series.value()) rendered.push_back(labels_to_string(labels));
  std::sort(rendered.begin(), rendered.end());
  return rendered;
}

/// line → the value of its detected_level metadata, "-" when it has none.
std::map<std::string, std::string> levels_by_line(const QueryResult& result) {
  std::map<std::string, std::string> levels;
  for (const auto& stream : result.streams) {
    for (const auto& item : stream.entries) {
      const std::string* level = find_label(item.metadata, "detected_level");
      levels[item.line] = level == nullptr ? "-" : *level;
    }
  }
  return levels;
}

}  // namespace

TEST_CASE("service name discovery takes the first listed label, else unknown_service") {
  const auto& loki = default_service_name_discovery();
  SECTION("the first label of the list the stream has wins") {
    Labels labels = {{"job", "batch"}, {"app", "api"}, {"env", "prod"}};
    add_service_name(labels, loki);
    normalize_labels(labels);
    CHECK(labels_to_string(labels) ==
          R"({app="api", env="prod", job="batch", service_name="api"})");
  }
  SECTION("a service_name pushed is kept as it is") {
    Labels labels = {{"service_name", "billing"}, {"app", "api"}};
    add_service_name(labels, loki);
    CHECK(labels == Labels{{"service_name", "billing"}, {"app", "api"}});
  }
  SECTION("kubernetes and container names count, in Loki's order") {
    Labels labels = {{"container", "nginx"}, {"app_kubernetes_io_name", "frontend"}};
    add_service_name(labels, loki);
    CHECK(*find_label(labels, "service_name") == "frontend");
  }
  SECTION("without any listed label the service is unknown_service") {
    Labels labels = {{"env", "dev"}, {"filename", "/var/log/syslog"}};
    add_service_name(labels, loki);
    CHECK(*find_label(labels, "service_name") == "unknown_service");
  }
  SECTION("an empty list turns discovery off") {
    Labels labels = {{"env", "dev"}};
    add_service_name(labels, {});
    CHECK(labels == Labels{{"env", "dev"}});
  }
  SECTION("a configured list replaces Loki's") {
    Labels labels = {{"app", "api"}, {"team", "payments"}};
    add_service_name(labels, {"team"});
    CHECK(*find_label(labels, "service_name") == "payments");
  }
}

TEST_CASE("a pushed stream is stored and found under its discovered service_name") {
  TempDir dir;
  auto store = open_default_store(dir);
  REQUIRE(store
              ->push(request({stream({{"app", "checkout"}}, {entry(10, "paid")}),
                              stream({{"env", "dev"}}, {entry(20, "hello")}),
                              stream({{"service_name", "db"}, {"job", "x"}}, {entry(30, "ok")})}))
              .ok());
  CHECK(stored_series(*store) == std::vector<std::string>{
                                     R"({app="checkout", service_name="checkout"})",
                                     R"({env="dev", service_name="unknown_service"})",
                                     R"({job="x", service_name="db"})",
                                 });
  auto found = store->query(log_query(R"({service_name="checkout"})"));
  REQUIRE(found.ok());
  REQUIRE(found.value().streams.size() == 1);
  CHECK(found.value().streams[0].entries.at(0).line == "paid");

  // The stream a push names and the one it was stored as are the same stream: a second
  // push of the same labels adds to it.
  REQUIRE(store->push(request({stream({{"app", "checkout"}}, {entry(40, "shipped")})})).ok());
  CHECK(stored_series(*store).size() == 3);
}

TEST_CASE("a stream at the label limit is not refused for the service_name the store adds") {
  TempDir dir;
  auto store = open_default_store(dir, {{"limits", {{"max_label_names_per_series", 2}}}});
  REQUIRE(store->push(request({stream({{"app", "a"}, {"env", "b"}}, {entry(1, "x")})})).ok());
  CHECK(stored_series(*store) ==
        std::vector<std::string>{R"({app="a", env="b", service_name="a"})"});
  // A stream over the limit as pushed is still refused.
  auto refused =
      store->push(request({stream({{"app", "a"}, {"env", "b"}, {"zone", "c"}}, {entry(2, "y")})}));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.too_many_labels");
}

TEST_CASE("discover_service_name: [] stores streams as pushed") {
  TempDir dir;
  auto store = open_default_store(dir, {{"limits", {{"discover_service_name", nlohmann::json::array()}}}});
  REQUIRE(store->push(request({stream({{"app", "checkout"}}, {entry(10, "paid")})})).ok());
  CHECK(stored_series(*store, R"({app=~".+"})") ==
        std::vector<std::string>{R"({app="checkout"})"});
}

TEST_CASE("entries are read with a detected_level, which a level filter selects") {
  TempDir dir;
  auto store = open_default_store(dir);
  REQUIRE(store
              ->push(request({
                  stream({{"app", "api"}},
                         {entry(10, "level=error msg=\"payment declined\""),
                          entry(20, R"({"level":"WARNING","msg":"slow"})"),
                          entry(30, "GET /health 200"), entry(40, "ERROR disk full"),
                          entry(50, "kept", {{"detected_level", "debug"}}),
                          entry(60, "from metadata", {{"level", "Fatal"}})}),
                  stream({{"app", "api"}, {"detected_level", "info"}},
                         {entry(70, "labelled stream")}),
              }))
              .ok());
  auto all = store->query(log_query(R"({app="api"})"));
  REQUIRE(all.ok());
  CHECK(levels_by_line(all.value()) == std::map<std::string, std::string>{
                                           {"level=error msg=\"payment declined\"", "error"},
                                           {R"({"level":"WARNING","msg":"slow"})", "warn"},
                                           {"GET /health 200", "unknown"},
                                           {"ERROR disk full", "error"},
                                           {"kept", "debug"},
                                           {"from metadata", "fatal"},
                                           // The stream label says it; no metadata repeats it.
                                           {"labelled stream", "-"},
                                       });

  auto errors = store->query(log_query(R"({app="api"} | detected_level="error")"));
  REQUIRE(errors.ok());
  std::vector<std::string> lines;
  for (const auto& s : errors.value().streams) {
    for (const auto& item : s.entries) lines.push_back(item.line);
  }
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<std::string>{"ERROR disk full", "level=error msg=\"payment declined\""});

  // Evaluated at the end of [0, 1s): the window (0, 1s] holds every entry.
  LogQuery metric = log_query(R"(sum by (detected_level) (count_over_time({app="api"}[1s])))");
  metric.range = range(0, 1'000'000'000);
  auto by_level = store->query(metric);
  REQUIRE(by_level.ok());
  std::map<std::string, double> counts;
  for (const auto& series : by_level.value().series) {
    const std::string* level = find_label(series.metric, "detected_level");
    REQUIRE(level != nullptr);
    double total = 0;
    for (const auto& sample : series.samples) total += sample.value;
    counts[*level] = total;
  }
  CHECK(counts == std::map<std::string, double>{{"debug", 1}, {"error", 2}, {"fatal", 1},
                                                {"info", 1}, {"unknown", 1}, {"warn", 1}});
}

TEST_CASE("discover_log_levels: false reads entries as pushed") {
  TempDir dir;
  auto store = open_default_store(dir, {{"limits", {{"discover_log_levels", false}}}});
  REQUIRE(store->push(request({stream({{"app", "api"}}, {entry(10, "level=error boom")})})).ok());
  auto all = store->query(log_query(R"({app="api"})"));
  REQUIRE(all.ok());
  CHECK(levels_by_line(all.value()) ==
        std::map<std::string, std::string>{{"level=error boom", "-"}});
}

}  // namespace lognurse::local_store::test
