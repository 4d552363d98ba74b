#include <algorithm>

#include <catch2/catch.hpp>

#include "lognurse/registry/registry.hpp"

using lognurse::registry::PluginRecord;
using lognurse::registry::Registry;
using lognurse::registry::RegistryOptions;

namespace {

const PluginRecord& record_named(const std::vector<PluginRecord>& records, const std::string& file) {
  auto it = std::find_if(records.begin(), records.end(), [&](const PluginRecord& r) {
    return r.file.size() >= file.size() && r.file.compare(r.file.size() - file.size(), file.size(), file) == 0;
  });
  REQUIRE(it != records.end());
  return *it;
}

RegistryOptions fixture_options() {
  RegistryOptions options;
  options.plugin_dirs = {LOGNURSE_FIXTURE_PLUGIN_DIR};
  return options;
}

}  // namespace

TEST_CASE("registry loads a well-formed plugin and names its tools service_tool") {
  Registry registry(fixture_options());
  registry.load_all();
  const auto records = registry.plugins();
  const auto& echo = record_named(records, "/libfixture_echo.so");
  CHECK(echo.loaded);
  CHECK(echo.name == "echo_plugin");
  CHECK(echo.version == "0.0.1");
  CHECK(echo.tools == std::vector<std::string>{"fixture_echo"});

  auto result = registry.call_tool("fixture_echo", {{"x", 1}});
  REQUIRE(result.ok());
  CHECK(result.value() == nlohmann::json{{"tool", "echo"}, {"arguments", {{"x", 1}}}});
}

TEST_CASE("registry refuses a file that is not a shared object and says why") {
  Registry registry(fixture_options());
  registry.load_all();
  const auto records = registry.plugins();
  const auto& record = record_named(records, "/libnot_an_object.so");
  CHECK_FALSE(record.loaded);
  CHECK_THAT(record.reason, Catch::Contains("not a loadable shared object"));
  CHECK_THAT(record.reason, Catch::Contains("invalid ELF header"));
}

TEST_CASE("registry refuses a plugin without the descriptor") {
  Registry registry(fixture_options());
  registry.load_all();
  const auto records = registry.plugins();
  const auto& record = record_named(records, "/libfixture_no_descriptor.so");
  CHECK_FALSE(record.loaded);
  CHECK(record.reason ==
        "no plugin descriptor: the file does not export lognurse_plugin_descriptor_v1 (build it "
        "with LOGNURSE_PLUGIN)");
}

TEST_CASE("registry refuses a plugin of another ABI version before calling its factory") {
  Registry registry(fixture_options());
  registry.load_all();
  const auto records = registry.plugins();
  const auto& record = record_named(records, "/libfixture_wrong_abi.so");
  CHECK_FALSE(record.loaded);
  CHECK(record.reason ==
        "plugin ABI version 99 does not match the host's " +
            std::to_string(lognurse::kPluginAbiVersion) +
            "; rebuild the plugin against this host_api");
}

TEST_CASE("registry refuses a plugin whose factory throws and keeps the others") {
  Registry registry(fixture_options());
  registry.load_all();
  const auto records = registry.plugins();
  const auto& record = record_named(records, "/libfixture_throwing.so");
  CHECK_FALSE(record.loaded);
  CHECK(record.reason == "the plugin factory threw: fixture factory refuses to start");
  CHECK(record_named(records, "/libfixture_echo.so").loaded);
}

TEST_CASE("registry refuses the second plugin claiming a tool and names both files") {
  Registry registry(fixture_options());
  registry.load_all();
  const auto records = registry.plugins();
  const auto& record = record_named(records, "/libfixture_zz_duplicate.so");
  CHECK_FALSE(record.loaded);
  CHECK_THAT(record.reason, Catch::Contains("tool fixture_echo is provided by both"));
  CHECK_THAT(record.reason, Catch::Contains("libfixture_echo.so"));
  CHECK_THAT(record.reason, Catch::Contains("libfixture_zz_duplicate.so"));
  CHECK(registry.tools().size() == 1);
}

TEST_CASE("registry loads files in name order and skips files already seen") {
  Registry registry(fixture_options());
  CHECK(registry.load_all() == 1);
  CHECK(registry.load_all() == 0);
  const auto records = registry.plugins();
  REQUIRE(records.size() == 6);
  CHECK(std::is_sorted(records.begin(), records.end(),
                       [](const PluginRecord& a, const PluginRecord& b) { return a.file < b.file; }));
}

TEST_CASE("registry turns an exception thrown by a tool into an error result") {
  Registry registry(fixture_options());
  registry.load_all();
  auto result = registry.call_tool("fixture_echo", {{"throw", true}});
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "plugin.exception");
  CHECK(result.error().message == "tool fixture_echo threw: echo was asked to throw");
}

TEST_CASE("registry answers an unknown tool with tool.unknown") {
  Registry registry(fixture_options());
  registry.load_all();
  auto result = registry.call_tool("fixture_missing", nlohmann::json::object());
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "tool.unknown");
  CHECK(result.error().http_status() == 404);
}

TEST_CASE("a tool provider outlives the registry that loaded it") {
  std::shared_ptr<lognurse::ToolProvider> provider;
  {
    Registry registry(fixture_options());
    registry.load_all();
    provider = registry.find_tool("fixture_echo")->provider;
  }
  // The library stays mapped: calling into it after the registry is gone works.
  auto result = provider->call("echo", {{"still", "here"}});
  REQUIRE(result.ok());
  CHECK(result.value()["arguments"]["still"] == "here");
}

TEST_CASE("registry skips a plugin directory that does not exist") {
  RegistryOptions options;
  options.plugin_dirs = {"/nonexistent/lognurse/plugins"};
  Registry registry(options);
  CHECK(registry.load_all() == 0);
  CHECK(registry.plugins().empty());
  CHECK(registry.log_aggregation() == nullptr);
}
