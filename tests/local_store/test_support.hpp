#pragma once

// Helpers shared by the local_store tests: a temporary directory that cleans
// up after itself, a store opened on it, and terse builders for pushes.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "local_store.hpp"
#include "lognurse/host_api/time.hpp"

namespace lognurse::local_store::test {

/// 2023-11-14T22:13:20Z: far enough in the past for every default limit.
inline constexpr std::int64_t kBase = 1'700'000'000'000'000'000;

/// A fresh directory under the system temp directory, removed with its content.
class TempDir {
public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "local_store_test.XXXXXX");
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

/// A connected store on `dir`/test.db with `config` merged over the defaults.
inline std::unique_ptr<LocalStore> open_default_store(
    const TempDir& dir, nlohmann::json config = nlohmann::json::object()) {
  if (!config.contains("path")) config["path"] = dir.file("test.db");
  auto parsed = parse_store_config(config, dir.path().string());
  if (!parsed) throw std::runtime_error(parsed.error().message);
  auto store = std::make_unique<LocalStore>(parsed.value(), nullptr);
  auto connected = store->connect();
  if (!connected) throw std::runtime_error(connected.error().message);
  return store;
}

inline LogEntry entry(std::int64_t offset_ns, std::string line, Labels metadata = {}) {
  return LogEntry{kBase + offset_ns, std::move(line), std::move(metadata)};
}

inline LogStream stream(Labels labels, std::vector<LogEntry> entries) {
  return LogStream{std::move(labels), std::move(entries)};
}

inline PushRequest request(std::vector<LogStream> streams, std::string tenant = kDefaultTenant) {
  PushRequest push;
  push.tenant = std::move(tenant);
  push.streams = std::move(streams);
  return push;
}

/// `config` with service_name and detected_level discovery off unless it sets them: the
/// store then keeps streams and entries exactly as pushed, so that a test of something else
/// sees only what it pushed.
inline nlohmann::json as_pushed(nlohmann::json config) {
  auto& limits = config["limits"];
  if (!limits.contains("discover_service_name")) {
    limits["discover_service_name"] = nlohmann::json::array();
  }
  if (!limits.contains("discover_log_levels")) limits["discover_log_levels"] = false;
  return config;
}

/// As open_default_store, with as_pushed(config).
inline std::unique_ptr<LocalStore> open_store(const TempDir& dir,
                                              nlohmann::json config = nlohmann::json::object()) {
  return open_default_store(dir, as_pushed(std::move(config)));
}

/// One entry as a scan delivered it: "<labels> <offset from kBase> <line>".
inline std::string describe(const Labels& labels, const LogEntry& entry) {
  return labels_to_string(labels) + " " + std::to_string(entry.timestamp_ns - kBase) + " " +
         entry.line;
}

/// Everything a scan delivers, described, stopping after `limit` entries.
inline std::vector<std::string> scan_all(LocalStore& store, const std::string& tenant,
                                         logql::ScanRequest request, std::size_t limit = SIZE_MAX) {
  std::vector<std::string> seen;
  auto status = store.scan(tenant, request, [&](const Labels& labels, const LogEntry& entry) {
    seen.push_back(describe(labels, entry));
    return seen.size() < limit;
  });
  if (!status) throw std::runtime_error(status.error().code + ": " + status.error().message);
  return seen;
}

/// A scan request over [kBase + from, kBase + to).
inline logql::ScanRequest scan_request(std::vector<logql::Matcher> matchers, std::int64_t from,
                                       std::int64_t to, Direction direction) {
  logql::ScanRequest scan;
  scan.matchers = std::move(matchers);
  scan.range = TimeRange{kBase + from, kBase + to};
  scan.direction = direction;
  return scan;
}

/// The range [kBase + from, kBase + to).
inline TimeRange range(std::int64_t from, std::int64_t to) {
  return TimeRange{kBase + from, kBase + to};
}

}  // namespace lognurse::local_store::test
