// The ingest routes of `sample_host serve` over loopback: Loki push in JSON and
// snappy protobuf, OTLP/HTTP logs, compressed bodies, Loki's limits per tenant,
// and a catalogue of bad input that each gets a precise 4xx.

#include <snappy.h>
#include <zlib.h>

#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"
#include "process.hpp"
#include "protobuf_builder.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::HttpResponse;
using lognurse::test::Proto;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxBody = 1 << 20;

/// A host whose body limit is 1 MiB, whose lines may be 1 KiB, and whose tenant "slow" may
/// push 1 KiB per second with bursts of 2 KiB.
std::string write_config(const TempDir& dir) {
  const std::string path = dir.file("host.yaml");
  std::ofstream out(path);
  out << "server:\n  max_body_bytes: " << kMaxBody << "\n"
      << "log_aggregation:\n  backend: local_store\n"
      << "plugins:\n  local_store:\n    limits:\n      max_line_size: 1KB\n"
      << "    overrides:\n      slow:\n        max_line_size: 4KB\n"
      << "        ingestion_rate_mb: 0.0009765625\n"
      << "        ingestion_rate_burst_size_mb: 0.001953125\n"
      << "      roomy:\n        max_line_size: 4KB\n";
  return path;
}

std::string gzip(const std::string& data) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&stream, data.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string snappy_block(const std::string& data) {
  std::string out;
  snappy::Compress(data.data(), data.size(), &out);
  return out;
}

std::string now_ns_text(int offset_ms = 0) {
  return std::to_string(lognurse::now_ns() - 60 * lognurse::kNanosPerSecond +
                        static_cast<std::int64_t>(offset_ms) * 1'000'000);
}

std::string json_push(const std::string& service, const std::string& line) {
  return json{
      {"streams", json::array({{{"stream", {{"service_name", service}}},
                                {"values", json::array({json::array({now_ns_text(), line})})}}})}}
      .dump();
}

HttpResponse post(int port, const std::string& path, const std::string& body,
                  std::vector<std::pair<std::string, std::string>> headers) {
  return http_request(port, "POST", path, body, headers);
}

/// Lines of the tenant's streams matching the selector over the last hour, oldest first.
std::vector<std::string> lines_of(int port, const std::string& tenant, const std::string& service) {
  const std::string path = "/loki/api/v1/query_range?query=%7Bservice_name%3D%22" + service +
                           "%22%7D&since=1h&direction=forward";
  auto response = http_request(port, "GET", path, "", {{"X-Scope-OrgID", tenant}});
  REQUIRE(response.status == 200);
  const json answer = json::parse(response.body);
  std::vector<std::string> lines;
  for (const auto& stream : answer["data"]["result"]) {
    for (const auto& value : stream["values"]) lines.push_back(value[1]);
  }
  return lines;
}

Proto otlp_record(const std::string& line) {
  return Proto()
      .fixed64(1, static_cast<std::uint64_t>(lognurse::now_ns() - lognurse::kNanosPerSecond))
      .message(5, Proto().bytes(1, line));
}

std::string otlp_request(const std::vector<std::string>& lines) {
  Proto scope;
  for (const auto& line : lines) scope.message(2, otlp_record(line));
  Proto resource;
  resource.message(1, Proto().bytes(1, "service.name").message(2, Proto().bytes(1, "otlp")));
  return Proto().message(1, Proto().message(1, resource).message(2, scope)).str();
}

}  // namespace

