// Validation of pushes: Loki's limits, with the entry at fault named.

#include "validation.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

Error refusal(const PushRequest& push, StoreLimits limits = {}) {
  auto result = validate_push(push, limits, kBase);
  REQUIRE_FALSE(result.ok());
  return result.error();
}

}  // namespace

TEST_CASE("validation refuses a stream without labels") {
  auto error = refusal(request({stream({}, {entry(1, "x")})}));
  CHECK(error.code == "store.missing_labels");
  CHECK(error.kind == ErrorKind::invalid_argument);
  CHECK(error.message == "streams[0]: error at least one label pair is required per stream");
}

TEST_CASE("validation refuses more label names than the limit") {
  Labels labels;
  for (int i = 0; i < 16; ++i) labels.emplace_back("l" + std::to_string(i), "v");
  auto error = refusal(request({stream({{"app", "ok"}}, {}), stream(labels, {entry(1, "x")})}));
  CHECK(error.code == "store.too_many_labels");
  CHECK(error.kind == ErrorKind::limit_exceeded);
  CHECK(error.message.rfind("streams[1]: entry for stream '{l0=\"v\", l1=\"v\", ", 0) == 0);
  CHECK(error.message.find("' has 16 label names; limit 15; drop labels or raise "
                           "limits.max_label_names_per_series") != std::string::npos);
}

TEST_CASE("validation refuses an invalid label name") {
  auto error = refusal(request({stream({{"app", "api"}, {"1bad-name", "v"}}, {entry(1, "x")})}));
  CHECK(error.code == "store.invalid_label_name");
  CHECK(error.message ==
        "streams[0]: stream '{app=\"api\", 1bad-name=\"v\"}' has invalid label name: "
        "'1bad-name'; a name must match [a-zA-Z_][a-zA-Z0-9_]*");
}

TEST_CASE("validation refuses a repeated label name") {
  auto error = refusal(request({stream({{"app", "api"}, {"app", "web"}}, {entry(1, "x")})}));
  CHECK(error.code == "store.duplicate_label_name");
  CHECK(error.message ==
        "streams[0]: stream '{app=\"api\", app=\"web\"}' has duplicate label name: 'app'");
}

TEST_CASE("validation refuses an empty label value") {
  auto error = refusal(request({stream({{"app", ""}}, {entry(1, "x")})}));
  CHECK(error.code == "store.empty_label_value");
  CHECK(error.message ==
        "streams[0]: stream '{app=\"\"}' has an empty value for label 'app'; "
        "give it a value or leave the label out");
}

TEST_CASE("validation refuses label names and values over their length limits") {
  StoreLimits limits;
  limits.max_label_name_length = 4;
  limits.max_label_value_length = 3;
  auto name = refusal(request({stream({{"service", "a"}}, {entry(1, "x")})}), limits);
  CHECK(name.code == "store.label_name_too_long");
  CHECK(name.message ==
        "streams[0]: stream '{service=\"a\"}' has label name too long: "
        "'service' (7 bytes, limit 4); shorten it or raise "
        "limits.max_label_name_length");
  auto value = refusal(request({stream({{"app", "abcd"}}, {entry(1, "x")})}), limits);
  CHECK(value.code == "store.label_value_too_long");
  CHECK(value.message ==
        "streams[0]: stream '{app=\"abcd\"}' has label value too long: "
        "'abcd' (4 bytes, limit 3); shorten it or raise "
        "limits.max_label_value_length");
}

TEST_CASE("validation accepts a line of exactly the limit and refuses one byte more") {
  StoreLimits limits;
  limits.max_line_size = 5;
  CHECK(validate_push(request({stream({{"app", "a"}}, {entry(1, "12345")})}), limits, kBase).ok());
  auto error =
      refusal(request({stream({{"app", "a"}}, {entry(1, "12345"), entry(2, "123456")})}), limits);
  CHECK(error.code == "store.line_too_long");
  CHECK(error.kind == ErrorKind::limit_exceeded);
  CHECK(error.message ==
        "streams[0].values[1]: max entry size '5' bytes exceeded for stream "
        "'{app=\"a\"}' while adding an entry with length '6' bytes; split the "
        "line or raise limits.max_line_size");
}

