#include "ingest.hpp"

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "lognurse/host_api/time.hpp"
#include "timestamps.hpp"

namespace lognurse::host {

namespace {

/// Quarter seconds a batch waits at most for the ingestion rate limit: two minutes.
constexpr int kMaxRateLimitWaits = 480;

bool valid_label_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!(letter || (i > 0 && c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

Result<Labels> parse_label_list(const std::string& text) {
  Labels labels;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto eq = text.find('=', pos);
    if (eq == std::string::npos) {
      return invalid_argument("ingest.bad_labels", "--labels: \"" + text.substr(pos) +
                                                       "\" is not name=value; write e.g. "
                                                       "--labels service_name=nginx,env=dev");
    }
    std::string name = text.substr(pos, eq - pos);
    if (!valid_label_name(name)) {
      return invalid_argument("ingest.bad_labels",
                              "--labels: \"" + name +
                                  "\" is not a valid label name (letters, digits, _; not "
                                  "starting with a digit)");
    }
    std::string value;
    pos = eq + 1;
    if (pos < text.size() && text[pos] == '"') {
      const auto close = text.find('"', pos + 1);
      if (close == std::string::npos) {
        return invalid_argument("ingest.bad_labels", "--labels: unterminated quote in value of " + name);
      }
      value = text.substr(pos + 1, close - pos - 1);
      pos = close + 1;
      if (pos < text.size() && text[pos] != ',') {
        return invalid_argument("ingest.bad_labels", "--labels: expected , after the quoted value of " + name);
      }
    } else {
      const auto comma = text.find(',', pos);
      value = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      pos = comma == std::string::npos ? text.size() : comma;
    }
    if (pos < text.size()) ++pos;  // the comma
    labels.emplace_back(std::move(name), std::move(value));
  }
  if (labels.empty()) {
    return invalid_argument("ingest.bad_labels", "--labels needs at least one name=value");
  }
  normalize_labels(labels);
  return labels;
}

namespace {

/// Where in the file a refused batch went wrong: "line N" when the refusal names the value
/// at fault ("streams[0].values[4]: ..."), else the batch's lines, "lines A to B".
std::string where_in_batch(std::string_view message, const std::vector<std::size_t>& lines) {
  static constexpr std::string_view kValue = "streams[0].values[";
  const std::size_t at = message.find(kValue);
  if (at != std::string_view::npos) {
    std::size_t index = 0;
    const char* begin = message.data() + at + kValue.size();
    const auto [end, ec] = std::from_chars(begin, message.data() + message.size(), index);
    if (ec == std::errc() && end != begin && *end == ']' && index < lines.size()) {
      return "line " + std::to_string(lines[index]);
    }
  }
  if (lines.empty()) return "";
  return "lines " + std::to_string(lines.front()) + " to " + std::to_string(lines.back());
}

}  // namespace

Result<std::vector<IngestFileReport>> ingest_files(LogAggregationProtocol& backend,
                                                   const std::vector<std::string>& files,
                                                   const IngestOptions& options) {
  std::vector<IngestFileReport> reports;
  const std::int64_t started = now_ns();
  for (const auto& file : files) {
    // A directory opens as a stream that reads nothing, which would pass for an empty file.
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
      return invalid_argument("ingest.unreadable",
                              file + " is a directory; give the log files in it, e.g. " + file +
                                  "/*.log");
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return invalid_argument("ingest.unreadable", "cannot open " + file + " for reading");
    }
    IngestFileReport report;
    report.file = file;

    LogStream stream;
    stream.labels = options.labels;
    if (options.add_filename && !find_label(stream.labels, "filename")) {
      stream.labels.emplace_back("filename", std::filesystem::absolute(file).string());
      normalize_labels(stream.labels);
    }

    // Lines before the first timestamp start at the ingest time; later lines
    // without one follow their predecessor by a nanosecond each. A line whose
    // timestamp equals the previous line's (logs with second resolution) also
    // follows it by a nanosecond, so that equal lines written in the same
    // second stay distinct entries in file order instead of being taken for a
    // repeated push of one entry.
    std::int64_t previous = started;
    std::optional<std::int64_t> previous_parsed;
    std::string line;
    std::vector<std::size_t> line_numbers;  ///< of stream.entries, in the file
    auto flush = [&]() -> Status {
      if (stream.entries.empty()) return success();
      PushRequest request;
      request.tenant = options.tenant;
      request.streams.push_back(stream);
      auto pushed = backend.push(request);
      // A store's ingestion rate limit refills over time: loading a large file waits for it
      // rather than failing, for a bounded time per batch.
      for (int waited = 0; !pushed && pushed.error().code == "store.rate_limited" &&
                           waited < kMaxRateLimitWaits;
           ++waited) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        pushed = backend.push(request);
      }
      stream.entries.clear();
      const std::vector<std::size_t> batch_lines = std::move(line_numbers);
      line_numbers.clear();
      if (!pushed) {
        return Error{pushed.error().kind, pushed.error().code,
                     file + " " + where_in_batch(pushed.error().message, batch_lines) + ": " +
                         pushed.error().message};
      }
      return success();
    };
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ++report.lines;
      if (line.empty()) continue;
      auto ts = parse_line_timestamp(line, started);
      std::int64_t timestamp;
      if (ts) {
        timestamp = previous_parsed == *ts ? previous + 1 : *ts;
        previous_parsed = *ts;
        ++report.with_timestamp;
      } else {
        timestamp = previous + 1;
      }
      previous = timestamp;
      stream.entries.push_back(LogEntry{timestamp, std::move(line), {}});
      line_numbers.push_back(report.lines);
      line.clear();
      if (stream.entries.size() >= options.batch_lines) {
        auto status = flush();
        if (!status) return status.error();
      }
    }
    auto status = flush();
    if (!status) return status.error();
    reports.push_back(std::move(report));
  }
  return reports;
}

}  // namespace lognurse::host
