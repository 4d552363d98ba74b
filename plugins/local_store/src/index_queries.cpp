// The index and discovery operations of the embedded store: series, index stats, volume,
// patterns and detected fields. They read the same tables as queries and see only the tenant
// they are given.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "local_store.hpp"
#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/evaluator.hpp"
#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/pipeline.hpp"

namespace lognurse::local_store {
namespace {

/// Runs `body`, turning any exception into an error so that none leaves the interface.
template <typename T, typename Body>
Result<T> guarded_call(const char* operation, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return internal_error("store.internal",
                          std::string("local_store ") + operation + " failed: " + e.what());
  }
}

/// Whether a selector text means "every stream", as Loki reads match[]={} in the series API.
bool matches_everything(std::string_view text) {
  std::string compact;
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\n') compact += c;
  }
  return compact == "{}";
}

/// The log expression of `text`; a metric query is refused because the index operations and
/// detected fields read log lines, not samples.
Result<logql::LogExpr> parse_log_query(const std::string& text, const char* operation) {
  auto parsed = logql::parse(text);
  if (!parsed) return parsed.error();
  auto* log = std::get_if<logql::LogExpr>(&parsed.value());
  if (log == nullptr) {
    return invalid_argument("store.not_a_log_query",
                            std::string(operation) +
                                " needs a log query such as {app=\"api\"}, "
                                "not the metric query " +
                                text);
  }
  return std::move(*log);
}

