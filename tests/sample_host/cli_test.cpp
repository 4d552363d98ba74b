// The sample_host command line, driven through the real binary.

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"

using lognurse::test::host_binary;
using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::run_command;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

std::vector<std::string> host(const TempDir& data, std::vector<std::string> args) {
  std::vector<std::string> out = {host_binary()};
  out.insert(out.end(), args.begin(), args.end());
  out.push_back("--data-dir");
  out.push_back(data.path());
  return out;
}

}  // namespace

TEST_CASE("sample_host prints help and exits 0, and exits 2 on bad usage") {
  auto help = run_command({host_binary(), "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("usage: sample_host"));

  auto ingest_help = run_command({host_binary(), "ingest", "--help"});
  CHECK(ingest_help.exit_code == 0);
  CHECK_THAT(ingest_help.out, Catch::Contains("--labels"));

  auto unknown = run_command({host_binary(), "frobnicate"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("unknown command \"frobnicate\""));

  TempDir data;
  auto no_labels = run_command(host(data, {"ingest", "/etc/hostname"}));
  CHECK(no_labels.exit_code == 2);
  CHECK_THAT(no_labels.err, Catch::Contains("--labels is required"));

  auto bad_option = run_command(host(data, {"query", "{a=\"b\"}", "--limmit", "5"}));
  CHECK(bad_option.exit_code == 2);
  CHECK_THAT(bad_option.err, Catch::Contains("unknown option --limmit"));
}

TEST_CASE("sample_host plugins lists every plugin with its status and tools") {
  TempDir data;
  auto result = run_command(host(data, {"plugins"}));
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains("liblocal_store.so\n  status: loaded"));
  CHECK_THAT(result.out, Catch::Contains("libnurse_logs.so\n  status: loaded"));
  CHECK_THAT(result.out, Catch::Contains("libloki.so\n  status: loaded"));
  CHECK_THAT(result.out, Catch::Contains("backend: log_aggregation/local_store"));
  for (const char* tool : {"nurse_monitor_log_aggregation", "nurse_query_logs",
                           "nurse_search_logs", "nurse_get_log_metrics"}) {
    CHECK_THAT(result.out, Catch::Contains(std::string("tool: ") + tool));
  }
  CHECK_THAT(result.out, Catch::Contains("log_aggregation: local_store (active)"));
}

TEST_CASE("ingest stores a file and query and call read it back") {
  TempDir data;
  const auto file = data.file("app.log");
  {
    std::ofstream out(file);
    out << "2026-12-01T10:00:00Z level=info msg=\"started\"\n"
        << "2026-12-01T10:00:01Z level=error msg=\"disk full\"\n"
        << "continuation without a timestamp\n"
        << "2026-12-01T10:00:03Z level=info msg=\"recovered\"\n";
  }
  auto ingest = run_command(host(data, {"ingest", "--labels", "service_name=app,env=test", file}));
  REQUIRE(ingest.exit_code == 0);
  CHECK_THAT(ingest.out, Catch::Contains("4 lines (3 with their own timestamp)"));

  auto query = run_command(host(data, {"query", "{service_name=\"app\"}", "--start",
                                       "2026-12-01T00:00:00Z", "--end", "2026-12-02T00:00:00Z",
                                       "--direction", "forward"}));
  REQUIRE(query.exit_code == 0);
  // Each line shows its stream's labels and the level the store detected, as Loki 3 does.
  const auto labels = [&](const std::string& level) {
    return "{detected_level=\"" + level + "\", env=\"test\", filename=\"" + file +
           "\", service_name=\"app\"}";
  };
  CHECK(query.out ==
        "2026-12-01T10:00:00Z " + labels("info") +
            " 2026-12-01T10:00:00Z level=info msg=\"started\"\n"
            "2026-12-01T10:00:01Z " + labels("error") +
            " 2026-12-01T10:00:01Z level=error msg=\"disk full\"\n"
            "2026-12-01T10:00:01.000000001Z " + labels("unknown") +
            " continuation without a timestamp\n"
            "2026-12-01T10:00:03Z " + labels("info") +
            " 2026-12-01T10:00:03Z level=info msg=\"recovered\"\n");

  auto call = run_command(host(data, {"call", "nurse_query_logs",
                                      R"({"query":"{env=\"test\"} |= \"disk\"","start":"2026-12-01T00:00:00Z","end":"2026-12-02T00:00:00Z"})"}));
  REQUIRE(call.exit_code == 0);
  const auto answer = json::parse(call.out);
  CHECK(answer["status"] == "success");
  CHECK(answer["data"]["resultType"] == "streams");
  REQUIRE(answer["data"]["result"].size() == 1);
  CHECK(answer["data"]["result"][0]["values"] ==
        json::array({json::array({"1796119201000000000",
                                  "2026-12-01T10:00:01Z level=error msg=\"disk full\"",
                                  {{"detected_level", "error"}}})}));
  CHECK(answer["metadata"]["lines_returned"] == 1);
  CHECK(answer["metadata"]["truncated"] == false);
}

TEST_CASE("call reports a tool error with its code and exit 1") {
  TempDir data;
  auto unknown = run_command(host(data, {"call", "nurse_nonexistent"}));
  CHECK(unknown.exit_code == 1);
  CHECK(json::parse(unknown.out)["error"]["code"] == "tool.unknown");

  auto missing = run_command(host(data, {"call", "nurse_query_logs", "{}"}));
  CHECK(missing.exit_code == 1);
  CHECK(json::parse(missing.out)["error"]["code"] == "tool.invalid_arguments");
  CHECK_THAT(missing.err, Catch::Contains("arguments.query is required"));

  auto bad_selector = run_command(host(data, {"call", "nurse_query_logs", R"({"query":"{app=}"})"}));
  CHECK(bad_selector.exit_code == 1);
  CHECK(json::parse(bad_selector.out)["error"]["code"] == "logql.parse_error");

  auto bad_json = run_command(host(data, {"call", "nurse_query_logs", "{not json"}));
  CHECK(bad_json.exit_code == 2);
  CHECK_THAT(bad_json.err, Catch::Contains("not valid JSON"));
}

TEST_CASE("ingest of a real nginx access log counts a term as grep -c does") {
  TempDir work;
  auto traffic = run_command({"/bin/bash", std::string(LOGNURSE_SOURCE_DIR) + "/scripts/nginx-traffic.sh",
                              work.file("nginx"), "240"},
                             "", std::chrono::seconds(120));
  REQUIRE(traffic.exit_code == 0);
  const auto access_log = work.file("nginx") + "/access.log";

  auto ingest = run_command(host(work, {"ingest", "--labels", "service_name=nginx", access_log}));
  REQUIRE(ingest.exit_code == 0);
  // The script's readiness probe is a request too, so count the file's lines.
  auto wc = run_command({"/usr/bin/wc", "-l", access_log});
  const std::string lines = std::to_string(std::stoi(wc.out));
  REQUIRE(std::stoi(lines) >= 240);
  CHECK_THAT(ingest.out, Catch::Contains(lines + " lines (" + lines + " with their own timestamp)"));

  for (const char* term : {"\" 404 ", "Googlebot", "POST /teapot", "wp-login"}) {
    INFO(term);
    auto grep = run_command({"/bin/grep", "-c", "-F", term, access_log});
    const int expected = std::stoi(grep.out);
    REQUIRE(expected > 0);
    const json arguments = {{"filters", {{"service", "nginx"}, {"contains", term}}},
                            {"time_range", {{"since", "1h"}}},
                            {"limit", 1000}};
    auto call = run_command(host(work, {"call", "nurse_search_logs", arguments.dump()}));
    REQUIRE(call.exit_code == 0);
    const auto answer = json::parse(call.out);
    CHECK(answer["metadata"]["lines_returned"] == expected);
    CHECK(answer["metadata"]["truncated"] == false);
  }
}

TEST_CASE("query refuses a limit of 0 as bad usage") {
  TempDir data;
  auto zero = run_command(host(data, {"query", "{service_name=\"cli\"}", "--limit", "0"}));
  CHECK(zero.exit_code == 2);
  // The plugins load before the options are checked, and log that first.
  CHECK_THAT(zero.err,
             Catch::Contains("\nsample_host query: --limit must be a positive integer\n"));
  CHECK(zero.out.empty());

  auto one = run_command(host(data, {"query", "{service_name=\"cli\"}", "--limit", "1"}));
  CHECK(one.exit_code == 0);
}

TEST_CASE("query refuses --since together with --start") {
  TempDir data;
  auto both = run_command(host(data, {"query", "{service_name=\"cli\"}", "--since", "24h",
                                      "--start", "2026-12-04T00:00:00Z"}));
  CHECK(both.exit_code == 2);
  CHECK_THAT(both.err, Catch::Contains("\nsample_host query: --since and --start exclude each "
                                         "other; give one of them\n"));
  CHECK(both.out.empty());
}

TEST_CASE("ingest fails on a directory as on a missing file, keeping the files before it") {
  TempDir data;
  const auto first = data.file("first.log");
  const auto last = data.file("last.log");
  const auto directory = data.file("logs");
  std::filesystem::create_directory(directory);
  std::ofstream(first) << "2026-12-01T10:00:00Z first\n";
  std::ofstream(last) << "2026-12-01T10:00:01Z last\n";

  auto alone = run_command(host(data, {"ingest", "--labels", "service_name=cli", directory}));
  CHECK(alone.exit_code == 1);
  CHECK_THAT(alone.err, Catch::Contains("error: ingest.unreadable: " + directory +
                                        " is a directory; give the log files in it, e.g. " +
                                        directory + "/*.log\n"));
  CHECK(alone.out.empty());

  // Among several paths, a directory stops the ingest where a missing file does.
  const auto missing = data.file("missing.log");
  struct Case {
    std::string service;
    std::string bad_path;
    std::string message;
  };
  for (const auto& c :
       {Case{"dir", directory, directory + " is a directory"},
        Case{"missing", missing, "cannot open " + missing + " for reading"}}) {
    INFO(c.service);
    auto several = run_command(
        host(data, {"ingest", "--labels", "service_name=" + c.service, first, c.bad_path, last}));
    CHECK(several.exit_code == 1);
    CHECK_THAT(several.err, Catch::Contains("error: ingest.unreadable: " + c.message));
    CHECK(several.out.empty());

    auto stored = run_command(host(data, {"query", "{service_name=\"" + c.service + "\"}",
                                          "--start", "2026-12-01T00:00:00Z", "--end",
                                          "2026-12-02T00:00:00Z", "--direction", "forward"}));
    REQUIRE(stored.exit_code == 0);
    CHECK(stored.out == "2026-12-01T10:00:00Z {detected_level=\"unknown\", filename=\"" + first +
                            "\", service_name=\"" + c.service +
                            "\"} 2026-12-01T10:00:00Z first\n");
  }
}

TEST_CASE("an invalid --log-level is bad usage, found before anything starts") {
  TempDir work;
  const auto data_dir = work.file("data");
  auto loud = run_command({host_binary(), "--log-level", "loud", "serve", "--listen",
                           "127.0.0.1:0", "--data-dir", data_dir},
                          "", std::chrono::seconds(20));
  CHECK(loud.exit_code == 2);
  CHECK_THAT(loud.err, Catch::StartsWith("sample_host: --log-level must be debug, info, warn or "
                                         "error, got \"loud\"\n"));
  CHECK(loud.out.empty());
  CHECK_FALSE(std::filesystem::exists(data_dir));

  auto warn = run_command({host_binary(), "--log-level", "warn", "plugins", "--data-dir",
                           data_dir});
  CHECK(warn.exit_code == 0);
}

TEST_CASE("serve exits 2 on a malformed listen address and 1 on one in use") {
  TempDir work;
  const auto data_dir = work.file("data");
  auto nonsense = run_command({host_binary(), "serve", "--listen", "nonsense", "--data-dir",
                               data_dir},
                              "", std::chrono::seconds(20));
  CHECK(nonsense.exit_code == 2);
  CHECK_THAT(nonsense.err, Catch::StartsWith("sample_host serve: listen address \"nonsense\" must "
                                             "be HOST:PORT, e.g. 127.0.0.1:8470\n"));
  CHECK(nonsense.out.empty());

  auto bad_port = run_command({host_binary(), "serve", "--listen", "127.0.0.1:99999",
                               "--data-dir", data_dir},
                              "", std::chrono::seconds(20));
  CHECK(bad_port.exit_code == 2);
  CHECK_THAT(bad_port.err,
             Catch::StartsWith("sample_host serve: listen address \"127.0.0.1:99999\" has an "
                               "invalid port; write HOST:PORT with a port from 0 to 65535, e.g. "
                               "127.0.0.1:8470\n"));
  CHECK_FALSE(std::filesystem::exists(data_dir));

  lognurse::test::HostServer first({"--data-dir", work.file("first")});
  const auto address = "127.0.0.1:" + std::to_string(first.port());
  auto in_use = run_command({host_binary(), "serve", "--listen", address, "--data-dir", data_dir},
                            "", std::chrono::seconds(20));
  CHECK(in_use.exit_code == 1);
  CHECK_THAT(in_use.err, Catch::Contains("error: http.bind_failed: cannot listen on " + address +
                                         " (in use, or not a local address)"));
}

TEST_CASE("a command on a store that a running host holds fails, saying what to do instead") {
  TempDir data;
  const std::string file = data.file("app.log");
  std::ofstream(file) << "2026-12-01T10:00:00Z one line\n";
  HostServer server({"--data-dir", data.path()});
  const std::string held = "store.in_use: ";
  const std::string advice =
      "is open in another process (pid " + std::to_string(server.pid()) +
      "); one process at a time may open it. Reach that process over HTTP instead";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ingest", "--labels", "service_name=app", file},
           {"query", "{service_name=\"app\"}", "--since", "30d"},
           {"call", "nurse_get_log_metrics", "{}"}}) {
    INFO(args.front());
    auto refused = run_command(host(data, args));
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.out + refused.err, Catch::Contains(held) && Catch::Contains(advice));
  }
  // The host's own store is untouched and answers.
  CHECK(http_request(server.port(), "GET", "/ready").status == 200);
  server.stop();
  // With the host stopped, the same ingest goes through.
  CHECK(run_command(host(data, {"ingest", "--labels", "service_name=app", file})).exit_code == 0);
}

TEST_CASE("ingest names the file line the store refused, not the end of its batch") {
  TempDir data;
  const std::string file = data.file("big.log");
  {
    std::ofstream out(file);
    for (int i = 1; i <= 10; ++i) {
      out << "2026-12-01T10:00:0" << (i - 1) << "Z "
          << (i == 5 ? std::string(300 * 1024, 'x') : "line " + std::to_string(i)) << "\n";
    }
  }
  auto refused = run_command(host(data, {"ingest", "--labels", "service_name=big", file}));
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("error: store.line_too_long: " + file + " line 5: "));
}
