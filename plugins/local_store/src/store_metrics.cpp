#include "store_metrics.hpp"

namespace lognurse::local_store {
namespace {

template <typename Handle>
std::shared_ptr<Handle> or_discard(Result<std::shared_ptr<Handle>> result,
                                   Result<std::shared_ptr<Handle>> fallback,
                                   const std::shared_ptr<Logger>& logger) {
  if (result && result.value()) return std::move(result).value();
  if (logger && !result) {
    logger->log(LogLevel::error, "local_store metric not published: " + result.error().code +
                                     ": " + result.error().message);
  }
  return std::move(fallback).value();
}

}  // namespace

StoreMetrics StoreMetrics::create(const std::shared_ptr<MetricsSink>& given,
                                  const std::shared_ptr<Logger>& logger) {
  const auto sink = given ? given : discarding_metrics_sink();
  const auto discard = discarding_metrics_sink();
  auto counter = [&](const char* name, const char* help) {
    return or_discard(sink->counter({name, help}, {}), discard->counter({name, help}, {}), logger);
  };
  auto gauge = [&](const char* name, const char* help) {
    return or_discard(sink->gauge({name, help}, {}), discard->gauge({name, help}, {}), logger);
  };
  StoreMetrics metrics;
  metrics.compactions =
      counter("compactions_total", "Compaction passes over one stream's head blocks.");
  metrics.compacted_entries =
      counter("compacted_entries_total", "Entries the compactor moved from head blocks into chunks.");
  metrics.chunks_written = counter("chunks_written_total", "Compressed chunks the compactor wrote.");
  const MetricInfo seconds{"compaction_duration_seconds",
                           "Time of one compaction pass over one stream, in seconds."};
  const std::vector<double> bounds = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
  metrics.compaction_seconds = or_discard(sink->histogram(seconds, {}, bounds),
                                          discard->histogram(seconds, {}, bounds), logger);
  metrics.retention_chunks =
      counter("retention_deleted_chunks_total", "Chunks deleted because they passed retention.");
  metrics.retention_entries =
      counter("retention_deleted_entries_total", "Entries deleted because they passed retention.");
  metrics.duplicates = counter("duplicate_entries_total",
                               "Pushed entries not stored again because an equal entry "
                               "(stream, timestamp, line) was stored.");
  metrics.head_blocks = gauge("head_blocks", "Head blocks waiting for the compactor.");
  metrics.head_bytes = gauge("head_line_bytes", "Bytes of lines in head blocks waiting for the compactor.");
  return metrics;
}

}  // namespace lognurse::local_store
