// sample_host: the lognurse host binary. Exit codes: 0 success, 1 failure,
// 2 bad usage.

#if __has_include(<malloc.h>)
#include <malloc.h>
#endif

#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "application.hpp"
#include "http_server.hpp"
#include "ingest.hpp"
#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "mcp.hpp"

namespace {

using lognurse::host::Application;
using lognurse::host::Overrides;
using nlohmann::json;

constexpr int kOk = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

/// Allocations from this size on are mapped by malloc and unmapped when freed.
constexpr int kMallocMmapThreshold = 256 * 1024;

/// At most this many malloc arenas (glibc's default is eight a core).
constexpr int kMallocArenas = 2;

/// Fixes glibc's mmap threshold, which otherwise rises to the size of every mapped block freed
/// (up to 32 MB): large blocks then come from the per-thread arenas, which keep freed memory
/// resident. Under bench/load/run.sh the arenas held 16 to 21 MB free and the resident size
/// crept by 2.6 MB over 45 s; with the threshold fixed, 4 to 10 MB free, flat, and 11 MB less
/// in all (docs/BENCHMARKS.md, "Load"). The price is a map, an unmap and page faults for each
/// large allocation (compaction buffers, large responses).
///
/// Also caps the arenas: requests move between worker threads (a connection takes any free
/// worker for its next request), so memory freed on one thread sat in the arenas of many.
/// Under bench/load/run.sh the resident size crept from 85 to 100 MiB after the warm-up with
/// the default arenas, and stayed within 67 to 72 MiB with two; ingest_bench's lines per CPU
/// second did not change (docs/BENCHMARKS.md, "Load").
///
/// Plugins run in this process, so the host, which owns it, decides; it does so before any
/// thread starts.
void tune_malloc() {
#if defined(M_MMAP_THRESHOLD)
  mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold);
#endif
#if defined(M_ARENA_MAX)
  mallopt(M_ARENA_MAX, kMallocArenas);
#endif
}

const char* kMainUsage = R"(usage: sample_host [--config FILE] [--log-level LEVEL] COMMAND [ARGS]

The lognurse host: loads log-aggregation plugins and serves the Nurse log tools.

commands:
  serve     run the HTTP server (REST tools, MCP, Loki push and query API)
  mcp       serve MCP over standard input and output
  call      call one tool and print its JSON answer
  ingest    store the lines of log files
  query     run a LogQL query and print the lines
  plugins   list plugin files, their status and what they provide

options:
  --config FILE       host YAML (default: built-in: embedded store, plugins beside the binary)
  --log-level LEVEL   debug, info, warn or error (logs go to standard error)
  -h, --help          this text; `sample_host COMMAND --help` for a command
)";

