#include "loki_tail.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <httplib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "http_connection.hpp"
#include "loki_query_api.hpp"
#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/parser.hpp"
#include "websocket.hpp"

namespace lognurse::host {
namespace {

using nlohmann::json;

std::atomic<bool> g_stopping{false};
std::atomic<int> g_running{0};

constexpr std::int64_t kMaxDelaySeconds = 5;
constexpr auto kPollInterval = std::chrono::seconds(1);
constexpr auto kStopCheck = std::chrono::milliseconds(50);
/// How long a tail that sent its close frame waits for the client to close the connection.
constexpr auto kCloseLinger = std::chrono::seconds(1);

std::array<std::uint8_t, 20> sha1(const std::string& message) {
  std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string data = message;
  const std::uint64_t bits = static_cast<std::uint64_t>(message.size()) * 8;
  data += static_cast<char>(0x80);
  while (data.size() % 64 != 56) data += '\0';
  for (int i = 7; i >= 0; --i) data += static_cast<char>((bits >> (i * 8)) & 0xFF);
  auto rotl = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t chunk = 0; chunk < data.size(); chunk += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = 0;
      for (int b = 0; b < 4; ++b) {
        w[i] = (w[i] << 8) | static_cast<std::uint8_t>(data[chunk + i * 4 + b]);
      }
    }
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f = 0, k = 0;
      if (i < 20) {
        f = (b & c) | (~b & d), k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d, k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d, k = 0xCA62C1D6;
      }
      const std::uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d, d = c, c = rotl(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  std::array<std::uint8_t, 20> out{};
  for (int i = 0; i < 20; ++i) out[i] = static_cast<std::uint8_t>(h[i / 4] >> (24 - 8 * (i % 4)));
  return out;
}

std::string base64(const std::uint8_t* data, std::size_t size) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(data[i]) << 16;
    if (i + 1 < size) n |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (i + 2 < size) n |= data[i + 2];
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < size ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < size ? alphabet[n & 63] : '=';
  }
  return out;
}

/// One entry a tail delivers, with the labels of its stream.
struct TailEntry {
  const Labels* labels = nullptr;
  const LogEntry* entry = nullptr;
};

