#include "exact_result.hpp"

#include <cstring>

namespace lognurse::test {

std::string exact_result(const Result<QueryResult>& result, std::int64_t time_base) {
  if (!result.ok()) return "error " + result.error().code + ": " + result.error().message;
  std::string out = result.value().result_type + "\n";
  for (const auto& series : result.value().series) {
    out += labels_to_string(series.metric);
    for (const auto& sample : series.samples) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, &sample.value, sizeof bits);
      out += " " + std::to_string(sample.timestamp_ns - time_base) + "=" + std::to_string(bits);
    }
    out += "\n";
  }
  const QueryStats& stats = result.value().stats;
  out += "scanned " + std::to_string(stats.lines_scanned) + " lines, " +
         std::to_string(stats.bytes_scanned) + " bytes, " +
         std::to_string(stats.streams_matched) + " streams\n";
  return out;
}

}  // namespace lognurse::test
