// libFuzzer target: Loki's JSON push decoder never crashes, and what it
// accepts has only valid timestamps and non-empty label sets.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lognurse/host_api/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto request = lognurse::push_request_from_json(body, "fuzz");
  if (request.ok()) {
    for (const auto& stream : request.value().streams) {
      for (const auto& entry : stream.entries) {
        if (entry.timestamp_ns < 0) std::abort();
      }
    }
  } else if (request.error().message.empty()) {
    std::abort();  // every refusal must say why
  }
  return 0;
}
