#include "agent_answers.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/printer.hpp"

namespace lognurse::nurse {

using nlohmann::json;

json range_to_json(const ResolvedRange& range) {
  return {{"start", format_time(range.range.start_ns)},
          {"end", format_time(range.range.end_ns - 1)},
          {"source", range.source}};
}

std::uint64_t count_entries(const QueryResult& result) {
  std::uint64_t n = 0;
  for (const auto& stream : result.streams) n += stream.entries.size();
  return n;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<std::string> closest_values(const std::string& wanted,
                                        const std::vector<std::string>& known, std::size_t count) {
  std::vector<std::pair<std::size_t, std::size_t>> ranked;  // distance, index
  for (std::size_t i = 0; i < known.size(); ++i) {
    ranked.emplace_back(edit_distance(wanted, known[i]), i);
  }
  std::stable_sort(ranked.begin(), ranked.end());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ranked.size() && i < count; ++i) {
    out.push_back(known[ranked[i].second]);
  }
  return out;
}

namespace {

std::string quoted_list(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& value : values) out += (out.empty() ? "\"" : ", \"") + value + "\"";
  return out;
}

const logql::LogExpr* log_expression(const logql::Query& query) {
  return std::get_if<logql::LogExpr>(&query);
}

}  // namespace

std::vector<std::string> empty_result_hints(LogAggregationProtocol& backend,
                                            const std::string& tenant, const std::string& logql,
                                            const TimeRange& range) {
  const std::string span = format_time(range.start_ns) + " .. " + format_time(range.end_ns - 1);
  auto parsed = logql::parse(logql);
  const logql::LogExpr* expression = parsed ? log_expression(parsed.value()) : nullptr;
  if (expression == nullptr) {
    return {"nothing matched in " + span + "; widen the range (since, start)"};
  }

  std::vector<std::string> hints;
  auto names = backend.labels(tenant, range);
  for (const auto& matcher : expression->selector) {
    if (matcher.type != logql::MatchType::equal || !names) continue;
    const auto& known_names = names.value();
    if (std::find(known_names.begin(), known_names.end(), matcher.name) == known_names.end()) {
      const auto close = closest_values(matcher.name, known_names, 3);
      hints.push_back("no stream has the label \"" + matcher.name + "\" in " + span +
                      (close.empty() ? std::string("; the range holds no streams at all")
                                     : "; closest label names: " + quoted_list(close)));
      continue;
    }
    auto values = backend.label_values(tenant, matcher.name, range);
    if (!values) continue;
    const auto& known = values.value();
    if (std::find(known.begin(), known.end(), matcher.value) == known.end()) {
      hints.push_back("label " + matcher.name + " has no value \"" + matcher.value + "\" in " +
                      span + "; closest known values: " +
                      quoted_list(closest_values(matcher.value, known, 3)));
    }
  }
  if (!hints.empty()) return hints;

  const std::string selector = logql::print_selector(expression->selector);
  if (expression->pipeline.empty()) {
    hints.push_back("the selector " + selector + " matches no lines in " + span +
                    "; widen the range (since, start) or check nurse_label_values");
  } else {
    hints.push_back("streams of " + selector + " may hold lines in " + span +
                    ", but the pipeline filtered every one out; run the selector alone to see "
                    "what the lines look like");
    // The level filter of a search reads detected_level, which not every push carries.
    const bool level_filter = logql.find("| detected_level=") != std::string::npos;
    if (level_filter && names &&
        std::find(names.value().begin(), names.value().end(), "detected_level") ==
            names.value().end()) {
      hints.push_back(
          "no line in " + span +
          " carries detected_level, which the level filter reads: the backend adds it at "
          "ingest unless its discover_log_levels limit is off; filter the text instead "
          "(contains \"error\"), or parse it in LogQL: " + selector +
          " | json | level=\"error\"");
    }
  }
  return hints;
}

Status check_query_cost(const TimeRange& range, std::int64_t max_range_ns) {
  // One nanosecond of slack: an inclusive end given by the user adds it.
  if (range.end_ns - range.start_ns > max_range_ns + 1) {
    return limit_exceeded("nurse.range_too_long",
                          "the time range " + format_duration(range.end_ns - range.start_ns) +
                              " is longer than the maximum " + format_duration(max_range_ns) +
                              "; narrow it with since (e.g. \"1h\") or start and end, or raise "
                              "plugins.nurse_logs.max_range_hours");
  }
  return success();
}

json compact_result(const QueryResult& result) {
  json streams = json::array();
  for (const auto& stream : result.streams) {
    json labels = json::object();
    for (const auto& [name, value] : stream.labels) labels[name] = value;
    json lines = json::array();
    for (const auto& entry : stream.entries) {
      lines.push_back(format_time(entry.timestamp_ns) + " " + entry.line);
    }
    streams.push_back({{"labels", std::move(labels)}, {"lines", std::move(lines)}});
  }
  return {{"resultType", "compact"}, {"streams", std::move(streams)}};
}

namespace {

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

/// Whether the token (a run of non-separator characters) is variable: it holds
/// a digit, or is a long hex string.
bool variable_token(const std::string& token) {
  if (token.empty()) return false;
  const bool has_digit =
      std::any_of(token.begin(), token.end(), [](char c) { return std::isdigit(c) != 0; });
  return has_digit || (token.size() >= 16 && std::all_of(token.begin(), token.end(), is_hex));
}

}  // namespace

std::string line_pattern(const std::string& line) {
  std::string out;
  std::string token;
  auto flush = [&] {
    out += variable_token(token) ? "<_>" : token;
    token.clear();
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      // A quoted string is one variable part, whatever it holds.
      flush();
      const auto close = line.find('"', i + 1);
      if (close == std::string::npos) {
        out += line.substr(i);
        return out;
      }
      out += "<_>";
      i = close;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c)) || c == '=' || c == ',' || c == ':' ||
        c == '[' || c == ']' || c == '(' || c == ')') {
      flush();
      out += c;
      continue;
    }
    token += c;
  }
  flush();
  return out;
}

}  // namespace lognurse::nurse
