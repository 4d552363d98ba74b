#include "lognurse/host_api/json.hpp"
#include "lognurse/host_api/time.hpp"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>

namespace lognurse {

using nlohmann::json;

namespace {

std::string ns_string(std::int64_t ns) { return std::to_string(ns); }

/// Prometheus/Loki sample time: seconds as a JSON number, fraction kept.
json sample_time(std::int64_t ns) {
  if (ns % kNanosPerSecond == 0) return ns / kNanosPerSecond;
  return static_cast<double>(ns) / 1e9;
}

std::string format_sample_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back as the same double, never with an exponent, as
  // Prometheus and Loki write sample values (Go's FormatFloat(v, 'f', -1, 64)): 200000,
  // 0.0001. The longest such text, of the smallest subnormal, is about 330 characters.
  char buffer[512];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  return std::string(buffer, end);
}

Result<double> parse_sample_value(const json& value, std::string_view where) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) {
    return invalid_argument("json.bad_sample", std::string(where) + ": sample value must be a string");
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text == "NaN") return std::nan("");
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  double parsed = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return invalid_argument("json.bad_sample",
                            std::string(where) + ": sample value \"" + text + "\" is not a number");
  }
  return parsed;
}

Result<std::int64_t> parse_sample_time(const json& value, std::string_view where) {
  if (value.is_number()) {
    return static_cast<std::int64_t>(value.get<double>() * 1e9 + (value.get<double>() >= 0 ? 0.5 : -0.5));
  }
  return invalid_argument("json.bad_sample", std::string(where) + ": sample time must be a number");
}

Result<std::int64_t> parse_ns_timestamp(const json& value, const std::string& where) {
  if (!value.is_string()) {
    return invalid_argument("push.bad_timestamp",
                            where + ": timestamp must be a string of Unix nanoseconds, e.g. "
                                    "\"1733322791000000000\"");
  }
  const auto& text = value.get_ref<const std::string&>();
  std::int64_t ns = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ns);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || ns < 0) {
    return invalid_argument("push.bad_timestamp",
                            where + ": timestamp \"" + text.substr(0, 40) +
                                "\" is not a non-negative integer of Unix nanoseconds");
  }
  return ns;
}

/// The deepest nesting of arrays and objects a JSON text may have. The parser itself keeps
/// its own stack, but copying, printing and walking a value recurse once per level, and
/// tens of thousands of levels exhaust a thread's stack; no body of Loki's, OTLP's or MCP's
/// nests more than a few dozen.
constexpr std::size_t kMaxJsonNesting = 256;

/// The offset (from 0) of the bracket that opens level kMaxJsonNesting + 1, if the text nests that
/// deep (brackets inside strings do not count; the parser judges everything else).
std::optional<std::size_t> too_deep_at(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonNesting) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

}  // namespace

json labels_to_json(const Labels& labels) {
  json out = json::object();
  for (const auto& [name, value] : labels) out[name] = value;
  return out;
}

Result<Labels> labels_from_json(const json& object, std::string_view where) {
  if (!object.is_object()) {
    return invalid_argument("json.bad_labels",
                            std::string(where) + ": must be an object of label names to strings");
  }
  Labels labels;
  labels.reserve(object.size());
  for (const auto& [name, value] : object.items()) {
    if (!value.is_string()) {
      return invalid_argument("json.bad_labels", std::string(where) + "." + name +
                                                     ": label value must be a string, got " +
                                                     value.type_name());
    }
    labels.emplace_back(name, value.get<std::string>());
  }
  normalize_labels(labels);
  return labels;
}

json push_request_to_json(const PushRequest& request) {
  json streams = json::array();
  for (const auto& stream : request.streams) {
    json values = json::array();
    for (const auto& entry : stream.entries) {
      json value = json::array({ns_string(entry.timestamp_ns), entry.line});
      if (!entry.metadata.empty()) value.push_back(labels_to_json(entry.metadata));
      values.push_back(std::move(value));
    }
    streams.push_back({{"stream", labels_to_json(stream.labels)}, {"values", std::move(values)}});
  }
  return {{"streams", std::move(streams)}};
}

std::string parse_json_text(std::string_view text, json& out) {
  if (const auto at = too_deep_at(text)) {
    return "JSON nested more than " + std::to_string(kMaxJsonNesting) +
           " levels deep (the bracket at byte " + std::to_string(*at + 1) +
           " opens one more); flatten the document";
  }
  try {
    out = json::parse(text);
    return "";
  } catch (const json::parse_error& e) {
    const std::string_view what = e.what();
    if (what.find("UTF-8") != std::string_view::npos ||
        what.find("surrogate") != std::string_view::npos) {
      return "not valid UTF-8 at byte " + std::to_string(e.byte) +
             ": JSON text must be UTF-8 (a lone \\ud800-\\udfff escape is not either); "
             "replace or escape the bytes, or send them in a protobuf push";
    }
    return "not valid JSON at byte " + std::to_string(e.byte);
  } catch (const json::exception& e) {
    return std::string("JSON with a number out of range (") + e.what() + ")";
  }
}

