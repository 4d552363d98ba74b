#include "loki_query_api.hpp"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <unordered_map>

#include "http_connection.hpp"
#include "lognurse/host_api/json.hpp"
#include "loki_tail.hpp"
#include "rest_tools.hpp"
#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/ast.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/printer.hpp"

namespace lognurse::host {

using nlohmann::json;

namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kCategorizeLabels = "categorize-labels";
constexpr std::int64_t kDefaultSinceNs = 3600 * kNanosPerSecond;
constexpr std::int64_t kMaxPointsPerSeries = 11000;

using Params = std::multimap<std::string, std::string>;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Loki answers errors as plain text with the status code.
void send_error(httplib::Response& res, const Error& error) {
  res.status = error.http_status();
  res.set_content(error.message + "\n", "text/plain; charset=utf-8");
}

Error bad_request(const std::string& message) {
  return invalid_argument("loki.bad_param", message);
}

std::string tenant_of(const httplib::Request& req) {
  const auto tenant = req.get_header_value("X-Scope-OrgID");
  return tenant.empty() ? std::string(kDefaultTenant) : tenant;
}

bool wants_categorized_labels(const httplib::Request& req) {
  const std::string flags = req.get_header_value("X-Loki-Response-Encoding-Flags");
  std::size_t pos = 0;
  while (pos <= flags.size()) {
    const auto comma = flags.find(',', pos);
    std::string flag =
        flags.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    flag.erase(0, flag.find_first_not_of(' '));
    flag.erase(flag.find_last_not_of(' ') + 1);
    if (flag == kCategorizeLabels) return true;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

/// URL parameters, plus the fields of a urlencoded POST body (Loki accepts both). A field
/// given in both places is kept once.
Params request_params(const httplib::Request& req) {
  Params params(req.params.begin(), req.params.end());
  if (req.method != "POST" || !HostHttpListener::has_form_body(req)) return params;
  std::set<std::pair<std::string, std::string>> known(params.begin(), params.end());
  std::string_view body = req.body;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const auto amp = body.find('&', pos);
    const auto pair =
        body.substr(pos, amp == std::string_view::npos ? body.size() - pos : amp - pos);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      std::pair<std::string, std::string> field{
          url_decode(pair.substr(0, eq)),
          eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1))};
      if (known.insert(field).second) params.emplace(std::move(field));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return params;
}

/// The value of `key`, or "" when absent (Go's Form.Get, which Loki uses).
std::string param(const Params& params, const std::string& key) {
  const auto it = params.find(key);
  return it == params.end() ? std::string() : it->second;
}

std::vector<std::string> param_all(const Params& params, const std::string& key) {
  std::vector<std::string> values;
  for (auto [it, end] = params.equal_range(key); it != end; ++it) values.push_back(it->second);
  return values;
}

bool parse_int(const std::string& text, std::int64_t& out) {
  if (text.empty()) return false;
  const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

/// An integer parameter with a default, refused unless positive (Loki's limit rules).
Result<std::int64_t> positive_int(const Params& params, const std::string& key,
                                  std::int64_t fallback) {
  const std::string text = param(params, key);
  if (text.empty()) return fallback;
  std::int64_t value = 0;
  if (!parse_int(text, value)) {
    return bad_request("invalid " + key + " \"" + text + "\": must be a positive integer");
  }
  if (value <= 0) return bad_request(key + " must be a positive value");
  if (value > 4294967295LL) {
    return bad_request(key + " value " + text + " is out of range [0, 4294967295]");
  }
  return value;
}

Result<Direction> parse_direction(const Params& params) {
  std::string text = param(params, "direction");
  if (text.empty()) return Direction::backward;
  std::string upper = text;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper == "FORWARD") return Direction::forward;
  if (upper == "BACKWARD") return Direction::backward;
  return bad_request("invalid direction '" + text + "'");
}

/// A step as Loki derives it: the parameter, or the range / 250 in whole seconds (at least 1s);
/// refused when not positive or when it gives more than 11,000 points.
Result<std::int64_t> parse_step(const Params& params, const TimeRange& range) {
  std::int64_t step = 0;
  const std::string text = param(params, "step");
  if (text.empty()) {
    step = std::max<std::int64_t>((range.end_ns - range.start_ns) / kNanosPerSecond / 250, 1) *
           kNanosPerSecond;
  } else {
    auto parsed = parse_loki_duration(text, "step");
    if (!parsed) return parsed.error();
    step = parsed.value();
  }
  if (step <= 0) {
    return bad_request(
        "zero or negative query resolution step widths are not accepted. Try a positive integer");
  }
  if ((range.end_ns - range.start_ns) / step > kMaxPointsPerSeries) {
    return bad_request(
        "exceeded maximum resolution of 11,000 points per time series. Try increasing the value "
        "of the step parameter");
  }
  return step;
}

Result<TimeRange> ordered_bounds(const Params& params) {
  auto range = parse_loki_bounds(params, now_ns());
  if (!range) return range.error();
  if (range.value().end_ns < range.value().start_ns) {
    return bad_request("end timestamp must not be before or equal to start time");
  }
  return range;
}

Result<std::string> required_query(const Params& params) {
  const std::string query = param(params, "query");
  if (query.empty()) {
    return bad_request(
        "query parameter \"query\" is required: send a LogQL query such as "
        "{service_name=\"api\"}");
  }
  return query;
}

std::shared_ptr<LogAggregationProtocol> backend_or_error(registry::Registry& registry,
                                                         httplib::Response& res) {
  auto backend = registry.log_aggregation();
  if (!backend) {
    send_error(res, unavailable("query.no_backend", "no log_aggregation backend is loaded"));
  }
  return backend;
}

void send_json(httplib::Response& res, const json& body) {
  res.set_content(dump(body), kJson);
}

// ---------------------------------------------------------------------------
// Query results

bool is_scalar(const logql::MetricNode& node) {
  if (std::holds_alternative<logql::NumberLiteral>(node.node)) return true;
  if (const auto* binary = std::get_if<logql::BinaryExpr>(&node.node)) {
    return is_scalar(*binary->lhs) && is_scalar(*binary->rhs);
  }
  return false;
}

/// Keeps, per stream, the first entry of every `interval` counted from the range start in the
/// order of the answer, as Loki's interval parameter does for log queries.
void apply_interval(QueryResult& result, const TimeRange& range, std::int64_t interval) {
  if (interval <= 0) return;
  for (auto& stream : result.streams) {
    std::set<std::int64_t> buckets;
    std::vector<LogEntry> kept;
    for (auto& entry : stream.entries) {
      if (buckets.insert((entry.timestamp_ns - range.start_ns) / interval).second) {
        kept.push_back(std::move(entry));
      }
    }
    stream.entries = std::move(kept);
  }
}

json values_json(const LogStream& stream) {
  json values = json::array();
  for (const auto& entry : stream.entries) {
    values.push_back(json::array({std::to_string(entry.timestamp_ns), entry.line}));
  }
  return values;
}

/// One entry's labels split as Loki's categorize-labels form splits them.
struct CategorizedEntry {
  LogEntry entry;
  Labels parsed;
};

/// The stream labels of a result stream: the pairs it shares with the best-matching series of
/// the selector. A parser's label never shadows a stream label (Loki renames it with the
/// suffix _extracted), so the series whose pairs all appear is the stream itself.
Labels stream_part(const Labels& labels, const std::vector<Labels>& series) {
  Labels best;
  for (const auto& candidate : series) {
    Labels shared;
    for (const auto& label : candidate) {
      const std::string* value = find_label(labels, label.first);
      if (value != nullptr && *value == label.second) shared.push_back(label);
    }
    if (shared.size() > best.size()) best = std::move(shared);
  }
  return best;
}

/// Streams in the categorize-labels form: grouped by stream labels only, each entry with its
/// structured metadata and parsed labels apart.
json categorized_streams(const QueryResult& result, const std::vector<Labels>& series,
                         Direction direction) {
  std::map<Labels, std::vector<CategorizedEntry>> groups;
  for (const auto& stream : result.streams) {
    for (const auto& entry : stream.entries) {
      Labels rest;
      for (const auto& label : stream.labels) {
        const std::string* meta = find_label(entry.metadata, label.first);
        if (meta == nullptr || *meta != label.second) rest.push_back(label);
      }
      Labels own = series.empty() ? rest : stream_part(rest, series);
      Labels parsed;
      for (const auto& label : rest) {
        if (find_label(own, label.first) == nullptr) parsed.push_back(label);
      }
      groups[own].push_back(CategorizedEntry{entry, std::move(parsed)});
    }
  }
  json items = json::array();
  for (auto& [labels, entries] : groups) {
    std::stable_sort(entries.begin(), entries.end(),
                     [direction](const CategorizedEntry& a, const CategorizedEntry& b) {
                       return direction == Direction::forward
                                  ? a.entry.timestamp_ns < b.entry.timestamp_ns
                                  : a.entry.timestamp_ns > b.entry.timestamp_ns;
                     });
    json values = json::array();
    for (const auto& item : entries) {
      json categories = json::object();
      if (!item.entry.metadata.empty()) {
        categories["structuredMetadata"] = labels_to_json(item.entry.metadata);
      }
      if (!item.parsed.empty()) categories["parsed"] = labels_to_json(item.parsed);
      values.push_back(
          json::array({std::to_string(item.entry.timestamp_ns), item.entry.line, categories}));
    }
    items.push_back({{"stream", labels_to_json(labels)}, {"values", std::move(values)}});
  }
  return items;
}

/// The "data" of a query answer. Log results without the categorize-labels flag carry
/// [time, line] pairs, with structured metadata and parsed labels among the stream labels,
/// as Loki answers.
json query_data(const QueryResult& result, bool categorized, const std::vector<Labels>& series,
                Direction direction) {
  json data = query_result_to_json(result);
  if (result.result_type == "streams") {
    if (categorized) {
      data["result"] = categorized_streams(result, series, direction);
    } else {
      json items = json::array();
      for (const auto& stream : result.streams) {
        items.push_back(
            {{"stream", labels_to_json(stream.labels)}, {"values", values_json(stream)}});
      }
      data["result"] = std::move(items);
    }
  }
  if (categorized) data["encodingFlags"] = json::array({kCategorizeLabels});
  return data;
}

struct ParsedQuery {
  std::string text;
  logql::Query ast;
};

Result<ParsedQuery> parse_query(const Params& params) {
  auto text = required_query(params);
  if (!text) return text.error();
  auto parsed = logql::parse(text.value());
  if (!parsed) return parsed.error();
  return ParsedQuery{text.value(), std::move(parsed.value())};
}

/// A label set as a Loki JSON object; Loki answers `{}` for an empty one.
json label_object(const Labels& labels) {
  return labels_to_json(labels);
}

/// Runs a log query for the categorize-labels form: the selector's series tell stream labels
/// from parsed ones. A backend without series falls back to treating every label as a stream
/// label.
std::vector<Labels> series_for(LogAggregationProtocol& backend, const std::string& tenant,
                               const logql::LogExpr& log, const TimeRange& range) {
  auto series = backend.series(tenant, {logql::print_selector(log.selector)}, range);
  if (!series) return {};
  return std::move(series.value());
}

// ---------------------------------------------------------------------------
// Handlers

void handle_query_range(registry::Registry& registry, const httplib::Request& req,
                        httplib::Response& res) {
  const Params params = request_params(req);
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  auto limit = positive_int(params, "limit", 100);
  if (!limit) return send_error(res, limit.error());
  auto direction = parse_direction(params);
  if (!direction) return send_error(res, direction.error());
  auto step = parse_step(params, range.value());
  if (!step) return send_error(res, step.error());
  std::int64_t interval = 0;
  if (const std::string text = param(params, "interval"); !text.empty()) {
    auto parsed = parse_loki_duration(text, "interval");
    if (!parsed) return send_error(res, parsed.error());
    if (parsed.value() < 0) return send_error(res, bad_request("interval must be >= 0"));
    interval = parsed.value();
  }
  auto parsed = parse_query(params);
  if (!parsed) return send_error(res, parsed.error());
  auto backend = backend_or_error(registry, res);
  if (!backend) return;

  LogQuery query;
  query.tenant = tenant_of(req);
  query.logql = parsed.value().text;
  query.range = range.value();
  query.step_ns = step.value();
  query.limit = static_cast<std::size_t>(limit.value());
  query.direction = direction.value();
  auto result = backend->query(query);
  if (!result) return send_error(res, result.error());
  apply_interval(result.value(), query.range, interval);

  const auto* log = std::get_if<logql::LogExpr>(&parsed.value().ast);
  const bool categorized = wants_categorized_labels(req);
  std::vector<Labels> series;
  if (categorized && log != nullptr) series = series_for(*backend, query.tenant, *log, query.range);
  send_json(res, {{"status", "success"},
                  {"data", query_data(result.value(), categorized, series, query.direction)}});
}

void handle_instant_query(registry::Registry& registry, const httplib::Request& req,
                          httplib::Response& res) {
  const Params params = request_params(req);
  auto limit = positive_int(params, "limit", 100);
  if (!limit) return send_error(res, limit.error());
  std::int64_t time = now_ns();
  if (const std::string text = param(params, "time"); !text.empty()) {
    auto parsed = parse_loki_time(text, "time");
    if (!parsed) return send_error(res, parsed.error());
    time = parsed.value();
  }
  auto direction = parse_direction(params);
  if (!direction) return send_error(res, direction.error());
  auto parsed = parse_query(params);
  if (!parsed) return send_error(res, parsed.error());
  const auto* metric = std::get_if<logql::MetricNode>(&parsed.value().ast);
  if (metric == nullptr) {
    return send_error(res, bad_request("log queries are not supported as an instant query type, "
                                       "please change your query to a range query type"));
  }
  auto backend = backend_or_error(registry, res);
  if (!backend) return;

  // An instant query is a range query whose only step is `time`; the range is one nanosecond
  // long because backends refuse an empty one.
  LogQuery query;
  query.tenant = tenant_of(req);
  query.logql = parsed.value().text;
  query.range = {time, time + 1};
  query.step_ns = kNanosPerSecond;
  query.limit = static_cast<std::size_t>(limit.value());
  query.direction = direction.value();
  auto result = backend->query(query);
  if (!result) return send_error(res, result.error());

  QueryResult& answer = result.value();
  answer.result_type = is_scalar(*metric) ? "scalar" : "vector";
  if (const auto* top = std::get_if<logql::VectorAggregation>(&metric->node);
      top != nullptr &&
      (top->op == logql::VectorOp::sort || top->op == logql::VectorOp::sort_desc)) {
    const bool descending = top->op == logql::VectorOp::sort_desc;
    std::stable_sort(answer.series.begin(), answer.series.end(),
                     [descending](const Series& a, const Series& b) {
                       const double x = a.samples.empty() ? 0 : a.samples.front().value;
                       const double y = b.samples.empty() ? 0 : b.samples.front().value;
                       return descending ? x > y : x < y;
                     });
  }
  json data = query_result_to_json(answer);
  if (wants_categorized_labels(req)) data["encodingFlags"] = json::array({kCategorizeLabels});
  send_json(res, {{"status", "success"}, {"data", std::move(data)}});
}

/// Label names, or the values of one label: from the backend's label index, or from the
/// series of `query` when one restricts the streams.
void handle_labels(registry::Registry& registry, const httplib::Request& req,
                   httplib::Response& res, const std::string* name) {
  const Params params = request_params(req);
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  auto backend = backend_or_error(registry, res);
  if (!backend) return;
  const std::string tenant = tenant_of(req);
  const std::string selector = param(params, "query");

  std::vector<std::string> values;
  if (!selector.empty()) {
    auto series = backend->series(tenant, {selector}, range.value());
    if (!series) return send_error(res, series.error());
    std::set<std::string> unique;
    for (const auto& labels : series.value()) {
      for (const auto& [label, value] : labels) {
        if (name == nullptr) {
          unique.insert(label);
        } else if (label == *name) {
          unique.insert(value);
        }
      }
    }
    values.assign(unique.begin(), unique.end());
  } else {
    auto listed = name == nullptr ? backend->labels(tenant, range.value())
                                  : backend->label_values(tenant, *name, range.value());
    if (!listed) return send_error(res, listed.error());
    values = std::move(listed.value());
  }
  // Loki leaves "data" out of an empty answer.
  json body = {{"status", "success"}};
  if (!values.empty()) body["data"] = values;
  send_json(res, body);
}

void handle_series(registry::Registry& registry, const httplib::Request& req,
                   httplib::Response& res) {
  const Params params = request_params(req);
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  std::vector<std::string> selectors = param_all(params, "match[]");
  for (auto& selector : param_all(params, "match")) selectors.push_back(std::move(selector));
  std::sort(selectors.begin(), selectors.end());
  selectors.erase(std::unique(selectors.begin(), selectors.end()), selectors.end());
  if (selectors.empty()) {
    return send_error(res, bad_request("at least one match[] parameter is required, e.g. "
                                       "match[]={service_name=\"api\"}"));
  }
  auto backend = backend_or_error(registry, res);
  if (!backend) return;
  auto series = backend->series(tenant_of(req), selectors, range.value());
  if (!series) return send_error(res, series.error());
  json data = json::array();
  for (const auto& labels : series.value()) data.push_back(label_object(labels));
  send_json(res, {{"status", "success"}, {"data", std::move(data)}});
}

void handle_index_stats(registry::Registry& registry, const httplib::Request& req,
                        httplib::Response& res) {
  const Params params = request_params(req);
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  auto query = required_query(params);
  if (!query) return send_error(res, query.error());
  auto backend = backend_or_error(registry, res);
  if (!backend) return;
  auto stats = backend->stats(tenant_of(req), query.value(), range.value());
  if (!stats) return send_error(res, stats.error());
  send_json(res, {{"streams", stats.value().streams},
                  {"chunks", stats.value().chunks},
                  {"entries", stats.value().entries},
                  {"bytes", stats.value().bytes}});
}

/// Volume per label name (Loki's aggregateBy=labels): every stream's bytes count for each of
/// its label names, or for each target label when target labels are given, in series named
/// {name=""}. Built from the backend's volume by series, one call per label name.
Result<QueryResult> volume_by_label_name(LogAggregationProtocol& backend,
                                         const VolumeRequest& request) {
  std::map<std::string, std::map<std::int64_t, double>> by_name;
  auto add = [&](const QueryResult& result, const std::string* only) {
    for (const auto& series : result.series) {
      for (const auto& [name, value] : series.metric) {
        if (only != nullptr && name != *only) continue;
        for (const auto& sample : series.samples)
          by_name[name][sample.timestamp_ns] += sample.value;
      }
    }
  };
  VolumeRequest every = request;
  every.limit = std::numeric_limits<std::size_t>::max();
  if (!request.target_labels.empty()) {
    auto result = backend.volume(every);
    if (!result) return result.error();
    add(result.value(), nullptr);
  } else {
    auto series = backend.series(request.tenant, {request.selector}, request.range);
    if (!series) return series.error();
    std::set<std::string> names;
    for (const auto& labels : series.value()) {
      for (const auto& label : labels) names.insert(label.first);
    }
    for (const auto& name : names) {
      every.target_labels = {name};
      auto result = backend.volume(every);
      if (!result) return result.error();
      add(result.value(), &name);
    }
  }

  QueryResult out;
  out.result_type = request.step_ns > 0 ? "matrix" : "vector";
  for (const auto& [name, samples] : by_name) {
    Series series;
    series.metric = {{name, ""}};
    for (const auto& [time, value] : samples) series.samples.push_back({time, value});
    out.series.push_back(std::move(series));
  }
  // Largest first by the first sample, ties by name, as Loki orders volumes.
  std::stable_sort(out.series.begin(), out.series.end(), [](const Series& a, const Series& b) {
    return a.samples.front().value > b.samples.front().value;
  });
  if (out.series.size() > request.limit) out.series.resize(request.limit);
  return out;
}

void handle_volume(registry::Registry& registry, const httplib::Request& req,
                   httplib::Response& res, bool ranged) {
  const Params params = request_params(req);
  VolumeRequest request;
  request.tenant = tenant_of(req);
  if (const std::string text = param(params, "limit"); text != "0") {
    auto limit = positive_int(params, "limit", 100);
    if (!limit) return send_error(res, limit.error());
    request.limit = static_cast<std::size_t>(limit.value());
  }
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  request.range = range.value();
  if (ranged) {
    auto step = parse_step(params, request.range);
    if (!step) return send_error(res, step.error());
    request.step_ns = step.value();
  }
  const std::string aggregate_by = param(params, "aggregateBy");
  if (!aggregate_by.empty() && aggregate_by != "series" && aggregate_by != "labels") {
    return send_error(res, bad_request("invalid aggregation option"));
  }
  auto query = required_query(params);
  if (!query) return send_error(res, query.error());
  request.selector = query.value();
  const std::string targets = param(params, "targetLabels");
  for (std::size_t pos = 0; !targets.empty() && pos <= targets.size();) {
    const auto comma = targets.find(',', pos);
    std::string target =
        targets.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!target.empty()) request.target_labels.push_back(std::move(target));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  auto backend = backend_or_error(registry, res);
  if (!backend) return;
  auto result =
      aggregate_by == "labels" ? volume_by_label_name(*backend, request) : backend->volume(request);
  if (!result) return send_error(res, result.error());
  json data = query_result_to_json(result.value());
  send_json(res, {{"status", "success"}, {"data", std::move(data)}});
}

/// Whether every value looks like an identifier (a number or a UUID), which makes a label
/// useless for Loki's detected_labels; "0" and "1" alone read as a boolean and are kept.
bool all_identifiers(const std::set<std::string>& values) {
  auto is_number = [](const std::string& v) {
    if (v.empty()) return false;
    char* end = nullptr;
    std::strtod(v.c_str(), &end);
    return end == v.c_str() + v.size();
  };
  auto is_uuid = [](const std::string& v) {
    std::string hex;
    for (char c : v) {
      if (c != '-') hex += c;
    }
    if (v.size() != 36 || hex.size() != 32) return false;
    return hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  };
  for (const auto& v : values) {
    if (!is_number(v) && !is_uuid(v)) return false;
  }
  return true;
}

void handle_detected_labels(registry::Registry& registry, const httplib::Request& req,
                            httplib::Response& res) {
  const Params params = request_params(req);
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  auto backend = backend_or_error(registry, res);
  if (!backend) return;
  const std::string selector = param(params, "query");
  auto series =
      backend->series(tenant_of(req), {selector.empty() ? "{}" : selector}, range.value());
  if (!series) return send_error(res, series.error());

  static const std::set<std::string> always_kept = {"cluster", "namespace", "instance", "pod"};
  std::map<std::string, std::set<std::string>> values;
  for (const auto& labels : series.value()) {
    for (const auto& [name, value] : labels) values[name].insert(value);
  }
  json detected = json::array();
  for (const auto& [name, seen] : values) {
    const bool boolean = seen.size() <= 2 && std::all_of(seen.begin(), seen.end(), [](auto& v) {
                           return v == "0" || v == "1";
                         });
    if (always_kept.count(name) == 0 && !boolean && all_identifiers(seen)) continue;
    detected.push_back({{"label", name}, {"cardinality", seen.size()}});
  }
  send_json(res, {{"detectedLabels", std::move(detected)}});
}

void handle_detected_fields(registry::Registry& registry, const httplib::Request& req,
                            httplib::Response& res) {
  const Params params = request_params(req);
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  auto line_limit = positive_int(params, "line_limit", 100);
  if (!line_limit) return send_error(res, line_limit.error());
  const std::string limit_key =
      param(params, "limit").empty() && !param(params, "field_limit").empty() ? "field_limit"
                                                                              : "limit";
  auto limit = positive_int(params, limit_key, 1000);
  if (!limit) return send_error(res, limit.error());
  auto step = parse_step(params, range.value());
  if (!step) return send_error(res, step.error());
  auto query = required_query(params);
  if (!query) return send_error(res, query.error());
  auto backend = backend_or_error(registry, res);
  if (!backend) return;
  auto fields = backend->detected_fields(tenant_of(req), query.value(), range.value(),
                                         static_cast<std::size_t>(line_limit.value()));
  if (!fields) return send_error(res, fields.error());

  json body = json::object();
  json items = json::array();
  for (const auto& field : fields.value()) {
    if (items.size() >= static_cast<std::size_t>(limit.value())) break;
    items.push_back({{"label", field.label},
                     {"type", field.type},
                     {"cardinality", field.cardinality},
                     {"parsers", field.parsers.empty() ? json(nullptr) : json(field.parsers)}});
  }
  // As in Loki, an empty answer has neither fields nor limit.
  if (!items.empty()) {
    body["fields"] = std::move(items);
    body["limit"] = limit.value();
  }
  send_json(res, body);
}

void handle_patterns(registry::Registry& registry, const httplib::Request& req,
                     httplib::Response& res) {
  const Params params = request_params(req);
  auto range = ordered_bounds(params);
  if (!range) return send_error(res, range.error());
  auto step = parse_step(params, range.value());
  if (!step) return send_error(res, step.error());
  auto query = required_query(params);
  if (!query) return send_error(res, query.error());
  auto backend = backend_or_error(registry, res);
  if (!backend) return;
  auto patterns = backend->patterns(tenant_of(req), query.value(), range.value(), step.value());
  if (!patterns) return send_error(res, patterns.error());
  json data = json::array();
  for (const auto& pattern : patterns.value()) {
    json samples = json::array();
    for (const auto& sample : pattern.samples) {
      samples.push_back(json::array(
          {sample.timestamp_ns / kNanosPerSecond, static_cast<std::int64_t>(sample.value)}));
    }
    data.push_back({{"pattern", pattern.pattern}, {"samples", std::move(samples)}});
  }
  send_json(res, {{"status", "success"}, {"data", std::move(data)}});
}

void handle_format_query(const httplib::Request& req, httplib::Response& res) {
  const Params params = request_params(req);
  auto parsed = parse_query(params);
  if (!parsed) return send_error(res, parsed.error());
  send_json(res, {{"status", "success"}, {"data", logql::print(parsed.value().ast)}});
}

}  // namespace

