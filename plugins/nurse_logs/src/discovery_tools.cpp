// The discovery tools of the Nurse service: label names and values, the
// newest lines of a selector, every line of a trace, and error patterns.

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "agent_answers.hpp"
#include "arguments.hpp"
#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/pipeline.hpp"
#include "lognurse/logql/printer.hpp"
#include "nurse_tools.hpp"
#include "scan_budget.hpp"
#include "tool_schemas.hpp"

namespace lognurse::nurse {

using nlohmann::json;

namespace {

json range_properties() {
  return {{"start", {{"type", {"string", "number"}},
                     {"description", "Start of the range: RFC 3339, Unix seconds or nanoseconds"}}},
          {"end", {{"type", {"string", "number"}},
                   {"description", "End of the range (inclusive); default: now"}}},
          {"since", {{"type", "string"},
                     {"description", "Duration before end when start is absent, e.g. 15m, 24h; "
                                     "default 1h"}}}};
}

json input_schema(json properties, std::vector<std::string> required) {
  json schema = {{"type", "object"},
                 {"properties", std::move(properties)},
                 {"additionalProperties", false}};
  if (!required.empty()) schema["required"] = required;
  return schema;
}

json names_answer_schema() {
  return object_of({{"status", success_status()},
                    {"data", {{"type", "array"}, {"items", string_type()}}},
                    {"metadata", object_of({{"count", integer_type()},
                                            {"time_range", time_range_result_schema()},
                                            {"hints", {{"type", "array"},
                                                       {"items", string_type()}}}},
                                           {"count", "time_range"})}},
                   {"status", "data", "metadata"});
}

ToolSpec make_spec(std::string name, std::string title, std::string description, json input,
                   json output, std::string method, std::string path) {
  ToolSpec spec;
  spec.name = std::move(name);
  spec.title = std::move(title);
  spec.description = std::move(description);
  spec.input_schema = with_output_schema(std::move(input), std::move(output));
  spec.http_method = std::move(method);
  spec.rest_path = std::move(path);
  return spec;
}

Result<std::string> required_string(const json& arguments, const std::string& key,
                                    const std::string& example) {
  auto value = optional_string(arguments, key, "arguments");
  if (!value) return value.error();
  if (!value.value() || value.value()->empty()) {
    return invalid_argument("tool.invalid_arguments",
                            "arguments." + key + " is required, e.g. " + example);
  }
  return *value.value();
}

/// Checks that `text` is a bare stream selector and returns it canonically.
Result<std::string> parse_selector(const std::string& text) {
  auto parsed = logql::parse(text);
  if (!parsed) return parsed.error();
  const auto* log = std::get_if<logql::LogExpr>(&parsed.value());
  if (log == nullptr || !log->pipeline.empty()) {
    return invalid_argument("tool.invalid_arguments",
                            "arguments.selector must be a stream selector only, such as "
                            "{service_name=\"api\"}, without filters or aggregations");
  }
  return logql::print_selector(log->selector);
}

bool is_error_or_warning(const LogStream& stream, const LogEntry& entry) {
  for (const auto* labels : {&stream.labels, &entry.metadata}) {
    for (const char* name : {"detected_level", "level"}) {
      if (const auto* level = find_label(*labels, name)) {
        std::string lower = *level;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        return lower == "error" || lower == "err" || lower == "warn" || lower == "warning" ||
               lower == "critical" || lower == "fatal";
      }
    }
  }
  return true;  // matched the text filter of the query
}

}  // namespace

std::vector<ToolSpec> NurseTools::discovery_tools() const {
  const std::string limit_text = "Lines to return (default " +
                                 std::to_string(options_.default_limit) + ", at most " +
                                 std::to_string(options_.max_limit) + ")";
  const json limit = {{"type", "integer"}, {"minimum", 1}, {"maximum", options_.max_limit},
                      {"description", limit_text}};
  const json format = {{"type", "string"},
                       {"enum", {"loki", "compact"}},
                       {"description", "loki: Loki's query_range data (default); compact: lines "
                                       "grouped by stream as \"<time> <line>\""}};
  const std::string budget = " " + scan_budget_note(options_.max_scan_bytes);
  std::vector<ToolSpec> specs;

  specs.push_back(make_spec(
      "list_labels", "List label names",
      "Label names of the streams that have lines in the range (default: the last hour). Start "
      "here to learn what to put in a selector.",
      input_schema(range_properties(), {}), names_answer_schema(), "GET",
      "/api/nurse/logs/labels"));

  json values_properties = range_properties();
  values_properties["name"] = {{"type", "string"},
                               {"description", "Label name, e.g. service_name"}};
  specs.push_back(make_spec(
      "label_values", "List the values of a label",
      "Values of one label in the streams that have lines in the range (default: the last hour). "
      "An unknown name answers with the closest known names.",
      input_schema(values_properties, {"name"}), names_answer_schema(), "GET",
      "/api/nurse/logs/label_values"));

  json tail_properties = range_properties();
  tail_properties["selector"] = {{"type", "string"},
                                 {"description", "Stream selector, e.g. {service_name=\"api\"}"}};
  tail_properties["limit"] = limit;
  tail_properties["format"] = format;
  specs.push_back(make_spec(
      "tail_logs", "Newest lines of a selector",
      "The newest lines of the streams a selector matches, newest first, within the range "
      "(default: the last hour)." + budget,
      input_schema(tail_properties, {"selector"}), log_answer_schema(false), "POST",
      "/api/nurse/logs/tail"));

  json trace_properties = range_properties();
  trace_properties["trace_id"] = {{"type", "string"}, {"description", "The trace id to follow"}};
  trace_properties["selector"] = {
      {"type", "string"},
      {"description", "Streams to look in (default {service_name=~\".+\"}: every service)"}};
  trace_properties["limit"] = limit;
  specs.push_back(make_spec(
      "get_trace_logs", "Every line of a trace",
      "Every line of one trace id across services, oldest first: lines whose structured "
      "metadata trace_id is the id, and lines whose text contains it." + budget,
      input_schema(trace_properties, {"trace_id"}), log_answer_schema(false), "POST",
      "/api/nurse/logs/trace"));

  json pattern_properties = range_properties();
  pattern_properties["selector"] = trace_properties["selector"];
  pattern_properties["limit"] = {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000},
                                 {"description", "Patterns to return (default 20)"}};
  json pattern_item = object_of({{"pattern", string_type()},
                                 {"count", integer_type()},
                                 {"first_seen", string_type()},
                                 {"last_seen", string_type()},
                                 {"example", string_type()},
                                 {"services", {{"type", "array"}, {"items", string_type()}}}},
                                {"pattern", "count", "first_seen", "last_seen", "example"});
  json pattern_answer = object_of(
      {{"status", success_status()},
       {"data", {{"type", "array"}, {"items", pattern_item}}},
       {"metadata", object_of({{"query", string_type()},
                               {"lines_scanned", integer_type()},
                               {"lines_clustered", integer_type()},
                               {"patterns", integer_type()},
                               {"truncated", {{"type", "boolean"}}},
                               {"time_range", time_range_result_schema()},
                               {"scan_estimate", scan_estimate_schema()}},
                              {"lines_clustered", "patterns", "truncated", "time_range",
                               "scan_estimate"})}},
      {"status", "data", "metadata"});
  specs.push_back(make_spec(
      "find_error_patterns", "Error and warning patterns",
      "Clusters the error and warning lines of the range into patterns (numbers, ids and quoted "
      "strings become <_>), most frequent first, with counts, first and last seen, and one "
      "example each." + budget,
      input_schema(pattern_properties, {}), pattern_answer, "POST",
      "/api/nurse/logs/error_patterns"));
  return specs;
}

