#include "nurse_tools.hpp"

#include <algorithm>
#include <tuple>

#include "agent_answers.hpp"
#include "arguments.hpp"
#include "lognurse/logql/logql.hpp"
#include "scan_budget.hpp"
#include "tool_schemas.hpp"
#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"

namespace lognurse::nurse {

using nlohmann::json;

namespace {

json time_properties() {
  return {
      {"start", {{"type", {"string", "number"}},
                 {"description", "Start of the range: RFC 3339, Unix seconds or nanoseconds"}}},
      {"end", {{"type", {"string", "number"}},
               {"description", "End of the range (inclusive); default: now"}}},
      {"since", {{"type", "string"},
                 {"description", "Duration before end when start is absent, e.g. 15m, 24h; "
                                 "default 1h"}}},
  };
}

json time_range_schema() {
  return {{"type", "object"}, {"properties", time_properties()}, {"additionalProperties", false}};
}

Result<Direction> parse_direction(const json& arguments, const std::string& where) {
  auto text = optional_string(arguments, "direction", where);
  if (!text) return text.error();
  if (!text.value() || *text.value() == "backward") return Direction::backward;
  if (*text.value() == "forward") return Direction::forward;
  return invalid_argument("tool.invalid_arguments",
                          where + ".direction must be \"backward\" (newest first) or "
                                  "\"forward\" (oldest first), got \"" +
                              *text.value() + "\"");
}

}  // namespace

Result<NurseOptions> parse_nurse_options(const json& config, MonitorOptions& monitor_options) {
  NurseOptions options;
  const std::string where = "plugins.nurse_logs";
  auto status = check_object(config, {"tenant", "default_limit", "max_limit", "max_line_length",
                                      "monitor_interval_seconds", "volume_window_seconds",
                                      "degraded_latency_ms", "max_range_hours",
                                      "max_scan_bytes", "pattern_scan_lines"},
                             where);
  if (!status) return status.error();
  auto tenant = optional_string(config, "tenant", where);
  if (!tenant) return tenant.error();
  if (tenant.value()) options.tenant = *tenant.value();
  monitor_options.tenant = options.tenant;

  auto max_limit = integer_in_range(config, "max_limit", 1000, 1, 100000, where);
  if (!max_limit) return max_limit.error();
  options.max_limit = max_limit.value();
  auto default_limit = integer_in_range(config, "default_limit", 100, 1, options.max_limit, where);
  if (!default_limit) return default_limit.error();
  options.default_limit = default_limit.value();
  auto line_length = integer_in_range(config, "max_line_length", 2000, 16, 1 << 20, where);
  if (!line_length) return line_length.error();
  options.max_line_length = static_cast<std::size_t>(line_length.value());
  auto max_range = integer_in_range(config, "max_range_hours", 24, 1, 24 * 366, where);
  if (!max_range) return max_range.error();
  options.max_range_ns = max_range.value() * 3600 * kNanosPerSecond;
  auto max_scan = integer_in_range(config, "max_scan_bytes",
                                   static_cast<std::int64_t>(options.max_scan_bytes), 0,
                                   std::int64_t{1} << 62, where);
  if (!max_scan) return max_scan.error();
  options.max_scan_bytes = static_cast<std::uint64_t>(max_scan.value());
  auto scan = integer_in_range(config, "pattern_scan_lines", 2000, 100, 5000, where);
  if (!scan) return scan.error();
  options.pattern_scan_lines = scan.value();
  auto interval = integer_in_range(config, "monitor_interval_seconds", 300, 0, 86400, where);
  if (!interval) return interval.error();
  monitor_options.interval = std::chrono::seconds(interval.value());
  auto window = integer_in_range(config, "volume_window_seconds", 3600, 1, 30 * 86400, where);
  if (!window) return window.error();
  monitor_options.volume_window = std::chrono::seconds(window.value());
  auto latency = integer_in_range(config, "degraded_latency_ms", 2000, 1, 600000, where);
  if (!latency) return latency.error();
  monitor_options.degraded_latency_ms = static_cast<double>(latency.value());
  return options;
}

bool bound_result(QueryResult& result, std::size_t limit, Direction direction,
                  std::size_t max_line_length, std::size_t& lines_cut) {
  lines_cut = 0;
  bool truncated = false;
  if (result.result_type == "streams" && count_entries(result) > limit) {
    // Keep the first `limit` entries in direction order across all streams.
    std::vector<std::tuple<std::int64_t, std::size_t, std::size_t>> order;
    for (std::size_t s = 0; s < result.streams.size(); ++s) {
      for (std::size_t e = 0; e < result.streams[s].entries.size(); ++e) {
        order.emplace_back(result.streams[s].entries[e].timestamp_ns, s, e);
      }
    }
    if (direction == Direction::forward) {
      std::stable_sort(order.begin(), order.end());
    } else {
      std::stable_sort(order.begin(), order.end(),
                       [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
    }
    std::vector<std::vector<bool>> keep(result.streams.size());
    for (std::size_t s = 0; s < result.streams.size(); ++s) {
      keep[s].assign(result.streams[s].entries.size(), false);
    }
    for (std::size_t i = 0; i < limit && i < order.size(); ++i) {
      keep[std::get<1>(order[i])][std::get<2>(order[i])] = true;
    }
    for (std::size_t s = 0; s < result.streams.size(); ++s) {
      auto& entries = result.streams[s].entries;
      std::size_t out = 0;
      for (std::size_t e = 0; e < entries.size(); ++e) {
        if (!keep[s][e]) continue;
        if (out != e) entries[out] = std::move(entries[e]);
        ++out;
      }
      entries.resize(out);
    }
    result.streams.erase(std::remove_if(result.streams.begin(), result.streams.end(),
                                        [](const LogStream& s) { return s.entries.empty(); }),
                         result.streams.end());
    truncated = true;
  }
  for (auto& stream : result.streams) {
    for (auto& entry : stream.entries) {
      if (entry.line.size() > max_line_length) {
        const std::size_t cut = entry.line.size() - max_line_length;
        // Cut at a UTF-8 boundary so the answer stays valid text.
        std::size_t keep_bytes = max_line_length;
        while (keep_bytes > 0 && (static_cast<unsigned char>(entry.line[keep_bytes]) & 0xC0) == 0x80) {
          --keep_bytes;
        }
        entry.line.resize(keep_bytes);
        entry.line += "…[cut " + std::to_string(cut + (max_line_length - keep_bytes)) + " bytes]";
        ++lines_cut;
      }
    }
  }
  return truncated;
}

NurseTools::NurseTools(Lookup lookup, NurseOptions options, std::shared_ptr<Monitor> monitor)
    : lookup_(std::move(lookup)), options_(std::move(options)), monitor_(std::move(monitor)) {}

std::vector<ToolSpec> NurseTools::tools() const {
  const std::string limit_text = "Maximum lines to return (default " +
                                 std::to_string(options_.default_limit) + ", at most " +
                                 std::to_string(options_.max_limit) + ")";
  json limit_schema = {{"type", "integer"},
                       {"minimum", 1},
                       {"maximum", options_.max_limit},
                       {"description", limit_text}};
  json direction_schema = {{"type", "string"},
                           {"enum", {"backward", "forward"}},
                           {"description", "backward: newest first (default); forward: oldest first"}};

  json format_schema = {{"type", "string"},
                        {"enum", {"loki", "compact"}},
                        {"description", "loki: Loki's query_range data (default); compact: lines "
                                        "grouped by stream as \"<time> <line>\""}};

  ToolSpec monitor;
  monitor.name = "monitor_log_aggregation";
  monitor.title = "Log aggregation health";
  monitor.description =
      "Checks the log aggregation backend now: readiness, latency and the volume of the last "
      "monitor interval, with the recent history of background checks. No arguments.";
  monitor.input_schema = with_output_schema(
      {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}},
      monitor_schema());
  monitor.http_method = "GET";
  monitor.rest_path = "/api/nurse/logs/aggregation";

  ToolSpec query;
  query.name = "query_logs";
  query.title = "Query logs with LogQL";
  query.description =
      "Runs a LogQL query (e.g. {service_name=\"nginx\"} |= \"error\") over a time range and "
      "returns Loki's query_range data: streams of [timestamp, line] values, newest first by "
      "default. Lines are bounded by limit; metadata.truncated says whether more matched. " +
      scan_budget_note(options_.max_scan_bytes);
  json query_properties = time_properties();
  query_properties["query"] = {{"type", "string"}, {"description", "LogQL query"}};
  query_properties["limit"] = limit_schema;
  query_properties["direction"] = direction_schema;
  query_properties["format"] = format_schema;
  query.input_schema = with_output_schema({{"type", "object"},
                                           {"properties", query_properties},
                                           {"required", {"query"}},
                                           {"additionalProperties", false}},
                                          log_answer_schema(false));
  query.http_method = "POST";
  query.rest_path = "/api/nurse/logs/query";

  ToolSpec search;
  search.name = "search_logs";
  search.title = "Search logs by filters";
  search.description =
      "Searches logs without writing LogQL: filters by service, level, any label, text the line "
      "contains and a regular expression (RE2). Returns the LogQL it ran and Loki-shaped data. " +
      scan_budget_note(options_.max_scan_bytes);
  search.input_schema = {
      {"type", "object"},
      {"properties",
       {{"filters",
         {{"type", "object"},
          {"properties",
           {{"service", {{"type", "string"}, {"description", "service_name label value"}}},
            {"level",
             {{"type", "string"},
              {"description",
               "Matches the detected_level label or metadata, e.g. error: OTLP pushes carry "
               "it; lines pushed through the Loki API to the embedded store do not, so "
               "filter their text with contains or regex"}}},
            {"contains", {{"type", "string"}, {"description", "text the line contains"}}},
            {"regex", {{"type", "string"}, {"description", "RE2 expression the line matches"}}},
            {"labels", {{"type", "object"},
                        {"additionalProperties", {{"type", "string"}}},
                        {"description", "further exact label matches"}}}}},
          {"additionalProperties", false}}},
        {"time_range", time_range_schema()},
        {"limit", limit_schema},
        {"direction", direction_schema},
        {"format", format_schema}}},
      {"required", {"filters"}},
      {"additionalProperties", false}};
  search.input_schema = with_output_schema(std::move(search.input_schema), log_answer_schema(true));
  search.http_method = "POST";
  search.rest_path = "/api/nurse/logs/search";

  ToolSpec metrics;
  metrics.name = "get_log_metrics";
  metrics.title = "Log volume and error rate";
  metrics.description =
      "Log volume (lines, bytes), counts by level and by service, and the error rate over a "
      "time range (default: the last hour).";
  json metrics_properties = time_properties();
  metrics_properties["time_range"] = time_range_schema();
  metrics.input_schema = with_output_schema({{"type", "object"},
                                             {"properties", metrics_properties},
                                             {"additionalProperties", false}},
                                            metrics_schema());
  metrics.http_method = "GET";
  metrics.rest_path = "/api/nurse/logs/metrics";

  std::vector<ToolSpec> all = {monitor, query, search, metrics};
  for (auto& spec : discovery_tools()) all.push_back(std::move(spec));
  return all;
}

Result<nlohmann::json> NurseTools::call(const std::string& name, const json& arguments) {
  const json args = arguments.is_null() ? json::object() : arguments;
  if (name == "monitor_log_aggregation") return monitor_log_aggregation(args);
  if (name == "query_logs") return query_logs(args);
  if (name == "search_logs") return search_logs(args);
  if (name == "get_log_metrics") return get_log_metrics(args);
  if (name == "list_labels") return list_labels(args);
  if (name == "label_values") return label_values(args);
  if (name == "tail_logs") return tail_logs(args);
  if (name == "get_trace_logs") return get_trace_logs(args);
  if (name == "find_error_patterns") return find_error_patterns(args);
  return not_found("tool.unknown", "the nurse service has no tool \"" + name + "\"");
}

Result<std::shared_ptr<LogAggregationProtocol>> NurseTools::backend() const {
  auto backend = lookup_ ? lookup_() : nullptr;
  if (!backend) {
    return unavailable("nurse.no_backend",
                       "no log_aggregation backend is loaded; check `sample_host plugins` and "
                       "log_aggregation.backend in the host config");
  }
  return backend;
}

Result<nlohmann::json> NurseTools::monitor_log_aggregation(const json& arguments) {
  auto status = check_object(arguments, {}, "arguments");
  if (!status) return status.error();
  const MonitorCheck check = monitor_->check_now();
  json out = to_json(check);
  json history = json::array();
  for (const auto& past : monitor_->history()) {
    history.push_back({{"checked_at", format_time(past.checked_at_ns)},
                       {"status", to_string(past.state)},
                       {"latency_ms", past.health.latency_ms}});
  }
  out["history"] = std::move(history);
  return out;
}

Result<bool> parse_compact_format(const json& arguments, const std::string& where) {
  auto text = optional_string(arguments, "format", where);
  if (!text) return text.error();
  if (!text.value() || *text.value() == "loki") return false;
  if (*text.value() == "compact") return true;
  return invalid_argument("tool.invalid_arguments",
                          where + ".format must be \"loki\" (Loki's query_range data) or "
                                  "\"compact\" (lines grouped by stream), got \"" +
                              *text.value() + "\"");
}

Result<nlohmann::json> NurseTools::bounded_query(LogQuery query, std::int64_t limit,
                                                 const std::string& range_source, bool compact) {
  auto guard = check_query_cost(query.range, options_.max_range_ns);
  if (!guard) return guard.error();
  auto backend = this->backend();
  if (!backend) return backend.error();
  auto estimate = check_scan_budget(*backend.value(), options_.tenant, {query.logql}, query.range,
                                    options_.max_scan_bytes);
  if (!estimate) return estimate.error();

  query.tenant = options_.tenant;
  query.limit = static_cast<std::size_t>(limit) + 1;  // one more tells whether more exist
  auto result = backend.value()->query(query);
  if (!result) return result.error();

  std::size_t lines_cut = 0;
  const bool truncated = bound_result(result.value(), static_cast<std::size_t>(limit),
                                      query.direction, options_.max_line_length, lines_cut);
  const auto returned = count_entries(result.value());
  json metadata = {{"query", query.logql},
                   {"lines_returned", returned},
                   {"limit", limit},
                   {"truncated", truncated},
                   {"lines_cut", lines_cut},
                   {"lines_scanned", result.value().stats.lines_scanned},
                   {"bytes_scanned", result.value().stats.bytes_scanned},
                   {"direction", to_string(query.direction)},
                   {"time_range", range_to_json(ResolvedRange{query.range, range_source})},
                   {"scan_estimate", estimate.value().to_json()}};
  if (result.value().result_type == "streams" && returned == 0) {
    auto hints = empty_result_hints(*backend.value(), options_.tenant, query.logql, query.range);
    if (range_source != "arguments") {
      hints.push_back("the range was the default (" + range_source + "); give since or start "
                      "to look further back");
    }
    metadata["hints"] = std::move(hints);
  }
  const bool compact_form = compact && result.value().result_type == "streams";
  return json{{"status", "success"},
              {"data", compact_form ? compact_result(result.value())
                                    : query_result_to_json(result.value())},
              {"metadata", std::move(metadata)}};
}

Result<nlohmann::json> NurseTools::query_logs(const json& arguments) {
  const std::string where = "arguments";
  auto status = check_object(arguments,
                             {"query", "limit", "start", "end", "since", "direction", "format"},
                             where);
  if (!status) return status.error();
  auto query_text = optional_string(arguments, "query", where);
  if (!query_text) return query_text.error();
  if (!query_text.value() || query_text.value()->empty()) {
    return invalid_argument("tool.invalid_arguments",
                            "arguments.query is required: a LogQL query such as "
                            "{service_name=\"nginx\"} |= \"error\"");
  }
  auto limit = integer_in_range(arguments, "limit", options_.default_limit, 1, options_.max_limit,
                                where);
  if (!limit) return limit.error();
  auto range = resolve_range(arguments, options_.default_range_ns, where);
  if (!range) return range.error();
  auto direction = parse_direction(arguments, where);
  if (!direction) return direction.error();
  auto compact = parse_compact_format(arguments, where);
  if (!compact) return compact.error();

  LogQuery query;
  query.logql = *query_text.value();
  query.range = range.value().range;
  query.direction = direction.value();
  return bounded_query(std::move(query), limit.value(), range.value().source, compact.value());
}

Result<nlohmann::json> NurseTools::search_logs(const json& arguments) {
  const std::string where = "arguments";
  auto status =
      check_object(arguments, {"filters", "time_range", "limit", "direction", "format"}, where);
  if (!status) return status.error();
  const auto filters_it = arguments.find("filters");
  if (filters_it == arguments.end() || !filters_it->is_object()) {
    return invalid_argument("tool.invalid_arguments",
                            "arguments.filters is required: an object such as "
                            "{\"service\":\"nginx\",\"contains\":\"timeout\"}");
  }
  const json& filters_json = *filters_it;
  const std::string fwhere = "arguments.filters";
  status = check_object(filters_json, {"service", "level", "contains", "text", "regex", "labels"},
                        fwhere);
  if (!status) return status.error();

  SearchRequest request;
  request.tenant = options_.tenant;
  auto& filters = request.filters;
  for (const char* key : {"service", "level", "contains", "text", "regex"}) {
    auto value = optional_string(filters_json, key, fwhere);
    if (!value) return value.error();
    if (!value.value()) continue;
    const std::string k = key;
    if (k == "service") filters.service = value.value();
    if (k == "level") filters.level = value.value();
    if (k == "contains" || k == "text") filters.text = value.value();
    if (k == "regex") filters.regex = value.value();
  }
  if (filters_json.contains("labels")) {
    auto labels = labels_from_json(filters_json["labels"], fwhere + ".labels");
    if (!labels) {
      return invalid_argument("tool.invalid_arguments", labels.error().message);
    }
    filters.labels = std::move(labels).value();
  }

  json time_range = arguments.value("time_range", json::object());
  if (!time_range.is_object()) {
    return invalid_argument("tool.invalid_arguments",
                            "arguments.time_range must be an object with start, end or since");
  }
  status = check_object(time_range, {"start", "end", "since"}, "arguments.time_range");
  if (!status) return status.error();
  auto range = resolve_range(time_range, options_.default_range_ns, "arguments.time_range");
  if (!range) return range.error();
  auto limit = integer_in_range(arguments, "limit", options_.default_limit, 1, options_.max_limit,
                                where);
  if (!limit) return limit.error();
  auto direction = parse_direction(arguments, where);
  if (!direction) return direction.error();
  auto compact = parse_compact_format(arguments, where);
  if (!compact) return compact.error();
  auto guard = check_query_cost(range.value().range, options_.max_range_ns);
  if (!guard) return guard.error();
  auto backend = this->backend();
  if (!backend) return backend.error();
  // Compiled here as the backend will, so that the estimate covers its selector.
  auto compiled = logql::compile_search(request.filters);
  if (!compiled) return compiled.error();
  auto estimate = check_scan_budget(*backend.value(), options_.tenant, {compiled.value()},
                                    range.value().range, options_.max_scan_bytes);
  if (!estimate) return estimate.error();

  request.range = range.value().range;
  request.limit = static_cast<std::size_t>(limit.value()) + 1;
  request.direction = direction.value();
  auto result = backend.value()->search(request);
  if (!result) return result.error();

  std::size_t lines_cut = 0;
  auto& query_result = result.value().result;
  const bool truncated = bound_result(query_result, static_cast<std::size_t>(limit.value()),
                                      request.direction, options_.max_line_length, lines_cut);
  const auto returned = count_entries(query_result);
  json metadata = {{"query", result.value().logql},
                   {"lines_returned", returned},
                   {"limit", limit.value()},
                   {"truncated", truncated},
                   {"lines_cut", lines_cut},
                   {"lines_scanned", query_result.stats.lines_scanned},
                   {"bytes_scanned", query_result.stats.bytes_scanned},
                   {"direction", to_string(request.direction)},
                   {"time_range", range_to_json(range.value())},
                   {"scan_estimate", estimate.value().to_json()}};
  if (returned == 0) {
    auto hints = empty_result_hints(*backend.value(), options_.tenant, result.value().logql,
                                    request.range);
    hints.push_back("widen time_range with " + widen_suggestion(request.range) +
                    " or drop a filter");
    metadata["hints"] = std::move(hints);
  }
  return json{{"status", "success"},
              {"query", result.value().logql},
              {"data", compact.value() ? compact_result(query_result)
                                       : query_result_to_json(query_result)},
              {"metadata", std::move(metadata)}};
}

Result<nlohmann::json> NurseTools::get_log_metrics(const json& arguments) {
  auto status = check_object(arguments, {"time_range", "start", "end", "since"}, "arguments");
  if (!status) return status.error();
  json range_arguments = arguments;
  range_arguments.erase("time_range");
  if (arguments.contains("time_range")) {
    const auto& time_range = arguments["time_range"];
    if (!time_range.is_object()) {
      return invalid_argument("tool.invalid_arguments",
                              "arguments.time_range must be an object with start, end or since");
    }
    if (!range_arguments.empty()) {
      return invalid_argument("tool.invalid_arguments",
                              "give the range either in arguments.time_range or as top-level "
                              "start/end/since, not both");
    }
    status = check_object(time_range, {"start", "end", "since"}, "arguments.time_range");
    if (!status) return status.error();
    range_arguments = time_range;
  }
  auto range = resolve_range(range_arguments, options_.default_range_ns,
                             arguments.contains("time_range") ? "arguments.time_range" : "arguments");
  if (!range) return range.error();
  auto backend = this->backend();
  if (!backend) return backend.error();
  auto metrics = backend.value()->metrics(options_.tenant, range.value().range);
  if (!metrics) return metrics.error();
  json out = log_metrics_to_json(metrics.value());
  out["time_range"] = range_to_json(range.value());
  out["backend"] = backend.value()->backend_name();
  return json{{"status", "success"}, {"data", std::move(out)}};
}

}  // namespace lognurse::nurse
