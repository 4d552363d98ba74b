// The push body encoders: the exact bytes of the JSON encoder (escapes,
// control characters, non-ASCII, invalid UTF-8, metadata, empty batches), its
// agreement with the nlohmann document it replaced, and the exact bytes of the
// protobuf encoder. push_decoding_test.cpp reads bodies back on the host.

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>

#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "push_encoding.hpp"

using namespace lognurse;
using namespace lognurse::loki;

namespace {

PushRequest one_line(std::string line, Labels metadata = {}) {
  PushRequest request;
  request.streams.push_back({{{"app", "x"}}, {{1700000000000000001, std::move(line),
                                               std::move(metadata)}}});
  return request;
}

/// The JSON body of a single line in stream {app="x"}.
std::string body_of_line(const std::string& encoded_line) {
  return R"({"streams":[{"stream":{"app":"x"},"values":[["1700000000000000001",)" +
         encoded_line + "]]}]}";
}

/// What encode_push_json throws for `request`, or "" when it does not throw.
std::string json_failure(const PushRequest& request) {
  try {
    encode_push_json(request);
  } catch (const nlohmann::json::type_error& e) {
    return e.what();
  }
  return "";
}

/// What the nlohmann document's dump() gives: the body, or its exception text
/// behind "throws: ".
std::string dumped(const PushRequest& request) {
  try {
    return push_request_to_json(request).dump();
  } catch (const nlohmann::json::type_error& e) {
    return std::string("throws: ") + e.what();
  }
}

std::string encoded(const PushRequest& request) {
  try {
    return encode_push_json(request);
  } catch (const nlohmann::json::type_error& e) {
    return std::string("throws: ") + e.what();
  }
}

/// Random text made mostly of the bytes that matter to an encoder: ASCII,
/// quotes, backslashes, control characters, and the lead and continuation
/// bytes of UTF-8 sequences, valid and not.
std::string random_text(std::mt19937& random) {
  // The first kValidPieces are valid UTF-8; the rest are not.
  static const std::string kPieces[] = {
      "a", "Z", " ", "/", "\"", "\\", "\n", "\t", "\r", "\b", "\f", std::string(1, '\0'),
      "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xef\xbf\xbf",
      "\xf4\x8f\xbf\xbf",
      "\xc3", "\xe6\x97", "\x80", "\xbf", "\xc0\xaf", "\xc1\x81", "\xe0\x80\x80", "\xed\xa0\x80",
      "\xf0\x80\x80\x80", "\xf4\x90\x80\x80", "\xf5", "\xff", "\xfe"};
  constexpr std::size_t kValidPieces = 20;
  const std::size_t length = std::uniform_int_distribution<std::size_t>(0, 6)(random);
  // Half of the texts stay valid UTF-8, so that equal bodies are compared
  // as often as equal failures.
  const bool valid_only = std::uniform_int_distribution<int>(0, 1)(random) == 0;
  const std::size_t pieces = valid_only ? kValidPieces : std::size(kPieces);
  std::string text;
  for (std::size_t i = 0; i < length; ++i) {
    text += kPieces[std::uniform_int_distribution<std::size_t>(0, pieces - 1)(random)];
  }
  return text;
}

Labels random_labels(std::mt19937& random, std::size_t max_size) {
  static const std::string kNames[] = {"a", "b", "trace_id", "service_name", "z"};
  Labels labels;
  const std::size_t size = std::uniform_int_distribution<std::size_t>(0, max_size)(random);
  for (std::size_t i = 0; i < size; ++i) {
    // Names repeat and come unsorted now and then.
    const bool random_name = std::uniform_int_distribution<int>(0, 3)(random) == 0;
    labels.emplace_back(random_name ? random_text(random)
                                    : kNames[std::uniform_int_distribution<std::size_t>(0, 4)(
                                          random)],
                        random_text(random));
  }
  return labels;
}

}  // namespace

TEST_CASE("the JSON push body has Loki's shape with nothing between tokens", "[loki][encoding]") {
  PushRequest request;
  request.streams.push_back({{{"service_name", "api"}, {"env", "prod"}},
                             {{1700000000123456789, "GET /a 200", {}},
                              {1700000001000000000, "GET /b 500", {}}}});
  request.streams.push_back({{{"service_name", "web"}}, {{5, "tiny", {}}}});
  CHECK(encode_push_json(request) ==
        R"({"streams":[{"stream":{"env":"prod","service_name":"api"},"values":)"
        R"([["1700000000123456789","GET /a 200"],["1700000001000000000","GET /b 500"]]},)"
        R"({"stream":{"service_name":"web"},"values":[["5","tiny"]]}]})");
}

