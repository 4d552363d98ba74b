#include <catch2/catch.hpp>

#include "nurse_tools.hpp"

using namespace lognurse;
using lognurse::nurse::bound_result;

namespace {

QueryResult two_streams() {
  QueryResult result;
  result.streams.push_back({{{"app", "a"}}, {{50, "a50", {}}, {30, "a30", {}}, {10, "a10", {}}}});
  result.streams.push_back({{{"app", "b"}}, {{40, "b40", {}}, {20, "b20", {}}}});
  return result;
}

std::vector<std::string> lines(const QueryResult& result) {
  std::vector<std::string> out;
  for (const auto& stream : result.streams) {
    for (const auto& entry : stream.entries) out.push_back(entry.line);
  }
  return out;
}

}  // namespace

TEST_CASE("bound_result keeps the newest entries across streams for a backward query") {
  auto result = two_streams();
  std::size_t cut = 0;
  CHECK(bound_result(result, 3, Direction::backward, 2000, cut));
  CHECK(lines(result) == std::vector<std::string>{"a50", "a30", "b40"});
}

TEST_CASE("bound_result keeps the oldest entries for a forward query and drops empty streams") {
  auto result = two_streams();
  std::size_t cut = 0;
  CHECK(bound_result(result, 1, Direction::forward, 2000, cut));
  CHECK(lines(result) == std::vector<std::string>{"a10"});
  CHECK(result.streams.size() == 1);
}

TEST_CASE("bound_result leaves an answer within the limit alone") {
  auto result = two_streams();
  std::size_t cut = 0;
  CHECK_FALSE(bound_result(result, 5, Direction::backward, 2000, cut));
  CHECK(lines(result).size() == 5);
}

TEST_CASE("bound_result cuts long lines at a UTF-8 boundary with a marker") {
  QueryResult result;
  result.streams.push_back({{{"app", "a"}}, {{1, "abcdefghijklmnopqrstuvwxyz", {}}, {2, "ééééééééééééééééé", {}}}});
  std::size_t cut = 0;
  CHECK_FALSE(bound_result(result, 10, Direction::backward, 16, cut));
  CHECK(cut == 2);
  CHECK(result.streams[0].entries[0].line == "abcdefghijklmnop…[cut 10 bytes]");
  // 16 bytes is 8 two-byte characters exactly.
  CHECK(result.streams[0].entries[1].line == "éééééééé…[cut 18 bytes]");
}
