// libFuzzer target: the reader of WebSocket client frames (sample_host/src/websocket.hpp).
// The first byte of an input says where to cut the rest in two; the reader must give the
// same events whether the bytes come at once, in those two pieces or one byte at a time,
// nothing after a close or a failure, failures only with the codes a server closes with,
// messages within the limit, and text messages that are UTF-8.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "websocket.hpp"

namespace {

using lognurse::host::WsClientReader;
using lognurse::host::WsEvent;

constexpr std::size_t kLimit = 1024;

struct Seen {
  WsEvent::Kind kind;
  std::string payload;
  std::uint16_t code;
  bool text;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> read_all(const std::string& bytes, const std::vector<std::size_t>& cuts) {
  WsClientReader reader(kLimit);
  std::vector<Seen> events;
  std::size_t from = 0;
  auto drain = [&] {
    while (auto event = reader.next()) {
      events.push_back({event->kind, event->payload, event->code, event->text});
    }
  };
  for (std::size_t cut : cuts) {
    reader.feed(bytes.data() + from, cut - from);
    drain();
    from = cut;
  }
  reader.feed(bytes.data() + from, bytes.size() - from);
  drain();
  return events;
}

void check(const std::vector<Seen>& events) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Seen& event = events[i];
    const bool last = i + 1 == events.size();
    switch (event.kind) {
      case WsEvent::Kind::failure:
        if (!last) std::abort();
        if (event.code != 1002 && event.code != 1007 && event.code != 1009) std::abort();
        break;
      case WsEvent::Kind::close:
        if (!last || !lognurse::host::is_valid_utf8(event.payload)) std::abort();
        break;
      case WsEvent::Kind::message:
        if (event.payload.size() > kLimit) std::abort();
        if (event.text && !lognurse::host::is_valid_utf8(event.payload)) std::abort();
        break;
      case WsEvent::Kind::ping:
      case WsEvent::Kind::pong:
        if (event.payload.size() > 125) std::abort();
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t cut = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);

  const auto whole = read_all(bytes, {});
  check(whole);
  if (read_all(bytes, {cut}) != whole) std::abort();
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  if (read_all(bytes, every) != whole) std::abort();
  return 0;
}