Result<std::int64_t> parse_loki_time(const std::string& value, const std::string& name) {
  auto bad = [&] {
    return bad_request("could not parse '" + name + "' parameter: \"" + value.substr(0, 64) +
                       "\" is neither Unix seconds (with a fraction), Unix nanoseconds nor an "
                       "RFC 3339 time such as 2026-12-04T14:33:11Z");
  };
  if (value.find('.') != std::string::npos) {
    char* end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    if (end == value.c_str() + value.size() && std::isfinite(seconds) &&
        std::abs(seconds) < 9.2e9) {
      double whole = 0;
      const double fraction = std::modf(seconds, &whole);
      const auto millis = static_cast<std::int64_t>(std::round(fraction * 1000));
      return static_cast<std::int64_t>(whole) * kNanosPerSecond + millis * 1'000'000;
    }
  }
  std::int64_t number = 0;
  if (parse_int(value, number)) {
    if (value.size() > 10) return number;
    constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / kNanosPerSecond;
    if (number > kMaxSeconds || number < -kMaxSeconds) {
      return bad_request("could not parse '" + name + "' parameter: " + value +
                         " Unix seconds is past 2262-04-11T23:47:16Z, the last time that Unix "
                         "nanoseconds in 64 bits can hold");
    }
    return number * kNanosPerSecond;
  }
  if (value.find('-') != std::string::npos || value.find(':') != std::string::npos) {
    auto parsed = parse_time(value);
    if (parsed) return parsed.value();
    if (parsed.error().code == "time.out_of_range") {
      return bad_request("could not parse '" + name + "' parameter: " + parsed.error().message);
    }
  }
  return bad();
}

