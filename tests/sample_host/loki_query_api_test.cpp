// Loki's query API of `sample_host serve` over real loopback sockets: a replay of the requests
// Grafana's Loki data source makes when a user opens Explore, each answer checked against the
// shape Loki documents and the exact values, plus tenant isolation on every read route and
// Loki's 400 messages for bad parameters.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"
#include "loki_query_api.hpp"
#include "process.hpp"

using lognurse::test::HostServer;
using lognurse::test::http_request;
using lognurse::test::HttpResponse;
using lognurse::test::TempDir;
using nlohmann::json;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

/// A whole minute ten minutes ago, so that minute steps fall on known entries.
const std::int64_t kBase =
    (lognurse::now_ns() / (60 * kSecond)) * (60 * kSecond) - 10 * 60 * kSecond;

std::string ns(std::int64_t offset_seconds) {
  return std::to_string(kBase + offset_seconds * kSecond);
}

std::int64_t seconds(std::int64_t offset_seconds) {
  return kBase / kSecond + offset_seconds;
}

std::string encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// "path?k1=v1&k2=v2" with every value URL-encoded.
std::string url(const std::string& path,
                const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = path;
  char separator = '?';
  for (const auto& [key, value] : params) {
    out += separator + encode(key) + "=" + encode(value);
    separator = '&';
  }
  return out;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

/// The headers Grafana's Loki data source sends with a log query.
const Headers kGrafana = {{"X-Query-Tags", "Source=grafana"},
                          {"X-Loki-Response-Encoding-Flags", "categorize-labels"}};

json get_json(int port, const std::string& target, const Headers& headers = {}) {
  HttpResponse response = http_request(port, "GET", target, "", headers);
  INFO(target << " -> " << response.status << " " << response.body);
  REQUIRE(response.status == 200);
  REQUIRE(response.content_type == "application/json");
  return json::parse(response.body);
}

json value(std::int64_t offset_seconds, const std::string& line, const json& metadata = nullptr) {
  json v = json::array({ns(offset_seconds), line});
  if (!metadata.is_null()) v.push_back(metadata);
  return v;
}

void push(int port, const json& streams, const std::string& tenant) {
  HttpResponse response =
      http_request(port, "POST", "/loki/api/v1/push", json{{"streams", streams}}.dump(),
                   {{"Content-Type", "application/json"}, {"X-Scope-OrgID", tenant}});
  INFO(response.body);
  REQUIRE(response.status == 204);
}

/// Tenant "fake" has two api streams and a web stream; tenant "other" has one api stream.
void seed(int port) {
  push(port,
       json::array(
           {{{"stream", {{"service_name", "api"}, {"level", "info"}}},
             {"values", json::array({value(5, "method=GET path=/users status=200 took=12ms"),
                                     value(15, "method=GET path=/orders status=200 took=8ms"),
                                     value(75, "method=POST path=/orders status=201 took=30ms")})}},
            {{"stream", {{"service_name", "api"}, {"level", "error"}}},
             {"values", json::array({value(25, "method=GET path=/orders status=500 took=2s",
                                           {{"trace_id", "4bf92f35"}})})}},
            {{"stream", {{"service_name", "web"}, {"level", "info"}}},
             {"values", json::array({value(35, "served /index.html")})}}}),
       "fake");
  push(port,
       json::array({{{"stream", {{"service_name", "api"}, {"level", "debug"}, {"team", "x"}}},
                     {"values", json::array({value(45, "method=GET path=/secret status=200")})}}}),
       "other");
}

}  // namespace

