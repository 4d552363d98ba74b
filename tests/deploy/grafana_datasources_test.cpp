#include <map>
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <re2/re2.h>

#include "deploy_files.hpp"

using lognurse::deploy_test::load_yaml;
using lognurse::deploy_test::read_text;

namespace {

const char* kDatasources = "config/grafana-datasources.yaml";

/// Datasources of the provisioning file by uid.
std::map<std::string, YAML::Node> datasources_by_uid() {
  std::map<std::string, YAML::Node> out;
  for (const auto& ds : load_yaml(kDatasources)["datasources"]) {
    out[ds["uid"].as<std::string>()] = YAML::Node(ds);
  }
  return out;
}

}  // namespace

TEST_CASE("grafana provisions Loki and Tempo under explicit uids") {
  const auto config = load_yaml(kDatasources);
  CHECK(config["apiVersion"].as<int>() == 1);
  REQUIRE(config["datasources"].size() == 2);
  const auto by_uid = datasources_by_uid();
  REQUIRE(by_uid.size() == 2);
  CHECK(by_uid.at("loki")["type"].as<std::string>() == "loki");
  CHECK(by_uid.at("loki")["url"].as<std::string>() == "http://loki:3100");
  CHECK(by_uid.at("tempo")["type"].as<std::string>() == "tempo");
  CHECK(by_uid.at("tempo")["url"].as<std::string>() == "http://tempo:3200");
}

TEST_CASE("every datasource uid a grafana link names resolves to a provisioned datasource") {
  const auto by_uid = datasources_by_uid();
  std::set<std::string> referenced;
  for (const auto& field : by_uid.at("loki")["jsonData"]["derivedFields"]) {
    referenced.insert(field["datasourceUid"].as<std::string>());
  }
  referenced.insert(
      by_uid.at("tempo")["jsonData"]["tracesToLogsV2"]["datasourceUid"].as<std::string>());
  CHECK(referenced == std::set<std::string>{"loki", "tempo"});
  for (const auto& uid : referenced) CHECK(by_uid.count(uid) == 1);
}

TEST_CASE("loki derived fields link trace_id from structured metadata and from the line") {
  const auto fields = datasources_by_uid().at("loki")["jsonData"]["derivedFields"];
  REQUIRE(fields.size() == 2);

  const auto metadata = fields[0];
  CHECK(metadata["matcherType"].as<std::string>() == "label");
  CHECK(metadata["matcherRegex"].as<std::string>() == "trace_id");
  CHECK(metadata["datasourceUid"].as<std::string>() == "tempo");
  // "$$" survives Grafana's environment expansion as one "$".
  CHECK(metadata["url"].as<std::string>() == "$${__value.raw}");

  const auto in_line = fields[1];
  CHECK(in_line["matcherType"].as<std::string>() == "regex");
  CHECK(in_line["datasourceUid"].as<std::string>() == "tempo");
  CHECK(in_line["url"].as<std::string>() == "$${__value.raw}");
  // Grafana takes the first capture group as the field's value.
  const RE2 regex(in_line["matcherRegex"].as<std::string>());
  REQUIRE(regex.ok());
  std::string trace_id;
  CHECK(RE2::PartialMatch("level=info msg=\"paid\" trace_id=4bf92f3577b34da6a3ce929d0e0e4736 x=1",
                          regex, &trace_id));
  CHECK(trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK_FALSE(RE2::PartialMatch("trace_id=short", regex, &trace_id));
}

TEST_CASE("tempo links spans to Loki lines by the trace_id structured metadata") {
  const auto links = datasources_by_uid().at("tempo")["jsonData"]["tracesToLogsV2"];
  CHECK(links["datasourceUid"].as<std::string>() == "loki");
  CHECK(links["customQuery"].as<bool>());
  CHECK(links["query"].as<std::string>() == "{$${__tags}} | trace_id=\"$${__span.traceId}\"");
  CHECK(links["tags"][0]["key"].as<std::string>() == "service.name");
  CHECK(links["tags"][0]["value"].as<std::string>() == "service_name");
}

TEST_CASE("grafana provisioning escapes every dollar of Grafana's own link variables") {
  const std::string text = read_text(kDatasources);
  for (std::size_t at = text.find("${__"); at != std::string::npos;
       at = text.find("${__", at + 1)) {
    INFO("offset " << at);
    CHECK((at > 0 && text[at - 1] == '$'));
  }
  CHECK(text.find("${LOKI_TENANT_ID}") != std::string::npos);
}

TEST_CASE("grafana sends the Loki tenant header with every query") {
  const auto loki = datasources_by_uid().at("loki");
  CHECK(loki["jsonData"]["httpHeaderName1"].as<std::string>() == "X-Scope-OrgID");
  CHECK(loki["secureJsonData"]["httpHeaderValue1"].as<std::string>() == "${LOKI_TENANT_ID}");
}
