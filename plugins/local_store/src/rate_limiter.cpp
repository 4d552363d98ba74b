#include "rate_limiter.hpp"

#include <algorithm>

namespace lognurse::local_store {

namespace {

Error rate_error(const char* code, const std::string& tenant, std::size_t lines,
                 std::uint64_t bytes, double rate_bytes, const std::string& hint) {
  return Error{ErrorKind::rate_limited, code,
               "Ingestion rate limit exceeded for user " + tenant +
                   " (limit: " + std::to_string(static_cast<std::uint64_t>(rate_bytes)) +
                   " bytes/sec) while attempting to ingest '" + std::to_string(lines) +
                   "' lines totaling '" + std::to_string(bytes) +
                   "' bytes, reduce log volume or contact your Loki administrator to see if the "
                   "limit can be increased; " +
                   hint};
}

}  // namespace

Status IngestionRateLimiter::admit(const std::string& tenant, std::size_t lines,
                                   std::uint64_t bytes, double rate_bytes, double burst_bytes,
                                   std::int64_t now_ns) {
  const auto needed = static_cast<double>(bytes);
  if (needed > burst_bytes) {
    return rate_error("store.rate_limit_burst", tenant, lines, bytes, rate_bytes,
                      "the push is larger than the burst of " +
                          std::to_string(static_cast<std::uint64_t>(burst_bytes)) +
                          " bytes: split it or raise limits.ingestion_rate_burst_size_mb");
  }
  std::lock_guard lock(mutex_);
  auto [slot, inserted] = buckets_.try_emplace(tenant, Bucket{burst_bytes, now_ns});
  Bucket& bucket = slot->second;
  if (!inserted && now_ns > bucket.updated_ns) {
    const double elapsed = static_cast<double>(now_ns - bucket.updated_ns) / 1e9;
    bucket.tokens = std::min(burst_bytes, bucket.tokens + elapsed * rate_bytes);
    bucket.updated_ns = now_ns;
  }
  bucket.tokens = std::min(bucket.tokens, burst_bytes);
  if (bucket.tokens < needed) {
    return rate_error("store.rate_limited", tenant, lines, bytes, rate_bytes,
                      "retry later or raise limits.ingestion_rate_mb");
  }
  bucket.tokens -= needed;
  return success();
}

}  // namespace lognurse::local_store