const std::map<std::string, std::string> kCommandUsage = {
    {"serve", R"(usage: sample_host serve [--listen HOST:PORT] [--data-dir DIR]

Serves HTTP on one listener (default 127.0.0.1:8470):
  /api/nurse/logs/...              every Nurse tool (GET /api/openapi.json lists the routes)
  POST|GET|DELETE /mcp             MCP Streamable HTTP
  POST /loki/api/v1/push           Loki push: JSON, protobuf+snappy, gzip
  POST /otlp/v1/logs               OTLP/HTTP logs: protobuf or JSON, gzip
  GET|POST /loki/api/v1/query_range, query, labels, label/NAME/values, series, index/stats,
       index/volume, index/volume_range, detected_labels, detected_fields, patterns,
       format_query, status/buildinfo; GET /loki/api/v1/tail (WebSocket)
  GET  /metrics (Prometheus), /ready, /api/plugins
With server.auth_token_file or LOGNURSE_AUTH_TOKEN set, every route but /ready needs
"Authorization: Bearer <token>". A plugin copied into a plugin directory is loaded live.
Stops on SIGINT or SIGTERM.
)"},
    {"mcp", R"(usage: sample_host mcp [--data-dir DIR]

Speaks MCP (JSON-RPC 2.0, one message per line) on standard input and output.
Logs go to standard error.
)"},
    {"call", R"(usage: sample_host call TOOL [JSON] [--data-dir DIR]

Calls TOOL with the JSON object of arguments (default {}) and prints the answer.
Example: sample_host call nurse_query_logs '{"query":"{service_name=\"nginx\"}","since":"24h"}'
)"},
    {"ingest", R"(usage: sample_host ingest --labels NAME=VALUE[,NAME=VALUE...] [--tenant T]
                          [--data-dir DIR] FILE...

Stores every line of each FILE as one entry of the stream with these labels
(plus filename). The timestamp comes from the line when it has one (RFC 3339,
YYYY-MM-DD HH:MM:SS, [04/Dec/2026:14:33:11 +0000], syslog's "Dec  4 14:33:11");
other lines follow the previous one. Files of any age are accepted.
)"},
    {"query", R"(usage: sample_host query LOGQL [--since DURATION | --start TIME] [--end TIME]
                         [--limit N] [--direction backward|forward] [--tenant T] [--data-dir DIR]

Runs LOGQL (default range: the last hour) and prints one line per entry:
TIME {LABELS} LINE, or the samples of a metric query.
)"},
    {"plugins", R"(usage: sample_host plugins

Lists every plugin file looked at, whether it loaded (and why not), and the
tools and backends it provides.
)"},
};

struct Arguments {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  bool help = false;
};

/// Splits arguments into positionals and "--name value" options; flags
/// without values are rejected unless listed in `flags`.
bool split_arguments(const std::vector<std::string>& args, const std::vector<std::string>& known,
                     Arguments& out, std::string& error) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      out.help = true;
      continue;
    }
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      std::string name = arg.substr(2);
      std::string value;
      const auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else {
        if (i + 1 >= args.size()) {
          error = "option --" + name + " needs a value";
          return false;
        }
        value = args[++i];
      }
      bool ok = false;
      for (const auto& k : known) ok = ok || k == name;
      if (!ok) {
        error = "unknown option --" + name;
        return false;
      }
      out.options[name] = value;
      continue;
    }
    out.positional.push_back(arg);
  }
  return true;
}

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << "sample_host" << (command.empty() ? "" : " " + command) << ": " << message << "\n\n"
            << (kCommandUsage.count(command) ? kCommandUsage.at(command) : kMainUsage);
  return kUsage;
}

/// The levels the host accepts, as logging.level does in the config file.
bool valid_log_level(const std::string& level) {
  return level == "debug" || level == "info" || level == "warn" || level == "error";
}

int fail(const lognurse::Error& error) {
  std::cerr << "error: " << error.code << ": " << error.message << "\n";
  return kFailure;
}

std::string dump(const json& value, int indent = 2) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

int run_serve(Application& app) {
  lognurse::host::HttpOptions options;
  options.listen = app.config().listen;
  options.max_body_bytes = app.config().max_body_bytes;
  options.read_timeout_ms = app.config().read_timeout_ms;
  auto auth = lognurse::host::BearerAuth::from_settings(app.config().auth_token_file);
  if (!auth) return fail(auth.error());
  options.auth = auth.value();
  lognurse::host::HttpServer server(app.registry(), options);
  auto port = server.bind();
  if (!port) return fail(port.error());
  spdlog::info("listening on {} (port {}), data in {}, bearer token {}", app.config().listen,
               port.value(), app.config().data_dir,
               options.auth.enabled() ? "required" : "not required");
  // Machine-readable line for scripts that start the host on port 0.
  std::printf("listening on port %d\n", port.value());
  std::fflush(stdout);

  // Signals were blocked in main; this thread turns them into a stop.
  std::thread signal_thread([&server] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int signal = 0;
    sigwait(&set, &signal);
    spdlog::info("signal {} received, stopping", signal);
    server.stop();
  });
  server.run();
  // run() also returns when binding broke; make sure the signal thread ends.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return kOk;
}

int run_call(Application& app, const Arguments& args) {
  if (args.positional.empty()) return usage_error("call", "missing TOOL");
  if (args.positional.size() > 2) return usage_error("call", "too many arguments");
  json arguments = json::object();
  if (args.positional.size() == 2) {
    if (const auto problem = lognurse::parse_json_text(args.positional[1], arguments);
        !problem.empty()) {
      return usage_error("call", "the JSON arguments are " + problem);
    }
  }
  auto result = app.registry().call_tool(args.positional[0], arguments);
  if (!result) {
    std::cout << dump({{"status", "error"},
                       {"error", {{"code", result.error().code},
                                  {"message", result.error().message}}}})
              << "\n";
    return fail(result.error());
  }
  std::cout << dump(result.value()) << "\n";
  return kOk;
}