Result<nlohmann::json> NurseTools::list_labels(const json& arguments) {
  auto status = check_object(arguments, {"start", "end", "since"}, "arguments");
  if (!status) return status.error();
  auto range = resolve_range(arguments, options_.default_range_ns, "arguments");
  if (!range) return range.error();
  auto backend = this->backend();
  if (!backend) return backend.error();
  auto names = backend.value()->labels(options_.tenant, range.value().range);
  if (!names) return names.error();
  json metadata = {{"count", names.value().size()}, {"time_range", range_to_json(range.value())}};
  if (names.value().empty()) {
    metadata["hints"] = {"no stream has lines in the range; widen it with " +
                         widen_suggestion(range.value().range)};
  }
  return json{{"status", "success"}, {"data", names.value()}, {"metadata", std::move(metadata)}};
}

Result<nlohmann::json> NurseTools::label_values(const json& arguments) {
  auto status = check_object(arguments, {"name", "start", "end", "since"}, "arguments");
  if (!status) return status.error();
  auto name = required_string(arguments, "name", "\"service_name\"");
  if (!name) return name.error();
  if (!logql::is_valid_label_name(name.value())) {
    return invalid_argument("tool.invalid_arguments",
                            "arguments.name: \"" + name.value() +
                                "\" is not a label name; label names are letters, digits and "
                                "underscores, not starting with a digit (nurse_list_labels "
                                "lists them)");
  }
  auto range = resolve_range(arguments, options_.default_range_ns, "arguments");
  if (!range) return range.error();
  auto backend = this->backend();
  if (!backend) return backend.error();
  auto values = backend.value()->label_values(options_.tenant, name.value(), range.value().range);
  if (!values) return values.error();
  json metadata = {{"count", values.value().size()}, {"time_range", range_to_json(range.value())}};
  if (values.value().empty()) {
    auto names = backend.value()->labels(options_.tenant, range.value().range);
    std::string hint = "no stream has the label \"" + name.value() + "\" in the range";
    if (names && !names.value().empty()) {
      std::string close;
      for (const auto& n : closest_values(name.value(), names.value(), 3)) {
        close += (close.empty() ? "\"" : ", \"") + n + "\"";
      }
      hint += "; closest label names: " + close;
    } else {
      hint += "; the range holds no streams at all, widen it with " +
              widen_suggestion(range.value().range);
    }
    metadata["hints"] = {hint};
  }
  return json{{"status", "success"}, {"data", values.value()}, {"metadata", std::move(metadata)}};
}

