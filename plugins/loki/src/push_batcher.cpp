#include "push_batcher.hpp"

#include <algorithm>
#include <exception>

#include "loki_adapter.hpp"

namespace lognurse::loki {

namespace {

using Clock = std::chrono::steady_clock;

/// Per-entry cost beyond its text: timestamp, framing and JSON punctuation.
constexpr std::size_t kEntryOverhead = 32;

std::size_t labels_bytes(const Labels& labels) {
  std::size_t bytes = 0;
  for (const auto& [name, value] : labels) bytes += name.size() + value.size() + 4;
  return bytes;
}

}  // namespace

std::size_t push_request_bytes(const PushRequest& request) {
  std::size_t bytes = 0;
  for (const auto& stream : request.streams) {
    bytes += labels_bytes(stream.labels);
    for (const auto& entry : stream.entries) {
      bytes += entry.line.size() + labels_bytes(entry.metadata) + kEntryOverhead;
    }
  }
  return bytes;
}

PushBatcher::PushBatcher(BatchOptions options, Sender sender, std::shared_ptr<Logger> logger,
                         std::shared_ptr<const LokiMetrics> metrics)
    : options_(options),
      sender_(std::move(sender)),
      logger_(std::move(logger)),
      metrics_(metrics ? std::move(metrics) : std::make_shared<LokiMetrics>(nullptr, nullptr)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.senders); ++i) {
    threads_.emplace_back([this] { run(); });
  }
}

PushBatcher::~PushBatcher() { shutdown(); }

Status PushBatcher::submit(const std::string& tenant, const PushRequest& request) {
  auto pending = std::make_unique<Pending>();
  pending->tenant = tenant;
  pending->request = &request;
  pending->bytes = push_request_bytes(request);
  for (const auto& stream : request.streams) pending->entries += stream.entries.size();
  pending->queued_at = Clock::now();
  std::future<Status> outcome = pending->done.get_future();

  std::unique_lock lock(mutex_);
  if (stopping_) {
    metrics_->dropped(DropReason::shutting_down, pending->entries);
    return unavailable(codes::kShuttingDown,
                       "the Loki plugin is shutting down; the push was not sent");
  }
  // An empty queue takes any request, so that one larger than the bound
  // can still be sent on its own.
  if (!queue_.empty() && queued_bytes_ + pending->bytes > options_.max_queue_bytes) {
    counters_.entries_dropped += pending->entries;
    metrics_->dropped(DropReason::queue_full, pending->entries);
    const std::string message =
        "the push queue holds " + std::to_string(queued_bytes_) +
        " bytes waiting for Loki, and " + std::to_string(pending->bytes) +
        " more would exceed max_queue_bytes (" + std::to_string(options_.max_queue_bytes) +
        "); " + std::to_string(pending->entries) +
        " entries were not stored: retry later, or raise max_queue_bytes";
    if (logger_) {
      logger_->log(LogLevel::warn, "loki push tenant=" + tenant + " dropped entries=" +
                                       std::to_string(pending->entries) + " (dropped " +
                                       std::to_string(counters_.entries_dropped) +
                                       " in all): queue full");
    }
    return limit_exceeded(codes::kQueueFull, message);
  }
  const bool send_here = options_.max_wait.count() == 0 && queue_.empty() && sender_free();
  queued_bytes_ += pending->bytes;
  queued_entries_ += pending->entries;
  queue_.push_back(std::move(pending));
  publish_depth();
  if (send_here) {
    send(lock, take_batch());
    lock.unlock();
  } else {
    lock.unlock();
    wake_.notify_all();
  }
  return outcome.get();
}

void PushBatcher::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) thread.join();
  }
  // Callers sending their own batch are not among the threads.
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

PushCounters PushBatcher::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void PushBatcher::publish_depth() const { metrics_->queue_depth(queued_entries_, queued_bytes_); }

bool PushBatcher::sender_free() const {
  return in_flight_ < std::max<std::size_t>(1, options_.senders);
}

bool PushBatcher::batch_ready(Clock::time_point now) const {
  if (queue_.empty()) return false;
  if (stopping_) return true;
  if (queued_bytes_ >= options_.max_batch_bytes) return true;
  return now >= queue_.front()->queued_at + options_.max_wait;
}

PushBatcher::Batch PushBatcher::take_batch() {
  Batch batch;
  const std::string tenant = queue_.front()->tenant;
  std::size_t bytes = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    Pending& pending = **it;
    if (pending.tenant != tenant) {
      ++it;
      continue;
    }
    if (!batch.empty() && bytes + pending.bytes > options_.max_batch_bytes) break;
    bytes += pending.bytes;
    queued_bytes_ -= pending.bytes;
    queued_entries_ -= pending.entries;
    batch.push_back(std::move(*it));
    it = queue_.erase(it);
  }
  publish_depth();
  return batch;
}

void PushBatcher::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return queue_.empty() ? stopping_ : sender_free(); });
    if (queue_.empty()) return;  // stopping with nothing left to send
    if (!batch_ready(Clock::now())) {
      wake_.wait_until(lock, queue_.front()->queued_at + options_.max_wait,
                       [this] { return batch_ready(Clock::now()); });
      continue;
    }
    send(lock, take_batch());
  }
}

void PushBatcher::send(std::unique_lock<std::mutex>& lock, Batch batch) {
  in_flight_ += 1;
  lock.unlock();

  std::vector<const PushRequest*> parts;
  parts.reserve(batch.size());
  std::size_t entries = 0;
  for (const auto& pending : batch) {
    parts.push_back(pending->request);
    entries += pending->entries;
  }
  // The callers wait on their promises, so nothing may escape this thread.
  Status sent = success();
  try {
    sent = sender_(batch.front()->tenant, parts);
  } catch (const std::exception& e) {
    sent = internal_error("loki.internal", std::string("sending a push batch failed: ") +
                                               e.what());
  }

  lock.lock();
  if (sent) {
    counters_.batches_sent += 1;
    counters_.entries_sent += entries;
  } else {
    counters_.entries_failed += entries;
    metrics_->dropped(DropReason::push_failed, entries);
  }
  in_flight_ -= 1;
  // A sender is free again: a batch queued meanwhile may go now. With nothing
  // queued the sender threads are not woken, which with a lone writer would
  // cost a context switch per push for nothing.
  if (!queue_.empty() || stopping_) wake_.notify_all();
  idle_.notify_all();
  lock.unlock();
  // Past this point the requests may be gone: each caller returns once told.
  for (auto& pending : batch) pending->done.set_value(sent);
  lock.lock();
}

}  // namespace lognurse::loki
