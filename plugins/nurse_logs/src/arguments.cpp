#include "arguments.hpp"

#include <algorithm>

#include "lognurse/host_api/time.hpp"

namespace lognurse::nurse {

using nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

Status check_object(const json& arguments, const std::vector<std::string>& allowed,
                    const std::string& where) {
  if (!arguments.is_object()) {
    return invalid_argument("tool.invalid_arguments", where + " must be a JSON object, got " +
                                                          std::string(arguments.type_name()));
  }
  for (const auto& [key, value] : arguments.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return invalid_argument("tool.invalid_arguments",
                              where + " has unknown key \"" + key + "\"; allowed keys: " +
                                  (allowed.empty() ? std::string("none") : join(allowed)));
    }
  }
  return success();
}

Result<std::optional<std::string>> optional_string(const json& arguments, const std::string& key,
                                                   const std::string& where) {
  const auto it = arguments.find(key);
  if (it == arguments.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) {
    return invalid_argument("tool.invalid_arguments", where + "." + key + " must be a string, got " +
                                                          std::string(it->type_name()));
  }
  return std::optional<std::string>{it->get<std::string>()};
}

Result<std::int64_t> integer_in_range(const json& arguments, const std::string& key,
                                      std::int64_t fallback, std::int64_t min, std::int64_t max,
                                      const std::string& where) {
  const auto it = arguments.find(key);
  if (it == arguments.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    return invalid_argument("tool.invalid_arguments", where + "." + key +
                                                          " must be an integer, got " +
                                                          it->dump());
  }
  const auto value = it->get<std::int64_t>();
  if (value < min || value > max) {
    return invalid_argument("tool.invalid_arguments",
                            where + "." + key + " must be between " + std::to_string(min) +
                                " and " + std::to_string(max) + ", got " + std::to_string(value));
  }
  return value;
}

Result<std::optional<std::int64_t>> optional_time(const json& arguments, const std::string& key,
                                                  const std::string& where) {
  const auto it = arguments.find(key);
  if (it == arguments.end() || it->is_null()) return std::optional<std::int64_t>{};
  Result<std::int64_t> parsed = std::int64_t{0};
  if (it->is_string()) {
    parsed = parse_time(it->get<std::string>());
  } else if (it->is_number_integer() && it->get<std::int64_t>() > 9'999'999'999LL) {
    // More than 10 digits cannot be seconds before the year 2286: read Unix
    // nanoseconds, as Loki reads such a number.
    parsed = it->get<std::int64_t>();
  } else if (it->is_number()) {
    const double seconds = it->get<double>();
    if (seconds < 0 || seconds > 9.2e9) {
      return invalid_argument("tool.invalid_arguments",
                              where + "." + key +
                                  " is out of range: give Unix seconds (at most 10 digits), "
                                  "Unix nanoseconds (19 digits) or an RFC 3339 string");
    }
    parsed = static_cast<std::int64_t>(seconds * 1e9);
  } else {
    return invalid_argument("tool.invalid_arguments",
                            where + "." + key + " must be an RFC 3339 string or Unix seconds");
  }
  if (!parsed) {
    return invalid_argument("tool.invalid_arguments", where + "." + key + ": " + parsed.error().message);
  }
  return std::optional<std::int64_t>{parsed.value()};
}

std::string widen_suggestion(const TimeRange& range) {
  const std::int64_t span = range.end_ns - range.start_ns;
  constexpr std::int64_t kDay = 86400LL * 1'000'000'000;
  if (span < kDay) return "since (e.g. \"24h\")";
  if (span < 7 * kDay) return "since (e.g. \"7d\")";
  return "an earlier start";
}

Result<ResolvedRange> resolve_range(const json& object, std::int64_t default_since_ns,
                                    const std::string& where) {
  auto start = optional_time(object, "start", where);
  if (!start) return start.error();
  auto end = optional_time(object, "end", where);
  if (!end) return end.error();
  auto since_text = optional_string(object, "since", where);
  if (!since_text) return since_text.error();

  std::int64_t since = default_since_ns;
  if (since_text.value()) {
    auto parsed = parse_duration(*since_text.value());
    if (!parsed) {
      return invalid_argument("tool.invalid_arguments", where + ".since: " + parsed.error().message);
    }
    if (parsed.value() <= 0) {
      return invalid_argument("tool.invalid_arguments", where + ".since must be positive");
    }
    since = parsed.value();
  }

  ResolvedRange resolved;
  // End is inclusive for users; the store's range is half-open, so add 1 ns.
  resolved.range.end_ns = end.value() ? *end.value() + 1 : now_ns() + 1;
  resolved.range.start_ns = start.value() ? *start.value() : resolved.range.end_ns - since;
  resolved.source = start.value() || since_text.value()
                        ? "arguments"
                        : "default: the " + format_duration(since) + " before end";
  if (resolved.range.start_ns >= resolved.range.end_ns) {
    return invalid_argument("tool.invalid_arguments",
                            where + ": start (" + format_time(resolved.range.start_ns) +
                                ") must be before end (" + format_time(resolved.range.end_ns - 1) +
                                ")");
  }
  return resolved;
}

}  // namespace lognurse::nurse
