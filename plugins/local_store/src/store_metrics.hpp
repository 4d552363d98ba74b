#pragma once

// What the embedded store publishes through the host's metrics sink (on
// sample_host's /metrics under lognurse_plugin_local_store_): the compactor's
// and retention's work and what waits in head blocks.

#include <memory>

#include "lognurse/host_api/logger.hpp"
#include "lognurse/host_api/metrics.hpp"

namespace lognurse::local_store {

struct StoreMetrics {
  std::shared_ptr<MetricCounter> compactions;          ///< compaction passes over one stream
  std::shared_ptr<MetricCounter> compacted_entries;    ///< entries moved into chunks
  std::shared_ptr<MetricCounter> chunks_written;       ///< compacted chunks written
  std::shared_ptr<MetricHistogram> compaction_seconds;  ///< duration of one stream's pass
  std::shared_ptr<MetricCounter> retention_chunks;     ///< chunks deleted by retention
  std::shared_ptr<MetricCounter> retention_entries;    ///< entries deleted by retention
  std::shared_ptr<MetricCounter> duplicates;           ///< pushed entries already stored
  std::shared_ptr<MetricGauge> head_blocks;            ///< head blocks waiting for the compactor
  std::shared_ptr<MetricGauge> head_bytes;             ///< their bytes of lines

  /// Handles from `sink`; a handle the sink refuses is logged and replaced by one that
  /// records nothing. A null sink records nothing.
  static StoreMetrics create(const std::shared_ptr<MetricsSink>& sink,
                             const std::shared_ptr<Logger>& logger);
};

}  // namespace lognurse::local_store