int run_ingest(Application& app, const Arguments& args) {
  if (!args.options.count("labels")) return usage_error("ingest", "--labels is required");
  if (args.positional.empty()) return usage_error("ingest", "no FILE given");
  auto labels = lognurse::host::parse_label_list(args.options.at("labels"));
  if (!labels) return usage_error("ingest", labels.error().message);
  auto backend = app.backend();
  if (!backend) return fail(backend.error());
  lognurse::host::IngestOptions options;
  options.labels = labels.value();
  if (args.options.count("tenant")) options.tenant = args.options.at("tenant");
  auto reports = lognurse::host::ingest_files(*backend.value(), args.positional, options);
  if (!reports) return fail(reports.error());
  for (const auto& report : reports.value()) {
    std::cout << "ingested " << report.file << ": " << report.lines << " lines ("
              << report.with_timestamp << " with their own timestamp)\n";
  }
  return kOk;
}

int run_query(Application& app, const Arguments& args) {
  if (args.positional.size() != 1) return usage_error("query", "give exactly one LOGQL query");
  lognurse::LogQuery query;
  query.logql = args.positional[0];
  if (args.options.count("tenant")) query.tenant = args.options.at("tenant");
  // Both would set the start of the range, and which one wins would be a guess.
  if (args.options.count("since") && args.options.count("start")) {
    return usage_error("query", "--since and --start exclude each other; give one of them");
  }
  query.range.end_ns = lognurse::now_ns() + 1;
  std::int64_t since = 3600 * lognurse::kNanosPerSecond;
  if (args.options.count("since")) {
    auto parsed = lognurse::parse_duration(args.options.at("since"));
    if (!parsed) return usage_error("query", parsed.error().message);
    since = parsed.value();
  }
  if (args.options.count("end")) {
    auto parsed = lognurse::parse_time(args.options.at("end"));
    if (!parsed) return usage_error("query", parsed.error().message);
    query.range.end_ns = parsed.value() + 1;
  }
  query.range.start_ns = query.range.end_ns - since;
  if (args.options.count("start")) {
    auto parsed = lognurse::parse_time(args.options.at("start"));
    if (!parsed) return usage_error("query", parsed.error().message);
    query.range.start_ns = parsed.value();
  }
  if (args.options.count("limit")) {
    const auto& text = args.options.at("limit");
    // A limit of 0 would print nothing and look like an empty result.
    if (text.empty() || text.size() > 7 ||
        text.find_first_not_of("0123456789") != std::string::npos || std::stoul(text) == 0) {
      return usage_error("query", "--limit must be a positive integer");
    }
    query.limit = std::stoul(text);
  }
  if (args.options.count("direction")) {
    const auto& direction = args.options.at("direction");
    if (direction == "forward") {
      query.direction = lognurse::Direction::forward;
    } else if (direction != "backward") {
      return usage_error("query", "--direction must be backward or forward");
    }
  }
  auto backend = app.backend();
  if (!backend) return fail(backend.error());
  auto result = backend.value()->query(query);
  if (!result) return fail(result.error());

  const auto& value = result.value();
  if (value.result_type == "streams") {
    struct Row {
      std::int64_t ts;
      const lognurse::LogStream* stream;
      const lognurse::LogEntry* entry;
    };
    std::vector<Row> rows;
    for (const auto& stream : value.streams) {
      for (const auto& entry : stream.entries) rows.push_back({entry.timestamp_ns, &stream, &entry});
    }
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
      return query.direction == lognurse::Direction::forward ? a.ts < b.ts : a.ts > b.ts;
    });
    for (const auto& row : rows) {
      std::cout << lognurse::format_time(row.ts) << ' ' << lognurse::labels_to_string(row.stream->labels)
                << ' ' << row.entry->line << '\n';
    }
  } else {
    for (const auto& series : value.series) {
      for (const auto& sample : series.samples) {
        std::cout << lognurse::format_time(sample.timestamp_ns) << ' '
                  << lognurse::labels_to_string(series.metric) << ' ' << sample.value << '\n';
      }
    }
  }
  return kOk;
}

