// The built libloki.so: descriptor, factory, and refusal of a bad section.

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <stdexcept>

#include "lognurse/host_api/plugin.hpp"

using namespace lognurse;

namespace {

using DescriptorFn = const lognurse_plugin_descriptor* (*)();
using CreateFn = Plugin* (*)(const HostContext*);

/// Keeps the plugin loaded for the test's duration.
struct Library {
  Library() : handle(dlopen(LOKI_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL)) {}
  ~Library() {
    if (handle != nullptr) dlclose(handle);
  }
  template <typename Fn>
  Fn symbol(const char* name) const {
    return reinterpret_cast<Fn>(dlsym(handle, name));
  }
  void* handle;
};

}  // namespace

TEST_CASE("the plugin describes itself as loki providing log_aggregation", "[loki][plugin]") {
  Library library;
  INFO(dlerror());
  REQUIRE(library.handle != nullptr);
  const auto describe = library.symbol<DescriptorFn>(kDescriptorSymbol);
  REQUIRE(describe != nullptr);

  const lognurse_plugin_descriptor* descriptor = describe();
  CHECK(descriptor->abi_version == kPluginAbiVersion);
  CHECK(std::string(descriptor->name) == "loki");
  CHECK(std::string(descriptor->provides) == "log_aggregation");
}

TEST_CASE("the plugin offers its backend under log_aggregation", "[loki][plugin]") {
  Library library;
  REQUIRE(library.handle != nullptr);
  const auto create = library.symbol<CreateFn>(kCreateSymbol);
  REQUIRE(create != nullptr);

  HostContext context;
  context.config = {{"endpoint", "http://127.0.0.1:1"}, {"max_retries", 0}};
  std::unique_ptr<Plugin> plugin(create(&context));
  auto backends = plugin->log_aggregation_backends();
  REQUIRE(backends.size() == 1);
  CHECK(backends[0].first == "log_aggregation");
  REQUIRE(backends[0].second != nullptr);
  CHECK(backends[0].second->backend_name() == "loki");
  plugin->shutdown();
}

TEST_CASE("the factory refuses an unknown key, naming it", "[loki][plugin]") {
  Library library;
  REQUIRE(library.handle != nullptr);
  const auto create = library.symbol<CreateFn>(kCreateSymbol);
  REQUIRE(create != nullptr);

  HostContext context;
  context.config = {{"endpiont", "http://127.0.0.1:3100"}};
  try {
    std::unique_ptr<Plugin> plugin(create(&context));
    FAIL("the factory accepted an unknown key");
  } catch (const std::invalid_argument& error) {
    CHECK(std::string(error.what()).find("unknown key \"endpiont\"") != std::string::npos);
  }
}
