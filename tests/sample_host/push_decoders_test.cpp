// The decoders of Loki's push bodies: protobuf from push.proto, snappy blocks,
// label-set strings, and the choice of format from the Content-Type.

#include <snappy.h>

#include <catch2/catch.hpp>

#include "protobuf_builder.hpp"
#include "push_decoders.hpp"

using lognurse::Labels;
using lognurse::host::decode_push_body;
using lognurse::host::parse_label_set;
using lognurse::host::push_format;
using lognurse::host::push_request_from_protobuf;
using lognurse::host::PushFormat;
using lognurse::host::snappy_uncompress;
using lognurse::test::Proto;

namespace {

Proto timestamp(std::int64_t seconds, std::int32_t nanos) {
  return Proto()
      .varint(1, static_cast<std::uint64_t>(seconds))
      .varint(2, static_cast<std::uint32_t>(nanos));
}

Proto entry(std::int64_t seconds, std::int32_t nanos, const std::string& line) {
  return Proto().message(1, timestamp(seconds, nanos)).bytes(2, line);
}

std::string snappy_block(const std::string& data) {
  std::string out;
  snappy::Compress(data.data(), data.size(), &out);
  return out;
}

}  // namespace

TEST_CASE("a protobuf push decodes streams, entries and structured metadata") {
  Proto first = entry(1733320000, 5, "GET /a 200");
  first.message(3, Proto().bytes(1, "trace_id").bytes(2, "abc"));
  first.message(3, Proto().bytes(1, "user").bytes(2, "ann"));
  Proto stream;
  stream.bytes(1, R"({service_name="api", env="prod"})")
      .message(2, first)
      .message(2, entry(1733320001, 0, "GET /b 500"))
      .varint(3, 12345);
  Proto other;
  other.bytes(1, "{job=\"worker\"}").message(2, entry(1733320002, 999999999, "done"));
  const std::string message = Proto().message(1, stream).message(1, other).str();

  auto decoded = push_request_from_protobuf(message, "team-a");
  REQUIRE(decoded.ok());
  const auto& request = decoded.value();
  CHECK(request.tenant == "team-a");
  REQUIRE(request.streams.size() == 2);
  CHECK(request.streams[0].labels == Labels{{"env", "prod"}, {"service_name", "api"}});
  REQUIRE(request.streams[0].entries.size() == 2);
  CHECK(request.streams[0].entries[0].timestamp_ns == 1733320000'000000005LL);
  CHECK(request.streams[0].entries[0].line == "GET /a 200");
  CHECK(request.streams[0].entries[0].metadata == Labels{{"trace_id", "abc"}, {"user", "ann"}});
  CHECK(request.streams[0].entries[1].metadata.empty());
  CHECK(request.streams[1].labels == Labels{{"job", "worker"}});
  CHECK(request.streams[1].entries[0].timestamp_ns == 1733320002'999999999LL);
}

TEST_CASE("a protobuf push skips fields it does not know") {
  Proto stream;
  stream.bytes(1, "{a=\"1\"}").fixed32(9, 7).message(2, entry(10, 0, "x").fixed64(15, 1));
  const std::string message = Proto().message(1, stream).bytes(2, "loki").str();
  auto decoded = push_request_from_protobuf(message, "fake");
  REQUIRE(decoded.ok());
  CHECK(decoded.value().streams.at(0).entries.at(0).line == "x");
}

TEST_CASE("a truncated protobuf push is refused with the byte where it ends") {
  const std::string message =
      Proto().message(1, Proto().bytes(1, "{a=\"1\"}").message(2, entry(10, 0, "hello"))).str();
  auto decoded = push_request_from_protobuf(message.substr(0, message.size() - 3), "fake");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().code == "push.malformed_protobuf");
  CHECK(decoded.error().message ==
        "malformed protobuf at byte 0: field 1 declares 24 bytes but only 21 remain; the message "
        "is truncated");
}

TEST_CASE("a truncated varint inside an entry names the stream and the entry") {
  // The timestamp's seconds varint ends with a continuation bit.
  const std::string bad_timestamp = std::string("\x08\xff", 2);
  Proto bad_entry;
  bad_entry.bytes(1, bad_timestamp);
  const std::string message =
      Proto().message(1, Proto().bytes(1, "{a=\"1\"}").message(2, bad_entry)).str();
  auto decoded = push_request_from_protobuf(message, "fake");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().message ==
        "streams[0].entries[0].timestamp: malformed protobuf at byte 16: truncated varint "
        "(value); the message ends early");
}

