#include "retry_policy.hpp"

#include <algorithm>
#include <random>

namespace lognurse::loki {

bool is_retryable(const LokiError& error, bool retry_timeouts) {
  const std::string& code = error.error.code;
  if (code == codes::kRateLimited || code == codes::kUnreachable) return true;
  if (code == codes::kTimeout) return retry_timeouts;
  if (code == codes::kServerError || code == codes::kNotReady) return true;
  return false;
}

std::chrono::milliseconds backoff_delay(const RetryOptions& options, int retry, double jitter) {
  const long long cap = std::max<long long>(options.max_backoff.count(), 1);
  long long bound = std::max<long long>(options.initial_backoff.count(), 1);
  for (int i = 1; i < retry && bound < cap; ++i) bound *= 2;
  bound = std::min(bound, cap);

  const double clamped = std::clamp(jitter, 0.0, 1.0);
  const long long half = bound / 2;
  const auto jittered = half + static_cast<long long>(clamped * static_cast<double>(bound - half));
  return std::chrono::milliseconds(std::min(jittered, bound));
}

RetryDecision decide_retry(const RetryOptions& options, const LokiError& error, int retry,
                           double jitter, bool retry_timeouts) {
  RetryDecision decision;
  if (!is_retryable(error, retry_timeouts)) return decision;
  if (retry > options.max_retries) {
    if (options.max_retries > 0) {
      decision.reason = "gave up after " + std::to_string(options.max_retries + 1) + " attempts";
    }
    return decision;
  }

  decision.delay = backoff_delay(options, retry, jitter);
  if (error.retry_after) {
    if (*error.retry_after > options.max_backoff) {
      decision.reason = "Loki asked to retry after " +
                        std::to_string(error.retry_after->count() / 1000) +
                        " s, longer than retry_max_backoff_ms (" +
                        std::to_string(options.max_backoff.count()) + " ms); try again later";
      return decision;
    }
    decision.delay = std::max(decision.delay, *error.retry_after);
  }
  decision.retry = true;
  return decision;
}

double random_jitter() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

}  // namespace lognurse::loki
