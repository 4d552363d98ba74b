// A catalogue of hostile requests against every HTTP surface of the real
// binary: each gets a clear 4xx within a bounded time, the host stays ready,
// and what was stored before is still there.

#include <brotli/encode.h>
#include <zlib.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_get;
using lognurse::test::http_request;
using lognurse::test::TempDir;
using lognurse::test::url_encode;
using nlohmann::json;

namespace {

struct HostileRequest {
  std::string name;
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// A JSON-RPC request is refused with a JSON-RPC error, which Streamable HTTP
  /// carries in a 200 response.
  bool json_rpc_error = false;
};

std::string repeat(const std::string& text, std::size_t times) {
  std::string out;
  out.reserve(text.size() * times);
  for (std::size_t i = 0; i < times; ++i) out += text;
  return out;
}

std::string push_of(const json& labels, const json& value) {
  return json{{"streams", json::array({json{{"stream", labels}, {"values", json::array({value})}}})}}
      .dump();
}

std::string now_text() { return std::to_string(lognurse::now_ns()); }

std::vector<HostileRequest> catalogue() {
  const std::string json_type = "application/json";
  std::vector<HostileRequest> requests;
  auto push = [&](std::string name, std::string body) {
    requests.push_back({std::move(name), "POST", "/loki/api/v1/push", std::move(body),
                        {{"Content-Type", json_type}}});
  };
  push("empty push body", "");
  push("truncated push JSON", R"({"streams":[{"stream":{"a":"b"},"values":[["1","x")");
  push("push body that is a JSON array", "[]");
  push("push body that is null", "null");
  push("a push with a number beyond a double", R"({"streams":[],"x":1e99999})");
  push("streams that is an object", R"({"streams":{}})");
  push("deeply nested push JSON", repeat("[", 200000));
  push("deeply nested stream labels", R"({"streams":[{"stream":)" + repeat("{\"a\":", 100000));
  push("a push whose extra member nests 200,000 closed levels",
       R"({"streams":[],"x":)" + repeat("[", 200000) + repeat("]", 200000) + "}");
  push("a value that is not an array", push_of({{"a", "b"}}, "x"));
  push("a value with one element", push_of({{"a", "b"}}, json::array({now_text()})));
  push("a timestamp that is not a number", push_of({{"a", "b"}}, json::array({"soon", "x"})));
  push("a negative timestamp", push_of({{"a", "b"}}, json::array({"-5", "x"})));
  push("a timestamp beyond int64",
       push_of({{"a", "b"}}, json::array({"99999999999999999999999", "x"})));
  push("a line that is a number", push_of({{"a", "b"}}, json::array({now_text(), 42})));
  push("invalid UTF-8 in a line",
       std::string(R"({"streams":[{"stream":{"a":"b"},"values":[[")") + now_text() +
           "\",\"bad \xff\xfe bytes\"]]}]}");
  push("a label name with a control character", push_of({{"a\x01", "b"}}, json::array({now_text(), "x"})));
  push("a label name starting with a digit", push_of({{"1abc", "b"}}, json::array({now_text(), "x"})));
  push("no labels at all", push_of(json::object(), json::array({now_text(), "x"})));
  json many_labels = json::object();
  for (int i = 0; i < 10000; ++i) many_labels["l" + std::to_string(i)] = "v";
  push("ten thousand labels on one stream", push_of(many_labels, json::array({now_text(), "x"})));
  push("a label value of 1 MB", push_of({{"a", std::string(1 << 20, 'v')}},
                                        json::array({now_text(), "x"})));
  push("a line of 1 MB", push_of({{"a", "b"}}, json::array({now_text(), std::string(1 << 20, 'x')})));
  push("structured metadata that is an array",
       push_of({{"a", "b"}}, json::array({now_text(), "x", json::array({1, 2})})));
  requests.push_back({"a push with an unsupported content type", "POST", "/loki/api/v1/push",
                      "<xml/>", {{"Content-Type", "application/xml"}}});
  requests.push_back({"a gzip push that is not gzip", "POST", "/loki/api/v1/push", "not gzip",
                      {{"Content-Type", json_type}, {"Content-Encoding", "gzip"}}});

  auto query = [&](std::string name, std::string params) {
    requests.push_back({std::move(name), "GET", "/loki/api/v1/query_range?" + params, "", {}});
  };
  query("a query_range without a query", "limit=10");
  query("an empty selector", "query=" + url_encode("{}"));
  query("a selector of only empty matchers", "query=" + url_encode("{a=\"\"}"));
  query("an unclosed selector", "query=" + url_encode("{a=\"b\""));
  query("an invalid regular expression", "query=" + url_encode("{a=\"b\"} |~ \"(unclosed\""));
  query("a regular expression over RE2's size limit",
        "query=" + url_encode("{a=\"b\"} |~ \"" + repeat("(a{1000}){1000}", 4) + "\""));
  query("selector nesting ten thousand parentheses deep",
        "query=" + url_encode(repeat("sum(", 10000) + "count_over_time({a=\"b\"}[1m])" +
                              repeat(")", 10000)));
  query("a start that is not a time", "query=" + url_encode("{a=\"b\"}") + "&start=yesterday");
  query("an end before the start",
        "query=" + url_encode("{a=\"b\"}") + "&start=2000000000&end=1000000000");
  query("a negative limit", "query=" + url_encode("{a=\"b\"}") + "&limit=-1");
  query("a limit over the maximum", "query=" + url_encode("{a=\"b\"}") + "&limit=100000000");
  query("an unknown direction", "query=" + url_encode("{a=\"b\"}") + "&direction=sideways");
  query("a metric query with a one-nanosecond step over a century",
        "query=" + url_encode("count_over_time({a=\"b\"}[1m])") +
            "&start=0&end=3155760000000000000&step=1ns");
  query("a metric query with a zero step",
        "query=" + url_encode("count_over_time({a=\"b\"}[1m])") + "&step=0");
  query("a metric query with a negative step",
        "query=" + url_encode("count_over_time({a=\"b\"}[1m])") + "&step=-5s");
  query("a range of a million years",
        "query=" + url_encode("count_over_time({a=\"b\"}[1000000y])"));
  query("a query of 1 MB", "query=" + url_encode("{a=\"" + std::string(1 << 20, 'x') + "\"}"));
  auto form_query = [&](std::string name, std::string logql) {
    requests.push_back({std::move(name), "POST", "/loki/api/v1/query_range",
                        "query=" + url_encode(logql),
                        {{"Content-Type", "application/x-www-form-urlencoded"}}});
  };
  form_query("a posted query nesting ten thousand parentheses",
             repeat("sum(", 10000) + "count_over_time({a=\"b\"}[1m])" + repeat(")", 10000));
  form_query("a posted query nesting ten thousand binary operations",
             repeat("1 + (", 10000) + "1" + repeat(")", 10000));
  form_query("a posted label filter nesting ten thousand parentheses",
             "{a=\"b\"} | " + repeat("(", 10000) + "x=\"1\"" + repeat(")", 10000));
  form_query("a posted chain of ten thousand binary operators", "1" + repeat(" + 1", 10000));
  form_query("a posted chain of ten thousand set operators",
             "vector(1)" + repeat(" or vector(1)", 10000));
  form_query("a posted label filter chain of ten thousand or",
             "{a=\"b\"} | x=\"1\"" + repeat(" or x=\"1\"", 10000));
  form_query("a posted line_format nesting thirty thousand blocks",
             "{a=\"b\"} | line_format `" + repeat("{{if 1}}", 30000) + "x" +
                 repeat("{{end}}", 30000) + "`");
  form_query("a posted selector with a label value of 1 MB",
             "{a=\"" + std::string(1 << 20, 'x') + "\"} |= \"y\" | ");

  auto tool = [&](std::string name, std::string path, std::string body) {
    requests.push_back({std::move(name), "POST", std::move(path), std::move(body),
                        {{"Content-Type", json_type}}});
  };
  tool("tool arguments that are not JSON", "/api/nurse/logs/query", "{\"query\":");
  tool("tool arguments that are an array", "/api/nurse/logs/query", "[1,2]");
  tool("tool arguments with a number beyond a double", "/api/nurse/logs/query",
       R"({"query":"{a=\"b\"}","limit":1e99999})");
  tool("tool arguments nested deeply", "/api/nurse/logs/query", repeat("{\"a\":", 100000));
  tool("tool arguments with a member nesting 200,000 closed levels", "/api/nurse/logs/query",
       R"({"query":"{a=\"b\"}","x":)" + repeat("[", 200000) + repeat("]", 200000) + "}");
  tool("tool arguments that are 200,000 closed levels of arrays", "/api/nurse/logs/query",
       repeat("[", 200000) + repeat("]", 200000));
  tool("a query argument of the wrong type", "/api/nurse/logs/query", R"({"query":17})");
  tool("a limit of the wrong type", "/api/nurse/logs/query", R"({"query":"{a=\"b\"}","limit":"x"})");
  tool("a limit over the maximum", "/api/nurse/logs/query",
       R"({"query":"{a=\"b\"}","limit":1000000})");
  tool("a negative limit", "/api/nurse/logs/query", R"({"query":"{a=\"b\"}","limit":-3})");
  tool("a start that is not a time", "/api/nurse/logs/query",
       R"({"query":"{a=\"b\"}","start":"whenever"})");
  tool("search without filters", "/api/nurse/logs/search", R"({})");
  tool("search filters of the wrong type", "/api/nurse/logs/search", R"({"filters":"api"})");
  tool("a search regex that does not compile", "/api/nurse/logs/search",
       R"({"filters":{"service":"api","regex":"([a-"}})");
  tool("an unknown tool route", "/api/nurse/logs/does_not_exist", "{}");

  auto mcp = [&](std::string name, std::string body) {
    requests.push_back({std::move(name), "POST", "/mcp", std::move(body),
                        {{"Content-Type", json_type},
                         {"Accept", "application/json, text/event-stream"}}});
  };
  mcp("an MCP message that is not JSON", "{\"jsonrpc\":");
  mcp("an MCP message nested deeply", repeat("[", 200000));
  mcp("an MCP message nesting 200,000 closed levels in its params",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nurse_query_logs",)"
      R"("arguments":{"query":"{a=\"b\"}","x":)" +
          repeat("[", 200000) + repeat("]", 200000) + "}}}");
  mcp("an MCP message with a number beyond a double", R"({"jsonrpc":"2.0","id":1e99999})");
  requests.push_back({"an OTLP JSON body with a number beyond a double", "POST", "/otlp/v1/logs",
                      R"({"resourceLogs":[],"x":-1e99999})", {{"Content-Type", json_type}}});
  mcp("an MCP message without a session", R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  mcp("an MCP batch", R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  mcp("an MCP message that is a string", R"("ping")");
  mcp("an MCP message whose method is a number", R"({"jsonrpc":"2.0","id":1,"method":5})");
  requests.push_back({"an MCP initialize whose params are not an object", "POST", "/mcp",
                      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":7})",
                      {{"Content-Type", json_type},
                       {"Accept", "application/json, text/event-stream"}},
                      true});
  requests.push_back({"an MCP request from a foreign origin", "POST", "/mcp",
                      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}})",
                      {{"Content-Type", json_type},
                       {"Accept", "application/json, text/event-stream"},
                       {"Origin", "http://evil.example"}}});
  return requests;
}

}  // namespace

TEST_CASE("every hostile request gets a 4xx in bounded time and the host keeps its data") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();