/// Loki's tail message: {"streams":[{"stream":{...},"values":[["<ns>","line"]]}]}, the entries
/// grouped by stream in the order each stream first appears, oldest first within a stream.
std::string tail_message(std::vector<TailEntry>::const_iterator first,
                         std::vector<TailEntry>::const_iterator last) {
  json streams = json::array();
  std::map<const Labels*, std::size_t> index_of;
  for (auto it = first; it != last; ++it) {
    auto [found, added] = index_of.emplace(it->labels, streams.size());
    if (added) streams.push_back({{"stream", labels_to_json(*it->labels)}, {"values", json::array()}});
    streams[found->second]["values"].push_back(
        json::array({std::to_string(it->entry->timestamp_ns), it->entry->line}));
  }
  return json{{"streams", std::move(streams)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Every entry of a log query's result, oldest first.
std::vector<TailEntry> entries_in_time_order(const QueryResult& result) {
  std::vector<TailEntry> entries;
  for (const auto& stream : result.streams) {
    for (const auto& entry : stream.entries) entries.push_back({&stream.labels, &entry});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const TailEntry& a, const TailEntry& b) {
    return a.entry->timestamp_ns < b.entry->timestamp_ns;
  });
  return entries;
}

/// Where a tail stands in the backend's entries, and how it reads the next of them.
///
/// Like Loki's, the first read sends the newest `limit` entries since `start`; after that
/// every new entry is sent, however many arrive, in messages of at most
/// kMaxEntriesPerMessage. The backend is read in pages by time; entries sharing the
/// timestamp at a page's end are remembered, so that the next page, which starts at that
/// timestamp, neither repeats nor skips them. Entries written later with a timestamp the tail
/// has passed are not sent: a tail polls, so `delay_for` is how a client waits for late
/// writers. More than kPageEntries entries at one nanosecond are cut at kPageEntries.
class TailCursor {
public:
  using Send = std::function<bool(const std::string& message)>;

  TailCursor(LogQuery base, std::int64_t start_ns) : base_(std::move(base)), next_ns_(start_ns) {}

  /// Reads and sends what arrived before `end_ns` (exclusive). Stops after kMaxPagesPerRead
  /// pages, with `behind` set, so that the connection is served between reads. Fails with
  /// the backend's error, or returns false when a send fails.
  Result<bool> read(LogAggregationProtocol& backend, std::int64_t end_ns, const Send& send,
                    bool& behind) {
    behind = false;
    if (end_ns <= next_ns_) return true;
    if (first_) return read_first(backend, end_ns, send);
    for (int page = 0; page < kMaxPagesPerRead; ++page) {
      LogQuery query = base_;
      query.range = {next_ns_, end_ns};
      query.limit = kPageEntries;
      query.direction = Direction::forward;
      auto result = backend.query(query);
      if (!result) return result.error();
      const auto entries = entries_in_time_order(result.value());
      if (!send_unsent(entries, send)) return false;
      if (entries.size() < kPageEntries) {
        if (!entries.empty()) advance_past(entries.back().entry->timestamp_ns);
        return true;
      }
      if (!remember_last_timestamp(entries)) return true;
    }
    behind = true;
    return true;
  }

private:
  static constexpr std::size_t kPageEntries = 1000;
  static constexpr std::size_t kMaxEntriesPerMessage = 100;
  static constexpr int kMaxPagesPerRead = 20;

  Result<bool> read_first(LogAggregationProtocol& backend, std::int64_t end_ns, const Send& send) {
    first_ = false;
    LogQuery query = base_;
    query.range = {next_ns_, end_ns};
    query.direction = Direction::backward;
    auto result = backend.query(query);
    if (!result) return result.error();
    const auto entries = entries_in_time_order(result.value());
    if (!send_unsent(entries, send)) return false;
    // Entries older than the newest one sent were either sent or left out by the limit.
    if (!entries.empty()) remember_last_timestamp(entries);
    return true;
  }

  static std::string key_of(const TailEntry& entry) {
    return labels_to_string(*entry.labels) + '\n' + entry.entry->line;
  }

  /// Sends the entries not sent before, in messages of at most kMaxEntriesPerMessage.
  bool send_unsent(const std::vector<TailEntry>& entries, const Send& send) {
    std::vector<TailEntry> unsent;
    for (const auto& entry : entries) {
      if (entry.entry->timestamp_ns == next_ns_ && sent_at_next_.count(key_of(entry)) > 0) continue;
      unsent.push_back(entry);
    }
    for (std::size_t at = 0; at < unsent.size(); at += kMaxEntriesPerMessage) {
      const auto last = unsent.begin() + static_cast<std::ptrdiff_t>(
                                             std::min(at + kMaxEntriesPerMessage, unsent.size()));
      if (!send(tail_message(unsent.begin() + static_cast<std::ptrdiff_t>(at), last))) return false;
    }
    return true;
  }

  /// Everything up to and including `timestamp_ns` was sent.
  void advance_past(std::int64_t timestamp_ns) {
    next_ns_ = timestamp_ns + 1;
    sent_at_next_.clear();
  }

  /// The next read starts at the newest timestamp of `entries`, skipping those of them sent.
  /// False when that timestamp is where this read started and every entry there was sent
  /// already: a full page of one nanosecond, past which paging by time cannot go.
  bool remember_last_timestamp(const std::vector<TailEntry>& entries) {
    const std::int64_t newest = entries.back().entry->timestamp_ns;
    const std::size_t known = newest == next_ns_ ? sent_at_next_.size() : 0;
    if (newest != next_ns_) sent_at_next_.clear();
    next_ns_ = newest;
    for (auto it = entries.rbegin(); it != entries.rend() && it->entry->timestamp_ns == newest;
         ++it) {
      sent_at_next_.insert(key_of(*it));
    }
    if (sent_at_next_.size() == known) {
      advance_past(newest);
      return false;
    }
    return true;
  }

  const LogQuery base_;
  std::int64_t next_ns_;
  bool first_ = true;
  std::set<std::string> sent_at_next_;  ///< entries at next_ns_ already sent: labels and line
};

void send_text(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(message + "\n", "text/plain; charset=utf-8");
}

/// Counts a running tail for as long as it lives.
class TailSlot {
public:
  TailSlot() : held_(g_running.fetch_add(1) < kMaxConcurrentTails) {
    if (!held_) g_running.fetch_sub(1);
  }
  ~TailSlot() {
    if (held_) g_running.fetch_sub(1);
  }
  TailSlot(const TailSlot&) = delete;
  TailSlot& operator=(const TailSlot&) = delete;
  bool held() const { return held_; }

private:
  bool held_;
};

/// Client messages a tail accepts and ignores; Loki's clients send none.
constexpr std::size_t kMaxClientMessageBytes = 64 * 1024;

/// One tail's connection: reads the client's frames and answers them between polls of the
/// backend. Used only by the worker thread that serves the tail.
class TailConnection {
public:
  /// `early`: frames the client sent with its upgrade request, read with it. `slot` counts
  /// the tail until it ends.
  TailConnection(int fd, const std::string& early, std::unique_ptr<TailSlot> slot)
      : fd_(fd), reader_(kMaxClientMessageBytes), slot_(std::move(slot)) {
    if (!early.empty()) {
      reader_.feed(early.data(), early.size());
      early_frames_ = true;
    }
  }

  /// Waits up to `duration`, answering the client's frames as they come: pings with pongs,
  /// a close with a close, a broken frame with a close that says why. False when the tail
  /// must end: the client closed, broke the protocol or went away, or the server stops.
  bool serve_for(std::chrono::milliseconds duration, httplib::DataSink& sink) {
    if (early_frames_) {
      early_frames_ = false;
      if (!answer_frames(sink)) return false;
    }
    const auto until = std::chrono::steady_clock::now() + duration;
    while (true) {
      if (g_stopping.load()) {
        finish(sink, websocket_close_frame(kWsGoingAway, "the server is stopping"));
        return false;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return true;
      pollfd readable{fd_, POLLIN, 0};
      const int ready = ::poll(&readable, 1, static_cast<int>(std::min(left, kStopCheck).count()));
      if (ready < 0 && errno != EINTR) return false;
      if (ready <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0) return false;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return false;
      }
      reader_.feed(buffer, static_cast<std::size_t>(n));
      if (!answer_frames(sink)) return false;
    }
  }

  /// Sends `last` (may be empty), then a close frame with `code` and `reason`, and waits
  /// for the client to close.
  void close(httplib::DataSink& sink, const std::string& last, std::uint16_t code,
             const std::string& reason) {
    if (!last.empty() && !send(sink, last)) {
      end();
      return;
    }
    finish(sink, websocket_close_frame(code, reason));
  }

  /// Frees the tail's slot: the tail is over once the client has seen it end (a close frame
  /// or its own close), so a client that opens its next tail at once is not refused while
  /// this one lingers or its worker tidies up.
  void end() { slot_.reset(); }

private:
  /// False once the connection must end.
  bool answer_frames(httplib::DataSink& sink) {
    while (auto event = reader_.next()) {
      switch (event->kind) {
        case WsEvent::Kind::ping:
          if (!send(sink, websocket_frame(WsOpcode::pong, event->payload))) return false;
          break;
        case WsEvent::Kind::pong:
        case WsEvent::Kind::message:
          break;
        case WsEvent::Kind::close:
          // The close frame echoes the client's status code (RFC 6455 section 5.5.1).
          finish(sink, event->code == 0 ? websocket_empty_close_frame()
                                        : websocket_close_frame(event->code, ""));
          return false;
        case WsEvent::Kind::failure:
          finish(sink, websocket_close_frame(event->code, event->payload));
          return false;
      }
    }
    return true;
  }

  static bool send(httplib::DataSink& sink, const std::string& frame) {
    return sink.write(frame.data(), frame.size());
  }

  /// Ends the tail with `close_frame`: the slot is freed before the client can see the frame.
  void finish(httplib::DataSink& sink, const std::string& close_frame) {
    end();
    send(sink, close_frame);
    linger();
  }

  /// After our close frame: no more data from us, then the client's bytes are read and
  /// dropped until it closes its side or kCloseLinger passes. Closing with unread bytes
  /// would reset the connection, and a reset can destroy the close frame in flight.
  void linger() {
    ::shutdown(fd_, SHUT_WR);
    const auto until = std::chrono::steady_clock::now() + kCloseLinger;
    while (std::chrono::steady_clock::now() < until) {
      pollfd readable{fd_, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(kStopCheck.count())) < 0 && errno != EINTR) {
        return;
      }
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        return;
      }
    }
  }

  int fd_;
  WsClientReader reader_;
  bool early_frames_ = false;  ///< frames came with the upgrade request, not yet answered
  std::unique_ptr<TailSlot> slot_;
};

