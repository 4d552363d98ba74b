// Bodies of both push formats, as the plugin encodes them, read back by the
// host's own push decoder (the one behind /loki/api/v1/push): the entries
// that arrive are the entries pushed.

#include <catch2/catch.hpp>

#include "push_decoders.hpp"
#include "push_encoding.hpp"

using namespace lognurse;
using namespace lognurse::loki;

TEST_CASE("JSON and protobuf bodies decode on the host to the entries pushed",
          "[loki][encoding]") {
  PushRequest request;
  request.streams.push_back(
      {{{"service_name", "api"}, {"env", "prod \"eu\"\n"}},
       {{1700000000123456789, "say \"hi\"\t\\ \x01 caf\xc3\xa9 \xf0\x9f\x98\x80",
         {{"trace_id", "4bf92f35"}, {"span_id", "00\xe2\x82\xac"}}},
        {1700000001000000000, std::string(300, 'x'), {}},
        {1700000002000000000, std::string("nul\0inside", 10), {{"k", "\x7f"}}}}});
  request.streams.push_back({{{"service_name", "web"}}, {{5, "", {}}}});

  PushRequest expected = request;
  for (auto& stream : expected.streams) {
    normalize_labels(stream.labels);
    for (auto& entry : stream.entries) normalize_labels(entry.metadata);
  }

  for (const PushFormat format : {PushFormat::json, PushFormat::protobuf}) {
    INFO(to_string(format));
    const PushBody body = encode_push(request, format);
    auto decoded = host::decode_push_body(body.content_type, body.bytes, "team-a", 1U << 20U);
    REQUIRE(decoded.ok());
    const PushRequest& got = decoded.value();
    CHECK(got.tenant == "team-a");
    REQUIRE(got.streams.size() == expected.streams.size());
    for (std::size_t s = 0; s < got.streams.size(); ++s) {
      CHECK(got.streams[s].labels == expected.streams[s].labels);
      REQUIRE(got.streams[s].entries.size() == expected.streams[s].entries.size());
      for (std::size_t e = 0; e < got.streams[s].entries.size(); ++e) {
        const LogEntry& have = got.streams[s].entries[e];
        const LogEntry& want = expected.streams[s].entries[e];
        CHECK(have.timestamp_ns == want.timestamp_ns);
        CHECK(have.line == want.line);
        Labels metadata = have.metadata;
        normalize_labels(metadata);
        CHECK(metadata == want.metadata);
      }
    }
  }
}