  const std::string stamp = now_text();
  auto pushed = http_request(port, "POST", "/loki/api/v1/push",
                             push_of({{"service_name", "keep"}}, json::array({stamp, "kept line"})),
                             {{"Content-Type", "application/json"}});
  REQUIRE(pushed.status == 204);

  for (const auto& request : catalogue()) {
    INFO(request.name);
    const auto started = std::chrono::steady_clock::now();
    const auto response =
        http_request(port, request.method, request.path, request.body, request.headers);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    INFO("status " << response.status << ": " << response.body.substr(0, 300));
    if (request.json_rpc_error) {
      CHECK(response.status == 200);
      CHECK(json::parse(response.body)["error"]["code"] == -32602);
    } else {
      CHECK(response.status >= 400);
      CHECK(response.status < 500);
    }
    CHECK(elapsed < std::chrono::seconds(10));
    // Every refusal says what was wrong, and says it in a few kilobytes at most, whatever it
    // quotes of the input.
    CHECK(response.body.size() > 10);
    CHECK(response.body.size() < 8 * 1024);
    REQUIRE(http_get(port, "/ready").status == 200);
  }

  const auto kept = http_get(port, "/loki/api/v1/query_range?query=" +
                                       url_encode("{service_name=\"keep\"}") + "&since=1h");
  REQUIRE(kept.status == 200);
  const auto answer = json::parse(kept.body);
  REQUIRE(answer["data"]["result"].size() == 1);
  CHECK(answer["data"]["result"][0]["values"] == json::array({json::array({stamp, "kept line"})}));
}