/// One call of a tail's content provider: reads the backend once, then answers the client's
/// frames until the next read is due (at once when the tail is behind). False when the tail
/// ends.
bool serve_tail(LogAggregationProtocol& backend, TailCursor& cursor, std::int64_t delay,
                TailConnection& connection, httplib::DataSink& sink) {
  if (g_stopping.load()) return connection.serve_for(kPollInterval, sink);
  bool sent = false;
  auto send = [&sink, &sent](const std::string& message) {
    sent = true;
    const std::string frame = websocket_frame(WsOpcode::text, message);
    return sink.write(frame.data(), frame.size());
  };
  bool behind = false;
  auto read = cursor.read(backend, now_ns() - delay * kNanosPerSecond + 1, send, behind);
  if (!read) {
    const std::string message = json{{"error", read.error().message}}.dump();
    connection.close(sink, websocket_frame(WsOpcode::text, message), kWsInternalError,
                     read.error().code);
    return false;
  }
  if (!read.value()) return false;
  if (!sent) {
    // A ping when there is nothing to send: writing to a client that went away fails within
    // a poll or two, which ends the tail and frees its worker.
    const std::string ping = websocket_frame(WsOpcode::ping, "");
    if (!sink.write(ping.data(), ping.size())) return false;
  }
  return connection.serve_for(behind ? std::chrono::milliseconds(1) : kPollInterval, sink);
}

}  // namespace