TEST_CASE("a protobuf field with the wrong wire type is refused by name") {
  const std::string message = Proto().message(1, Proto().varint(1, 7)).str();
  auto decoded = push_request_from_protobuf(message, "fake");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().message ==
        "streams[0]: malformed protobuf at byte 2: StreamAdapter.labels (field 1) has wire type "
        "varint; expected length-delimited");

  auto top = push_request_from_protobuf(Proto().varint(1, 3).str(), "fake");
  REQUIRE_FALSE(top.ok());
  CHECK(top.error().message ==
        "malformed protobuf at byte 0: PushRequest.streams (field 1) has wire type varint; "
        "expected length-delimited");
}

TEST_CASE("invalid wire types, groups and field zero are refused") {
  CHECK(push_request_from_protobuf(std::string("\x0e", 1), "fake").error().message ==
        "malformed protobuf at byte 0: field 1 has invalid wire type 6");
  CHECK(push_request_from_protobuf(std::string("\x0b", 1), "fake").error().message ==
        "malformed protobuf at byte 0: field 1 uses the deprecated group encoding, which these "
        "messages never contain");
  CHECK(push_request_from_protobuf(std::string("\x02\x00", 2), "fake").error().message ==
        "malformed protobuf at byte 0: field number 0 is out of range (1 to 536870911); the data "
        "is not a protobuf message of the expected type, or it is still compressed");
}

TEST_CASE("an entry without a timestamp or a stream without labels is refused") {
  auto no_time = push_request_from_protobuf(
      Proto().message(1, Proto().bytes(1, "{a=\"1\"}").message(2, Proto().bytes(2, "x"))).str(),
      "fake");
  CHECK(no_time.error().message ==
        "streams[0].entries[0]: the entry has no timestamp (EntryAdapter field 1); every entry "
        "needs one");
  auto no_labels = push_request_from_protobuf(
      Proto().message(1, Proto().message(2, entry(1, 0, "x"))).str(), "fake");
  CHECK(no_labels.error().message ==
        "streams[0]: the stream has no labels (StreamAdapter field 1); send a label set such as "
        "{service_name=\"api\"}");
}

TEST_CASE("timestamps outside what nanoseconds can hold are refused") {
  auto negative = push_request_from_protobuf(
      Proto().message(1, Proto().bytes(1, "{a=\"1\"}").message(2, entry(-5, 0, "x"))).str(),
      "fake");
  CHECK(negative.error().message ==
        "streams[0].entries[0].timestamp: Timestamp.seconds -5 is outside 1970..2262, which "
        "nanosecond timestamps can hold");
  auto nanos = push_request_from_protobuf(
      Proto().message(1, Proto().bytes(1, "{a=\"1\"}").message(2, entry(5, 1000000000, "x"))).str(),
      "fake");
  CHECK(nanos.error().message ==
        "streams[0].entries[0].timestamp: Timestamp.nanos is 1000000000; it must be within "
        "0..999999999");
}

TEST_CASE("label sets parse Go-quoted and raw values") {
  auto parsed = parse_label_set(R"({b="x\"y\\z\n", a=`raw\n`, c="\u00e9\x41"})");
  REQUIRE(parsed.ok());
  CHECK(parsed.value() == Labels{{"a", "raw\\n"},
                                 {"b", "x\"y\\z\n"},
                                 {"c",
                                  "\xc3\xa9"
                                  "A"}});
  CHECK(parse_label_set("{}").value().empty());
  CHECK(parse_label_set(" {level=\"info\",app=\"shop\"} ").value() ==
        Labels{{"app", "shop"}, {"level", "info"}});
}