TEST_CASE("Grafana Explore's requests get Loki's answers from the embedded store") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  seed(port);
  const std::string start = ns(0);
  const std::string end = ns(120);

  SECTION("label names and values for the query builder") {
    CHECK(get_json(port, url("/loki/api/v1/labels", {{"start", start}, {"end", end}})) ==
          json({{"status", "success"}, {"data", {"level", "service_name"}}}));
    CHECK(get_json(port, url("/loki/api/v1/label/service_name/values",
                             {{"start", start}, {"end", end}})) ==
          json({{"status", "success"}, {"data", {"api", "web"}}}));
    CHECK(get_json(port,
                   url("/loki/api/v1/label/level/values",
                       {{"start", start}, {"end", end}, {"query", "{service_name=\"web\"}"}})) ==
          json({{"status", "success"}, {"data", {"info"}}}));
    CHECK(get_json(port,
                   url("/loki/api/v1/labels",
                       {{"start", start}, {"end", end}, {"query", "{service_name=\"none\"}"}})) ==
          json({{"status", "success"}}));
  }

  SECTION("a log query with limit, nanosecond times and direction, in categorized form") {
    const json answer =
        get_json(port,
                 url("/loki/api/v1/query_range", {{"direction", "backward"},
                                                  {"end", end},
                                                  {"limit", "3"},
                                                  {"query", "{service_name=\"api\"} | logfmt"},
                                                  {"start", start},
                                                  {"step", "2000ms"}}),
                 kGrafana);
    CHECK(answer["status"] == "success");
    const json& data = answer["data"];
    CHECK(data["resultType"] == "streams");
    CHECK(data["encodingFlags"] == json::array({"categorize-labels"}));
    CHECK(data["stats"]["summary"]["totalEntriesReturned"] == 3);
    auto parsed = [](const std::string& method, const std::string& path, const std::string& status,
                     const std::string& took) {
      return json{{"method", method}, {"path", path}, {"status", status}, {"took", took}};
    };
    // The three newest entries, newest first, grouped by stream labels only.
    CHECK(
        data["result"] ==
        json::array(
            {{{"stream", {{"level", "error"}, {"service_name", "api"}}},
              {"values",
               json::array({json::array({ns(25),
                                         "method=GET path=/orders status=500 took=2s",
                                         {{"structuredMetadata",
                                           {{"detected_level", "error"}, {"trace_id", "4bf92f35"}}},
                                          {"parsed", parsed("GET", "/orders", "500", "2s")}}})})}},
             {{"stream", {{"level", "info"}, {"service_name", "api"}}},
              {"values",
               json::array(
                   {json::array({ns(75),
                                 "method=POST path=/orders status=201 took=30ms",
                                 {{"structuredMetadata", {{"detected_level", "info"}}},
                                  {"parsed", parsed("POST", "/orders", "201", "30ms")}}}),
                    json::array({ns(15),
                                 "method=GET path=/orders status=200 took=8ms",
                                 {{"structuredMetadata", {{"detected_level", "info"}}},
                                  {"parsed", parsed("GET", "/orders", "200", "8ms")}}})})}}}));
  }

  SECTION("forward direction without the flag: labels merged, [time, line] pairs") {
    const json answer =
        get_json(port, url("/loki/api/v1/query_range", {{"direction", "FORWARD"},
                                                        {"start", start},
                                                        {"end", end},
                                                        {"limit", "2"},
                                                        {"query", "{service_name=\"api\"}"}}));
    const json& data = answer["data"];
    CHECK(data.contains("encodingFlags") == false);
    CHECK(data["result"] ==
          json::array(
              {{{"stream", {{"detected_level", "info"}, {"level", "info"}, {"service_name", "api"}}},
                {"values",
                 json::array(
                     {json::array({ns(5), "method=GET path=/users status=200 took=12ms"}),
                      json::array({ns(15), "method=GET path=/orders status=200 took=8ms"})})}}}));
  }

  SECTION("structured metadata joins the stream labels when labels are not categorized") {
    const json answer = get_json(port, url("/loki/api/v1/query_range",
                                           {{"start", start},
                                            {"end", end},
                                            {"query", "{service_name=\"api\", level=\"error\"}"}}));
    CHECK(answer["data"]["result"] ==
          json::array(
              {{{"stream",
                 {{"detected_level", "error"},
                  {"level", "error"},
                  {"service_name", "api"},
                  {"trace_id", "4bf92f35"}}},
                {"values", json::array({json::array(
                               {ns(25), "method=GET path=/orders status=500 took=2s"})})}}}));
  }

  SECTION("a metric query with step answers a matrix in seconds") {
    const json answer = get_json(
        port, url("/loki/api/v1/query_range",
                  {{"query", "sum by (level) (count_over_time({service_name=\"api\"}[1m]))"},
                   {"start", std::to_string(seconds(60))},
                   {"end", std::to_string(seconds(120))},
                   {"step", "60"}}));
    CHECK(answer["data"]["resultType"] == "matrix");
    CHECK(answer["data"]["result"] ==
          json::array({{{"metric", {{"level", "error"}}},
                        {"values", json::array({json::array({seconds(60), "1"})})}},
                       {{"metric", {{"level", "info"}}},
                        {"values", json::array({json::array({seconds(60), "2"}),
                                                json::array({seconds(120), "1"})})}}}));
  }

  SECTION("the logs-volume query Grafana runs beside every log query") {
    const json answer =
        get_json(port,
                 url("/loki/api/v1/query_range",
                     {{"query",
                       "sum by (level, detected_level) (count_over_time({service_name=\"api\"} | "
                       "drop __error__[1m]))"},
                      {"start", lognurse::format_time(kBase + 60 * kSecond)},
                      {"end", lognurse::format_time(kBase + 120 * kSecond)},
                      {"step", "1m"}}),
                 kGrafana);
    CHECK(answer["data"]["resultType"] == "matrix");
    CHECK(answer["data"]["encodingFlags"] == json::array({"categorize-labels"}));
    CHECK(answer["data"]["result"] ==
          json::array({{{"metric", {{"detected_level", "error"}, {"level", "error"}}},
                        {"values", json::array({json::array({seconds(60), "1"})})}},
                       {{"metric", {{"detected_level", "info"}, {"level", "info"}}},
                        {"values", json::array({json::array({seconds(60), "2"}),
                                                json::array({seconds(120), "1"})})}}}));
  }

  SECTION("an instant metric query answers a vector at the given time") {
    const json answer =
        get_json(port, url("/loki/api/v1/query",
                           {{"query", "sum(count_over_time({service_name=~\"api|web\"}[2m]))"},
                            {"time", std::to_string(seconds(120))}}));
    CHECK(answer["data"]["resultType"] == "vector");
    CHECK(answer["data"]["result"] ==
          json::array({{{"metric", json::object()}, {"value", json::array({seconds(120), "5"})}}}));
  }

  SECTION("index stats, volume and series of the selector") {
    CHECK(get_json(port,
                   url("/loki/api/v1/index/stats",
                       {{"query", "{service_name=\"api\"}"}, {"start", start}, {"end", end}})) ==
          json({{"streams", 2}, {"chunks", 2}, {"entries", 4}, {"bytes", 43 + 43 + 45 + 42}}));

    const json volume =
        get_json(port, url("/loki/api/v1/index/volume", {{"query", "{service_name=~\".+\"}"},
                                                         {"start", start},
                                                         {"end", end},
                                                         {"limit", "100"},
                                                         {"targetLabels", "level"},
                                                         {"aggregateBy", "series"}}));
    CHECK(volume["status"] == "success");
    CHECK(volume["data"]["resultType"] == "vector");
    CHECK(volume["data"]["result"] ==
          json::array(
              {{{"metric", {{"level", "info"}}},
                {"value", json::array({seconds(120), std::to_string(43 + 43 + 45 + 18)})}},
               {{"metric", {{"level", "error"}}}, {"value", json::array({seconds(120), "42"})}}}));

    const json by_name =
        get_json(port, url("/loki/api/v1/index/volume", {{"query", "{service_name=~\".+\"}"},
                                                         {"start", start},
                                                         {"end", end},
                                                         {"aggregateBy", "labels"}}));
    const std::string all = std::to_string(43 + 43 + 45 + 42 + 18);
    CHECK(by_name["data"]["result"] ==
          json::array(
              {{{"metric", {{"level", ""}}}, {"value", json::array({seconds(120), all})}},
               {{"metric", {{"service_name", ""}}}, {"value", json::array({seconds(120), all})}}}));

    const json ranged = get_json(
        port,
        url("/loki/api/v1/index/volume_range",
            {{"query", "{service_name=\"web\"}"}, {"start", start}, {"end", end}, {"step", "60"}}));
    CHECK(ranged["data"]["resultType"] == "matrix");
    CHECK(ranged["data"]["result"] ==
          json::array({{{"metric", {{"service_name", "web"}}},
                        {"values", json::array({json::array({seconds(60), "18"})})}}}));

    CHECK(get_json(port, url("/loki/api/v1/series", {{"match[]", "{level=\"error\"}"},
                                                     {"match[]", "{service_name=\"web\"}"},
                                                     {"start", start},
                                                     {"end", end}})) ==
          json({{"status", "success"},
                {"data",
                 {{{"level", "error"}, {"service_name", "api"}},
                  {{"level", "info"}, {"service_name", "web"}}}}}));
  }

  SECTION("detected fields and labels for the filter pickers") {
    CHECK(
        get_json(port, url("/loki/api/v1/detected_fields", {{"query", "{service_name=\"api\"}"},
                                                            {"start", start},
                                                            {"end", end},
                                                            {"line_limit", "1000"},
                                                            {"limit", "1000"}})) ==
        json(
            {{"fields",
              {{{"label", "detected_level"},
                {"type", "string"},
                {"cardinality", 2},
                {"parsers", nullptr}},
               {{"label", "method"},
                {"type", "string"},
                {"cardinality", 2},
                {"parsers", {"logfmt"}}},
               {{"label", "path"}, {"type", "string"}, {"cardinality", 2}, {"parsers", {"logfmt"}}},
               {{"label", "status"}, {"type", "int"}, {"cardinality", 3}, {"parsers", {"logfmt"}}},
               {{"label", "took"},
                {"type", "duration"},
                {"cardinality", 4},
                {"parsers", {"logfmt"}}},
               {{"label", "trace_id"},
                {"type", "string"},
                {"cardinality", 1},
                {"parsers", nullptr}}}},
             {"limit", 1000}}));
    CHECK(get_json(port, url("/loki/api/v1/detected_labels", {{"start", start}, {"end", end}})) ==
          json({{"detectedLabels",
                 {{{"label", "level"}, {"cardinality", 2}},
                  {{"label", "service_name"}, {"cardinality", 2}}}}}));
  }

  SECTION("patterns, format_query and buildinfo") {
    const json patterns =
        get_json(port, url("/loki/api/v1/patterns", {{"query", "{service_name=\"api\"}"},
                                                     {"start", start},
                                                     {"end", end},
                                                     {"step", "60s"}}));
    CHECK(patterns == json({{"status", "success"},
                            {"data",
                             {{{"pattern", "method=<_> path=<_> status=<_> took=<_>"},
                               {"samples", {{seconds(0), 3}, {seconds(60), 1}}}}}}}));
    CHECK(get_json(port, url("/loki/api/v1/format_query", {{"query", "{a=\"b\"}|=`x`|json"}})) ==
          json({{"status", "success"}, {"data", "{a=\"b\"} |= \"x\" | json"}}));
    const json build = get_json(port, "/loki/api/v1/status/buildinfo");
    CHECK(build["version"] == "0.1.0");
    CHECK(build.contains("revision"));
    CHECK(build.contains("goVersion"));
  }

  SECTION("a urlencoded POST runs the same query as a GET") {
    HttpResponse response = http_request(
        port, "POST", "/loki/api/v1/query_range",
        "query=" + encode("{service_name=\"web\"}") + "&start=" + start + "&end=" + end,
        {{"Content-Type", "application/x-www-form-urlencoded"}});
    REQUIRE(response.status == 200);
    CHECK(json::parse(response.body)["data"]["result"][0]["values"] ==
          json::array({json::array({ns(35), "served /index.html"})}));
  }
}