/// The label set of `labels` restricted to `names` (in label order).
Labels restrict_labels(const Labels& labels, const std::set<std::string>& names) {
  Labels out;
  for (const auto& label : labels) {
    if (names.count(label.first) != 0) out.push_back(label);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Detected field types, with the rules of Go's strconv and time packages that Loki uses, in
// Loki's order: int, float, boolean, duration, bytes, else string.

bool is_int(std::string_view v) {
  std::size_t i = (!v.empty() && (v[0] == '+' || v[0] == '-')) ? 1 : 0;
  if (i >= v.size() || v.size() - i > 19) return false;
  for (; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
  }
  return true;
}

bool is_float(std::string_view v) {
  if (v.empty() || std::isspace(static_cast<unsigned char>(v[0]))) return false;
  std::string text(v);
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

bool is_bool(std::string_view v) {
  static const std::set<std::string_view> values = {"1", "t", "T", "TRUE",  "true",  "True",
                                                    "0", "f", "F", "FALSE", "false", "False"};
  return values.count(v) != 0;
}

bool is_duration(std::string_view v) {
  std::size_t i = (!v.empty() && (v[0] == '+' || v[0] == '-')) ? 1 : 0;
  if (v.substr(i) == "0") return true;
  if (i >= v.size()) return false;
  while (i < v.size()) {
    const std::size_t start = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    const bool whole = i > start;
    bool fraction = false;
    if (i < v.size() && v[i] == '.') {
      const std::size_t dot = ++i;
      while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
      fraction = i > dot;
    }
    if (!whole && !fraction) return false;
    bool found = false;
    for (std::string_view unit : {"ns", "us", "µs", "μs", "ms", "s", "m", "h"}) {
      if (v.substr(i, unit.size()) == unit) {
        // "ms" must not be read as "m" then "s": the list tries "ms" before "m".
        i += unit.size();
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

bool is_bytes(std::string_view v) {
  // A number (digits, optional fraction) then optional spaces and a size unit, as
  // go-humanize's ParseBytes reads it; a bare number was already taken as int or float.
  std::size_t i = 0;
  const std::size_t start = i;
  while (i < v.size() && ((v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == ',')) ++i;
  if (i == start) return false;
  while (i < v.size() && v[i] == ' ') ++i;
  std::string unit;
  for (; i < v.size(); ++i)
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(v[i])));
  static const std::set<std::string> units = {
      "",    "b", "k",  "kb", "ki",  "kib", "m",  "mb", "mi",  "mib", "g",  "gb", "gi",
      "gib", "t", "tb", "ti", "tib", "p",   "pb", "pi", "pib", "e",   "eb", "ei", "eib"};
  return units.count(unit) != 0;
}

std::string field_type(std::string_view value) {
  if (is_int(value)) return "int";
  if (is_float(value)) return "float";
  if (is_bool(value)) return "boolean";
  if (is_duration(value)) return "duration";
  if (is_bytes(value)) return "bytes";
  return "string";
}

bool is_error_label(std::string_view name) {
  return name == logql::kErrorLabel || name == logql::kErrorDetailsLabel ||
         name == "__preserve_error__";
}

/// What detected_fields learns about one field.
struct FieldState {
  std::string type = "string";
  std::set<std::string> values;
  std::vector<std::string> parsers;
};

/// Labels in `builder` that neither the stream nor the entry's structured metadata has with
/// the same value: the labels a parser produced.
std::vector<Label> parsed_labels(logql::LabelsBuilder& builder, const Labels& stream,
                                 const Labels& metadata) {
  std::vector<Label> out;
  builder.finish();
  for (std::size_t i = 0; i < builder.size(); ++i) {
    const Label& label = builder.at(i);
    if (is_error_label(label.first)) continue;
    const std::string* in_stream = find_label(stream, label.first);
    if (in_stream != nullptr && *in_stream == label.second) continue;
    const std::string* in_metadata = find_label(metadata, label.first);
    if (in_metadata != nullptr && *in_metadata == label.second) continue;
    out.push_back(label);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Pattern clustering

/// Lines whose tokens agree on at least this share of positions join a pattern, as Drain's
/// similarity threshold in Loki's pattern ingester.
constexpr double kPatternSimilarity = 0.3;
constexpr const char* kWildcard = "<_>";
/// Patterns kept per token count, so that a range of unrelated lines costs bounded time and
/// memory (Loki's Drain bounds its clusters too). A line that matches none of a full set joins
/// the most similar pattern.
constexpr std::size_t kMaxPatternsPerLength = 300;

struct PatternCluster {
  std::vector<std::string> tokens;
  std::map<std::int64_t, std::uint64_t> counts;  ///< per step start, in nanoseconds
  std::uint64_t total = 0;
};

/// Splits a line at spaces, and a key=value word after its '=' so that keys stay literal while
/// values vary, as Loki's logfmt tokenizer does. A token starting with '\x01' follows the
/// previous one without a space.
std::vector<std::string> tokenize(std::string_view line) {
  std::vector<std::string> tokens;
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    const std::size_t start = pos;
    while (pos < line.size() && line[pos] != ' ') ++pos;
    if (pos == start) continue;
    const std::string_view word = line.substr(start, pos - start);
    const std::size_t eq = word.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == word.size()) {
      tokens.emplace_back(word);
      continue;
    }
    tokens.emplace_back(word.substr(0, eq + 1));
    tokens.push_back('\x01' + std::string(word.substr(eq + 1)));
  }
  return tokens;
}

std::string join_tokens(const std::vector<std::string>& tokens) {
  std::string out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const bool glued = !tokens[i].empty() && tokens[i][0] == '\x01';
    if (i > 0 && !glued) out += ' ';
    out += glued ? tokens[i].substr(1) : tokens[i];
  }
  return out;
}

double similarity(const std::vector<std::string>& pattern, const std::vector<std::string>& tokens) {
  std::size_t equal = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (pattern[i] == tokens[i]) ++equal;
  }
  return tokens.empty() ? 1.0 : static_cast<double>(equal) / static_cast<double>(tokens.size());
}

}  // namespace

Result<std::vector<LocalStore::MatchedStream>> LocalStore::streams_matching(
    const std::string& tenant, const std::vector<std::string>& selectors, const TimeRange& range) {
  auto tenant_ok = validate_tenant(tenant);
  if (!tenant_ok) return tenant_ok.error();
  auto range_ok = validate_query_range(range, config_.limits_for(tenant));
  if (!range_ok) return range_ok.error();
  auto connected = connect();
  if (!connected) return connected.error();

  std::vector<std::vector<logql::Matcher>> alternatives;
  for (const auto& selector : selectors) {
    if (matches_everything(selector)) {
      alternatives.clear();
      break;
    }
    auto log = parse_log_query(selector, "a series selector");
    if (!log) return log.error();
    alternatives.push_back(std::move(log.value().selector));
  }
  if (alternatives.empty()) alternatives.emplace_back();

  std::vector<MatchedStream> candidates;
  std::unordered_set<std::int64_t> seen;
  for (const auto& matchers : alternatives) {
    auto matched = select_streams(tenant, matchers, range);
    if (!matched) return matched.error();
    for (auto& stream : matched.value()) {
      if (seen.insert(stream.id).second) candidates.push_back(std::move(stream));
    }
  }
  if (candidates.empty()) return candidates;

  // The cached bounds say a stream may have entries in the range; the chunks say it does.
  std::vector<MatchedStream> active;
  auto probed = with_reader([&](Connection&, ChunkStatements& chunks) -> Status {
    for (auto& stream : candidates) {
      auto has = has_entries(chunks, stream.id, range);
      if (!has) return has.error();
      if (has.value()) active.push_back(std::move(stream));
    }
    return success();
  });
  if (!probed) return probed.error();
  return active;
}

Result<std::vector<Labels>> LocalStore::series(const std::string& tenant,
                                               const std::vector<std::string>& selectors,
                                               const TimeRange& range) {
  return guarded_call<std::vector<Labels>>("series", [&]() -> Result<std::vector<Labels>> {
    auto streams = streams_matching(tenant, selectors, range);
    if (!streams) return streams.error();
    std::vector<Labels> out;
    out.reserve(streams.value().size());
    for (const auto& stream : streams.value()) out.push_back(*stream.labels);
    std::sort(out.begin(), out.end());
    return out;
  });
}

Result<IndexStats> LocalStore::stats(const std::string& tenant, const std::string& selector,
                                     const TimeRange& range) {
  return guarded_call<IndexStats>("stats", [&]() -> Result<IndexStats> {
    auto streams = streams_matching(tenant, {selector}, range);
    if (!streams) return streams.error();
    IndexStats stats;
    if (streams.value().empty()) return stats;
    auto counted = with_reader([&](Connection&, ChunkStatements& chunks) -> Status {
      for (const auto& stream : streams.value()) {
        auto refs = chunks.list(stream.id, range);
        if (!refs) return refs.error();
        for (const auto& ref : refs.value()) {
          auto in_range = chunks.count(ref, range);
          if (!in_range) return in_range.error();
          if (in_range.value().entries == 0) continue;
          stats.chunks += 1;
          stats.entries += in_range.value().entries;
          stats.bytes += in_range.value().line_bytes;
        }
      }
      return success();
    });
    if (!counted) return counted.error();
    stats.streams = streams.value().size();
    return stats;
  });
}

Result<QueryResult> LocalStore::volume(const VolumeRequest& request) {
  return guarded_call<QueryResult>("volume", [&]() -> Result<QueryResult> {
    if (request.step_ns < 0) {
      return invalid_argument("store.invalid_step", "volume step must not be negative");
    }
    auto log = parse_log_query(request.selector, "volume");
    if (!log) return log.error();
    auto streams = streams_matching(request.tenant, {request.selector}, request.range);
    if (!streams) return streams.error();

    // Loki aggregates into the target labels when given, else into the labels the selector
    // names; a selector without names keeps whole series.
    std::set<std::string> names(request.target_labels.begin(), request.target_labels.end());
    if (names.empty()) {
      for (const auto& matcher : log.value().selector) names.insert(matcher.name);
    }
    const bool whole_series = names.empty();

    // Buckets end at start + step, start + 2 step, ... and at the range end; without a step
    // there is one bucket ending at the range end.
    const TimeRange& range = request.range;
    const std::int64_t step = request.step_ns > 0 ? request.step_ns : 0;
    auto bucket_end = [&](std::int64_t ts) {
      if (step == 0) return range.end_ns;
      const std::int64_t end = range.start_ns + ((ts - range.start_ns) / step + 1) * step;
      return std::min(end, range.end_ns);
    };

    std::map<Labels, std::map<std::int64_t, std::uint64_t>> volumes;
    auto summed = with_reader([&](Connection&, ChunkStatements& chunks) -> Status {
      for (const auto& stream : streams.value()) {
        // Loki adds a matcher name=~".+" for each target label, so streams without one are out.
        bool has_targets = true;
        for (const auto& target : request.target_labels) {
          const std::string* value = find_label(*stream.labels, target);
          has_targets = has_targets && value != nullptr && !value->empty();
        }
        if (!has_targets) continue;
        Labels key = whole_series ? *stream.labels : restrict_labels(*stream.labels, names);
        auto& buckets = volumes[key];
        auto status = visit_range(
            chunks, stream.id, range,
            [&](const ChunkRef& ref) -> Status {
              if (bucket_end(ref.min_ns) == bucket_end(ref.max_ns)) {
                buckets[bucket_end(ref.min_ns)] += ref.line_bytes;
                return success();
              }
              auto block = chunks.load(ref);
              if (!block) return block.error();
              for (std::size_t i = 0; i < block.value().size(); ++i) {
                buckets[bucket_end(block.value().timestamp(i))] += block.value().line_size(i);
              }
              return success();
            },
            [&](const ChunkRef&, const DecodedBlock& block, std::size_t first,
                std::size_t last) -> Status {
              for (std::size_t i = first; i < last; ++i) {
                buckets[bucket_end(block.timestamp(i))] += block.line_size(i);
              }
              return success();
            });
        if (!status) return status;
      }
      return success();
    });
    if (!summed) return summed.error();

    // Largest total first, ties by labels; at most `limit` series.
    std::vector<std::pair<std::uint64_t, Series>> ranked;
    for (auto& [labels, buckets] : volumes) {
      Series series;
      series.metric = labels;
      std::uint64_t total = 0;
      for (const auto& [end, bytes] : buckets) {
        series.samples.push_back({end, static_cast<double>(bytes)});
        total += bytes;
      }
      ranked.emplace_back(total, std::move(series));
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    QueryResult result;
    result.result_type = step == 0 ? "vector" : "matrix";
    for (auto& [total, series] : ranked) {
      if (result.series.size() >= request.limit) break;
      result.series.push_back(std::move(series));
    }
    return result;
  });
}

Result<std::vector<LogPattern>> LocalStore::patterns(const std::string& tenant,
                                                     const std::string& selector,
                                                     const TimeRange& range, std::int64_t step_ns) {
  return guarded_call<std::vector<LogPattern>>(
      "patterns", [&]() -> Result<std::vector<LogPattern>> {
        auto log = parse_log_query(selector, "patterns");
        if (!log) return log.error();
        auto range_ok = validate_query_range(range, config_.limits_for(tenant));
        if (!range_ok) return range_ok.error();
        const std::int64_t step = step_ns > 0 ? step_ns : logql::default_step_ns(range);

        logql::LogPipeline pipeline(log.value());
        logql::ScanRequest request;
        request.matchers = log.value().selector;
        request.range = range;
        request.direction = Direction::forward;
        request.required_literals = pipeline.required_literals();

        std::map<std::size_t, std::vector<PatternCluster>> by_length;
        auto scanned = scan(tenant, request, [&](const Labels& stream, const LogEntry& entry) {
          if (!pipeline.process(stream, entry)) return true;
          auto tokens = tokenize(pipeline.line());
          auto& clusters = by_length[tokens.size()];
          PatternCluster* best = nullptr;
          double best_similarity = -1;
          for (auto& cluster : clusters) {
            const double s = similarity(cluster.tokens, tokens);
            if (s > best_similarity) {
              best_similarity = s;
              best = &cluster;
            }
          }
          const bool full = clusters.size() >= kMaxPatternsPerLength;
          if (best == nullptr || (best_similarity < kPatternSimilarity && !full)) {
            clusters.push_back(PatternCluster{tokens, {}, 0});
            best = &clusters.back();
          } else {
            for (std::size_t i = 0; i < tokens.size(); ++i) {
              if (best->tokens[i] == tokens[i]) continue;
              const bool glued = !tokens[i].empty() && tokens[i][0] == '\x01';
              best->tokens[i] = glued ? std::string("\x01") + kWildcard : kWildcard;
            }
          }
          const std::int64_t bucket =
              entry.timestamp_ns - ((entry.timestamp_ns % step) + step) % step;
          best->counts[bucket]++;
          best->total++;
          return true;
        });
        if (!scanned) return scanned.error();

        std::vector<std::pair<std::uint64_t, LogPattern>> ranked;
        for (auto& [length, clusters] : by_length) {
          for (auto& cluster : clusters) {
            LogPattern pattern;
            pattern.pattern = join_tokens(cluster.tokens);
            for (const auto& [bucket, count] : cluster.counts) {
              pattern.samples.push_back({bucket, static_cast<double>(count)});
            }
            ranked.emplace_back(cluster.total, std::move(pattern));
          }
        }
        std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
          if (a.first != b.first) return a.first > b.first;
          return a.second.pattern < b.second.pattern;
        });
        std::vector<LogPattern> out;
        out.reserve(ranked.size());
        for (auto& [total, pattern] : ranked) out.push_back(std::move(pattern));
        return out;
      });
}

Result<std::vector<DetectedField>> LocalStore::detected_fields(const std::string& tenant,
                                                               const std::string& query,
                                                               const TimeRange& range,
                                                               std::size_t line_limit) {
  return guarded_call<std::vector<DetectedField>>(
      "detected_fields", [&]() -> Result<std::vector<DetectedField>> {
        auto log = parse_log_query(query, "detected fields");
        if (!log) return log.error();
        auto range_ok = validate_query_range(range, config_.limits_for(tenant));
        if (!range_ok) return range_ok.error();
        const std::size_t max_lines = config_.limits.max_entries_limit_per_query;
        if (line_limit > max_lines) {
          return limit_exceeded("store.max_entries_limit",
                                "max entries limit per query exceeded, limit > "
                                "max_entries_limit_per_query (" +
                                    std::to_string(line_limit) + " > " + std::to_string(max_lines) +
                                    "); lower line_limit");
        }

        logql::LogPipeline pipeline(log.value());
        logql::LogPipeline json_parser(logql::LogExpr{{}, {logql::JsonParser{}}});
        logql::LogPipeline logfmt_parser(logql::LogExpr{{}, {logql::LogfmtParser{}}});
        logql::ScanRequest request;
        request.matchers = log.value().selector;
        request.range = range;
        request.direction = Direction::backward;
        request.required_literals = pipeline.required_literals();

        std::map<std::string, FieldState> fields;
        auto note = [&](const std::string& name, const std::string& value, const char* parser) {
          FieldState& field = fields[name];
          field.type = field_type(value);
          field.values.insert(value);
          if (parser != nullptr && std::find(field.parsers.begin(), field.parsers.end(), parser) ==
                                       field.parsers.end()) {
            field.parsers.emplace_back(parser);
          }
        };

        std::size_t kept = 0;
        auto scanned = scan(tenant, request, [&](const Labels& stream, const LogEntry& entry) {
          if (kept >= line_limit) return false;
          if (!pipeline.process(stream, entry)) return true;
          ++kept;
          for (const auto& [name, value] : entry.metadata) note(name, value, nullptr);

          // Labels the query's own parsers made, then what json or logfmt find in the line.
          auto from_query = parsed_labels(pipeline.labels(), stream, entry.metadata);
          const LogEntry line_only{entry.timestamp_ns, std::string(pipeline.line()), {}};
          const char* parser = nullptr;
          std::vector<Label> from_line;
          json_parser.process(stream, line_only);
          if (!json_parser.labels().has_error()) {
            parser = "json";
            from_line = parsed_labels(json_parser.labels(), stream, {});
          } else {
            logfmt_parser.process(stream, line_only);
            if (!logfmt_parser.labels().has_error()) {
              parser = "logfmt";
              from_line = parsed_labels(logfmt_parser.labels(), stream, {});
            }
          }
          for (const auto& [name, value] : from_query) note(name, value, parser);
          for (const auto& [name, value] : from_line) note(name, value, parser);
          return kept < line_limit;
        });
        if (!scanned) return scanned.error();

        std::vector<DetectedField> out;
        for (auto& [name, state] : fields) {
          DetectedField field;
          field.label = name;
          field.type = state.type;
          field.cardinality = state.values.size();
          field.parsers = std::move(state.parsers);
          out.push_back(std::move(field));
        }
        return out;
      });
}

}  // namespace lognurse::local_store
