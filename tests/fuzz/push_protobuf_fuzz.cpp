// libFuzzer target: Loki's protobuf push decoder and its snappy step. Each
// input is read three ways: as an uncompressed PushRequest, as a snappy block
// (bounded by a small decompressed-size limit, then decoded when it opens),
// and compressed with snappy and sent through decode_push_body as the HTTP
// route does, which must agree with the first reading. Every refusal has a
// code and a message; what is accepted has the caller's tenant, valid sorted
// label sets that print and parse back unchanged, and timestamps in range.

#include <snappy.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_checks.hpp"
#include "push_decoders.hpp"

namespace {

using lognurse::PushRequest;
using lognurse::Result;
using lognurse::fuzz::require;

constexpr const char* kTenant = "fuzz";

/// Small enough that inputs declaring more exercise the limit, large enough for real bodies.
constexpr std::size_t kMaxDecompressed = 1 << 20;

void check_request(const Result<PushRequest>& request) {
  if (!request) {
    lognurse::fuzz::check_refusal(request.error());
    return;
  }
  require(request.value().tenant == kTenant, "the tenant was not the caller's");
  for (const auto& stream : request.value().streams) {
    lognurse::fuzz::check_label_set(stream.labels);
    auto reparsed = lognurse::host::parse_label_set(lognurse::labels_to_string(stream.labels));
    require(reparsed.ok() && reparsed.value() == stream.labels,
            "a decoded label set does not print and parse back to itself");
    for (const auto& entry : stream.entries) {
      require(entry.timestamp_ns >= 0, "an entry with a negative timestamp");
    }
  }
}

bool same_streams(const PushRequest& a, const PushRequest& b) {
  if (a.streams.size() != b.streams.size()) return false;
  for (std::size_t s = 0; s < a.streams.size(); ++s) {
    const auto& x = a.streams[s];
    const auto& y = b.streams[s];
    if (x.labels != y.labels || x.entries.size() != y.entries.size()) return false;
    for (std::size_t e = 0; e < x.entries.size(); ++e) {
      if (x.entries[e].timestamp_ns != y.entries[e].timestamp_ns ||
          x.entries[e].line != y.entries[e].line ||
          x.entries[e].metadata != y.entries[e].metadata) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto direct = lognurse::host::push_request_from_protobuf(input, kTenant);
  check_request(direct);

  auto opened = lognurse::host::snappy_uncompress(input, kMaxDecompressed);
  if (opened) {
    require(opened.value().size() <= kMaxDecompressed, "snappy output over the limit");
    check_request(lognurse::host::push_request_from_protobuf(opened.value(), kTenant));
  } else {
    lognurse::fuzz::check_refusal(opened.error());
  }

  std::string compressed;
  snappy::Compress(input.data(), input.size(), &compressed);
  auto routed = lognurse::host::decode_push_body("application/x-protobuf", compressed, kTenant,
                                                 kMaxDecompressed);
  check_request(routed);
  if (size <= kMaxDecompressed) {
    require(routed.ok() == direct.ok(), "the snappy route and the plain decoder disagree");
    if (direct) {
      require(same_streams(routed.value(), direct.value()),
              "the snappy route decoded other streams than the plain decoder");
    } else {
      require(routed.error().message == direct.error().message,
              "the snappy route refused with another message than the plain decoder");
    }
  }
  return 0;
}