Result<nlohmann::json> NurseTools::tail_logs(const json& arguments) {
  auto status = check_object(arguments, {"selector", "limit", "start", "end", "since", "format"},
                             "arguments");
  if (!status) return status.error();
  auto text = required_string(arguments, "selector", "{service_name=\"api\"}");
  if (!text) return text.error();
  auto selector = parse_selector(text.value());
  if (!selector) return selector.error();
  auto limit = integer_in_range(arguments, "limit", options_.default_limit, 1, options_.max_limit,
                                "arguments");
  if (!limit) return limit.error();
  auto range = resolve_range(arguments, options_.default_range_ns, "arguments");
  if (!range) return range.error();
  auto compact = parse_compact_format(arguments, "arguments");
  if (!compact) return compact.error();
  LogQuery query;
  query.logql = selector.value();
  query.range = range.value().range;
  query.direction = Direction::backward;
  return bounded_query(std::move(query), limit.value(), range.value().source, compact.value());
}

Result<nlohmann::json> NurseTools::get_trace_logs(const json& arguments) {
  auto status = check_object(arguments, {"trace_id", "selector", "limit", "start", "end", "since"},
                             "arguments");
  if (!status) return status.error();
  auto trace_id = required_string(arguments, "trace_id", "\"4bf92f3577b34da6a3ce929d0e0e4736\"");
  if (!trace_id) return trace_id.error();
  auto selector_text = optional_string(arguments, "selector", "arguments");
  if (!selector_text) return selector_text.error();
  const bool default_selector = !selector_text.value();
  auto selector = parse_selector(selector_text.value().value_or("{service_name=~\".+\"}"));
  if (!selector) return selector.error();
  auto limit = integer_in_range(arguments, "limit", options_.default_limit, 1, options_.max_limit,
                                "arguments");
  if (!limit) return limit.error();
  auto range = resolve_range(arguments, options_.default_range_ns, "arguments");
  if (!range) return range.error();
  auto guard = check_query_cost(range.value().range, options_.max_range_ns);
  if (!guard) return guard.error();
  auto backend = this->backend();
  if (!backend) return backend.error();

  // Two queries, because LogQL cannot "or" a line filter with a label filter:
  // the trace id in structured metadata, and the trace id in the text.
  const std::string quoted = json(trace_id.value()).dump();
  const std::vector<std::string> queries = {selector.value() + " | trace_id=" + quoted,
                                            selector.value() + " |= " + quoted};
  auto estimate = check_scan_budget(*backend.value(), options_.tenant, queries,
                                    range.value().range, options_.max_scan_bytes);
  if (!estimate) return estimate.error();
  std::map<std::string, LogStream> streams;  // by rendered labels
  std::set<std::tuple<std::string, std::int64_t, std::string>> seen;
  QueryStats stats;
  for (const auto& logql : queries) {
    LogQuery query;
    query.tenant = options_.tenant;
    query.logql = logql;
    query.range = range.value().range;
    query.direction = Direction::forward;
    query.limit = static_cast<std::size_t>(limit.value()) + 1;
    auto result = backend.value()->query(query);
    if (!result) return result.error();
    stats.lines_scanned += result.value().stats.lines_scanned;
    stats.bytes_scanned += result.value().stats.bytes_scanned;
    for (auto& stream : result.value().streams) {
      const std::string key = labels_to_string(stream.labels);
      auto& merged = streams[key];
      merged.labels = stream.labels;
      for (auto& entry : stream.entries) {
        if (seen.emplace(key, entry.timestamp_ns, entry.line).second) {
          merged.entries.push_back(std::move(entry));
        }
      }
    }
  }
  QueryResult merged;
  merged.stats = stats;
  for (auto& [key, stream] : streams) {
    std::sort(stream.entries.begin(), stream.entries.end(),
              [](const LogEntry& a, const LogEntry& b) { return a.timestamp_ns < b.timestamp_ns; });
    merged.streams.push_back(std::move(stream));
  }
  std::size_t lines_cut = 0;
  const bool truncated = bound_result(merged, static_cast<std::size_t>(limit.value()),
                                      Direction::forward, options_.max_line_length, lines_cut);
  const auto returned = count_entries(merged);
  json metadata = {{"query", queries[0] + " ; " + queries[1]},
                   {"lines_returned", returned},
                   {"limit", limit.value()},
                   {"truncated", truncated},
                   {"lines_cut", lines_cut},
                   {"lines_scanned", stats.lines_scanned},
                   {"bytes_scanned", stats.bytes_scanned},
                   {"direction", "forward"},
                   {"time_range", range_to_json(range.value())},
                   {"scan_estimate", estimate.value().to_json()}};
  if (returned == 0) {
    json hints = {"no line of " + selector.value() + " carries trace id " + quoted +
                  " in the range; widen it with since or start, or check the id"};
    if (default_selector) {
      hints.push_back("without a selector only streams with a service_name label are read; "
                      "give one, such as {app=\"checkout\"}, to read streams without it");
    }
    metadata["hints"] = std::move(hints);
  }
  return json{{"status", "success"},
              {"data", query_result_to_json(merged)},
              {"metadata", std::move(metadata)}};
}

