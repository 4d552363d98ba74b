// libFuzzer target: the host's YAML config parser (with ${VAR} expansion)
// never crashes; every refusal names what was wrong.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = lognurse::host::parse_config(text, "fuzz.yaml");
  if (!config.ok() && config.error().message.empty()) std::abort();
  return 0;
}
