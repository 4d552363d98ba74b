#include "loki_metrics.hpp"

#include <utility>

namespace lognurse::loki {

namespace {

const MetricInfo kDropped{"entries_dropped_total",
                          "Entries the Loki plugin did not store and said so to the caller, by "
                          "reason."};
const MetricInfo kEntriesPushed{"entries_pushed_total", "Entries of pushes Loki accepted."};
const MetricInfo kBytesPushed{"bytes_pushed_total",
                              "Request-body bytes of pushes Loki accepted, as sent (after "
                              "compression)."};
const MetricInfo kPushRequests{"push_requests_total",
                               "HTTP push attempts to Loki, retries included, by outcome."};
const MetricInfo kRetries{"retries_total",
                          "Calls to Loki repeated after a retryable failure, by operation."};
const MetricInfo kQueueEntries{"push_queue_entries",
                               "Entries waiting in the push queue for a batch to Loki."};
const MetricInfo kQueueBytes{"push_queue_bytes",
                             "Bytes waiting in the push queue, as max_queue_bytes counts them."};

constexpr const char* kDropReasons[] = {"queue_full", "shutting_down", "push_failed"};
constexpr const char* kOutcomes[] = {"success",      "rate_limited", "client_error",
                                     "server_error", "timeout",      "transport_error"};

/// The handle in `result`, or a discarding one after logging why.
template <typename Handle>
std::shared_ptr<Handle> or_discard(Result<std::shared_ptr<Handle>> result,
                                   Result<std::shared_ptr<Handle>> (*fallback)(),
                                   const std::shared_ptr<Logger>& logger) {
  if (result && result.value()) return std::move(result).value();
  if (logger && !result) {
    logger->log(LogLevel::error, "loki metric not published: " + result.error().code + ": " +
                                     result.error().message);
  }
  return fallback().value();
}

Result<std::shared_ptr<MetricCounter>> discarding_counter() {
  return discarding_metrics_sink()->counter({}, {});
}

Result<std::shared_ptr<MetricGauge>> discarding_gauge() {
  return discarding_metrics_sink()->gauge({}, {});
}

}  // namespace

PushOutcome classify_push_failure(const LokiError& error) {
  if (error.http_status == 429) return PushOutcome::rate_limited;
  if (error.http_status >= 500) return PushOutcome::server_error;
  if (error.http_status >= 400) return PushOutcome::client_error;
  if (error.error.code == codes::kTimeout) return PushOutcome::timeout;
  return PushOutcome::transport_error;
}

LokiMetrics::LokiMetrics(const std::shared_ptr<MetricsSink>& given,
                         const std::shared_ptr<Logger>& logger) {
  const auto sink = given ? given : discarding_metrics_sink();
  const auto counter = [&](const MetricInfo& info, const MetricLabels& labels) {
    return or_discard(sink->counter(info, labels), discarding_counter, logger);
  };
  const auto gauge = [&](const MetricInfo& info) {
    return or_discard(sink->gauge(info, {}), discarding_gauge, logger);
  };
  for (std::size_t i = 0; i < dropped_.size(); ++i) {
    dropped_[i] = counter(kDropped, {{"reason", kDropReasons[i]}});
  }
  entries_pushed_ = counter(kEntriesPushed, {});
  bytes_pushed_ = counter(kBytesPushed, {});
  for (std::size_t i = 0; i < push_requests_.size(); ++i) {
    push_requests_[i] = counter(kPushRequests, {{"outcome", kOutcomes[i]}});
  }
  for (const char* operation : kRetriedOperations) {
    retries_[operation] = counter(kRetries, {{"operation", operation}});
  }
  retries_["other"] = counter(kRetries, {{"operation", "other"}});
  queue_entries_ = gauge(kQueueEntries);
  queue_bytes_ = gauge(kQueueBytes);
}

void LokiMetrics::dropped(DropReason reason, std::uint64_t entries) const {
  dropped_[static_cast<std::size_t>(reason)]->add(entries);
}

void LokiMetrics::pushed(std::uint64_t entries, std::uint64_t body_bytes) const {
  entries_pushed_->add(entries);
  bytes_pushed_->add(body_bytes);
}

void LokiMetrics::push_attempt(PushOutcome outcome) const {
  push_requests_[static_cast<std::size_t>(outcome)]->increment();
}

void LokiMetrics::retried(const std::string& operation) const {
  const auto it = retries_.find(operation);
  (it == retries_.end() ? retries_.at("other") : it->second)->increment();
}

void LokiMetrics::queue_depth(std::uint64_t entries, std::uint64_t bytes) const {
  queue_entries_->set(static_cast<double>(entries));
  queue_bytes_->set(static_cast<double>(bytes));
}

}  // namespace lognurse::loki