Result<std::int64_t> parse_loki_duration(const std::string& value, const std::string& name) {
  char* end = nullptr;
  const double seconds = std::strtod(value.c_str(), &end);
  if (!value.empty() && end == value.c_str() + value.size()) {
    const double ns = seconds * 1e9;
    if (!std::isfinite(ns) || std::abs(ns) > 9.2e18) {
      return bad_request("invalid " + name + ": cannot parse \"" + value +
                         "\" to a valid duration. It overflows int64");
    }
    return static_cast<std::int64_t>(ns);
  }
  auto parsed = parse_duration(value);
  if (!parsed) {
    return bad_request("invalid " + name + ": cannot parse \"" + value.substr(0, 64) +
                       "\" to a valid duration; use seconds (30, 1.5) or a duration (5m, 1h30m)");
  }
  return parsed.value();
}

Result<TimeRange> parse_loki_bounds(const Params& params, std::int64_t now) {
  std::int64_t since = kDefaultSinceNs;
  if (const std::string text = param(params, "since"); !text.empty()) {
    auto parsed = parse_duration(text);
    if (!parsed) {
      return bad_request("could not parse 'since' parameter: \"" + text.substr(0, 64) +
                         "\" is not a duration such as 30m, 6h or 7d");
    }
    since = parsed.value();
  }
  TimeRange range;
  range.end_ns = now;
  if (const std::string text = param(params, "end"); !text.empty()) {
    auto parsed = parse_loki_time(text, "end");
    if (!parsed) return parsed.error();
    range.end_ns = parsed.value();
  }
  range.start_ns = std::min(range.end_ns, now) - since;
  if (const std::string text = param(params, "start"); !text.empty()) {
    auto parsed = parse_loki_time(text, "start");
    if (!parsed) return parsed.error();
    range.start_ns = parsed.value();
  }
  return range;
}

