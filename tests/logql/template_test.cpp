#include <catch2/catch.hpp>

#include <string>

#include "lognurse/logql/template.hpp"

using lognurse::logql::Template;

namespace {

std::string compile_error(const std::string& text) {
  std::string error;
  auto compiled = Template::compile(text, error);
  return compiled ? std::string("compiled") : error;
}

}  // namespace

TEST_CASE("a template function named as an argument is called with no arguments, so one that "
          "needs some is refused when compiled") {
  CHECK(compile_error(R"({{ regexReplaceAll regexReplaceAll "a" "b" }})") ==
        "wrong number of arguments for regexReplaceAll: got 0");
  CHECK(compile_error(R"({{ printf "%s" upper }})") ==
        "wrong number of arguments for upper: got 0");
  CHECK(compile_error(R"({{ regexReplaceAll "a" "b" "c" }})") == "compiled");
}
