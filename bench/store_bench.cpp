// The embedded store at scale: about 1 GB of log lines (10 million lines over
// one hour, four services, logfmt, JSON and plain text) pushed through
// LocalStore and compacted, and the same lines written to a plain file. In the
// same run it times LogQL queries on the store and `rg -c` over the file
// (Debian's ripgrep, page-cached), and reports each query's time and its ratio
// to the baseline.
//
// usage: store_bench [--lines N] [--dir DIR] [--repeat N] [--keep] [--reuse] [--only NAME]
//                    [--query LOGQL] [--parallelism N] [--chunk-encoding zstd|lz4]
//                    [--discover-log-levels on|off]
// The data set is built in DIR (default a new directory under /tmp) and
// removed afterwards unless --keep; --reuse queries the set an earlier --keep
// run left in DIR (same --lines), --only runs the queries whose name contains
// NAME, --query times LOGQL (1m steps) instead of the fixed set. --parallelism sets the store's query_parallelism (default: the cores),
// --chunk-encoding its chunk_encoding (default lz4, the store's) for a data set built anew,
// --discover-log-levels off reads entries without the detected_level the store adds by default.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "chunk_format.hpp"
#include "local_store.hpp"
#include "sqlite.hpp"
#include "lognurse/host_api/time.hpp"
#include "store_config.hpp"

namespace {

using namespace lognurse;
using namespace lognurse::local_store;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kHour = 3600 * kSecond;
constexpr const char* kRareClustered = "upstream_reset_before_headers";
constexpr const char* kRareSpread = "card_declined_fraud_suspected";
constexpr const char* kCommon = "cache_miss";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Options {
  std::size_t lines = 10'000'000;
  std::string dir;
  int repeat = 3;
  bool keep = false;
  bool reuse = false;      ///< query the data set left in --dir by an earlier --keep run
  std::string only;        ///< run only the queries whose name contains this
  std::string query;       ///< run this query instead of the fixed set
  std::size_t parallelism = 0;  ///< query_parallelism; 0 keeps the store's default
  std::string chunk_encoding = "lz4";
  bool discover_log_levels = true;  ///< the store's limits.discover_log_levels
};

/// One line of service `s` at position i; about 100 bytes on average.
std::string make_line(std::size_t s, std::size_t i, std::mt19937_64& random, std::size_t total) {
  static const char* paths[] = {"/api/v1/orders", "/api/v1/users", "/api/v1/cart", "/healthz",
                                "/api/v1/search", "/static/app.js", "/api/v1/payments"};
  static const char* levels[] = {"info", "info", "info", "info", "info", "debug", "warn", "error"};
  const char* level = levels[random() % 8];
  std::string extra;
  // About 1 line in 10 carries the common term.
  if (random() % 10 == 0) extra = " cache_miss";
  // A burst in minute 40: the clustered rare term, about 1 line in 20,000 overall.
  const std::size_t minute = i * 60 / total;
  if (minute == 40 && random() % 1000 < 3 && s == 2) extra += " upstream_reset_before_headers";
  // Spread over the whole hour: 1 line in 50,000.
  if (random() % 50'000 == 0) extra += " card_declined_fraud_suspected";
  const std::uint64_t id = random();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id));
  switch (s % 4) {
    case 0:
      return std::string("level=") + level + " msg=\"request done\" path=" + paths[id % 7] +
             " status=" + std::to_string(200 + (id % 5) * 100) + " took=" +
             std::to_string(id % 900) + "ms user=u" + std::to_string(id % 100000) +
             " trace=" + hex + extra;
    case 1:
      return std::string("{\"level\":\"") + level + "\",\"msg\":\"job finished\",\"job\":" +
             std::to_string(id % 5000) + ",\"queue\":\"q" + std::to_string(id % 16) +
             "\",\"trace\":\"" + hex + "\"" +
             (extra.empty() ? "" : ",\"note\":\"" + extra.substr(1) + "\"") + "}";
    case 2:
      return std::string("10.0.") + std::to_string(id % 256) + "." + std::to_string(id % 200) +
             " - - [04/Dec/2026:10:00:00 +0000] \"GET " + paths[id % 7] + " HTTP/1.1\" " +
             std::to_string(200 + (id % 3)) + " " + std::to_string(id % 50000) + " " + level +
             extra;
    default:
      return std::string(level) + ": checkpoint complete: wrote " + std::to_string(id % 9000) +
             " buffers (" + std::to_string(id % 100) + ".0%) id=" + hex + extra;
  }
}

