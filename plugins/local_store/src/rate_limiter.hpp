#pragma once

// Per-tenant ingestion rate limiting, after Loki's distributor: a token bucket
// of bytes per tenant that refills at the tenant's rate up to its burst size.
// A push whose lines and structured metadata need more bytes than the bucket
// holds is refused as a whole with Loki's wording. Thread safe.

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "lognurse/host_api/result.hpp"

namespace lognurse::local_store {

/// Token buckets of bytes, one per tenant, created full on a tenant's first push.
class IngestionRateLimiter {
public:
  /// Takes `bytes` from the tenant's bucket at time `now_ns` or fails with
  /// "store.rate_limited" (kind rate_limited) when the bucket holds fewer, and with
  /// "store.rate_limit_burst" when `bytes` exceeds the burst, so that no wait can help.
  /// `rate_bytes` per second refill a bucket of at most `burst_bytes`; buckets start full.
  Status admit(const std::string& tenant, std::size_t lines, std::uint64_t bytes, double rate_bytes,
               double burst_bytes, std::int64_t now_ns);

private:
  struct Bucket {
    double tokens = 0;
    std::int64_t updated_ns = 0;
  };

  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace lognurse::local_store
