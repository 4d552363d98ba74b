// RFC 6455 framing of the host's WebSocket: server frames and the reader of client frames.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "websocket.hpp"

using lognurse::host::is_valid_utf8;
using lognurse::host::websocket_close_frame;
using lognurse::host::websocket_frame;
using lognurse::host::WsClientReader;
using lognurse::host::WsEvent;
using lognurse::host::WsOpcode;

namespace {

/// RFC 6455 section 5.7's masked "Hello" text frame from a client.
const std::string kMaskedHello = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";

}  // namespace

TEST_CASE("websocket frames are those of RFC 6455's examples") {
  CHECK(websocket_frame(WsOpcode::text, "Hello") == "\x81\x05Hello");
  CHECK(websocket_frame(WsOpcode::pong, "Hello") == "\x8a\x05Hello");
  CHECK(websocket_frame(WsOpcode::binary, std::string(256, 'x')).substr(0, 4) ==
        std::string("\x82\x7e\x01\x00", 4));
  CHECK(websocket_frame(WsOpcode::binary, std::string(65536, 'x')).substr(0, 10) ==
        std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  CHECK(websocket_close_frame(1000, "") == std::string("\x88\x02\x03\xe8", 4));
}

TEST_CASE("a close reason is cut at a UTF-8 boundary to fit a control frame") {
  const std::string frame = websocket_close_frame(1002, std::string(122, 'a') + "\xC3\xA9");
  CHECK(frame.size() == 2 + 2 + 122);
  CHECK(is_valid_utf8(frame.substr(4)));
}

TEST_CASE("the reader unmasks a frame that arrives one byte at a time") {
  WsClientReader reader(1024);
  for (std::size_t i = 0; i + 1 < kMaskedHello.size(); ++i) {
    reader.feed(&kMaskedHello[i], 1);
    REQUIRE_FALSE(reader.next());
  }
  reader.feed(&kMaskedHello.back(), 1);
  const auto event = reader.next();
  REQUIRE(event);
  CHECK(event->kind == WsEvent::Kind::message);
  CHECK(event->text);
  CHECK(event->payload == "Hello");
  CHECK_FALSE(reader.next());
}

TEST_CASE("the reader reads nothing after a close frame") {
  WsClientReader reader(1024);
  const std::string close("\x88\x80\x00\x00\x00\x00", 6);
  const std::string both = close + kMaskedHello;
  reader.feed(both.data(), both.size());
  const auto event = reader.next();
  REQUIRE(event);
  CHECK(event->kind == WsEvent::Kind::close);
  CHECK(event->code == 0);
  CHECK_FALSE(reader.next());
}

TEST_CASE("the reader refuses a length that is not in its shortest form") {
  WsClientReader reader(1024);
  const std::string frame = std::string("\x82\xfe\x00\x05\x00\x00\x00\x00", 8) + "Hello";
  reader.feed(frame.data(), frame.size());
  const auto event = reader.next();
  REQUIRE(event);
  CHECK(event->kind == WsEvent::Kind::failure);
  CHECK(event->code == 1002);
}

TEST_CASE("UTF-8 validation refuses overlong forms, surrogates and cut sequences") {
  CHECK(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xE2\x82"));          // cut
}