TEST_CASE("no read route shows one tenant another tenant's data") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  seed(port);
  const std::vector<std::pair<std::string, std::string>> range = {{"start", ns(0)},
                                                                  {"end", ns(120)}};
  auto with = [&](std::vector<std::pair<std::string, std::string>> params) {
    params.insert(params.end(), range.begin(), range.end());
    return params;
  };
  const Headers other = {{"X-Scope-OrgID", "other"}};
  const Headers nobody = {{"X-Scope-OrgID", "nobody"}};

  CHECK(get_json(port, url("/loki/api/v1/labels", with({})), other)["data"] ==
        json({"level", "service_name", "team"}));
  CHECK(get_json(port, url("/loki/api/v1/label/level/values", with({})), other)["data"] ==
        json({"debug"}));
  CHECK(get_json(port, url("/loki/api/v1/label/team/values", with({}))) ==
        json({{"status", "success"}}));
  CHECK(get_json(port, url("/loki/api/v1/series", with({{"match[]", "{service_name=\"api\"}"}})),
                 other)["data"] ==
        json::array({{{"level", "debug"}, {"service_name", "api"}, {"team", "x"}}}));
  const json lines = get_json(
      port, url("/loki/api/v1/query_range", with({{"query", "{service_name=~\".+\"}"}})), other);
  CHECK(lines["data"]["result"] ==
        json::array({{{"stream",
                       {{"detected_level", "debug"},
                        {"level", "debug"},
                        {"service_name", "api"},
                        {"team", "x"}}},
                      {"values", json::array({json::array(
                                     {ns(45), "method=GET path=/secret status=200"})})}}}));
  CHECK(get_json(port,
                 url("/loki/api/v1/query",
                     {{"query", "count_over_time({service_name=\"api\"}[5m])"}, {"time", ns(120)}}),
                 other)["data"]["result"] ==
        json::array({{{"metric",
                       {{"detected_level", "debug"},
                        {"level", "debug"},
                        {"service_name", "api"},
                        {"team", "x"}}},
                      {"value", json::array({seconds(120), "1"})}}}));
  CHECK(get_json(port,
                 url("/loki/api/v1/index/volume_range",
                     with({{"query", "{service_name=\"api\"}"}, {"step", "60"}})),
                 other)["data"]["result"] ==
        json::array({{{"metric", {{"service_name", "api"}}},
                      {"values", json::array({json::array({seconds(60), "34"})})}}}));
  CHECK(get_json(port, url("/loki/api/v1/index/stats", with({{"query", "{service_name=\"api\"}"}})),
                 other) == json({{"streams", 1}, {"chunks", 1}, {"entries", 1}, {"bytes", 34}}));
  CHECK(
      get_json(port, url("/loki/api/v1/index/volume", with({{"query", "{service_name=\"api\"}"}})),
               other)["data"]["result"] ==
      json::array(
          {{{"metric", {{"service_name", "api"}}}, {"value", json::array({seconds(120), "34"})}}}));
  CHECK(get_json(port,
                 url("/loki/api/v1/detected_fields", with({{"query", "{service_name=\"api\"}"}})),
                 other)["fields"]
            .size() == 4);
  CHECK(get_json(port, url("/loki/api/v1/patterns", with({{"query", "{service_name=\"api\"}"}})),
                 other)["data"][0]["pattern"] == "method=GET path=/secret status=200");
  CHECK(get_json(port, url("/loki/api/v1/detected_labels", with({})), other)["detectedLabels"]
            .size() == 3);

  // A tenant with no data sees nothing at all.
  CHECK(get_json(port, url("/loki/api/v1/labels", with({})), nobody) ==
        json({{"status", "success"}}));
  CHECK(get_json(port, url("/loki/api/v1/query_range", with({{"query", "{service_name=~\".+\"}"}})),
                 nobody)["data"]["result"] == json::array());
  CHECK(get_json(port, url("/loki/api/v1/series", with({{"match[]", "{service_name=~\".+\"}"}})),
                 nobody)["data"] == json::array());
  CHECK(get_json(port, url("/loki/api/v1/index/stats", with({{"query", "{service_name=~\".+\"}"}})),
                 nobody)["entries"] == 0);
  CHECK(get_json(port,
                 url("/loki/api/v1/index/volume", with({{"query", "{service_name=~\".+\"}"}})),
                 nobody)["data"]["result"] == json::array());
  CHECK(get_json(port,
                 url("/loki/api/v1/detected_fields", with({{"query", "{service_name=~\".+\"}"}})),
                 nobody) == json::object());
  CHECK(get_json(port, url("/loki/api/v1/detected_labels", with({})), nobody) ==
        json({{"detectedLabels", json::array()}}));
  CHECK(get_json(port, url("/loki/api/v1/patterns", with({{"query", "{service_name=~\".+\"}"}})),
                 nobody)["data"] == json::array());
}