TEST_CASE("validation refuses too much structured metadata") {
  StoreLimits limits;
  limits.max_structured_metadata_entries_count = 1;
  limits.max_structured_metadata_size = 6;
  auto many =
      refusal(request({stream({{"app", "a"}}, {entry(1, "x", {{"a", "1"}, {"b", "2"}})})}), limits);
  CHECK(many.code == "store.structured_metadata_too_many");
  CHECK(many.message ==
        "streams[0].values[0]: stream '{app=\"a\"}' has too many structured "
        "metadata labels: '2', limit: '1'; raise "
        "limits.max_structured_metadata_entries_count");
  auto large =
      refusal(request({stream({{"app", "a"}}, {entry(1, "x", {{"trace", "1234"}})})}), limits);
  CHECK(large.code == "store.structured_metadata_too_large");
  CHECK(large.message ==
        "streams[0].values[0]: stream '{app=\"a\"}' has structured metadata "
        "too large: '9' bytes, limit: '6' bytes; raise "
        "limits.max_structured_metadata_size");
}

TEST_CASE("validation refuses timestamps outside the accepted window") {
  StoreLimits limits;
  limits.reject_old_samples = true;
  limits.reject_old_samples_max_age_ns = 3600LL * kNanosPerSecond;
  auto old = refusal(
      request({stream({{"app", "a"}}, {LogEntry{kBase - 7200LL * kNanosPerSecond, "old", {}}})}),
      limits);
  CHECK(old.code == "store.too_old");
  CHECK(old.message ==
        "streams[0].values[0]: entry for stream '{app=\"a\"}' has timestamp too "
        "old: " +
            format_time(kBase - 7200LL * kNanosPerSecond) +
            ", oldest acceptable timestamp is: " + format_time(kBase - 3600LL * kNanosPerSecond) +
            "; set limits.reject_old_samples to false to load old logs");
  auto future = refusal(
      request({stream({{"app", "a"}}, {LogEntry{kBase + 601LL * kNanosPerSecond, "new", {}}})}));
  CHECK(future.code == "store.too_far_in_future");
  CHECK(future.message ==
        "streams[0].values[0]: entry for stream '{app=\"a\"}' has timestamp "
        "too new: " +
            format_time(kBase + 601LL * kNanosPerSecond) +
            ", newest acceptable timestamp is: " + format_time(kBase + 600LL * kNanosPerSecond) +
            "; check the sender's clock or raise limits.creation_grace_period");
}

TEST_CASE("validation refuses malformed tenant IDs") {
  for (const char* tenant : {"", ".", "..", "a/b", "a|b", "tenant id"}) {
    INFO(tenant);
    auto error = refusal(request({stream({{"app", "a"}}, {entry(1, "x")})}, tenant));
    CHECK(error.code == "store.invalid_tenant");
  }
  CHECK(validate_tenant("team-a_1.prod").ok());
  CHECK(validate_tenant(std::string(150, 't')).ok());
  CHECK(validate_tenant(std::string(151, 't')).error().message ==
        "tenant ID '" + std::string(64, 't') + "...' is longer than 150 bytes");
}

TEST_CASE("validation normalizes labels and gives the canonical key and fingerprint") {
  auto result = validate_push(request({stream({{"b", "2"}, {"a", "x\"y"}}, {entry(1, "x")})}),
                              StoreLimits{}, kBase);
  REQUIRE(result.ok());
  REQUIRE(result.value().size() == 1);
  const auto& valid = result.value()[0];
  CHECK(valid.labels ==
        Labels{{"a", "x\"y"}, {"b", "2"}, {"service_name", "unknown_service"}});
  CHECK(valid.key == R"({a="x\"y", b="2", service_name="unknown_service"})");
  CHECK(valid.fingerprint == fingerprint(valid.key));
  CHECK(fingerprint("") == 14695981039346656037ULL);
  CHECK(fingerprint("a") == 0xaf63dc4c8601ec8cULL);
}

}  // namespace lognurse::local_store::test