Result<PushRequest> push_request_from_json(std::string_view body, const std::string& tenant) {
  json document;
  if (const auto problem = parse_json_text(body, document); !problem.empty()) {
    return invalid_argument("push.malformed_json", "push body is " + problem);
  }
  if (!document.is_object() || !document.contains("streams") || !document["streams"].is_array()) {
    return invalid_argument("push.malformed_body",
                            "push body must be an object with a \"streams\" array: "
                            "{\"streams\":[{\"stream\":{\"app\":\"x\"},\"values\":[[\"<ns>\",\"line\"]]}]}");
  }

  PushRequest request;
  request.tenant = tenant;
  const auto& streams = document["streams"];
  request.streams.reserve(streams.size());
  for (std::size_t s = 0; s < streams.size(); ++s) {
    const std::string where = "streams[" + std::to_string(s) + "]";
    const auto& stream = streams[s];
    if (!stream.is_object()) {
      return invalid_argument("push.malformed_body", where + ": must be an object");
    }
    LogStream out;
    const auto labels_it = stream.find("stream");
    if (labels_it == stream.end()) {
      return invalid_argument("push.malformed_body",
                              where + ": missing \"stream\", the object of labels");
    }
    auto labels = labels_from_json(*labels_it, where + ".stream");
    if (!labels) return labels.error();
    out.labels = std::move(labels).value();

    const auto values_it = stream.find("values");
    if (values_it == stream.end() || !values_it->is_array()) {
      return invalid_argument("push.malformed_body",
                              where + ": missing \"values\", an array of [\"<ns>\", \"line\"]");
    }
    out.entries.reserve(values_it->size());
    for (std::size_t v = 0; v < values_it->size(); ++v) {
      const std::string value_where = where + ".values[" + std::to_string(v) + "]";
      const auto& value = (*values_it)[v];
      if (!value.is_array() || value.size() < 2 || value.size() > 3) {
        return invalid_argument("push.malformed_body",
                                value_where + ": must be [\"<ns>\", \"line\"] or "
                                              "[\"<ns>\", \"line\", {metadata}]");
      }
      LogEntry entry;
      auto ts = parse_ns_timestamp(value[0], value_where + "[0]");
      if (!ts) return ts.error();
      entry.timestamp_ns = ts.value();
      if (!value[1].is_string()) {
        return invalid_argument("push.malformed_body",
                                value_where + "[1]: log line must be a string");
      }
      entry.line = value[1].get<std::string>();
      if (value.size() == 3) {
        auto metadata = labels_from_json(value[2], value_where + "[2]");
        if (!metadata) return metadata.error();
        entry.metadata = std::move(metadata).value();
      }
      out.entries.push_back(std::move(entry));
    }
    request.streams.push_back(std::move(out));
  }
  return request;
}

json query_result_to_json(const QueryResult& result) {
  json items = json::array();
  if (result.result_type == "streams") {
    for (const auto& stream : result.streams) {
      json values = json::array();
      for (const auto& entry : stream.entries) {
        json value = json::array({ns_string(entry.timestamp_ns), entry.line});
        if (!entry.metadata.empty()) value.push_back(labels_to_json(entry.metadata));
        values.push_back(std::move(value));
      }
      items.push_back({{"stream", labels_to_json(stream.labels)}, {"values", std::move(values)}});
    }
  } else if (result.result_type == "matrix") {
    for (const auto& series : result.series) {
      json values = json::array();
      for (const auto& sample : series.samples) {
        values.push_back({sample_time(sample.timestamp_ns), format_sample_value(sample.value)});
      }
      items.push_back({{"metric", labels_to_json(series.metric)}, {"values", std::move(values)}});
    }
  } else if (result.result_type == "vector") {
    for (const auto& series : result.series) {
      const Sample sample = series.samples.empty() ? Sample{} : series.samples.front();
      items.push_back({{"metric", labels_to_json(series.metric)},
                       {"value", {sample_time(sample.timestamp_ns), format_sample_value(sample.value)}}});
    }
  } else if (result.result_type == "scalar") {
    const Sample sample = result.series.empty() || result.series.front().samples.empty()
                              ? Sample{}
                              : result.series.front().samples.front();
    items = json::array({sample_time(sample.timestamp_ns), format_sample_value(sample.value)});
  }

  const auto& stats = result.stats;
  const double exec = stats.exec_seconds;
  json summary = {
      {"totalLinesProcessed", stats.lines_scanned},
      {"totalBytesProcessed", stats.bytes_scanned},
      {"linesProcessedPerSecond",
       exec > 0 ? static_cast<std::uint64_t>(static_cast<double>(stats.lines_scanned) / exec) : 0},
      {"bytesProcessedPerSecond",
       exec > 0 ? static_cast<std::uint64_t>(static_cast<double>(stats.bytes_scanned) / exec) : 0},
      {"execTime", exec},
      {"totalEntriesReturned", [&] {
         std::uint64_t n = 0;
         for (const auto& s : result.streams) n += s.entries.size();
         return n;
       }()},
  };
  return {{"resultType", result.result_type},
          {"result", std::move(items)},
          {"stats", {{"summary", std::move(summary)}}}};
}

