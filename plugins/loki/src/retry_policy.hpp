#pragma once

// When and how long to wait before trying a failed Loki call again:
// exponential backoff with equal jitter, Retry-After honoured, and no retry
// for errors another attempt cannot fix (400, 401, 403, 413, bad answers).

#include <chrono>
#include <string>

#include "loki_adapter.hpp"

namespace lognurse::loki {

/// Retry settings; see the config keys max_retries and retry_*_backoff_ms.
struct RetryOptions {
  /// Attempts after the first; 0 disables retries.
  int max_retries = 3;
  /// Upper bound of the first delay; each further retry doubles it.
  std::chrono::milliseconds initial_backoff{100};
  /// Cap of the computed delay, and the longest Retry-After that is honoured.
  std::chrono::milliseconds max_backoff{5000};
};

/// What to do after a failed attempt.
struct RetryDecision {
  bool retry = false;                  ///< whether to try again
  std::chrono::milliseconds delay{0};  ///< how long to wait first
  std::string reason;                  ///< why not, when retry is false (may be empty)
};

/// Whether another attempt may succeed: 429, 5xx and transport errors, and
/// timeouts when `retry_timeouts` is set (pushes, not expensive queries).
bool is_retryable(const LokiError& error, bool retry_timeouts);

/// The delay before retry number `retry` (1 for the first retry): the
/// exponential bound b = min(max_backoff, initial_backoff · 2^(retry-1)), then
/// a uniform point of [b/2, b] chosen by `jitter` in [0, 1).
std::chrono::milliseconds backoff_delay(const RetryOptions& options, int retry, double jitter);

/// Decides after attempt `retry` - 1 failed with `error`. A Retry-After longer
/// than the computed delay replaces it; one longer than max_backoff ends the
/// retries so that a caller is not blocked for minutes.
RetryDecision decide_retry(const RetryOptions& options, const LokiError& error, int retry,
                           double jitter, bool retry_timeouts);

/// A jitter value in [0, 1) from a per-thread generator.
double random_jitter();

}  // namespace lognurse::loki
