#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>

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

/// A sink that hands out real counters and remembers who asked for what.
class RecordingSink final : public lognurse::MetricsSink {
public:
  struct Counter final : lognurse::MetricCounter {
    void add(std::uint64_t amount) noexcept override { value += amount; }
    std::atomic<std::uint64_t> value{0};
  };

  explicit RecordingSink(std::string plugin) : plugin(std::move(plugin)) {}

  lognurse::Result<std::shared_ptr<lognurse::MetricCounter>> counter(
      const lognurse::MetricInfo& info, const lognurse::MetricLabels&) override {
    names.push_back(info.name);
    counters.push_back(std::make_shared<Counter>());
    return std::shared_ptr<lognurse::MetricCounter>(counters.back());
  }
  lognurse::Result<std::shared_ptr<lognurse::MetricGauge>> gauge(
      const lognurse::MetricInfo&, const lognurse::MetricLabels&) override {
    return lognurse::invalid_argument("test.unused", "gauges are not expected");
  }
  lognurse::Result<std::shared_ptr<lognurse::MetricHistogram>> histogram(
      const lognurse::MetricInfo&, const lognurse::MetricLabels&,
      const std::vector<double>&) override {
    return lognurse::invalid_argument("test.unused", "histograms are not expected");
  }

  std::string plugin;
  std::vector<std::string> names;
  std::vector<std::shared_ptr<Counter>> counters;
};

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

TEST_CASE("registry refuses a plugin built for the previous ABI version") {
  Registry registry(fixture_options());
  registry.load_all();
  const auto records = registry.plugins();
  const auto& record = record_named(records, "/libfixture_previous_abi.so");
  CHECK_FALSE(record.loaded);
  CHECK(record.reason == "plugin ABI version " + std::to_string(lognurse::kPluginAbiVersion - 1) +
                             " does not match the host's " +
                             std::to_string(lognurse::kPluginAbiVersion) +
                             "; rebuild the plugin against this host_api");
}

TEST_CASE("registry hands each plugin the metrics sink made for its name") {
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  RegistryOptions options = fixture_options();
  options.make_metrics = [&](const std::string& plugin) {
    sinks.push_back(std::make_shared<RecordingSink>(plugin));
    return sinks.back();
  };
  Registry registry(std::move(options));
  registry.load_all();

  const auto echo = std::find_if(sinks.begin(), sinks.end(),
                                 [](const auto& sink) { return sink->plugin == "echo_plugin"; });
  REQUIRE(echo != sinks.end());
  CHECK((*echo)->names == std::vector<std::string>{"echo_calls_total"});
  REQUIRE(registry.call_tool("fixture_echo", {{"x", 1}}).ok());
  REQUIRE(registry.call_tool("fixture_echo", {{"x", 2}}).ok());
  CHECK((*echo)->counters.at(0)->value == 2);
}

TEST_CASE("registry hands a discarding sink to plugins when the host has none") {
  RegistryOptions options = fixture_options();
  options.make_metrics = [](const std::string&) { return nullptr; };
  Registry registry(std::move(options));
  registry.load_all();
  const auto records = registry.plugins();
  CHECK(record_named(records, "/libfixture_echo.so").loaded);
  CHECK(registry.call_tool("fixture_echo", {{"x", 1}}).ok());
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
  // echo, not-an-object, no descriptor, previous ABI, throwing, wrong ABI, duplicate.
  REQUIRE(records.size() == 7);
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

namespace {

/// A private copy of the echo fixture plugin in a directory of its own, so that
/// a test can change owners and modes without touching the build tree.
class PluginCopy {
public:
  PluginCopy() {
    char pattern[] = "/tmp/lognurse-registry-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    file_ = dir_ / "libfixture_echo.so";
    std::filesystem::copy_file(std::string(LOGNURSE_FIXTURE_PLUGIN_DIR) + "/libfixture_echo.so",
                               file_);
    ::chmod(dir_.c_str(), 0755);
    ::chmod(file_.c_str(), 0755);
  }
  ~PluginCopy() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& file() const { return file_; }

  PluginRecord load() const {
    RegistryOptions options;
    options.plugin_dirs = {dir_.string()};
    Registry registry(options);
    registry.load_all();
    const auto records = registry.plugins();
    REQUIRE(records.size() == 1);
    return records.front();
  }

private:
  std::filesystem::path dir_;
  std::filesystem::path file_;
};

}  // namespace

TEST_CASE("registry loads a plugin from a directory only its owner can write") {
  PluginCopy copy;
  const auto record = copy.load();
  CHECK(record.loaded);
  CHECK(record.reason.empty());
}

TEST_CASE("registry refuses plugins in a directory other users can write, and says how to fix it") {
  PluginCopy copy;
  ::chmod(copy.dir().c_str(), 0777);
  const auto record = copy.load();
  CHECK_FALSE(record.loaded);
  CHECK(record.reason == "the plugin directory " + copy.dir().string() +
                             " is writable by other users (mode 777), so anyone could replace the "
                             "code the host runs; chmod go-w " + copy.dir().string());
}

TEST_CASE("registry refuses a plugin file other users can write") {
  PluginCopy copy;
  ::chmod(copy.file().c_str(), 0775);
  const auto record = copy.load();
  CHECK_FALSE(record.loaded);
  CHECK(record.reason == "the plugin file " + copy.file().string() +
                             " is writable by other users (mode 775), so anyone could replace the "
                             "code the host runs; chmod go-w " + copy.file().string());
}

TEST_CASE("registry refuses a plugin file owned by another user") {
  if (::geteuid() != 0) {
    WARN("skipped: only root can give a file to another user");
    return;
  }
  PluginCopy copy;
  REQUIRE(::chown(copy.file().c_str(), 65534, 65534) == 0);
  const auto record = copy.load();
  CHECK_FALSE(record.loaded);
  CHECK(record.reason == "the plugin file " + copy.file().string() +
                             " is owned by uid 65534, neither the host's user (uid 0) nor root; "
                             "chown it or remove it");
}
