// libFuzzer target: MCP message handling over the real plugins (the embedded
// store in a temporary directory and the Nurse tools). Every message gets a
// JSON-RPC answer or none (notifications), never a crash.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "lognurse/registry/registry.hpp"
#include "mcp.hpp"

namespace {

lognurse::registry::Registry& fuzz_registry() {
  static std::unique_ptr<lognurse::registry::Registry> registry = [] {
    lognurse::registry::RegistryOptions options;
    const char* plugins = std::getenv("LOGNURSE_PLUGIN_DIR");
    options.plugin_dirs = {plugins ? plugins : LOGNURSE_PLUGIN_DIR};
    options.data_dir = (std::filesystem::temp_directory_path() / "lognurse-mcp-fuzz").string();
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