TEST_CASE("a second host on a port in use fails instead of sharing it") {
  TempDir data;
  HostServer first({"--data-dir", data.file("first")});
  auto second = lognurse::test::run_command(
      {lognurse::test::host_binary(), "serve", "--listen",
       "127.0.0.1:" + std::to_string(first.port()), "--data-dir", data.file("second")},
      "", std::chrono::seconds(30));
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("cannot listen on 127.0.0.1:" +
                                         std::to_string(first.port())));
}

namespace {

constexpr std::size_t kBombLimit = 1 << 20;

/// What a bomb expands to: far past the limit, and far past what the host may allocate.
constexpr std::size_t kBombExpansion = std::size_t{256} << 20;

/// `piece` repeated `times` times, compressed with zlib in the gzip (window_bits 31) or zlib
/// (15) format; fed piece by piece, so that the test never holds the expansion either.
std::string zlib_compress(const std::string& piece, std::size_t times, int window_bits) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 9,
                       Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out;
  char buffer[1 << 16];
  for (std::size_t i = 0; i < times; ++i) {
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    stream.avail_in = static_cast<uInt>(piece.size());
    const int flush = i + 1 == times ? Z_FINISH : Z_NO_FLUSH;
    do {
      stream.next_out = reinterpret_cast<Bytef*>(buffer);
      stream.avail_out = sizeof buffer;
      REQUIRE(deflate(&stream, flush) != Z_STREAM_ERROR);
      out.append(buffer, sizeof buffer - stream.avail_out);
    } while (stream.avail_out == 0);
  }
  deflateEnd(&stream);
  return out;
}