Result<nlohmann::json> NurseTools::find_error_patterns(const json& arguments) {
  auto status = check_object(arguments, {"selector", "limit", "start", "end", "since"},
                             "arguments");
  if (!status) return status.error();
  auto selector_text = optional_string(arguments, "selector", "arguments");
  if (!selector_text) return selector_text.error();
  auto selector = parse_selector(selector_text.value().value_or("{service_name=~\".+\"}"));
  if (!selector) return selector.error();
  auto limit = integer_in_range(arguments, "limit", 20, 1, 1000, "arguments");
  if (!limit) return limit.error();
  auto range = resolve_range(arguments, options_.default_range_ns, "arguments");
  if (!range) return range.error();
  auto guard = check_query_cost(range.value().range, options_.max_range_ns);
  if (!guard) return guard.error();
  auto backend = this->backend();
  if (!backend) return backend.error();

  // Two queries, because LogQL cannot "or" a label filter with a line
  // filter: lines whose level says error or warning, and lines whose text
  // does. Loki and the store refuse more than 5000 entries per query, so each
  // asks for exactly the budget and a full answer counts as truncated.
  const std::vector<std::string> queries = {
      selector.value() + R"re( | detected_level=~"(?i)(err|error|warn|warning|critical|fatal)")re",
      selector.value() + R"re( |~ "(?i)(error|warn|fatal|critical|exception|panic|fail)")re"};
  auto estimate = check_scan_budget(*backend.value(), options_.tenant, queries,
                                    range.value().range, options_.max_scan_bytes);
  if (!estimate) return estimate.error();
  QueryResult merged;
  std::set<std::tuple<std::string, std::int64_t, std::string>> seen;
  bool truncated = false;
  for (const auto& logql : queries) {
    LogQuery query;
    query.tenant = options_.tenant;
    query.logql = logql;
    query.range = range.value().range;
    query.direction = Direction::backward;
    query.limit = static_cast<std::size_t>(options_.pattern_scan_lines);
    auto result = backend.value()->query(query);
    if (!result) return result.error();
    truncated = truncated || count_entries(result.value()) >=
                                 static_cast<std::uint64_t>(options_.pattern_scan_lines);
    merged.stats.lines_scanned += result.value().stats.lines_scanned;
    for (auto& stream : result.value().streams) {
      const std::string key = labels_to_string(stream.labels);
      LogStream kept{stream.labels, {}};
      for (auto& entry : stream.entries) {
        if (seen.emplace(key, entry.timestamp_ns, entry.line).second) {
          kept.entries.push_back(std::move(entry));
        }
      }
      merged.streams.push_back(std::move(kept));
    }
  }

  struct Cluster {
    std::uint64_t count = 0;
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    std::string example;
    std::set<std::string> services;
  };
  std::map<std::string, Cluster> clusters;
  std::uint64_t clustered = 0;
  for (const auto& stream : merged.streams) {
    for (const auto& entry : stream.entries) {
      if (clustered >= static_cast<std::uint64_t>(options_.pattern_scan_lines)) break;
      if (!is_error_or_warning(stream, entry)) continue;
      auto& cluster = clusters[line_pattern(entry.line)];
      if (cluster.count == 0 || entry.timestamp_ns < cluster.first_ns) {
        cluster.first_ns = entry.timestamp_ns;
      }
      if (cluster.count == 0 || entry.timestamp_ns >= cluster.last_ns) {
        cluster.last_ns = entry.timestamp_ns;
        cluster.example = entry.line.substr(0, options_.max_line_length);
      }
      if (const auto* service = find_label(stream.labels, "service_name")) {
        cluster.services.insert(*service);
      }
      ++cluster.count;
      ++clustered;
    }
  }
  std::vector<std::pair<std::string, Cluster>> ranked(clusters.begin(), clusters.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second.count > b.second.count; });
  json data = json::array();
  for (std::size_t i = 0; i < ranked.size() && i < static_cast<std::size_t>(limit.value()); ++i) {
    const auto& [pattern, cluster] = ranked[i];
    data.push_back({{"pattern", pattern},
                    {"count", cluster.count},
                    {"first_seen", format_time(cluster.first_ns)},
                    {"last_seen", format_time(cluster.last_ns)},
                    {"example", cluster.example},
                    {"services", std::vector<std::string>(cluster.services.begin(),
                                                          cluster.services.end())}});
  }
  json metadata = {{"query", queries[0] + " ; " + queries[1]},
                   {"lines_scanned", merged.stats.lines_scanned},
                   {"lines_clustered", clustered},
                   {"patterns", clusters.size()},
                   {"truncated", truncated || ranked.size() > data.size()},
                   {"time_range", range_to_json(range.value())},
                   {"scan_estimate", estimate.value().to_json()}};
  if (truncated) {
    metadata["hints"] = {"at least " + std::to_string(options_.pattern_scan_lines) +
                         " matching lines: only the newest were clustered; narrow the range or "
                         "the selector"};
  } else if (clustered == 0) {
    metadata["hints"] = {"no error or warning line in the range for " + selector.value() +
                         "; widen it with " + widen_suggestion(range.value().range)};
  }
  return json{{"status", "success"}, {"data", std::move(data)}, {"metadata", std::move(metadata)}};
}

}  // namespace lognurse::nurse
