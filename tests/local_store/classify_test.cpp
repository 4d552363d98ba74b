// Level and service classification used by metrics.

#include "classify.hpp"

#include <catch2/catch.hpp>

namespace lognurse::local_store {
namespace {

std::string level_of(const std::string& line, Labels labels = {}, Labels metadata = {}) {
  return classify_level(labels, LogEntry{0, line, std::move(metadata)});
}

}  // namespace

TEST_CASE("level comes from labels first, then metadata, then the line") {
  CHECK(level_of("error in line", {{"detected_level", "Warning"}, {"level", "info"}}) == "warn");
  CHECK(level_of("error in line", {{"level", "INFO"}}) == "info");
  CHECK(level_of("error in line", {}, {{"detected_level", "debug"}}) == "debug");
  CHECK(level_of("error in line", {{"app", "x"}}) == "error");
  CHECK(level_of("nothing to see") == "unknown");
}

TEST_CASE("level reads logfmt and JSON level fields in any case") {
  CHECK(level_of("ts=1 level=WARN msg=\"an error\"") == "warn");
  CHECK(level_of("ts=1 lvl=dbg msg=x") == "debug");
  CHECK(level_of(R"({"msg":"an error","level":"info"})") == "info");
  CHECK(level_of(R"({"severity" : "CRITICAL"})") == "critical");
  CHECK(level_of("loglevel=error but also info") == "error");
}

TEST_CASE("level takes the first whole keyword of the line") {
  CHECK(level_of("2024-01-01 ERROR failed, info follows") == "error");
  CHECK(level_of("[warn] disk 91%") == "warn");
  CHECK(level_of("errors=0 error_count=3 terror informative") == "unknown");
  CHECK(level_of("PANIC: runtime") == "fatal");
  CHECK(level_of("notice: rotated") == "info");
}

TEST_CASE("unknown level values are kept lower-cased") {
  CHECK(normalize_level("Verbose") == "verbose");
  CHECK(normalize_level("ERR") == "error");
  CHECK(is_error_level("critical"));
  CHECK_FALSE(is_error_level("warn"));
}

TEST_CASE("service comes from service_name, then service, app, application, job") {
  CHECK(classify_service({{"app", "a"}, {"service_name", "s"}}) == "s");
  CHECK(classify_service({{"app", "a"}, {"service", "svc"}}) == "svc");
  CHECK(classify_service({{"app", "a"}, {"job", "j"}}) == "a");
  CHECK(classify_service({{"job", "j"}}) == "j");
  CHECK(classify_service({{"host", "h"}}) == "unknown_service");
}

}  // namespace lognurse::local_store
