// libFuzzer target: the OTLP/HTTP protobuf logs decoder (ExportLogsServiceRequest)
// and the mapping of what it accepts to Loki streams. See otlp_checks.hpp for
// the invariants.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "otlp_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  lognurse::fuzz::check_otlp_result(lognurse::host::otlp_logs_from_protobuf(body));
  return 0;
}
