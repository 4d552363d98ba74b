// Label names and values over a time range, per tenant.

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

using Names = std::vector<std::string>;

void push_fixture(LocalStore& store) {
  REQUIRE(store
              .push(request({
                  stream({{"app", "api"}, {"env", "prod"}}, {entry(100, "a"), entry(300, "b")}),
                  stream({{"app", "web"}, {"region", "eu"}}, {entry(200, "c")}),
                  stream({{"app", "db"}, {"env", "dev"}}, {entry(400, "d")}),
              }))
              .ok());
  REQUIRE(store.push(request({stream({{"team", "other"}}, {entry(200, "e")})}, "other")).ok());
}

}  // namespace

TEST_CASE("labels lists the names of streams with entries in the range, sorted") {
  TempDir dir;
  auto store = open_store(dir);
  push_fixture(*store);

  CHECK(store->labels("fake", range(0, 1000)).value() == Names{"app", "env", "region"});
  CHECK(store->labels("fake", range(150, 250)).value() == Names{"app", "region"});
  CHECK(store->labels("fake", range(101, 200)).value().empty());
  CHECK(store->labels("fake", range(300, 301)).value() == Names{"app", "env"});
  CHECK(store->labels("other", range(0, 1000)).value() == Names{"team"});
  CHECK(store->labels("nobody", range(0, 1000)).value().empty());
}

TEST_CASE("label_values lists one label's values in the range, sorted") {
  TempDir dir;
  auto store = open_store(dir);
  push_fixture(*store);

  CHECK(store->label_values("fake", "app", range(0, 1000)).value() == Names{"api", "db", "web"});
  CHECK(store->label_values("fake", "app", range(200, 400)).value() == Names{"api", "web"});
  CHECK(store->label_values("fake", "env", range(0, 250)).value() == Names{"prod"});
  CHECK(store->label_values("fake", "missing", range(0, 1000)).value().empty());
  CHECK(store->label_values("other", "app", range(0, 1000)).value().empty());
}

TEST_CASE("labels refuses an inverted range and a malformed tenant") {
  TempDir dir;
  auto store = open_store(dir);
  auto inverted = store->labels("fake", range(10, 5));
  REQUIRE_FALSE(inverted.ok());
  CHECK(inverted.error().code == "store.invalid_range");
  CHECK(store->label_values("a|b", "app", range(0, 5)).error().code == "store.invalid_tenant");
}

}  // namespace lognurse::local_store::test
