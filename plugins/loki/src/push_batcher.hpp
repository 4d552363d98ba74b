#pragma once

// PushBatcher: group commit for pushes. Callers hand in whole push requests
// and wait; the requests of a tenant that are queued are merged into one HTTP
// push, sent when the batch holds batch_max_bytes or its oldest request has
// waited batch_max_wait_ms (at once when that is 0 and a sender is idle), and
// every caller in the batch is told the outcome. With push_concurrency
// senders, that many batches are on the wire at once (Loki accepts entries
// out of order, so batches need not arrive in order). A caller is
// acknowledged only after Loki accepted the batch holding its entries, so an
// acknowledged entry is never lost, and a request is sent in one batch only,
// so it is never acknowledged twice.
//
// Who sends: when batch_max_wait_ms is 0 and a caller finds the queue empty
// and fewer than push_concurrency batches on the wire, it sends its batch on
// its own thread; otherwise a sender thread does. A lone writer thus waits for
// no thread hand-off, which on a busy machine costs a wait for a CPU twice per
// push (wake the sender, wake the caller). Requests queued behind a caller's
// batch go with the next one, sent by a sender thread.
//
// Requests are borrowed, not copied: a caller waits in submit() until its
// request was sent, so the batch encodes the callers' own requests.
//
// The queue is bounded by max_queue_bytes: a request that would exceed it is
// refused at once with loki.queue_full, counted in dropped_entries and in the
// entries_dropped_total metric, and logged as a warning, never dropped
// silently. The queue gauges follow every change of the queue.
//
// Thread safety: submit() may be called from any number of threads.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "lognurse/host_api/logger.hpp"
#include "lognurse/host_api/result.hpp"
#include "lognurse/host_api/types.hpp"
#include "loki_metrics.hpp"

namespace lognurse::loki {

/// Batch and queue bounds; see the config keys batch_max_bytes,
/// batch_max_wait_ms and max_queue_bytes.
struct BatchOptions {
  /// A batch is sent once it holds at least this many bytes of entries; a
  /// larger single request is sent alone.
  std::size_t max_batch_bytes = 1U << 20U;
  /// Longest time the oldest request of a batch waits for others to join.
  std::chrono::milliseconds max_wait{0};
  /// Bytes that may wait in the queue before further requests are refused.
  std::size_t max_queue_bytes = 64U << 20U;
  /// Sender threads: batches on the wire at once.
  std::size_t senders = 1;
};

/// Counters of the push path since the backend started.
struct PushCounters {
  std::uint64_t batches_sent = 0;     ///< HTTP pushes Loki accepted
  std::uint64_t entries_sent = 0;     ///< entries in those pushes
  std::uint64_t entries_failed = 0;   ///< entries of batches Loki did not accept
  std::uint64_t entries_dropped = 0;  ///< entries refused because the queue was full
};

/// The size a request counts for in batches and in the queue bound: its
/// lines, labels and metadata plus a fixed overhead per entry.
std::size_t push_request_bytes(const PushRequest& request);

/// The group-commit queue described in the file comment.
class PushBatcher {
public:
  /// Sends the requests of one batch for `tenant` as one push (with whatever
  /// retries the caller wants) and returns the final outcome.
  using Sender =
      std::function<Status(const std::string& tenant, std::span<const PushRequest* const> parts)>;

  /// Starts the sender threads. `logger` and `metrics` may be null.
  PushBatcher(BatchOptions options, Sender sender, std::shared_ptr<Logger> logger,
              std::shared_ptr<const LokiMetrics> metrics = nullptr);
  /// Same as shutdown().
  ~PushBatcher();
  PushBatcher(const PushBatcher&) = delete;
  PushBatcher& operator=(const PushBatcher&) = delete;

  /// Queues the request and waits until the batch holding it was accepted or
  /// failed, sending that batch on the calling thread when the file comment
  /// says so. `request` is read until then and must not change. Fails with
  /// loki.queue_full when the queue is full and with loki.shutting_down after
  /// shutdown().
  Status submit(const std::string& tenant, const PushRequest& request);

  /// Refuses new requests, sends what is queued (each batch once more at
  /// most, since the senders' retries end at shutdown), joins the threads and
  /// waits for batches callers are sending.
  void shutdown();

  /// A snapshot of the counters.
  PushCounters counters() const;

private:
  struct Pending {
    std::string tenant;
    const PushRequest* request = nullptr;  ///< the caller's, alive until `done` is set
    std::size_t bytes = 0;
    std::size_t entries = 0;
    std::chrono::steady_clock::time_point queued_at;
    std::promise<Status> done;
  };

  using Batch = std::vector<std::unique_ptr<Pending>>;

  void run();
  bool batch_ready(std::chrono::steady_clock::time_point now) const;
  bool sender_free() const;
  Batch take_batch();
  void send(std::unique_lock<std::mutex>& lock, Batch batch);
  void publish_depth() const;

  BatchOptions options_;
  Sender sender_;
  std::shared_ptr<Logger> logger_;
  std::shared_ptr<const LokiMetrics> metrics_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Pending>> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t queued_entries_ = 0;
  std::size_t in_flight_ = 0;  ///< batches being sent, by callers or sender threads
  std::condition_variable idle_;
  bool stopping_ = false;
  PushCounters counters_;
  std::vector<std::thread> threads_;
};

}  // namespace lognurse::loki