/// `piece` repeated `times` times, compressed with brotli, fed piece by piece.
std::string brotli_compress(const std::string& piece, std::size_t times) {
  BrotliEncoderState* state = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
  REQUIRE(state != nullptr);
  BrotliEncoderSetParameter(state, BROTLI_PARAM_QUALITY, 5);
  std::string out;
  std::uint8_t buffer[1 << 16];
  for (std::size_t i = 0; i < times; ++i) {
    std::size_t available_in = piece.size();
    auto next_in = reinterpret_cast<const std::uint8_t*>(piece.data());
    const auto op = i + 1 == times ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
    do {
      std::size_t available_out = sizeof buffer;
      std::uint8_t* next_out = buffer;
      REQUIRE(BrotliEncoderCompressStream(state, op, &available_in, &next_in, &available_out,
                                          &next_out, nullptr));
      out.append(reinterpret_cast<char*>(buffer), sizeof buffer - available_out);
    } while (available_in > 0 || BrotliEncoderHasMoreOutput(state) ||
             (op == BROTLI_OPERATION_FINISH && !BrotliEncoderIsFinished(state)));
  }
  BrotliEncoderDestroyInstance(state);
  return out;
}

/// A snappy block header that declares `length` bytes, followed by a literal of one byte and
/// copies of it: valid as far as it goes, and a few bytes long.
std::string snappy_declaring(std::uint64_t length) {
  std::string out;
  for (; length >= 0x80; length >>= 7) out += static_cast<char>((length & 0x7f) | 0x80);
  out += static_cast<char>(length);
  out += std::string("\x00" "a", 2);
  for (int i = 0; i < 64; ++i) out += std::string("\xfe\x01\x00", 3);  // copy 64 bytes, offset 1
  return out;
}

/// The host's peak resident memory so far (VmHWM), in bytes.
std::size_t peak_rss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::size_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  FAIL("no VmHWM in /proc/" << pid << "/status");
  return 0;
}

struct Bomb {
  std::string name;
  std::string path;
  std::string content_type;
  std::string encoding;
  std::string body;
  int status;
  std::string message;  ///< a part of the refusal's text
};

}  // namespace