TEST_CASE("the ingest routes accept every encoding and refuse bad input precisely") {
  TempDir data;
  const std::string config = write_config(data);
  HostServer server({"--data-dir", data.path()}, {"--config", config});
  const int port = server.port();

  SECTION("a snappy protobuf push is stored with its structured metadata") {
    Proto entry;
    entry
        .message(1, Proto().varint(1, static_cast<std::uint64_t>(
                                          lognurse::now_ns() / lognurse::kNanosPerSecond - 5)))
        .bytes(2, "from protobuf")
        .message(3, Proto().bytes(1, "trace_id").bytes(2, "t1"));
    const std::string message =
        Proto().message(1, Proto().bytes(1, "{service_name=\"proto\"}").message(2, entry)).str();
    auto pushed = post(port, "/loki/api/v1/push", snappy_block(message),
                       {{"Content-Type", "application/x-protobuf"}});
    INFO(pushed.body);
    CHECK(pushed.status == 204);
    CHECK(lines_of(port, "fake", "proto") == std::vector<std::string>{"from protobuf"});

    auto labeled =
        post(port, "/loki/api/v1/push", snappy_block(message),
             {{"Content-Type", "application/x-protobuf"}, {"Content-Encoding", "snappy"}});
    CHECK(labeled.status == 204);
  }

  SECTION("gzip-encoded JSON pushes are decoded; curl's form type with a JSON body is JSON") {
    auto gzipped = post(port, "/loki/api/v1/push", gzip(json_push("zipped", "gz line")),
                        {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
    INFO(gzipped.body);
    CHECK(gzipped.status == 204);
    auto form = post(port, "/loki/api/v1/push", json_push("zipped", "form line"),
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
    CHECK(form.status == 204);
    CHECK(lines_of(port, "fake", "zipped") == std::vector<std::string>{"gz line", "form line"});
  }

  SECTION("a corrupt gzip body gets 400 and names the encoding") {
    std::string broken = gzip(json_push("x", "y"));
    for (std::size_t i = 10; i < broken.size() - 8; ++i) broken[i] = static_cast<char>(0xff);
    auto response = post(port, "/loki/api/v1/push", broken,
                         {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
    CHECK(response.status == 400);
    CHECK(response.body ==
          "the request body is not valid gzip data (Content-Encoding: gzip); compress it with "
          "gzip or drop the header\n");
  }

  SECTION("a gzip bomb is stopped at the body limit with 413") {
    const std::string bomb = gzip(std::string(8 * kMaxBody, '{'));
    REQUIRE(bomb.size() < kMaxBody / 16);
    auto response = post(port, "/loki/api/v1/push", bomb,
                         {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
    CHECK(response.status == 413);
    CHECK(response.body ==
          "the request body is larger than 1048576 bytes once decoded from gzip; "
          "send smaller batches or raise server.max_body_bytes\n");
    auto otlp = post(port, "/otlp/v1/logs", bomb,
                     {{"Content-Type", "application/x-protobuf"}, {"Content-Encoding", "gzip"}});
    CHECK(otlp.status == 413);
  }

  SECTION("a snappy body that declares more than the limit gets 413 before it is expanded") {
    std::string bomb = snappy_block(std::string(2 * kMaxBody, 'a'));
    auto response =
        post(port, "/loki/api/v1/push", bomb, {{"Content-Type", "application/x-protobuf"}});
    CHECK(response.status == 413);
    CHECK(response.body ==
          "the snappy body declares 2097152 uncompressed bytes, more than the "
          "limit of 1048576; send smaller batches\n");
  }

  SECTION("bad snappy, truncated protobuf and unknown types and encodings are refused") {
    auto not_snappy = post(port, "/loki/api/v1/push", std::string("\xff\xff\xff\xff\xff\xff", 6),
                           {{"Content-Type", "application/x-protobuf"}});
    CHECK(not_snappy.status == 400);

    const std::string message =
        Proto().message(1, Proto().bytes(1, "{a=\"1\"}").bytes(2, "xxxxxxxx")).str();
    auto truncated = post(port, "/loki/api/v1/push", snappy_block(message.substr(0, 12)),
                          {{"Content-Type", "application/x-protobuf"}});
    CHECK(truncated.status == 400);
    CHECK(truncated.body ==
          "malformed protobuf at byte 0: field 1 declares 19 bytes but only 10 "
          "remain; the message is truncated\n");

    auto text = post(port, "/loki/api/v1/push", "hello", {{"Content-Type", "text/plain"}});
    CHECK(text.status == 415);
    auto zstd = post(port, "/loki/api/v1/push", json_push("x", "y"),
                     {{"Content-Type", "application/json"}, {"Content-Encoding", "zstd"}});
    CHECK(zstd.status == 415);
    CHECK(zstd.body ==
          "unsupported Content-Encoding \"zstd\"; send the body plain or with gzip, "
          "deflate or br\n");
  }

  SECTION("OTLP protobuf, gzipped, is stored and answered with an empty response") {
    auto response =
        post(port, "/otlp/v1/logs", gzip(otlp_request({"one", "two"})),
             {{"Content-Type", "application/x-protobuf"}, {"Content-Encoding", "gzip"}});
    CHECK(response.status == 200);
    CHECK(response.content_type == "application/x-protobuf");
    CHECK(response.body.empty());
    CHECK(lines_of(port, "fake", "otlp") == std::vector<std::string>{"one", "two"});
  }

  SECTION("an OTLP record over a limit is refused alone, as partial success") {
    const std::string long_line(2000, 'z');
    auto response = post(port, "/otlp/v1/logs", otlp_request({"kept", long_line, "also kept"}),
                         {{"Content-Type", "application/x-protobuf"}});
    CHECK(response.status == 200);
    Proto partial;
    partial.varint(1, 1).bytes(
        2,
        "streams[0].values[1]: max entry size '1024' bytes exceeded for stream "
        "'{service_name=\"otlp\"}' while adding an entry with length '2000' bytes; split the "
        "line or raise limits.max_line_size");
    CHECK(response.body == Proto().message(1, partial).str());
    CHECK(lines_of(port, "fake", "otlp") == std::vector<std::string>{"kept", "also kept"});

    auto roomy = post(port, "/otlp/v1/logs", otlp_request({long_line}),
                      {{"Content-Type", "application/x-protobuf"}, {"X-Scope-OrgID", "roomy"}});
    CHECK(roomy.status == 200);
    CHECK(roomy.body.empty());
  }

  SECTION("OTLP JSON errors come back as a google.rpc.Status") {
    const std::string body =
        json{{"resourceLogs",
              json::array(
                  {{{"scopeLogs",
                     json::array(
                         {{{"logRecords",
                            json::array(
                                {{{"body", {{"stringValue", std::string(1100, 'q')}}}}})}}})}}})}}
            .dump();
    auto all_refused = post(port, "/otlp/v1/logs", body, {{"Content-Type", "application/json"}});
    CHECK(all_refused.status == 400);
    CHECK(json::parse(all_refused.body) ==
          json{{"code", 3},
               {"message",
                "every log record was refused; the first: streams[0].values[0]: max entry size "
                "'1024' bytes exceeded for stream '{service_name=\"unknown_service\"}' while "
                "adding an entry with length '1100' bytes; split the line or raise "
                "limits.max_line_size"}});

    auto malformed = post(port, "/otlp/v1/logs", R"({"resourceLogs":[{"scopeLogs":7}]})",
                          {{"Content-Type", "application/json"}});
    CHECK(malformed.status == 400);
    CHECK(json::parse(malformed.body) ==
          json{{"code", 3}, {"message", "resourceLogs[0].scopeLogs: must be an array"}});

    auto text = post(port, "/otlp/v1/logs", "{}", {{"Content-Type", "text/plain"}});
    CHECK(text.status == 415);
  }

  SECTION("a tenant over its ingestion rate gets 429 with Retry-After and Loki's message") {
    const std::string line(1500, 'r');
    auto first = post(port, "/loki/api/v1/push", json_push("rate", line),
                      {{"Content-Type", "application/json"}, {"X-Scope-OrgID", "slow"}});
    CHECK(first.status == 204);
    auto second = post(port, "/loki/api/v1/push", json_push("rate", line),
                       {{"Content-Type", "application/json"}, {"X-Scope-OrgID", "slow"}});
    CHECK(second.status == 429);
    CHECK(second.header("Retry-After") == "1");
    CHECK(second.body ==
          "Ingestion rate limit exceeded for user slow (limit: 1024 bytes/sec) while attempting "
          "to ingest '1' lines totaling '1500' bytes, reduce log volume or contact your Loki "
          "administrator to see if the limit can be increased; retry later or raise "
          "limits.ingestion_rate_mb\n");
    auto otlp = post(port, "/otlp/v1/logs", otlp_request({line}),
                     {{"Content-Type", "application/x-protobuf"}, {"X-Scope-OrgID", "slow"}});
    CHECK(otlp.status == 429);
    CHECK(otlp.header("Retry-After") == "1");
    // Another tenant is not slowed down.
    auto other = post(port, "/loki/api/v1/push", json_push("rate", "fine"),
                      {{"Content-Type", "application/json"}, {"X-Scope-OrgID", "fast"}});
    CHECK(other.status == 204);
  }
}
