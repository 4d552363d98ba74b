// OTLP logs: the protobuf and JSON decoders, the mapping to Loki streams that
// Loki 3 applies, and the OTLP/HTTP response encoders.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "otlp.hpp"
#include "protobuf_builder.hpp"

using lognurse::Labels;
using lognurse::PushRequest;
using lognurse::host::normalize_attribute_name;
using lognurse::host::otlp_logs_from_json;
using lognurse::host::otlp_logs_from_protobuf;
using lognurse::host::otlp_logs_to_push;
using lognurse::host::otlp_response_json;
using lognurse::host::otlp_response_protobuf;
using lognurse::host::otlp_status_json;
using lognurse::host::OtlpLogs;
using lognurse::test::Proto;

namespace {

constexpr std::int64_t kReceipt = 1'700'000'000'000'000'000LL;

Proto string_value(const std::string& text) { return Proto().bytes(1, text); }

Proto attribute(const std::string& key, const Proto& value) {
  return Proto().bytes(1, key).message(2, value);
}

/// The metadata of an entry as a sorted map, since the order of keys carries no meaning.
std::map<std::string, std::string> as_map(const Labels& labels) {
  return {labels.begin(), labels.end()};
}

PushRequest map_protobuf(const std::string& message) {
  auto logs = otlp_logs_from_protobuf(message);
  INFO((logs.ok() ? "" : logs.error().message));
  REQUIRE(logs.ok());
  return otlp_logs_to_push(logs.value(), "fake", kReceipt);
}

PushRequest map_json(const std::string& body) {
  auto logs = otlp_logs_from_json(body);
  INFO((logs.ok() ? "" : logs.error().message));
  REQUIRE(logs.ok());
  return otlp_logs_to_push(logs.value(), "fake", kReceipt);
}

}  // namespace

