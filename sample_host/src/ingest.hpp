#pragma once

// Ingestion of plain log files: one entry per line, timestamps taken from the
// line when it carries one, otherwise kept in file order just after the
// previous entry.

#include <cstdint>
#include <string>
#include <vector>

#include "lognurse/host_api/log_aggregation.hpp"

namespace lognurse::host {

struct IngestFileReport {
  std::string file;
  std::uint64_t lines = 0;
  std::uint64_t with_timestamp = 0;  ///< lines whose own timestamp was used
};

struct IngestOptions {
  std::string tenant = kDefaultTenant;
  Labels labels;           ///< applied to every file's stream
  bool add_filename = true;  ///< add a "filename" label, as promtail does
  std::size_t batch_lines = 5000;
};

/// Pushes every line of `files` through `backend`. A batch refused by the
/// backend's ingestion rate limit ("store.rate_limited") is retried every
/// quarter second for up to two minutes. Stops at the first file that cannot be
/// opened or is a directory ("ingest.unreadable") and at the first failed push;
/// the files and batches before it stay stored.
Result<std::vector<IngestFileReport>> ingest_files(LogAggregationProtocol& backend,
                                                   const std::vector<std::string>& files,
                                                   const IngestOptions& options);

/// Parses "k=v,k2=v2" (values may be quoted with "…" to hold commas).
Result<Labels> parse_label_list(const std::string& text);

}  // namespace lognurse::host