TEST_CASE("decompression bombs are refused at the body limit or before decoding, never expanded") {
  TempDir data;
  const std::string config = data.file("host.yaml");
  std::ofstream(config) << "server:\n  max_body_bytes: " << kBombLimit << "\n";
  HostServer server({"--data-dir", data.file("store")}, {"--config", config});
  const int port = server.port();

  const std::string megabyte_of_zeros(1 << 20, '\0');
  const std::size_t megabytes = kBombExpansion >> 20;
  const std::string gzip_bomb = zlib_compress(megabyte_of_zeros, megabytes, 31);
  const std::string deflate_bomb = zlib_compress(megabyte_of_zeros, megabytes, 15);
  const std::string brotli_bomb = brotli_compress(megabyte_of_zeros, megabytes);
  const std::string snappy_bomb = snappy_declaring(kBombExpansion);
  // A small gzip body whose content is a snappy block declaring the whole expansion.
  const std::string gzip_of_snappy_bomb = zlib_compress(snappy_bomb, 1, 31);
  for (const std::string* body : {&gzip_bomb, &deflate_bomb, &brotli_bomb, &snappy_bomb}) {
    REQUIRE(body->size() < kBombLimit);
  }

  const std::string too_large = "larger than " + std::to_string(kBombLimit) + " bytes once decoded";
  const std::string declares = "declares " + std::to_string(kBombExpansion) + " uncompressed bytes";
  const std::string proto = "application/x-protobuf";
  const std::string json_type = "application/json";
  const std::vector<Bomb> bombs = {
      {"a gzip JSON push", "/loki/api/v1/push", json_type, "gzip", gzip_bomb, 413, too_large},
      {"a deflate JSON push", "/loki/api/v1/push", json_type, "deflate", deflate_bomb, 413, too_large},
      {"a brotli JSON push", "/loki/api/v1/push", json_type, "br", brotli_bomb, 413, too_large},
      {"a gzip protobuf push", "/loki/api/v1/push", proto, "gzip", gzip_bomb, 413, too_large},
      {"a snappy protobuf push", "/loki/api/v1/push", proto, "", snappy_bomb, 413, declares},
      {"a snappy protobuf push labelled snappy", "/loki/api/v1/push", proto, "snappy", snappy_bomb, 413,
       declares},
      {"a gzip protobuf push holding a snappy bomb", "/loki/api/v1/push", proto, "gzip",
       gzip_of_snappy_bomb, 413, declares},
      {"a zstd push", "/loki/api/v1/push", json_type, "zstd", gzip_bomb, 415, "zstd"},
      {"a push gzipped twice", "/loki/api/v1/push", json_type, "gzip, gzip", gzip_bomb, 415,
       "gzip, gzip"},
      {"a gzip OTLP protobuf request", "/otlp/v1/logs", proto, "gzip", gzip_bomb, 413, too_large},
      {"a gzip OTLP JSON request", "/otlp/v1/logs", json_type, "gzip", gzip_bomb, 413, too_large},
      {"a deflate OTLP protobuf request", "/otlp/v1/logs", proto, "deflate", deflate_bomb, 413,
       too_large},
      {"a brotli OTLP JSON request", "/otlp/v1/logs", json_type, "br", brotli_bomb, 413, too_large},
      {"a snappy OTLP request", "/otlp/v1/logs", proto, "snappy", snappy_bomb, 415, "snappy"},
      {"a zstd OTLP request", "/otlp/v1/logs", proto, "zstd", gzip_bomb, 415, "zstd"},
      // Routes that read their body whole refuse any Content-Encoding before reading it.
      {"gzip tool arguments", "/api/nurse/logs/query", json_type, "gzip", gzip_bomb, 415,
       "accepted only on /loki/api/v1/push and /otlp/v1/logs"},
      {"a gzip MCP message", "/mcp", json_type, "gzip", gzip_bomb, 415, "accepted only on"},
      {"a brotli query_range form", "/loki/api/v1/query_range",
       "application/x-www-form-urlencoded", "br", brotli_bomb, 415, "accepted only on"},
  };

  for (const auto& bomb : bombs) {
    const std::size_t peak_before = peak_rss(server.pid());
    INFO(bomb.name << " (" << bomb.body.size() << " bytes)");
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", bomb.content_type}};
    if (!bomb.encoding.empty()) headers.emplace_back("Content-Encoding", bomb.encoding);
    const auto started = std::chrono::steady_clock::now();
    const auto response = http_request(port, "POST", bomb.path, bomb.body, headers);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
    INFO("status " << response.status << ": " << response.body.substr(0, 300));
    CHECK(response.status == bomb.status);
    CHECK_THAT(response.body, Catch::Contains(bomb.message));
    // The expansion is 256 MiB; the host may hold the limit's worth and its buffers (and,
    // under AddressSanitizer, what its quarantine keeps of them), far from all of it.
    CHECK(peak_rss(server.pid()) < peak_before + kBombExpansion / 4);
    REQUIRE(http_get(port, "/ready").status == 200);
  }
}