TEST_CASE("an OTLP protobuf request maps to Loki streams like Loki 3") {
  Proto resource;
  resource.message(1, attribute("service.name", string_value("api")))
      .message(1, attribute("k8s.namespace.name", string_value("prod")))
      .message(1, attribute("service.version", string_value("1.0")))
      .message(1, attribute("host.arch", string_value("amd64")));
  Proto scope;
  scope.bytes(1, "io.test").bytes(2, "0.1").message(3, attribute("lib.flag", Proto().varint(2, 1)));

  Proto body_map;
  body_map.message(1, attribute("b", Proto().varint(3, 7)))
      .message(1, attribute("a", string_value("x")));
  Proto record;
  record.fixed64(1, 1'700'000'000'123'456'789ULL)
      .fixed64(11, 1'700'000'001'000'000'000ULL)
      .varint(2, 17)
      .bytes(3, "Error")
      .message(5, string_value("payment failed"))
      .message(6, attribute("http.status_code", Proto().varint(3, 502)))
      .message(6, attribute("ratio", Proto().real(4, 0.25)))
      .message(6, attribute("http.request",
                            Proto().message(
                                6, Proto().message(1, attribute("method", string_value("POST"))))))
      .fixed32(8, 1)
      .bytes(9, std::string("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16))
      .bytes(10, std::string("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8));
  Proto second;
  second.fixed64(11, 1'700'000'002'000'000'000ULL).message(5, Proto().message(6, body_map));

  Proto scope_logs;
  scope_logs.message(1, scope).message(2, record).message(2, second);
  const std::string message =
      Proto().message(1, Proto().message(1, resource).message(2, scope_logs)).str();

  const PushRequest request = map_protobuf(message);
  REQUIRE(request.streams.size() == 1);
  const auto& stream = request.streams[0];
  CHECK(stream.labels == Labels{{"k8s_namespace_name", "prod"}, {"service_name", "api"}});
  REQUIRE(stream.entries.size() == 2);

  const auto& first = stream.entries[0];
  CHECK(first.timestamp_ns == 1'700'000'000'123'456'789LL);
  CHECK(first.line == "payment failed");
  CHECK(as_map(first.metadata) ==
        std::map<std::string, std::string>{{"http_status_code", "502"},
                                           {"ratio", "0.25"},
                                           {"http_request_method", "POST"},
                                           {"observed_timestamp", "1700000001000000000"},
                                           {"severity_number", "17"},
                                           {"severity_text", "Error"},
                                           {"flags", "1"},
                                           {"trace_id", "0af7651916cd43dd8448eb211c80319c"},
                                           {"span_id", "b7ad6b7169203331"},
                                           {"service_version", "1.0"},
                                           {"host_arch", "amd64"},
                                           {"lib_flag", "true"},
                                           {"scope_name", "io.test"},
                                           {"scope_version", "0.1"},
                                           {"detected_level", "error"}});

  const auto& next = stream.entries[1];
  CHECK(next.timestamp_ns == 1'700'000'002'000'000'000LL);
  CHECK(next.line == "{\"a\":\"x\",\"b\":7}");
  CHECK(as_map(next.metadata) == std::map<std::string, std::string>{{"service_version", "1.0"},
                                                                    {"host_arch", "amd64"},
                                                                    {"lib_flag", "true"},
                                                                    {"scope_name", "io.test"},
                                                                    {"scope_version", "0.1"}});
}

TEST_CASE("without service.name the service comes from Loki's discovery list") {
  auto request = map_json(R"({"resourceLogs":[
    {"resource":{"attributes":[
       {"key":"k8s.job.name","value":{"stringValue":"nightly"}},
       {"key":"k8s.container.name","value":{"stringValue":"runner"}}]},
     "scopeLogs":[{"logRecords":[{"timeUnixNano":"5","body":{"stringValue":"a"}}]}]},
    {"resource":{"attributes":[{"key":"app","value":{"stringValue":"not-a-label"}}]},
     "scopeLogs":[{"logRecords":[{"timeUnixNano":6,"body":{"stringValue":"b"}}]}]},
    {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":""}}]},
     "scopeLogs":[{"logRecords":[{"observedTimeUnixNano":"7","body":{"stringValue":"c"}}]}]}]})");
  REQUIRE(request.streams.size() == 2);
  CHECK(request.streams[0].labels == Labels{{"k8s_container_name", "runner"},
                                            {"k8s_job_name", "nightly"},
                                            {"service_name", "runner"}});
  CHECK(request.streams[1].labels == Labels{{"service_name", "unknown_service"}});
  REQUIRE(request.streams[1].entries.size() == 2);
  CHECK(as_map(request.streams[1].entries[0].metadata) ==
        std::map<std::string, std::string>{{"app", "not-a-label"}});
  CHECK(request.streams[1].entries[1].timestamp_ns == 7);
  CHECK(request.streams[1].entries[1].metadata.empty());
}

TEST_CASE("a service.name that is a map flattens to labels and leaves service_name to discovery") {
  auto request = map_json(R"({"resourceLogs":[
    {"resource":{"attributes":[
       {"key":"service.name","value":{"kvlistValue":{"values":[
          {"key":"team","value":{"stringValue":"payments"}}]}}},
       {"key":"k8s.container.name","value":{"stringValue":"api"}}]},
     "scopeLogs":[{"logRecords":[{"timeUnixNano":"5","body":{"stringValue":"a"}}]}]},
    {"resource":{"attributes":[
       {"key":"service.name","value":{"kvlistValue":{"values":[]}}}]},
     "scopeLogs":[{"logRecords":[{"timeUnixNano":"6","body":{"stringValue":"b"}}]}]}]})");
  REQUIRE(request.streams.size() == 2);
  CHECK(request.streams[0].labels == Labels{{"k8s_container_name", "api"},
                                            {"service_name", "api"},
                                            {"service_name_team", "payments"}});
  CHECK(request.streams[1].labels == Labels{{"service_name", "unknown_service"}});
}

TEST_CASE("OTLP JSON takes 64-bit integers as strings or numbers and ids as hex") {
  auto request = map_json(R"({"resourceLogs":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"web"}}]},
    "scopeLogs":[{"scope":{"name":"s"},"logRecords":[
      {"timeUnixNano":"1700000000000000001","severityNumber":"SEVERITY_NUMBER_WARN2",
       "traceId":"0AF7651916CD43DD8448EB211C80319C","spanId":"","flags":0,
       "attributes":[{"key":"n","value":{"intValue":"-9007199254740993"}},
                     {"key":"m","value":{"intValue":12}},
                     {"key":"raw","value":{"bytesValue":"aGk="}},
                     {"key":"list","value":{"arrayValue":{"values":[{"intValue":1},{"boolValue":false}]}}},
                     {"key":"level","value":{"stringValue":"notice"}}],
       "body":{"doubleValue":1e21}},
      {"timeUnixNano":0,"body":{}}]}]}]})");
  REQUIRE(request.streams.size() == 1);
  const auto& entries = request.streams[0].entries;
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].timestamp_ns == 1700000000000000001LL);
  CHECK(entries[0].line == "1e+21");
  CHECK(as_map(entries[0].metadata) ==
        std::map<std::string, std::string>{{"n", "-9007199254740993"},
                                           {"m", "12"},
                                           {"raw", "aGk="},
                                           {"list", "[1,false]"},
                                           {"level", "notice"},
                                           {"severity_number", "14"},
                                           {"trace_id", "0af7651916cd43dd8448eb211c80319c"},
                                           {"scope_name", "s"},
                                           {"detected_level", "notice"}});
  CHECK(entries[1].timestamp_ns == kReceipt);
  CHECK(entries[1].line == "");
}

