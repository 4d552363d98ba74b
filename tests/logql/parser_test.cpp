// Parse errors: where they point and what they say. The accept/reject
// verdicts themselves are covered by the parser corpus.

#include <catch2/catch.hpp>

#include <string>

#include "lognurse/logql/logql.hpp"

namespace {

std::string error_of(const std::string& query) {
  auto status = lognurse::logql::validate(query);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == "logql.parse_error");
  return status.error().message;
}

}  // namespace

TEST_CASE("a parse error names line 1 and the column of the offending token") {
  CHECK(error_of("{app=\"api\"} |= 5") ==
        "parse error at line 1, col 16: unexpected \"5\", expected a string");
}

TEST_CASE("a parse error on a later line counts lines and restarts the column") {
  std::string message = error_of("sum by (level) (\n  count_over_time({app=\"api\"}\n    | logfmt"
                                 "\n    | level = [1m]))");
  CHECK(message.rfind("parse error at line 4, col 15: ", 0) == 0);
}

TEST_CASE("a parse error at the end of the input says what was expected there") {
  std::string message = error_of("{app=\"api\"");
  CHECK(message.rfind("parse error at line 1, col 11: ", 0) == 0);
  CHECK(message.find("expected \",\" or \"}\"") != std::string::npos);
}

TEST_CASE("columns count characters, not the bytes of UTF-8 text") {
  std::string message = error_of("{app=\"é\"} |= 5");
  CHECK(message.rfind("parse error at line 1, col 14: ", 0) == 0);
}

TEST_CASE("a selector that matches every stream is refused with how to fix it") {
  std::string message = error_of("{app=~\".*\"}");
  CHECK(message.rfind("parse error at line 1, col 1: ", 0) == 0);
  CHECK(message.find("app=~\".+\"") != std::string::npos);
}

TEST_CASE("an invalid regular expression is reported at its string") {
  std::string message = error_of("{app=\"api\"} |~ \"(\"");
  CHECK(message.rfind("parse error at line 1, col 16: invalid regular expression", 0) == 0);
}

TEST_CASE("an ip filter with a malformed range names the range") {
  std::string message = error_of("{app=\"api\"} |= ip(\"10.0.0.0/33\")");
  CHECK(message.find("ip(\"10.0.0.0/33\") is not a valid CIDR range") != std::string::npos);
}

TEST_CASE("label_format setting one label twice says how to do it instead") {
  std::string message = error_of("{app=\"api\"} | label_format a=b, a=\"c\"");
  CHECK(message.find("use two label_format stages") != std::string::npos);
}

TEST_CASE("a number literal beyond the range of a float is refused rather than read as infinity") {
  std::string message = error_of("1e400 + 1");
  CHECK(message ==
        "parse error at line 1, col 1: the number 1e400 is out of range of a 64-bit float");
}

TEST_CASE("an expression nested too deeply is refused instead of exhausting the stack") {
  std::string query = std::string(5000, '(') + "1" + std::string(5000, ')');
  std::string message = error_of(query);
  CHECK(message.find("nested more than 100 levels deep") != std::string::npos);
  CHECK(lognurse::logql::validate(std::string(50, '(') + "1" + std::string(50, ')')).ok());
}

TEST_CASE("a chain of binary operators too long to evaluate safely is refused") {
  auto chain = [](const std::string& first, const std::string& link, int links) {
    std::string query = first;
    for (int i = 0; i < links; ++i) query += link;
    return query;
  };
  CHECK(lognurse::logql::validate(chain("1", " + 1", 256)).ok());
  CHECK(error_of(chain("1", " + 1", 257)) ==
        "parse error at line 1, col 1027: the query has more than 256 binary operators "
        "(arithmetic, comparisons, and, or, unless, and the and/or of label filters); "
        "simplify it or split it into several queries");
  // Thousands of operators once exhausted the evaluator's stack.
  CHECK(error_of(chain("1", "+1", 8000)).find("more than 256 binary operators") !=
        std::string::npos);
  CHECK(error_of(chain("vector(1)", " or vector(1)", 10000)).find("more than 256") !=
        std::string::npos);
  // Label filters joined by or, and, a comma or white space count alike.
  CHECK(lognurse::logql::validate(chain("{app=\"a\"} | a=\"1\"", " or a=\"1\"", 256)).ok());
  for (const std::string link : {" or a=\"1\"", " and a=\"1\"", ", a=\"1\"", " a=\"1\""}) {
    INFO(link);
    CHECK(error_of(chain("{app=\"a\"} | a=\"1\"", link, 257)).find("more than 256") !=
          std::string::npos);
  }
  // The bound is on the whole query, however its operators are grouped.
  const std::string half = "(" + chain("1", " + 1", 128) + ")";
  CHECK(error_of(half + " * " + half).find("more than 256") != std::string::npos);
}

TEST_CASE("a template nested too deeply is refused") {
  std::string tmpl = "{{" + std::string(500, '(') + "1" + std::string(500, ')') + "}}";
  std::string message = error_of("{app=\"api\"} | line_format `" + tmpl + "`");
  CHECK(message.find("nested more than 100 levels deep") != std::string::npos);
}
