// Per-tenant ingestion rate limits and per-tenant overrides of the limits.

#include <catch2/catch.hpp>

#include "rate_limiter.hpp"
#include "store_config.hpp"

namespace lognurse::local_store {

namespace {
constexpr std::int64_t kSecond = 1'000'000'000;
}  // namespace

TEST_CASE("the rate limiter lets a burst through, then refills at the rate") {
  IngestionRateLimiter limiter;
  CHECK(limiter.admit("t", 1, 1500, 1000, 2000, 0).ok());
  auto refused = limiter.admit("t", 2, 1000, 1000, 2000, 0);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::rate_limited);
  CHECK(refused.error().code == "store.rate_limited");
  CHECK(refused.error().message ==
        "Ingestion rate limit exceeded for user t (limit: 1000 bytes/sec) while attempting to "
        "ingest '2' lines totaling '1000' bytes, reduce log volume or contact your Loki "
        "administrator to see if the limit can be increased; retry later or raise "
        "limits.ingestion_rate_mb");
  // Half a second refills 500 bytes: 1000 are available again.
  CHECK(limiter.admit("t", 2, 1000, 1000, 2000, kSecond / 2).ok());
  CHECK_FALSE(limiter.admit("t", 1, 1, 1000, 2000, kSecond / 2).ok());
  // A long pause refills only up to the burst.
  CHECK(limiter.admit("t", 1, 2000, 1000, 2000, 100 * kSecond).ok());
  CHECK_FALSE(limiter.admit("t", 1, 1, 1000, 2000, 100 * kSecond).ok());
}

TEST_CASE("the rate limiter keeps one bucket per tenant") {
  IngestionRateLimiter limiter;
  CHECK(limiter.admit("a", 1, 2000, 1000, 2000, 0).ok());
  CHECK_FALSE(limiter.admit("a", 1, 10, 1000, 2000, 0).ok());
  CHECK(limiter.admit("b", 1, 2000, 1000, 2000, 0).ok());
}

TEST_CASE("a push larger than the burst is refused with its own code") {
  IngestionRateLimiter limiter;
  auto refused = limiter.admit("t", 3, 2001, 1000, 2000, 0);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "store.rate_limit_burst");
  CHECK(refused.error().kind == ErrorKind::rate_limited);
}

TEST_CASE("ingestion rate limits default to Loki's 4 MB/s with 6 MB bursts") {
  auto parsed = parse_store_config(nlohmann::json::object(), "/data");
  REQUIRE(parsed.ok());
  CHECK(parsed.value().limits.ingestion_rate_mb == 4);
  CHECK(parsed.value().limits.ingestion_rate_burst_size_mb == 6);
}

TEST_CASE("per-tenant overrides start from the global limits") {
  auto parsed = parse_store_config(
      {{"overrides", {{"team-a", {{"ingestion_rate_mb", 16}, {"max_line_size", "1MB"}}}}},
       {"limits", {{"max_label_names_per_series", 20}, {"ingestion_rate_mb", 0.5}}}},
      "/data");
  REQUIRE(parsed.ok());
  const StoreConfig& config = parsed.value();
  CHECK(config.limits_for("fake").ingestion_rate_mb == 0.5);
  CHECK(config.limits_for("fake").max_line_size == 262144);
  const StoreLimits& team = config.limits_for("team-a");
  CHECK(team.ingestion_rate_mb == 16);
  CHECK(team.max_line_size == 1048576);
  CHECK(team.max_label_names_per_series == 20);
}

TEST_CASE("a bad override names the tenant and the key") {
  auto parsed =
      parse_store_config({{"overrides", {{"team-a", {{"ingestion_rate_mb", 0}}}}}}, "/data");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message ==
        "local_store config key 'overrides.team-a.ingestion_rate_mb': must be greater than zero");
  auto unknown = parse_store_config({{"overrides", {{"team-a", {{"speed", 1}}}}}}, "/data");
  CHECK(unknown.error().message ==
        "local_store config key 'overrides.team-a.speed': unknown key; see the local_store "
        "configuration table");
  CHECK(parse_store_config({{"overrides", 3}}, "/data").error().message ==
        "local_store config key 'overrides': must be a mapping of tenant IDs");
}

}  // namespace lognurse::local_store
