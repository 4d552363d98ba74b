// The plugin as the registry sees it: a module with a descriptor and a factory.

#include "lognurse/host_api/plugin.hpp"

#include <dlfcn.h>

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace lognurse::local_store::test {
namespace {

using DescriptorFn = const lognurse_plugin_descriptor* (*)();
using CreateFn = Plugin* (*)(const HostContext*);

/// Keeps the module loaded for the duration of a test.
class Module {
public:
  Module() : handle_(::dlopen(LOCAL_STORE_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL)) {}
  ~Module() {
    if (handle_ != nullptr) ::dlclose(handle_);
  }
  void* symbol(const char* name) const { return ::dlsym(handle_, name); }
  bool loaded() const { return handle_ != nullptr; }

private:
  void* handle_;
};

}  // namespace

TEST_CASE("the plugin describes itself as local_store providing log_aggregation") {
  Module module;
  INFO((module.loaded() ? "" : ::dlerror()));
  REQUIRE(module.loaded());
  auto describe = reinterpret_cast<DescriptorFn>(module.symbol(kDescriptorSymbol));
  REQUIRE(describe != nullptr);
  const lognurse_plugin_descriptor* descriptor = describe();
  CHECK(descriptor->abi_version == kPluginAbiVersion);
  CHECK(std::string(descriptor->name) == "local_store");
  CHECK(std::string(descriptor->provides) == "log_aggregation");
}

TEST_CASE("the plugin offers a working store under log_aggregation") {
  Module module;
  REQUIRE(module.loaded());
  auto create = reinterpret_cast<CreateFn>(module.symbol(kCreateSymbol));
  REQUIRE(create != nullptr);
  TempDir dir;
  HostContext context;
  context.data_dir = dir.path().string();
  {
    std::unique_ptr<Plugin> plugin(create(&context));
    auto backends = plugin->log_aggregation_backends();
    REQUIRE(backends.size() == 1);
    CHECK(backends[0].first == "log_aggregation");
    auto& store = *backends[0].second;
    CHECK(store.backend_name() == "local_store");
    REQUIRE(store.connect().ok());
    REQUIRE(store.push(request({stream({{"app", "api"}}, {entry(1, "hello")})})).ok());
    CHECK(store.health().detail == "1 streams, 1 entries in " + dir.file("lognurse.db"));
    // The plugin's defaults are Loki's: the stream gets a service_name from its app label.
    CHECK(store.labels("fake", range(0, 10)).value() ==
          std::vector<std::string>{"app", "service_name"});
    plugin->shutdown();
  }
}

TEST_CASE("the plugin factory refuses an unknown config key by throwing its message") {
  Module module;
  REQUIRE(module.loaded());
  auto create = reinterpret_cast<CreateFn>(module.symbol(kCreateSymbol));
  HostContext context;
  context.data_dir = "/tmp";
  context.config = {{"paht", "/tmp/x.db"}};
  try {
    delete create(&context);
    FAIL("the factory accepted an unknown key");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) ==
          "store.config: local_store config key 'paht': unknown key; "
          "see the local_store configuration table");
  }
}

}  // namespace lognurse::local_store::test