TEST_CASE("malformed label sets are refused with the byte at fault") {
  CHECK(parse_label_set("a=\"1\"").error().message ==
        "label set at byte 0: expected '{'; write it as {name=\"value\", ...}");
  CHECK(parse_label_set("{a=\"1\"").error().message ==
        "label set at byte 6: expected ',' or '}'; write it as {name=\"value\", ...}");
  CHECK(parse_label_set("{a=~\"1\"}").error().message ==
        "label set at byte 3: a stream's labels take only '=', not a matcher; write it as "
        "{name=\"value\", ...}");
  CHECK(parse_label_set("{1a=\"x\"}").error().message ==
        "label set at byte 1: expected a label name ([a-zA-Z_][a-zA-Z0-9_]*); write it as "
        "{name=\"value\", ...}");
  CHECK(parse_label_set("{a=\"x}").error().message ==
        "label set at byte 3: unterminated quoted value; write it as {name=\"value\", ...}");
  CHECK(parse_label_set("{a=\"1\", a=\"2\"}").error().message ==
        "label set at byte 8: duplicate label name 'a'; write it as {name=\"value\", ...}");
  CHECK(parse_label_set("{a=\"\\q\"}").error().code == "push.invalid_labels");
}

TEST_CASE("snappy blocks uncompress within the limit") {
  const std::string message(5000, 'x');
  auto out = snappy_uncompress(snappy_block(message), 10000);
  REQUIRE(out.ok());
  CHECK(out.value() == message);
}

TEST_CASE("a snappy block declaring more than the limit is refused before it is expanded") {
  auto out = snappy_uncompress(snappy_block(std::string(20000, 'x')), 10000);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error().code == "push.body_too_large");
  CHECK(out.error().message ==
        "the snappy body declares 20000 uncompressed bytes, more than the limit of 10000; send "
        "smaller batches");
}

TEST_CASE("data that is not snappy is refused as such") {
  auto header = snappy_uncompress(std::string("\xff\xff\xff\xff\xff\xff", 6), 10000);
  CHECK(header.error().code == "push.bad_snappy");
  CHECK(header.error().message ==
        "the protobuf body is not snappy-compressed (its length header is invalid); compress the "
        "PushRequest with snappy's block format");
  std::string truncated = snappy_block(std::string(3000, 'y') + "tail");
  truncated.resize(truncated.size() - 2);
  auto corrupt = snappy_uncompress(truncated, 10000);
  CHECK(corrupt.error().code == "push.bad_snappy");
}

TEST_CASE("the push format follows the Content-Type, and a brace means JSON") {
  CHECK(push_format("application/json; charset=utf-8", "").value() == PushFormat::json);
  CHECK(push_format("Application/X-Protobuf", "{").value() == PushFormat::protobuf);
  CHECK(push_format("application/x-www-form-urlencoded", "  {\"streams\":[]}").value() ==
        PushFormat::json);
  CHECK(push_format("", "{\"streams\":[]}").value() == PushFormat::json);
  auto refused = push_format("text/plain", "hello");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "push.unsupported_content_type");
  CHECK(refused.error().message ==
        "unsupported Content-Type \"text/plain\"; send application/json (Loki's JSON push "
        "format) or application/x-protobuf (a snappy-compressed PushRequest)");
}

TEST_CASE("a snappy-compressed protobuf body decodes end to end") {
  const std::string message =
      Proto().message(1, Proto().bytes(1, "{a=\"1\"}").message(2, entry(7, 0, "line"))).str();
  auto decoded = decode_push_body("application/x-protobuf", snappy_block(message), "fake", 1 << 20);
  REQUIRE(decoded.ok());
  CHECK(decoded.value().streams.at(0).entries.at(0).line == "line");
  auto uncompressed = decode_push_body("application/x-protobuf", message, "fake", 1 << 20);
  CHECK(uncompressed.error().code == "push.bad_snappy");
}
