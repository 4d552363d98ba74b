#pragma once

// The server side of RFC 6455 framing: the frames a server sends (unmasked) and an
// incremental reader of the frames a client sends, which checks every rule a server must
// enforce (masking, reserved bits and opcodes, control-frame size and fragmentation, length
// encoding, close codes, UTF-8 of text and close reasons) and a size limit on messages.
// No extensions and no subprotocols are negotiated. Not thread safe: one reader per
// connection, used by the thread that serves it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lognurse::host {

/// Frame opcodes (RFC 6455 section 5.2).
enum class WsOpcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// Close status codes the server sends (RFC 6455 section 7.4.1).
enum WsCloseCode : std::uint16_t {
  kWsNormalClosure = 1000,
  kWsGoingAway = 1001,
  kWsProtocolError = 1002,
  kWsInvalidPayload = 1007,
  kWsMessageTooBig = 1009,
  kWsInternalError = 1011,
};

/// One unmasked frame with FIN set, as a server sends it.
std::string websocket_frame(WsOpcode opcode, std::string_view payload);

/// A close frame with `code` and `reason` (cut to fit the 125-byte control-frame limit at a
/// UTF-8 boundary).
std::string websocket_close_frame(std::uint16_t code, std::string_view reason);

/// The empty close frame, which answers a close frame that carried no status code.
std::string websocket_empty_close_frame();

/// What the client sent: a control frame, a complete (reassembled) data message, or a
/// violation of the protocol after which the connection must be closed with `code`.
struct WsEvent {
  enum class Kind { ping, pong, close, message, failure };
  Kind kind = Kind::failure;
  std::string payload;          ///< ping/pong/message payload, unmasked; close: the reason
  std::uint16_t code = 0;       ///< close: the client's status code, 0 if it gave none;
                                ///< failure: the code to close with
  bool text = false;            ///< message: a text message (else binary)
};

/// Reads client frames from the bytes of a connection, in the order they arrive.
class WsClientReader {
public:
  /// Data messages (all their fragments together) over `max_message_bytes` are refused with
  /// 1009 as soon as a frame header announces them, before their payload is read.
  explicit WsClientReader(std::size_t max_message_bytes);

  /// Appends bytes received from the client.
  void feed(const char* data, std::size_t size);

  /// The next event, or nullopt until more bytes arrive. After a close or a failure it
  /// returns nullopt for good: nothing after a close frame is read.
  std::optional<WsEvent> next();

private:
  std::optional<WsEvent> fail(std::uint16_t code, std::string reason);

  std::size_t max_message_bytes_;
  std::string buffer_;
  std::size_t consumed_ = 0;
  bool finished_ = false;
  bool in_message_ = false;  ///< a fragmented data message has started
  bool message_text_ = false;
  std::string message_;
};

/// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above
/// U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace lognurse::host