std::string websocket_accept(const std::string& key) {
  const auto digest = sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  return base64(digest.data(), digest.size());
}

void stop_loki_tails() {
  g_stopping.store(true);
}

void install_loki_tail(httplib::Server& server, registry::Registry& registry) {
  g_stopping.store(false);
  registry::Registry* reg = &registry;
  server.Get("/loki/api/v1/tail", [reg](const httplib::Request& req, httplib::Response& res) {
    std::string upgrade = req.get_header_value("Upgrade");
    std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string key = req.get_header_value("Sec-WebSocket-Key");
    if (upgrade != "websocket" || key.empty()) {
      return send_text(res, 400,
                       "tail is a WebSocket endpoint: send Upgrade: websocket and "
                       "Sec-WebSocket-Key");
    }
    if (req.get_header_value("Sec-WebSocket-Version") != "13") {
      // RFC 6455, section 4.4: the versions the server speaks go back with 426.
      res.set_header("Sec-WebSocket-Version", "13");
      return send_text(res, 426,
                       "tail speaks WebSocket version 13 (RFC 6455); send "
                       "Sec-WebSocket-Version: 13");
    }

    std::int64_t delay = 0;
    if (req.has_param("delay_for")) {
      const std::string text = req.get_param_value("delay_for");
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
          text.size() > 9) {
        return send_text(res, 400, "invalid delay_for \"" + text + "\": a number of seconds");
      }
      delay = std::stoll(text);
      if (delay > kMaxDelaySeconds) {
        return send_text(res, 400,
                         "delay_for can't be greater than " + std::to_string(kMaxDelaySeconds));
      }
    }
    std::size_t limit = 100;
    if (req.has_param("limit")) {
      const std::string text = req.get_param_value("limit");
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
          text.size() > 9 || std::stoll(text) == 0) {
        return send_text(res, 400, "limit must be a positive value");
      }
      limit = static_cast<std::size_t>(std::stoll(text));
    }
    std::int64_t start = now_ns() - 3600 * kNanosPerSecond;
    if (req.has_param("start")) {
      auto parsed = parse_loki_time(req.get_param_value("start"), "start");
      if (!parsed) return send_text(res, 400, parsed.error().message);
      start = parsed.value();
    }
    const std::string query = req.get_param_value("query");
    auto parsed = logql::parse(query);
    if (!parsed) return send_text(res, 400, parsed.error().message);
    if (!std::holds_alternative<logql::LogExpr>(parsed.value())) {
      return send_text(res, 400,
                       "tail needs a log query such as {service_name=\"api\"}, not a "
                       "metric query");
    }
    auto slot = std::make_unique<TailSlot>();
    if (!slot->held()) {
      return send_text(res, 400,
                       "max concurrent tail requests limit exceeded, count > limit (" +
                           std::to_string(kMaxConcurrentTails + 1) + " > " +
                           std::to_string(kMaxConcurrentTails) + ")");
    }
    auto backend = reg->log_aggregation();
    if (!backend) return send_text(res, 503, "no log_aggregation backend is loaded");

    const int fd = HostHttpListener::current_socket();
    if (fd < 0) {
      return send_text(res, 500, "the tail cannot read the client's frames: the listener does "
                                 "not give handlers their connection's socket");
    }

    res.status = 101;
    res.set_header("Upgrade", "websocket");
    res.set_header("Connection", "Upgrade");
    res.set_header("Sec-WebSocket-Accept", websocket_accept(key));
    LogQuery base;
    base.tenant = req.get_header_value("X-Scope-OrgID").empty()
                      ? std::string(kDefaultTenant)
                      : req.get_header_value("X-Scope-OrgID");
    base.logql = query;
    base.limit = limit;
    auto cursor = std::make_shared<TailCursor>(std::move(base), start);
    auto connection = std::make_shared<TailConnection>(
        fd, HostHttpListener::take_unread_input(), std::move(slot));
    // The provider runs until the client closes or breaks the protocol, a write fails or the
    // server stops; the length only satisfies the HTTP layer, a WebSocket client does not
    // read it.
    res.set_content_provider(
        std::numeric_limits<std::uint32_t>::max(), "application/octet-stream",
        [backend, cursor, delay, connection](std::size_t, std::size_t, httplib::DataSink& sink) {
          if (serve_tail(*backend, *cursor, delay, *connection, sink)) return true;
          connection->end();
          return false;
        });
  });
}

}  // namespace lognurse::host