/// Runs a command, returns its wall time in seconds and its standard output.
std::pair<double, std::string> run(const std::string& command) {
  const auto start = std::chrono::steady_clock::now();
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {0, ""};
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  ::pclose(pipe);
  return {seconds_since(start), output};
}

/// CPU seconds (user and system) this process has used.
double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--lines" && i + 1 < argc) {
      options.lines = std::stoull(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      options.dir = argv[++i];
    } else if (arg == "--repeat" && i + 1 < argc) {
      options.repeat = std::max(1, std::stoi(argv[++i]));
    } else if (arg == "--keep") {
      options.keep = true;
    } else if (arg == "--reuse") {
      options.reuse = options.keep = true;
    } else if (arg == "--only" && i + 1 < argc) {
      options.only = argv[++i];
    } else if (arg == "--query" && i + 1 < argc) {
      options.query = argv[++i];
    } else if (arg == "--chunk-encoding" && i + 1 < argc) {
      options.chunk_encoding = argv[++i];
    } else if (arg == "--discover-log-levels" && i + 1 < argc &&
               (std::string(argv[i + 1]) == "on" || std::string(argv[i + 1]) == "off")) {
      options.discover_log_levels = std::string(argv[++i]) == "on";
    } else if (arg == "--parallelism" && i + 1 < argc) {
      options.parallelism = std::max(1, std::stoi(argv[++i]));
    } else {
      std::cerr << "usage: store_bench [--lines N] [--dir DIR] [--repeat N] [--keep] [--reuse] "
                   "[--only NAME] [--query LOGQL] [--parallelism N] "
                   "[--chunk-encoding zstd|lz4] [--discover-log-levels on|off]\n";
      return 2;
    }
  }
  if (options.dir.empty()) {
    std::string pattern = "/tmp/lognurse-store-bench.XXXXXX";
    options.dir = ::mkdtemp(pattern.data());
  }
  std::filesystem::create_directories(options.dir);
  const std::string text_path = options.dir + "/lines.log";
  const std::string db_path = options.dir + "/store.db";

  nlohmann::json config = {{"path", db_path},
                           {"compaction_interval", 0},
                           {"chunk_encoding", options.chunk_encoding},
                           {"limits",
                            {{"ingestion_rate_mb", 100000},
                             {"ingestion_rate_burst_size_mb", 100000},
                             {"max_query_series", 5000},
                             {"discover_log_levels", options.discover_log_levels}}}};
  if (options.parallelism != 0) config["query_parallelism"] = options.parallelism;
  auto parsed = parse_store_config(config, options.dir);
  if (!parsed) {
    std::cerr << parsed.error().message << "\n";
    return 1;
  }
  LocalStore store(parsed.value(), nullptr);
  if (!store.connect()) return 1;

  // Four services, one stream each, lines spread evenly over one hour ending now - 1 h.
  // A fixed hour, so that a reused data set has the same bounds (2026-01-01T00:00:00Z).
  const std::int64_t end = 1'767'225'600LL * kSecond;
  const std::int64_t begin = end - kHour;
  const std::vector<Labels> streams = {
      {{"env", "prod"}, {"service_name", "api"}},
      {{"env", "prod"}, {"service_name", "worker"}},
      {{"env", "prod"}, {"service_name", "edge"}},
      {{"env", "prod"}, {"service_name", "db"}},
  };
  std::mt19937_64 random(42);
  std::ofstream text;
  if (!options.reuse) text.open(text_path, std::ios::binary);
  const std::size_t batch = 1000;
  std::uint64_t bytes = 0;
  const auto ingest_start = std::chrono::steady_clock::now();
  double push_seconds = 0;
  for (std::size_t first = 0; !options.reuse && first < options.lines;
       first += batch * streams.size()) {
    PushRequest push;
    push.tenant = "fake";
    for (std::size_t s = 0; s < streams.size(); ++s) push.streams.push_back(LogStream{streams[s], {}});
    for (std::size_t k = 0; k < batch * streams.size() && first + k < options.lines; ++k) {
      const std::size_t i = first + k;
      const std::size_t s = k % streams.size();
      LogEntry entry;
      entry.timestamp_ns = begin + static_cast<std::int64_t>(
                                       static_cast<double>(i) / static_cast<double>(options.lines) *
                                       static_cast<double>(kHour));
      entry.line = make_line(s, i, random, options.lines);
      bytes += entry.line.size();
      text << entry.line << '\n';
      push.streams[s].entries.push_back(std::move(entry));
    }
    const auto pushed_at = std::chrono::steady_clock::now();
    auto pushed = store.push(push);
    push_seconds += seconds_since(pushed_at);
    if (!pushed) {
      std::cerr << "push failed: " << pushed.error().message << "\n";
      return 1;
    }
  }
  text.close();
  if (options.reuse) bytes = std::filesystem::file_size(text_path) - options.lines;
  const double ingest_seconds = seconds_since(ingest_start);
  const auto compact_start = std::chrono::steady_clock::now();
  if (!store.compact(true)) return 1;
  const double compact_seconds = seconds_since(compact_start);
  auto storage = store.storage_stats().value();

  std::printf("data: %zu lines, %.1f MB of lines, 4 streams, one hour\n", options.lines,
              static_cast<double>(bytes) / 1e6);
  if (options.reuse) {
    std::printf("reused the data set in %s: no ingest or compaction to time\n",
                options.dir.c_str());
  } else {
    std::printf(
        "ingest (LocalStore::push, in process, 4000-line pushes): %.1f s in push, %.0f lines/s\n",
        push_seconds, static_cast<double>(options.lines) / push_seconds);
    std::printf("generation and push: %.1f s; compaction: %.1f s (%.1f MB/s of lines)\n",
                ingest_seconds, compact_seconds,
                static_cast<double>(bytes) / 1e6 / compact_seconds);
  }
  std::printf("on disk: %llu chunks, %.1f MB compressed (%.3f of the lines), filters %.1f MB (%.3f)\n",
              static_cast<unsigned long long>(storage.chunks),
              static_cast<double>(storage.chunk_bytes) / 1e6,
              static_cast<double>(storage.chunk_bytes) / static_cast<double>(bytes),
              static_cast<double>(storage.filter_bytes) / 1e6,
              static_cast<double>(storage.filter_bytes) / static_cast<double>(bytes));

  // How often a filter lets through a chunk that lacks the term: absent terms of 10 bytes.
  {
    auto db = Connection::open(db_path, false);
    auto filters = db.value()->prepare("SELECT bits FROM chunk_filters");
    std::vector<std::string> bits;
    while (filters.value().step().value()) bits.emplace_back(filters.value().column_bytes(0));
    std::size_t passed = 0;
    std::size_t set = 0;
    std::size_t total = 0;
    for (const auto& filter : bits) {
      for (unsigned char byte : filter) set += static_cast<std::size_t>(std::popcount(byte));
      total += filter.size() * 8;
      for (int t = 0; t < 200; ++t) {
        char term[16];
        std::snprintf(term, sizeof term, "Zq%08d", t);
        passed += NgramFilter::may_contain(filter, term) ? 1 : 0;
      }
    }
    std::printf("filters: %.2f of their bits set; an absent 10-byte term passes %.4f of chunks\n",
                total == 0 ? 0.0 : static_cast<double>(set) / static_cast<double>(total),
                bits.empty() ? 0.0
                             : static_cast<double>(passed) / static_cast<double>(bits.size() * 200));
  }

  // Warm the page cache for both sides.
  run("cat '" + text_path + "' > /dev/null");
  run("cat '" + db_path + "' > /dev/null");

  LogQuery query;
  query.tenant = "fake";
  query.range = TimeRange{begin, end};
  query.step_ns = kHour;
  query.limit = 100;
  query.direction = Direction::backward;
  struct Row {
    std::string name;
    std::string logql;
    std::int64_t step_ns;
    std::string baseline;  // a term for rg -c, or empty
  };
  std::vector<Row> rows = {
      {"rare term, clustered (1 in 20,000 lines, one minute)",
       std::string("sum(count_over_time({env=\"prod\"} |= \"") + kRareClustered + "\" [1h]))", kHour,
       kRareClustered},
      {"rare term, spread (1 in 50,000 lines)",
       std::string("sum(count_over_time({env=\"prod\"} |= \"") + kRareSpread + "\" [1h]))", kHour,
       kRareSpread},
      {"common term (1 in 10 lines)",
       std::string("sum(count_over_time({env=\"prod\"} |= \"") + kCommon + "\" [1h]))", kHour,
       kCommon},
      {"sum by (level) of logfmt, 1m steps",
       "sum by (level) (count_over_time({env=\"prod\"} | logfmt [1m]))", 60 * kSecond, ""},
      {"first page, backward, limit 100", "{env=\"prod\"}", 0, ""},
  };
  if (!options.query.empty()) rows = {{options.query, options.query, 60 * kSecond, ""}};
  std::printf("\nqueries on %zu threads (query_parallelism)\n", store.config().query_parallelism);
  std::printf("\n| query | store (median of %d) | store CPU | rg -c (median) | store / rg | answer |\n",
              options.repeat);
  std::printf("|---|---|---|---|---|---|\n");
  for (const auto& row : rows) {
    if (row.name.find(options.only) == std::string::npos) continue;
    std::vector<double> times;
    std::vector<double> cpu;
    std::string answer;
    for (int r = 0; r < options.repeat; ++r) {
      query.logql = row.logql;
      query.step_ns = row.step_ns;
      const auto start = std::chrono::steady_clock::now();
      const double cpu_start = cpu_seconds();
      auto result = store.query(query);
      times.push_back(seconds_since(start));
      cpu.push_back(cpu_seconds() - cpu_start);
      if (!result) {
        answer = "error: " + result.error().message;
        continue;
      }
      double total = 0;
      for (const auto& series : result.value().series) {
        for (const auto& sample : series.samples) total += sample.value;
      }
      std::size_t lines = 0;
      for (const auto& stream : result.value().streams) lines += stream.entries.size();
      answer = result.value().result_type == "streams"
                   ? std::to_string(lines) + " lines"
                   : std::to_string(static_cast<long long>(total)) + " in " +
                         std::to_string(result.value().series.size()) + " series";
    }
    std::string baseline = "—";
    std::string ratio = "—";
    if (!row.baseline.empty()) {
      std::vector<double> rg_times;
      std::string count;
      for (int r = 0; r < options.repeat; ++r) {
        auto [seconds, output] = run("rg -c -F '" + row.baseline + "' '" + text_path + "'");
        rg_times.push_back(seconds);
        count = output.substr(0, output.find('\n'));
      }
      char cell[64];
      std::snprintf(cell, sizeof cell, "%.3f s (%s lines)", median(rg_times), count.c_str());
      baseline = cell;
      std::snprintf(cell, sizeof cell, "%.2f", median(times) / median(rg_times));
      ratio = cell;
    }
    const double t = median(times);
    char speed[32] = "";
    if (row.step_ns != 0) {
      std::snprintf(speed, sizeof speed, " (%.2f GB/s)", static_cast<double>(bytes) / 1e9 / t);
    }
    std::printf("| %s | %.3f s%s | %.3f s | %s | %s | %s |\n", row.name.c_str(), t, speed,
                median(cpu), baseline.c_str(), ratio.c_str(), answer.c_str());
  }
  if (!options.keep) {
    std::error_code ignored;
    std::filesystem::remove_all(options.dir, ignored);
  }
  return 0;
}