TEST_CASE("OTLP JSON takes whole numbers written with a fraction or an exponent, exactly") {
  auto time_of = [](const std::string& written) {
    auto logs = otlp_logs_from_json(R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"timeUnixNano":)" + written + R"(,"body":{"stringValue":"x"}}]}]}]})");
    REQUIRE(logs.ok());
    return logs.value().resources[0].scopes[0].records[0].time_unix_nano;
  };
  // What Python's json.dumps writes for float(1.7e18), and what a double near "now" holds.
  CHECK(time_of("1.7e+18") == 1'700'000'000'000'000'000ULL);
  CHECK(time_of("1.7332e18") == 1'733'200'000'000'000'000ULL);
  CHECK(time_of("1733312345678901248.0") == 1'733'312'345'678'901'248ULL);
  // As strings the text is read digit by digit, so no digit is lost to a double.
  CHECK(time_of(R"("1.733312345678901234e18")") == 1'733'312'345'678'901'234ULL);
  CHECK(time_of(R"("17333123456789012340e-1")") == 1'733'312'345'678'901'234ULL);
  CHECK(time_of(R"("9223372036854775807")") == 9'223'372'036'854'775'807ULL);
  CHECK(time_of(R"("0.0e5")") == 0);
  CHECK(time_of(R"("25.00")") == 25);

  auto refusal = [](const std::string& written) {
    auto logs = otlp_logs_from_json(R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"timeUnixNano":)" + written + R"(}]}]}]})");
    REQUIRE_FALSE(logs.ok());
    CHECK(logs.error().code == "otlp.malformed_json");
    return logs.error().message;
  };
  const std::string at = "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: ";
  CHECK(refusal("1.5") == at + "must be a whole number, not 1.5");
  CHECK(refusal("1e19") == at + "1e+19 does not fit a signed 64-bit integer");
  CHECK(refusal("-1e3") == at + "must not be negative");
  CHECK(refusal(R"("1.7000000000000000001e18")") ==
        at + "\"1.7000000000000000001e18\" is not a 64-bit integer");
  CHECK(refusal(R"("9223372036854775808")") == at + "\"9223372036854775808\" is not a 64-bit integer");
  CHECK(refusal(R"("1e")") == at + "\"1e\" is not a 64-bit integer");
  CHECK(refusal(R"("1.")") == at + "\"1.\" is not a 64-bit integer");
  CHECK(refusal(R"(".")") == at + "\".\" is not a 64-bit integer");
  CHECK(refusal(R"(" 12")") == at + "\" 12\" is not a 64-bit integer");
  CHECK(refusal(R"("1e99999999999")") == at + "\"1e99999999999\" is not a 64-bit integer");

  // Signed fields keep their sign through the same reading.
  auto attribute = otlp_logs_from_json(R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[
      {"attributes":[{"key":"n","value":{"intValue":"-9.223372036854775808e18"}}]}]}]}]})");
  REQUIRE(attribute.ok());
  CHECK(attribute.value().resources[0].scopes[0].records[0].attributes[0].second.integer ==
        std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("attribute names become label names as Loki normalizes them") {
  CHECK(normalize_attribute_name("service.name") == "service_name");
  CHECK(normalize_attribute_name("k8s.pod-uid") == "k8s_pod_uid");
  CHECK(normalize_attribute_name("2fa.enabled") == "key_2fa_enabled");
  CHECK(normalize_attribute_name("_private") == "key_private");
  CHECK(normalize_attribute_name("__kept") == "__kept");
  CHECK(normalize_attribute_name("caf\xc3\xa9.x") == "caf__x");
}

TEST_CASE("malformed OTLP protobuf is refused with the path and byte at fault") {
  Proto record;
  record.bytes(9, "short");
  const std::string message =
      Proto().message(1, Proto().message(2, Proto().message(2, record))).str();
  auto bad_id = otlp_logs_from_protobuf(message);
  REQUIRE_FALSE(bad_id.ok());
  CHECK(bad_id.error().code == "otlp.malformed_protobuf");
  CHECK(bad_id.error().message ==
        "resource_logs[0].scope_logs[0].log_records[0].trace_id: is 5 bytes; it must be 16 bytes "
        "or empty");

  auto wrong_type = otlp_logs_from_protobuf(
      Proto().message(1, Proto().message(2, Proto().message(2, Proto().varint(1, 5)))).str());
  CHECK(wrong_type.error().message ==
        "resource_logs[0].scope_logs[0].log_records[0]: malformed protobuf at byte 6: "
        "LogRecord.time_unix_nano (field 1) has wire type varint; expected fixed64");

  auto truncated = otlp_logs_from_protobuf(message.substr(0, message.size() - 1));
  CHECK(truncated.error().message ==
        "request: malformed protobuf at byte 0: field 1 declares 11 bytes but only 10 remain; the "
        "message is truncated");
}

TEST_CASE("deeply nested OTLP values are refused instead of exhausting the stack") {
  Proto value = string_value("leaf");
  for (int i = 0; i < 40; ++i) value = Proto().message(5, Proto().message(1, value));
  Proto record;
  record.message(5, value);
  auto decoded = otlp_logs_from_protobuf(
      Proto().message(1, Proto().message(2, Proto().message(2, record))).str());
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().message.find("values are nested more than 32 levels deep") !=
        std::string::npos);
}