TEST_CASE("the JSON encoder escapes quotes, backslashes and control characters per RFC 8259",
          "[loki][encoding]") {
  CHECK(encode_push_json(one_line("say \"hi\" \\ back/slash")) ==
        body_of_line(R"("say \"hi\" \\ back/slash")"));
  CHECK(encode_push_json(one_line("\b\t\n\f\r")) == body_of_line(R"("\b\t\n\f\r")"));
  CHECK(encode_push_json(one_line(std::string("a\0b", 3))) == body_of_line(R"("a\u0000b")"));
  CHECK(encode_push_json(one_line("\x01\x0b\x0e\x1b\x1f")) ==
        body_of_line(R"("\u0001\u000b\u000e\u001b\u001f")"));
  // DEL and the space are not control characters for JSON.
  CHECK(encode_push_json(one_line("\x7f \x20")) == body_of_line("\"\x7f  \""));
  CHECK(encode_push_json(one_line("")) == body_of_line(R"("")"));
}

TEST_CASE("the JSON encoder copies valid non-ASCII UTF-8 unescaped", "[loki][encoding]") {
  // Two-, three- and four-byte sequences, and the highest code point.
  const std::string line = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
  CHECK(encode_push_json(one_line(line)) == body_of_line("\"" + line + "\""));
  CHECK(encode_push_json(one_line("\xef\xbb\xbf\xe2\x80\xa8")) ==
        body_of_line("\"\xef\xbb\xbf\xe2\x80\xa8\""));
}

TEST_CASE("the JSON encoder refuses invalid UTF-8 with the text nlohmann's dump gave",
          "[loki][encoding]") {
  const std::string prefix = "[json.exception.type_error.316] ";
  CHECK(json_failure(one_line("ab\xff")) == prefix + "invalid UTF-8 byte at index 2: 0xFF");
  CHECK(json_failure(one_line("\x80")) == prefix + "invalid UTF-8 byte at index 0: 0x80");
  // An overlong form, a surrogate and a code point beyond U+10FFFF fail at
  // their second byte; a lead byte followed by ASCII fails at the ASCII byte.
  CHECK(json_failure(one_line("x\xc0\xaf")) == prefix + "invalid UTF-8 byte at index 1: 0xC0");
  CHECK(json_failure(one_line("\xe0\x80\x80")) == prefix + "invalid UTF-8 byte at index 1: 0x80");
  CHECK(json_failure(one_line("\xed\xa0\x80")) == prefix + "invalid UTF-8 byte at index 1: 0xA0");
  CHECK(json_failure(one_line("\xf4\x90\x80\x80")) ==
        prefix + "invalid UTF-8 byte at index 1: 0x90");
  CHECK(json_failure(one_line("\xc3" "A")) == prefix + "invalid UTF-8 byte at index 1: 0x41");
  CHECK(json_failure(one_line("\xe6\x97\"")) == prefix + "invalid UTF-8 byte at index 2: 0x22");
  CHECK(json_failure(one_line("ok \xe6\x97")) ==
        prefix + "incomplete UTF-8 string; last byte: 0x97");
  // The first bad string in body order is named: here a metadata value.
  CHECK(json_failure(one_line("fine", {{"k", "\xfe"}})) ==
        prefix + "invalid UTF-8 byte at index 0: 0xFE");
  PushRequest bad_label = one_line("fine");
  bad_label.streams[0].labels = {{"app", "\xc3"}};
  CHECK(json_failure(bad_label) == prefix + "incomplete UTF-8 string; last byte: 0xC3");
  CHECK(dumped(one_line("ab\xff")) == "throws: " + prefix + "invalid UTF-8 byte at index 2: 0xFF");
}

TEST_CASE("the JSON encoder writes metadata sorted by name, last value winning, and leaves "
          "empty metadata out",
          "[loki][encoding]") {
  const PushRequest request =
      one_line("GET /a", {{"trace_id", "4bf9"}, {"span_id", "00f0"}, {"trace_id", "last"}});
  CHECK(encode_push_json(request) ==
        body_of_line(R"("GET /a",{"span_id":"00f0","trace_id":"last"})"));
  CHECK(encode_push_json(one_line("x", {{"k", "a\"b\n"}})) ==
        body_of_line(R"("x",{"k":"a\"b\n"})"));
  CHECK(encode_push_json(one_line("x", {})) == body_of_line(R"("x")"));

  PushRequest unsorted;
  unsorted.streams.push_back({{{"z", "1"}, {"a", "2"}, {"z", "3"}}, {{7, "l", {}}}});
  CHECK(encode_push_json(unsorted) ==
        R"({"streams":[{"stream":{"a":"2","z":"3"},"values":[["7","l"]]}]})");
}

TEST_CASE("the JSON encoder writes empty batches, streams and label sets", "[loki][encoding]") {
  CHECK(encode_push_json(PushRequest{}) == R"({"streams":[]})");
  PushRequest empty_stream;
  empty_stream.streams.push_back({{}, {}});
  CHECK(encode_push_json(empty_stream) == R"({"streams":[{"stream":{},"values":[]}]})");
  PushRequest negative;
  negative.streams.push_back({{{"a", "b"}}, {{-1500000000, "before 1970", {}}, {0, "", {}}}});
  CHECK(encode_push_json(negative) ==
        R"({"streams":[{"stream":{"a":"b"},"values":[["-1500000000","before 1970"],["0",""]]}]})");
}

TEST_CASE("the JSON encoder gives the bytes or the failure of the nlohmann document it replaced",
          "[loki][encoding]") {
  std::mt19937 random(20261204);
  std::size_t failures = 0;
  for (int round = 0; round < 3000; ++round) {
    PushRequest request;
    const std::size_t streams = std::uniform_int_distribution<std::size_t>(0, 3)(random);
    for (std::size_t s = 0; s < streams; ++s) {
      LogStream stream;
      stream.labels = random_labels(random, 3);
      const std::size_t entries = std::uniform_int_distribution<std::size_t>(0, 3)(random);
      for (std::size_t e = 0; e < entries; ++e) {
        stream.entries.push_back(
            {std::uniform_int_distribution<std::int64_t>(-kNanosPerSecond, INT64_MAX)(random),
             random_text(random), random_labels(random, 2)});
      }
      request.streams.push_back(std::move(stream));
    }
    const std::string expected = dumped(request);
    if (expected.rfind("throws: ", 0) == 0) ++failures;
    INFO("round " << round);
    REQUIRE(encoded(request) == expected);
  }
  // Both outcomes were exercised many times.
  CHECK(failures > 300);
  CHECK(failures < 2700);
}

TEST_CASE("the JSON encoder finds a byte to escape or check at any place in a long line",
          "[loki][encoding]") {
  // The encoder skips plain bytes eight at a time; a special byte in any
  // position of a word, next to bytes just inside or outside the special
  // ranges, must be found all the same.
  const std::string specials[] = {"\"", "\\", "\n", "\x01", "\x1f", std::string(1, '\0'),
                                  "\xc3\xa9", "\xe2\x82\xac", "\xff", "\xc3"};
  const char neighbours[] = {' ', '!', '#', '[', ']', '\x7f', 'a'};
  for (const std::string& special : specials) {
    for (const char neighbour : neighbours) {
      for (std::size_t at = 0; at < 20; ++at) {
        std::string line(24, neighbour);
        line.replace(at, special.size(), special);
        INFO("special " << static_cast<int>(static_cast<unsigned char>(special[0])) << " at "
                        << at << " among " << static_cast<int>(neighbour));
        CHECK(encoded(one_line(line)) == dumped(one_line(line)));
      }
    }
  }
}

TEST_CASE("the protobuf encoding of metadata and times before 1970 matches hand-computed bytes",
          "[loki][encoding]") {
  PushRequest request;
  request.streams.push_back({{{"b", "2"}, {"a", "1"}}, {{-1, "x", {{"k", "v"}}}, {0, "", {}}}});
  // streams(1) {
  //   labels(1) "{a=\"1\", b=\"2\"}" (14 bytes),
  //   entries(2) { timestamp(1) { seconds(1) -1 as ten bytes, nanos(2) 999999999 },
  //                line(2) "x", structuredMetadata(3) { name(1) "k", value(2) "v" } },
  //   entries(2) { timestamp(1) {}, line(2) "" } }
  const std::string labels = "\x0a\x0e{a=\"1\", b=\"2\"}";
  const std::string seconds = std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  const std::string nanos = "\x10\xff\x93\xeb\xdc\x03";
  const std::string timestamp = "\x0a\x11" + seconds + nanos;
  const std::string metadata = std::string("\x1a\x06\x0a\x01k\x12\x01v", 8);
  const std::string first = "\x12\x1e" + timestamp + "\x12\x01x" + metadata;
  const std::string second = std::string("\x12\x04\x0a\x00\x12\x00", 6);
  const std::string stream = labels + first + second;
  REQUIRE(stream.size() == 54);
  CHECK(encode_push_protobuf(request) == "\x0a\x36" + stream);
  CHECK(encode_push_protobuf(PushRequest{}).empty());
}
