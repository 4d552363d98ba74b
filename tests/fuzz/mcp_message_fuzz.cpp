// libFuzzer target: MCP message handling over the real plugins (the embedded
// store in a temporary directory and the Nurse tools). Every message gets a
// JSON-RPC answer or none (notifications), never a crash.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "lognurse/registry/registry.hpp"
#include "mcp.hpp"

namespace {

/// The run's store directory: fresh for every run, so that a run with a fixed seed is
/// repeatable, and removed at exit, after the registry that uses it is gone. Held in a plain
/// array, which no destructor clears before the exit handler reads it.
char fuzz_data_dir[4096];

std::string make_fuzz_data_dir() {
  const auto path = std::filesystem::temp_directory_path() /
                    ("lognurse-mcp-fuzz-" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  std::snprintf(fuzz_data_dir, sizeof fuzz_data_dir, "%s", path.c_str());
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(fuzz_data_dir, ignored);
  });
  return path.string();
}

lognurse::registry::Registry& fuzz_registry() {
  static std::unique_ptr<lognurse::registry::Registry> registry = [] {
    lognurse::registry::RegistryOptions options;
    const char* plugins = std::getenv("LOGNURSE_PLUGIN_DIR");
    options.plugin_dirs = {plugins ? plugins : LOGNURSE_PLUGIN_DIR};
    options.data_dir = make_fuzz_data_dir();
    auto created = std::make_unique<lognurse::registry::Registry>(options);
    created->load_all();
    return created;
  }();
  return *registry;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static lognurse::host::McpServer server(fuzz_registry());
  // One session across inputs, as a client's messages share one: an input
  // may initialize it, set its log level, or call tools in it.
  static lognurse::host::McpSession session;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto answer = server.handle_text(text, session);
  if (answer && !nlohmann::json::accept(*answer)) std::abort();
  return 0;
}
