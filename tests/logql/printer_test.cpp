// The canonical printer: every tree the parser builds prints to text that
// parses back to the same tree. Checked over every valid query of the parser
// corpus and every query of the conformance suite.

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/printer.hpp"

namespace {

std::vector<std::string> corpus_queries() {
  std::vector<std::string> queries;
  std::ifstream corpus(std::string(LOGNURSE_SOURCE_DIR) + "/tests/logql/parser_corpus.txt");
  REQUIRE(corpus.good());
  std::string line;
  while (std::getline(corpus, line)) {
    if (line.rfind("ok\t", 0) == 0) queries.push_back(line.substr(line.rfind('\t') + 1));
  }
  for (const char* file : {"log_queries.txt", "parsers.txt", "templates.txt",
                           "range_aggregations.txt", "vector_aggregations.txt"}) {
    std::ifstream cases(std::string(LOGNURSE_LOGQL_CONFORMANCE_DIR) + "/" + file);
    REQUIRE(cases.good());
    while (std::getline(cases, line)) {
      if (line.rfind("query: ", 0) == 0) queries.push_back(line.substr(7));
    }
  }
  return queries;
}

}  // namespace

TEST_CASE("printing a parsed query and parsing it again gives the same tree") {
  auto queries = corpus_queries();
  REQUIRE(queries.size() > 700);
  for (const auto& query : queries) {
    auto parsed = lognurse::logql::parse(query);
    if (!parsed.ok()) continue;  // the conformance suite also holds invalid queries
    std::string printed = lognurse::logql::print(parsed.value());
    auto reparsed = lognurse::logql::parse(printed);
    INFO("query:   " << query << "\nprinted: " << printed);
    REQUIRE(reparsed.ok());
    CHECK(reparsed.value() == parsed.value());
  }
}

TEST_CASE("the printer parenthesizes label filters so that and binding tighter than or shows") {
  auto parsed = lognurse::logql::parse(
      "{app=\"api\"} | a=\"1\" or b=\"2\" and c=\"3\" | (a=\"1\" or b=\"2\") and c=\"3\"");
  REQUIRE(parsed.ok());
  CHECK(lognurse::logql::print(parsed.value()) ==
        "{app=\"api\"} | a=\"1\" or (b=\"2\" and c=\"3\") | (a=\"1\" or b=\"2\") and c=\"3\"");
}

TEST_CASE("the printer renders ip filters, group modifiers and label_replace") {
  auto parsed = lognurse::logql::parse(
      "label_replace(sum by (app) (count_over_time({app=\"api\"} |= ip(\"10.0.0.0/8\") | "
      "addr != ip(\"::1\") [5m])) / on (app) group_left (env) sum by (app, env) "
      "(rate({app=\"api\"}[5m])), \"dst\", \"$1\", \"app\", \"(.*)\")");
  REQUIRE(parsed.ok());
  CHECK(lognurse::logql::print(parsed.value()) ==
        "label_replace(sum by (app) (count_over_time({app=\"api\"} |= ip(\"10.0.0.0/8\") | "
        "addr != ip(\"::1\") [5m])) / on (app) group_left (env) sum by (app, env) "
        "(rate({app=\"api\"} [5m])), \"dst\", \"$1\", \"app\", \"(.*)\")");
}
