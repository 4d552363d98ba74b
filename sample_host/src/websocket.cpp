#include "websocket.hpp"

namespace lognurse::host {

namespace {

constexpr std::size_t kMaxControlPayload = 125;

bool is_control(std::uint8_t opcode) { return (opcode & 0x8) != 0; }

bool is_known_opcode(std::uint8_t opcode) {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA);
}

/// The codes a peer may send in a close frame: the defined ones (1005, 1006 and 1015 are
/// never sent), and the ranges for libraries and applications.
bool is_sendable_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

/// The longest prefix of `text` of at most `limit` bytes that ends at a UTF-8 boundary.
std::string_view cut_at_boundary(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace

std::string websocket_frame(WsOpcode opcode, std::string_view payload) {
  std::string frame(1, static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
  const std::uint64_t size = payload.size();
  if (size < 126) {
    frame += static_cast<char>(size);
  } else if (size <= 0xFFFF) {
    frame += static_cast<char>(126);
    frame += static_cast<char>((size >> 8) & 0xFF);
    frame += static_cast<char>(size & 0xFF);
  } else {
    frame += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) frame += static_cast<char>((size >> (i * 8)) & 0xFF);
  }
  frame.append(payload);
  return frame;
}

std::string websocket_close_frame(std::uint16_t code, std::string_view reason) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(cut_at_boundary(reason, kMaxControlPayload - 2));
  return websocket_frame(WsOpcode::close, payload);
}

std::string websocket_empty_close_frame() { return websocket_frame(WsOpcode::close, ""); }

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2, code_point = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3, code_point = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4, code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    const bool overlong = (length == 3 && code_point < 0x800) ||
                          (length == 4 && code_point < 0x10000);
    const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
    if (overlong || surrogate || code_point > 0x10FFFF) return false;
    i += length;
  }
  return true;
}

WsClientReader::WsClientReader(std::size_t max_message_bytes)
    : max_message_bytes_(max_message_bytes) {}

void WsClientReader::feed(const char* data, std::size_t size) {
  if (finished_) return;
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(data, size);
}

std::optional<WsEvent> WsClientReader::fail(std::uint16_t code, std::string reason) {
  finished_ = true;
  buffer_.clear();
  message_.clear();
  WsEvent event;
  event.kind = WsEvent::Kind::failure;
  event.code = code;
  event.payload = std::move(reason);
  return event;
}

std::optional<WsEvent> WsClientReader::next() {
  while (!finished_) {
    const std::string_view data = std::string_view(buffer_).substr(consumed_);
    if (data.size() < 2) return std::nullopt;
    const auto b0 = static_cast<std::uint8_t>(data[0]);
    const auto b1 = static_cast<std::uint8_t>(data[1]);
    const bool fin = (b0 & 0x80) != 0;
    const std::uint8_t opcode = b0 & 0x0F;

    // The header's rules are checked as soon as its first two bytes are here, so that a
    // frame that breaks them is refused without waiting for the rest of it.
    if ((b0 & 0x70) != 0) {
      return fail(kWsProtocolError, "reserved bits set, but no extension was negotiated");
    }
    if (!is_known_opcode(opcode)) {
      return fail(kWsProtocolError, "unknown opcode " + std::to_string(opcode));
    }
    if ((b1 & 0x80) == 0) return fail(kWsProtocolError, "client frames must be masked");
    const std::uint8_t short_length = b1 & 0x7F;
    if (is_control(opcode) && (!fin || short_length > kMaxControlPayload)) {
      return fail(kWsProtocolError, "control frames must be unfragmented and at most 125 bytes");
    }

    std::size_t header = 2;
    std::uint64_t length = short_length;
    if (short_length == 126 || short_length == 127) {
      const std::size_t extended = short_length == 126 ? 2 : 8;
      if (data.size() < header + extended) return std::nullopt;
      length = 0;
      for (std::size_t k = 0; k < extended; ++k) {
        length = (length << 8) | static_cast<std::uint8_t>(data[header + k]);
      }
      header += extended;
      if ((short_length == 127 && (length >> 63) != 0) ||
          (short_length == 126 && length < 126) || (short_length == 127 && length <= 0xFFFF)) {
        return fail(kWsProtocolError, "the payload length is not in its shortest form");
      }
    }

    if (!is_control(opcode)) {
      if (opcode == 0 && !in_message_) {
        return fail(kWsProtocolError, "a continuation frame without a message to continue");
      }
      if (opcode != 0 && in_message_) {
        return fail(kWsProtocolError, "a new message before the fragmented one ended");
      }
      if (length > max_message_bytes_ - message_.size()) {
        return fail(kWsMessageTooBig, "messages are limited to " +
                                          std::to_string(max_message_bytes_) + " bytes");
      }
    }

    if (data.size() < header + 4 + length) return std::nullopt;
    const char* mask = data.data() + header;
    std::string payload(data.substr(header + 4, length));
    for (std::size_t k = 0; k < payload.size(); ++k) payload[k] ^= mask[k % 4];
    consumed_ += header + 4 + length;

    WsEvent event;
    switch (static_cast<WsOpcode>(opcode)) {
      case WsOpcode::ping:
      case WsOpcode::pong:
        event.kind = opcode == 0x9 ? WsEvent::Kind::ping : WsEvent::Kind::pong;
        event.payload = std::move(payload);
        return event;
      case WsOpcode::close:
        if (payload.size() == 1) return fail(kWsProtocolError, "a close payload of one byte");
        if (payload.size() >= 2) {
          event.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                  static_cast<std::uint8_t>(payload[1]));
          if (!is_sendable_close_code(event.code)) {
            return fail(kWsProtocolError, "close code " + std::to_string(event.code) +
                                              " may not be sent");
          }
          event.payload = payload.substr(2);
          if (!is_valid_utf8(event.payload)) {
            return fail(kWsInvalidPayload, "the close reason is not UTF-8");
          }
        }
        event.kind = WsEvent::Kind::close;
        finished_ = true;
        buffer_.clear();
        consumed_ = 0;
        return event;
      default:
        break;
    }

    if (opcode != 0) {
      in_message_ = true;
      message_text_ = opcode == 0x1;
    }
    message_ += payload;
    if (!fin) continue;
    in_message_ = false;
    if (message_text_ && !is_valid_utf8(message_)) {
      return fail(kWsInvalidPayload, "a text message that is not UTF-8");
    }
    event.kind = WsEvent::Kind::message;
    event.text = message_text_;
    event.payload = std::move(message_);
    message_.clear();
    return event;
  }
  return std::nullopt;
}

}  // namespace lognurse::host