void install_loki_query_api(httplib::Server& server, registry::Registry& registry) {
  using Request = httplib::Request;
  using Response = httplib::Response;
  // Loki takes its read routes by GET or by POST with a form body.
  auto both = [&server](const std::string& path, httplib::Server::Handler handler) {
    server.Get(path, handler);
    server.Post(path, std::move(handler));
    refuse_other_methods(server, path, "GET, POST");
  };
  registry::Registry* reg = &registry;

  both("/loki/api/v1/query_range",
       [reg](const Request& req, Response& res) { handle_query_range(*reg, req, res); });
  both("/loki/api/v1/query",
       [reg](const Request& req, Response& res) { handle_instant_query(*reg, req, res); });
  both("/loki/api/v1/labels",
       [reg](const Request& req, Response& res) { handle_labels(*reg, req, res, nullptr); });
  both(R"(/loki/api/v1/label/([^/]+)/values)", [reg](const Request& req, Response& res) {
    const std::string name = url_decode(req.matches[1].str());
    handle_labels(*reg, req, res, &name);
  });
  both("/loki/api/v1/series",
       [reg](const Request& req, Response& res) { handle_series(*reg, req, res); });
  both("/loki/api/v1/index/stats",
       [reg](const Request& req, Response& res) { handle_index_stats(*reg, req, res); });
  both("/loki/api/v1/index/volume",
       [reg](const Request& req, Response& res) { handle_volume(*reg, req, res, false); });
  both("/loki/api/v1/index/volume_range",
       [reg](const Request& req, Response& res) { handle_volume(*reg, req, res, true); });
  both("/loki/api/v1/detected_labels",
       [reg](const Request& req, Response& res) { handle_detected_labels(*reg, req, res); });
  both("/loki/api/v1/detected_fields",
       [reg](const Request& req, Response& res) { handle_detected_fields(*reg, req, res); });
  both("/loki/api/v1/patterns",
       [reg](const Request& req, Response& res) { handle_patterns(*reg, req, res); });
  both("/loki/api/v1/format_query",
       [](const Request& req, Response& res) { handle_format_query(req, res); });
  install_loki_tail(server, registry);
  refuse_other_methods(server, "/loki/api/v1/tail", "GET");
  server.Get("/loki/api/v1/status/buildinfo", [](const Request&, Response& res) {
    // The fields Loki reports; the version is lognurse's own, not a Loki release.
    send_json(res, {{"version", LOGNURSE_VERSION},
                    {"revision", ""},
                    {"branch", ""},
                    {"buildUser", ""},
                    {"buildDate", ""},
                    {"goVersion", ""}});
  });
  refuse_other_methods(server, "/loki/api/v1/status/buildinfo", "GET");
}

}  // namespace lognurse::host
