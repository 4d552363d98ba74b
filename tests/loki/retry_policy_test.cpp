// The retry policy on its own: which errors retry, delay bounds, Retry-After.

#include <catch2/catch.hpp>

#include "retry_policy.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using std::chrono::milliseconds;

namespace {

LokiError failure(const char* code, int status = 0) {
  LokiError error;
  error.error = Error{ErrorKind::unavailable, code, "failed"};
  error.http_status = status;
  return error;
}

RetryOptions options(int retries, long initial, long max) {
  return RetryOptions{retries, milliseconds(initial), milliseconds(max)};
}

}  // namespace

TEST_CASE("rate limits, server errors and transport failures are retryable", "[loki][retry]") {
  CHECK(is_retryable(failure(codes::kRateLimited, 429), false));
  CHECK(is_retryable(failure(codes::kServerError, 503), false));
  CHECK(is_retryable(failure(codes::kUnreachable), false));
  CHECK(is_retryable(failure(codes::kNotReady, 503), false));
}

TEST_CASE("client errors and bad answers are not retryable", "[loki][retry]") {
  CHECK_FALSE(is_retryable(failure(codes::kBadRequest, 400), true));
  CHECK_FALSE(is_retryable(failure(codes::kUnauthorized, 401), true));
  CHECK_FALSE(is_retryable(failure(codes::kBadResponse, 200), true));
  CHECK_FALSE(is_retryable(failure(codes::kInvalidTenant), true));
}

TEST_CASE("timeouts retry only when asked", "[loki][retry]") {
  CHECK(is_retryable(failure(codes::kTimeout), true));
  CHECK_FALSE(is_retryable(failure(codes::kTimeout), false));
}

TEST_CASE("backoff doubles per retry within [bound/2, bound] and stops at the cap",
          "[loki][retry]") {
  const RetryOptions o = options(10, 100, 1000);
  CHECK(backoff_delay(o, 1, 0.0) == milliseconds(50));
  CHECK(backoff_delay(o, 1, 0.999999) == milliseconds(99));
  CHECK(backoff_delay(o, 2, 0.0) == milliseconds(100));
  CHECK(backoff_delay(o, 3, 0.5) == milliseconds(300));
  CHECK(backoff_delay(o, 4, 0.0) == milliseconds(400));
  CHECK(backoff_delay(o, 5, 0.0) == milliseconds(500));
  CHECK(backoff_delay(o, 5, 1.0) == milliseconds(1000));
  CHECK(backoff_delay(o, 60, 0.0) == milliseconds(500));
}

TEST_CASE("random jitter stays at least 0 and below 1", "[loki][retry]") {
  for (int i = 0; i < 1000; ++i) {
    const double jitter = random_jitter();
    REQUIRE(jitter >= 0.0);
    REQUIRE(jitter < 1.0);
  }
}

TEST_CASE("retries stop after max_retries", "[loki][retry]") {
  const RetryOptions o = options(2, 10, 100);
  const LokiError error = failure(codes::kServerError, 500);
  CHECK(decide_retry(o, error, 1, 0.0, false).retry);
  CHECK(decide_retry(o, error, 2, 0.0, false).retry);
  const RetryDecision last = decide_retry(o, error, 3, 0.0, false);
  CHECK_FALSE(last.retry);
  CHECK(last.reason == "gave up after 3 attempts");
}

TEST_CASE("max_retries of 0 never retries and adds no reason", "[loki][retry]") {
  const RetryDecision decision =
      decide_retry(options(0, 10, 100), failure(codes::kServerError, 500), 1, 0.0, false);
  CHECK_FALSE(decision.retry);
  CHECK(decision.reason.empty());
}

TEST_CASE("a Retry-After longer than the backoff replaces it", "[loki][retry]") {
  LokiError error = failure(codes::kRateLimited, 429);
  error.retry_after = milliseconds(2000);
  const RetryDecision decision = decide_retry(options(3, 10, 5000), error, 1, 0.0, true);
  CHECK(decision.retry);
  CHECK(decision.delay == milliseconds(2000));
}

TEST_CASE("a Retry-After beyond retry_max_backoff_ms ends the retries", "[loki][retry]") {
  LokiError error = failure(codes::kRateLimited, 429);
  error.retry_after = milliseconds(60000);
  const RetryDecision decision = decide_retry(options(3, 10, 5000), error, 1, 0.0, true);
  CHECK_FALSE(decision.retry);
  CHECK(decision.reason ==
        "Loki asked to retry after 60 s, longer than retry_max_backoff_ms (5000 ms); "
        "try again later");
}