Result<QueryResult> query_result_from_json(const json& data) {
  if (!data.is_object() || !data.contains("resultType") || !data["resultType"].is_string() ||
      !data.contains("result")) {
    return invalid_argument("json.bad_query_result",
                            "query answer data must have \"resultType\" and \"result\"");
  }
  QueryResult out;
  out.result_type = data["resultType"].get<std::string>();
  const auto& items = data["result"];
  if (out.result_type == "scalar") {
    if (!items.is_array() || items.size() != 2) {
      return invalid_argument("json.bad_query_result", "scalar result must be [time, \"value\"]");
    }
    auto t = parse_sample_time(items[0], "result[0]");
    if (!t) return t.error();
    auto v = parse_sample_value(items[1], "result[1]");
    if (!v) return v.error();
    out.series.push_back({{}, {{t.value(), v.value()}}});
    return out;
  }
  if (!items.is_array()) {
    return invalid_argument("json.bad_query_result", "\"result\" must be an array");
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string where = "result[" + std::to_string(i) + "]";
    const auto& item = items[i];
    if (!item.is_object()) return invalid_argument("json.bad_query_result", where + ": not an object");
    if (out.result_type == "streams") {
      LogStream stream;
      auto labels = labels_from_json(item.value("stream", json::object()), where + ".stream");
      if (!labels) return labels.error();
      stream.labels = std::move(labels).value();
      const auto& values = item.value("values", json::array());
      for (std::size_t v = 0; v < values.size(); ++v) {
        const auto& value = values[v];
        const std::string value_where = where + ".values[" + std::to_string(v) + "]";
        if (!value.is_array() || value.size() < 2 || !value[1].is_string()) {
          return invalid_argument("json.bad_query_result", value_where + ": not [\"<ns>\", \"line\"]");
        }
        auto ts = parse_ns_timestamp(value[0], value_where + "[0]");
        if (!ts) return ts.error();
        LogEntry entry{ts.value(), value[1].get<std::string>(), {}};
        if (value.size() >= 3 && value[2].is_object()) {
          // Loki answers with {"structuredMetadata":{...},"parsed":{...}} when
          // categorized labels are requested; plain objects are metadata. Labels
          // a parser extracted belong to the entry too, so they join its metadata.
          const bool categorized =
              value[2].contains("structuredMetadata") || value[2].contains("parsed");
          for (const char* part : {"structuredMetadata", "parsed"}) {
            const json& meta = categorized ? value[2].value(part, json::object()) : value[2];
            auto metadata = labels_from_json(meta, value_where + "[2]");
            if (!metadata) return metadata.error();
            for (auto& pair : metadata.value()) entry.metadata.push_back(std::move(pair));
            if (!categorized) break;
          }
        }
        stream.entries.push_back(std::move(entry));
      }
      out.streams.push_back(std::move(stream));
    } else if (out.result_type == "matrix" || out.result_type == "vector") {
      Series series;
      auto labels = labels_from_json(item.value("metric", json::object()), where + ".metric");
      if (!labels) return labels.error();
      series.metric = std::move(labels).value();
      std::vector<json> samples;
      if (out.result_type == "matrix") {
        for (const auto& s : item.value("values", json::array())) samples.push_back(s);
      } else if (item.contains("value")) {
        samples.push_back(item["value"]);
      }
      for (const auto& s : samples) {
        if (!s.is_array() || s.size() != 2) {
          return invalid_argument("json.bad_query_result", where + ": sample must be [time, \"value\"]");
        }
        auto t = parse_sample_time(s[0], where);
        if (!t) return t.error();
        auto v = parse_sample_value(s[1], where);
        if (!v) return v.error();
        series.samples.push_back({t.value(), v.value()});
      }
      out.series.push_back(std::move(series));
    } else {
      return invalid_argument("json.bad_query_result",
                              "unknown resultType \"" + out.result_type + "\"");
    }
  }
  if (data.contains("stats") && data["stats"].contains("summary")) {
    const auto& summary = data["stats"]["summary"];
    out.stats.lines_scanned = summary.value("totalLinesProcessed", std::uint64_t{0});
    out.stats.bytes_scanned = summary.value("totalBytesProcessed", std::uint64_t{0});
    out.stats.exec_seconds = summary.value("execTime", 0.0);
  }
  return out;
}

json log_metrics_to_json(const LogMetrics& metrics) {
  auto counts = [](const auto& pairs) {
    json out = json::array();
    for (const auto& [name, count] : pairs) out.push_back({{"name", name}, {"lines", count}});
    return out;
  };
  return {{"lines", metrics.lines},
          {"bytes", metrics.bytes},
          {"by_level", counts(metrics.by_level)},
          {"by_service", counts(metrics.by_service)},
          {"error_lines", metrics.error_lines},
          {"error_rate", metrics.error_rate}};
}

json health_to_json(const Health& health) {
  return {{"ready", health.ready},
          {"backend", health.backend},
          {"detail", health.detail},
          {"latency_ms", health.latency_ms}};
}

}  // namespace lognurse