TEST_CASE("bad parameters get Loki's 400 messages") {
  TempDir data;
  HostServer server({"--data-dir", data.path()});
  const int port = server.port();
  auto status_and_body = [&](const std::string& target) {
    HttpResponse response = http_request(port, "GET", target);
    return std::to_string(response.status) + " " + response.body;
  };
  const std::string q = "query=" + encode("{a=\"b\"}");

  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&limit=6000") ==
        "400 max entries limit per query exceeded, limit > max_entries_limit_per_query "
        "(6000 > 5000); lower the limit or narrow the query\n");
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&limit=0") ==
        "400 limit must be a positive value\n");
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&direction=sideways") ==
        "400 invalid direction 'sideways'\n");
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&step=0") ==
        "400 zero or negative query resolution step widths are not accepted. Try a positive "
        "integer\n");
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&start=0&end=1000000&step=1ms") ==
        "400 exceeded maximum resolution of 11,000 points per time series. Try increasing the "
        "value of the step parameter\n");
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&start=20&end=10") ==
        "400 end timestamp must not be before or equal to start time\n");
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&start=yesterday") ==
        "400 could not parse 'start' parameter: \"yesterday\" is neither Unix seconds (with a "
        "fraction), Unix nanoseconds nor an RFC 3339 time such as 2026-12-04T14:33:11Z\n");
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&start=1&end=9999999999") ==
        "400 could not parse 'end' parameter: 9999999999 Unix seconds is past "
        "2262-04-11T23:47:16Z, the last time that Unix nanoseconds in 64 bits can hold\n");
  CHECK(status_and_body("/loki/api/v1/query?query=" + encode("count_over_time({a=\"b\"}[1m])") +
                        "&time=9999999999")
            .rfind("400 could not parse 'time' parameter: 9999999999 Unix seconds", 0) == 0);
  CHECK(status_and_body("/loki/api/v1/query_range?" + q + "&start=9999-12-31T23:59:59Z") ==
        "400 could not parse 'start' parameter: time \"9999-12-31T23:59:59Z\" is outside what "
        "Unix nanoseconds in 64 bits can hold (1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z)\n");
  CHECK(status_and_body("/loki/api/v1/query?" + q) ==
        "400 log queries are not supported as an instant query type, please change your query "
        "to a range query type\n");
  CHECK(status_and_body("/loki/api/v1/series") ==
        "400 at least one match[] parameter is required, e.g. match[]={service_name=\"api\"}\n");
  CHECK(status_and_body("/loki/api/v1/index/volume?" + q + "&aggregateBy=streams") ==
        "400 invalid aggregation option\n");
  CHECK(status_and_body("/loki/api/v1/query_range?query=" + encode("{a=\"b\""))
            .rfind("400 parse error at line 1", 0) == 0);
}

TEST_CASE("Loki timestamps are read as Loki reads them") {
  using lognurse::host::parse_loki_time;
  CHECK(parse_loki_time("1700000000", "t").value() == 1'700'000'000'000'000'000);
  CHECK(parse_loki_time("1700000000.25", "t").value() == 1'700'000'000'250'000'000);
  CHECK(parse_loki_time("1700000000123456789", "t").value() == 1'700'000'000'123'456'789);
  CHECK(parse_loki_time("2023-11-14T22:13:20.5Z", "t").value() == 1'700'000'000'500'000'000);
  CHECK_FALSE(parse_loki_time("soon", "t").ok());
}
