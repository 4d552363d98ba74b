// A tools plugin copied into a watched plugin directory while the host runs.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"

using lognurse::test::build_dir;
using lognurse::test::HostServer;
using lognurse::test::http_get;
using lognurse::test::http_post;
using lognurse::test::http_request;
using lognurse::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("a plugin dropped into a watched directory is loaded and its tools answer") {
  TempDir data;
  const auto watched = data.file("plugins");
  fs::create_directories(watched);
  const auto config = data.file("host.yaml");
  {
    std::ofstream out(config);
    out << "plugin_dirs:\n  - " << watched << "\n";
  }
  HostServer server({"--data-dir", data.path()}, {"--config", config});
  const int port = server.port();

  const auto session = lognurse::test::mcp_session(port);
  const std::string list = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
  auto tool_names = [&] {
    std::vector<std::string> names;
    const auto answer = json::parse(http_request(port, "POST", "/mcp", list, session).body);
    for (const auto& tool : answer["result"]["tools"]) names.push_back(tool["name"]);
    return names;
  };
  auto before = tool_names();
  CHECK(std::find(before.begin(), before.end(), "fixture_echo") == before.end());
  auto missing = http_post(port, "/api/fixture/echo", R"({"a":1})");
  CHECK(missing.status == 404);
  CHECK(json::parse(missing.body)["error"]["code"] == "http.unknown_route");

  // Copied under another name and renamed into place, as a deployment would.
  fs::copy_file(build_dir() + "/tests/fixture_plugins/libfixture_echo.so", watched + "/echo.tmp");
  fs::rename(watched + "/echo.tmp", watched + "/libfixture_echo.so");

  std::vector<std::string> after;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    after = tool_names();
    if (std::find(after.begin(), after.end(), "fixture_echo") != after.end()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(after.size() == before.size() + 1);
  CHECK(std::find(after.begin(), after.end(), "fixture_echo") != after.end());

  auto echoed = http_post(port, "/api/fixture/echo", R"({"a":1})");
  REQUIRE(echoed.status == 200);
  CHECK(json::parse(echoed.body) == json{{"tool", "echo"}, {"arguments", {{"a", 1}}}});

  // The plugin loaded while serving publishes through its sink onto /metrics.
  const auto metrics = http_get(port, "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK_THAT(metrics.body, Catch::Contains(
                               "# TYPE lognurse_plugin_echo_plugin_echo_calls_total counter\n"
                               "lognurse_plugin_echo_plugin_echo_calls_total 1\n"));
}