TEST_CASE("malformed OTLP JSON is refused with the path at fault") {
  CHECK(otlp_logs_from_json("{\"resourceLogs\": [").error().message ==
        "request: not valid JSON at byte 19; send an ExportLogsServiceRequest object");
  CHECK(otlp_logs_from_json(R"({"resourceLogs":{}})").error().message ==
        "request.resourceLogs: must be an array");
  CHECK(otlp_logs_from_json(
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]})")
            .error()
            .message ==
        "resourceLogs[0].scopeLogs[0].logRecords[0].traceId: \"xyz\" must be 32 hex digits (16 "
        "bytes)");
  CHECK(otlp_logs_from_json(
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"12x"}]}]}]})")
            .error()
            .message ==
        "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: \"12x\" is not a 64-bit integer");
  CHECK(otlp_logs_from_json(
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]})")
            .error()
            .message ==
        "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber: \"LOUD\" is not a "
        "SeverityNumber");
  CHECK(otlp_logs_from_json(
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"intValue":1.5}}]}]}]})")
            .error()
            .code == "otlp.malformed_json");
  // A uint32 count past 32 bits is refused in a scope as in a record, not cut to its low bits.
  CHECK(otlp_logs_from_json(
            R"({"resourceLogs":[{"scopeLogs":[{"scope":{"droppedAttributesCount":"4294967297"}}]}]})")
            .error()
            .message == "resourceLogs[0].scopeLogs[0].scope.droppedAttributesCount: is larger "
                        "than 32 bits");
  CHECK(otlp_logs_from_json(
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"flags":4294967296}]}]}]})")
            .error()
            .message == "resourceLogs[0].scopeLogs[0].logRecords[0].flags: is larger than 32 bits");
}

TEST_CASE("OTLP responses carry partial success in either encoding") {
  CHECK(otlp_response_protobuf(0, "").empty());
  CHECK(otlp_response_json(0, "") == "{}");
  CHECK(otlp_response_protobuf(3, "bad") == std::string("\x0a\x07\x08\x03\x12\x03"
                                                        "bad",
                                                        9));
  CHECK(nlohmann::json::parse(otlp_response_json(3, "bad")) ==
        nlohmann::json{{"partialSuccess", {{"rejectedLogRecords", "3"}, {"errorMessage", "bad"}}}});
  CHECK(nlohmann::json::parse(otlp_status_json(8, "slow down")) ==
        nlohmann::json{{"code", 8}, {"message", "slow down"}});
}