int run_plugins(Application& app) {
  for (const auto& record : app.registry().plugins()) {
    std::cout << record.file << "\n  status: " << (record.loaded ? "loaded" : "refused") << "\n";
    if (!record.loaded) {
      std::cout << "  reason: " << record.reason << "\n";
      continue;
    }
    std::cout << "  plugin: " << record.name << " " << record.version << "\n";
    for (const auto& backend : record.backends) std::cout << "  backend: " << backend << "\n";
    for (const auto& tool : record.tools) std::cout << "  tool: " << tool << "\n";
  }
  const auto active = app.registry().log_aggregation();
  std::cout << "log_aggregation: "
            << (active ? active->backend_name() + " (active)"
                       : "none (configured: " + app.config().log_aggregation_backend + ")")
            << "\n";
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc();
  std::vector<std::string> args(argv + 1, argv + argc);

  // Global options come before the command.
  std::string config_path;
  Overrides overrides;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kMainUsage;
      return kOk;
    }
    if (arg == "--config" || arg == "--log-level") {
      if (i + 1 >= args.size()) return usage_error("", arg + " needs a value");
      (arg == "--config" ? config_path : overrides.log_level.emplace()) = args[++i];
      // Checked here, before any command runs: spdlog would quietly map an unknown level to off.
      if (arg == "--log-level" && !valid_log_level(*overrides.log_level)) {
        return usage_error("", "--log-level must be debug, info, warn or error, got \"" +
                                   *overrides.log_level + "\"");
      }
      continue;
    }
    if (arg.rfind("--", 0) == 0) return usage_error("", "unknown option " + arg);
    break;
  }
  if (i >= args.size()) {
    std::cerr << kMainUsage;
    return kUsage;
  }
  const std::string command = args[i];
  if (!kCommandUsage.count(command)) return usage_error("", "unknown command \"" + command + "\"");

  const std::map<std::string, std::vector<std::string>> known_options = {
      {"serve", {"listen", "data-dir"}},
      {"mcp", {"data-dir"}},
      {"call", {"data-dir"}},
      {"ingest", {"labels", "tenant", "data-dir"}},
      {"query", {"since", "start", "end", "limit", "direction", "tenant", "data-dir"}},
      {"plugins", {"data-dir"}},
  };
  Arguments parsed;
  std::string error;
  if (!split_arguments({args.begin() + static_cast<long>(i) + 1, args.end()},
                       known_options.at(command), parsed, error)) {
    return usage_error(command, error);
  }
  if (parsed.help) {
    std::cout << kCommandUsage.at(command);
    return kOk;
  }
  if (command == "serve" || command == "plugins" || command == "mcp") {
    if (!parsed.positional.empty()) {
      return usage_error(command, "unexpected argument \"" + parsed.positional[0] + "\"");
    }
  }
  if (parsed.options.count("data-dir")) overrides.data_dir = parsed.options.at("data-dir");
  if (parsed.options.count("listen")) overrides.listen = parsed.options.at("listen");

  auto config = config_path.empty() ? lognurse::Result<lognurse::host::HostConfig>(
                                          lognurse::host::HostConfig{})
                                    : lognurse::host::load_config(config_path);
  if (!config) {
    std::cerr << "error: " << config.error().message << "\n";
    return kUsage;
  }
  if (command == "serve") {
    // A malformed address is a mistake in the command or config, found before anything starts;
    // an address that parses but cannot be bound is left to bind() and fails with exit 1.
    const auto listen = overrides.listen.value_or(config.value().listen);
    if (auto address = lognurse::host::parse_listen_address(listen); !address) {
      return usage_error("serve", address.error().message);
    }

    // Block the stop signals in every thread; the serve loop waits for them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  auto app = Application::create(std::move(config).value(), overrides);
  if (!app) return fail(app.error());

  if (command == "serve") return run_serve(*app.value());
  if (command == "mcp") {
    lognurse::host::McpServer server(app.value()->registry());
    server.serve_stdio(std::cin, std::cout);
    return kOk;
  }
  if (command == "call") return run_call(*app.value(), parsed);
  if (command == "ingest") return run_ingest(*app.value(), parsed);
  if (command == "query") return run_query(*app.value(), parsed);
  return run_plugins(*app.value());
}
