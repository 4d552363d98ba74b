// The LogQL conformance suite: data-driven cases in tests/logql/conformance/,
// each a query over the fixed dataset of dataset.txt with the result that
// Loki's documented semantics give. The expected results were worked out by
// hand from that documentation, never taken from this engine's output.
//
// A case file holds cases like this one:
//
//   ## count_over_time counts the entries of each stream in each window
//   query: count_over_time({app="api"}[1m])
//   range: 60 120 60          (start end step, in seconds; or "at: 120" for an instant query)
//   expect:
//   matrix
//   {app="api", env="dev"} 60=1 120=1
//
// Optional keys: limit (default 100), direction (forward|backward, default
// backward), max_entries, max_series. The first expect line is the result
// type (streams, matrix, vector, scalar) or "error <code>", optionally
// followed by lines "message: <text the message must contain>". Numbers in
// metric results compare with a relative tolerance of 1e-9.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lognurse/logql/logql.hpp"

namespace {

using namespace lognurse;

constexpr std::int64_t kSecond = 1'000'000'000;

std::string conformance_dir() { return std::string(LOGNURSE_LOGQL_CONFORMANCE_DIR); }

std::string trim(const std::string& text) {
  std::size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  std::size_t end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

/// Parses {a="x", b="y"} as written in dataset.txt (plain values, no escapes).
Labels parse_labels(const std::string& text) {
  Labels labels;
  std::string body = text.substr(1, text.size() - 2);
  std::stringstream items(body);
  std::string item;
  while (std::getline(items, item, ',')) {
    item = trim(item);
    std::size_t eq = item.find('=');
    labels.emplace_back(item.substr(0, eq), item.substr(eq + 2, item.size() - eq - 3));
  }
  normalize_labels(labels);
  return labels;
}

/// The dataset, held in memory and served in time order across streams.
class DatasetSource : public logql::EntrySource {
public:
  DatasetSource() {
    std::ifstream in(conformance_dir() + "/dataset.txt");
    REQUIRE(in.good());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line.rfind("stream ", 0) == 0) {
        streams_.push_back({parse_labels(trim(line.substr(7))), {}});
        continue;
      }
      std::size_t space = line.find(' ');
      LogEntry entry;
      entry.timestamp_ns = std::stoll(line.substr(0, space)) * kSecond;
      std::string text = line.substr(space + 1);
      if (std::size_t meta = text.find(" || "); meta != std::string::npos) {
        std::stringstream pairs(text.substr(meta + 4));
        std::string pair;
        while (std::getline(pairs, pair, ',')) {
          std::size_t eq = pair.find('=');
          entry.metadata.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
        }
        text.resize(meta);
      }
      entry.line = replace_all(text, "\\x1b", "\x1b");
      streams_.back().entries.push_back(std::move(entry));
    }
  }

  Status scan(const logql::ScanRequest& request, const logql::ScanVisitor& visit) override {
    struct Item {
      const LogStream* stream;
      const LogEntry* entry;
    };
    std::vector<Item> items;
    for (const auto& stream : streams_) {
      if (!logql::matches(request.matchers, stream.labels)) continue;
      for (const auto& entry : stream.entries) {
        if (entry.timestamp_ns >= request.range.start_ns &&
            entry.timestamp_ns < request.range.end_ns) {
          items.push_back({&stream, &entry});
        }
      }
    }
    bool forward = request.direction == Direction::forward;
    std::stable_sort(items.begin(), items.end(), [forward](const Item& a, const Item& b) {
      return forward ? a.entry->timestamp_ns < b.entry->timestamp_ns
                     : a.entry->timestamp_ns > b.entry->timestamp_ns;
    });
    for (const auto& item : items) {
      if (!visit(item.stream->labels, *item.entry)) break;
    }
    return success();
  }

private:
  std::vector<LogStream> streams_;
};

struct Case {
  std::string title;
  int line = 0;
  std::string query;
  bool instant = false;
  std::int64_t at = 0;
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::int64_t step = 0;
  std::size_t limit = 100;
  Direction direction = Direction::backward;
  logql::Limits limits;
  std::vector<std::string> expect;
};

std::vector<std::int64_t> numbers(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream in(text);
  std::int64_t n = 0;
  while (in >> n) out.push_back(n);
  return out;
}

std::vector<Case> load_cases(const std::string& file) {
  std::ifstream in(conformance_dir() + "/" + file);
  REQUIRE(in.good());
  std::vector<Case> cases;
  std::string line;
  int number = 0;
  bool in_expect = false;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("## ", 0) == 0) {
      cases.push_back({});
      cases.back().title = line.substr(3);
      cases.back().line = number;
      in_expect = false;
      continue;
    }
    if (cases.empty()) continue;
    Case& c = cases.back();
    if (in_expect) {
      if (!trim(line).empty() && line[0] != '#') c.expect.push_back(line);
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::size_t colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    std::string key = line.substr(0, colon);
    std::string value = trim(line.substr(colon + 1));
    if (key == "query") {
      c.query = replace_all(value, "\\x1b", "\x1b");
    } else if (key == "at") {
      c.instant = true;
      c.at = std::stoll(value) * kSecond;
    } else if (key == "range") {
      auto n = numbers(value);
      REQUIRE(n.size() >= 2);
      c.start = n[0] * kSecond;
      c.end = n[1] * kSecond;
      c.step = n.size() > 2 ? n[2] * kSecond : 0;
    } else if (key == "limit") {
      c.limit = std::stoul(value);
    } else if (key == "direction") {
      c.direction = value == "forward" ? Direction::forward : Direction::backward;
    } else if (key == "max_entries") {
      c.limits.max_entries = std::stoul(value);
    } else if (key == "max_series") {
      c.limits.max_series = std::stoul(value);
    } else if (key == "expect") {
      in_expect = true;
    } else {
      FAIL("unknown key " << key << " at " << file << ":" << number);
    }
  }
  return cases;
}

std::string format_time(std::int64_t ns) {
  if (ns % kSecond == 0) return std::to_string(ns / kSecond);
  return std::to_string(ns) + "ns";
}

std::string format_value(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

/// The result rendered as the expect lines of a case.
std::vector<std::string> render(const Result<QueryResult>& result, bool instant) {
  std::vector<std::string> lines;
  if (!result.ok()) {
    lines.push_back("error " + result.error().code);
    return lines;
  }
  const QueryResult& r = result.value();
  lines.push_back(r.result_type);
  if (r.result_type == "streams") {
    for (const auto& stream : r.streams) {
      lines.push_back(labels_to_string(stream.labels));
      for (const auto& entry : stream.entries) {
        lines.push_back("  " + format_time(entry.timestamp_ns) + " " + entry.line);
      }
    }
  } else if (r.result_type == "scalar") {
    lines.push_back("scalar " + format_value(r.series.at(0).samples.at(0).value));
  } else {
    for (const auto& series : r.series) {
      std::string text = labels_to_string(series.metric);
      for (const auto& sample : series.samples) {
        text += instant ? " " + format_value(sample.value)
                        : " " + format_time(sample.timestamp_ns) + "=" + format_value(sample.value);
      }
      lines.push_back(text);
    }
  }
  return lines;
}

bool parse_number(const std::string& text, double& out) {
  if (text == "NaN") {
    out = std::nan("");
    return true;
  }
  if (text == "+Inf" || text == "inf") {
    out = INFINITY;
    return true;
  }
  if (text == "-Inf" || text == "-inf") {
    out = -INFINITY;
    return true;
  }
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

bool same_number(const std::string& a, const std::string& b) {
  double x = 0;
  double y = 0;
  if (!parse_number(a, x) || !parse_number(b, y)) return a == b;
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  if (x == y) return true;
  return std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), std::fabs(y));
}

/// Whether a metric line matches: the same labels and samples, values within tolerance.
bool same_metric_line(const std::string& expected, const std::string& actual) {
  std::size_t a = expected.rfind('}');
  std::size_t b = actual.rfind('}');
  if (a == std::string::npos || b == std::string::npos) {
    if (expected.rfind("scalar ", 0) == 0 && actual.rfind("scalar ", 0) == 0) {
      return same_number(trim(expected.substr(7)), trim(actual.substr(7)));
    }
    return expected == actual;
  }
  if (expected.substr(0, a) != actual.substr(0, b)) return false;
  std::stringstream x(expected.substr(a + 1));
  std::stringstream y(actual.substr(b + 1));
  std::string p;
  std::string q;
  while (true) {
    bool more_x = static_cast<bool>(x >> p);
    bool more_y = static_cast<bool>(y >> q);
    if (more_x != more_y) return false;
    if (!more_x) return true;
    std::size_t ep = p.find('=');
    std::size_t eq = q.find('=');
    if (ep != eq) return false;
    if (ep != std::string::npos && p.substr(0, ep) != q.substr(0, eq)) return false;
    std::size_t from = ep == std::string::npos ? 0 : ep + 1;
    if (!same_number(p.substr(from), q.substr(from))) return false;
  }
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

void run_file(const std::string& file) {
  DatasetSource source;
  auto cases = load_cases(file);
  REQUIRE(!cases.empty());
  for (const auto& c : cases) {
    Result<QueryResult> result = Error{};
    if (c.instant) {
      result = logql::execute_instant(c.query, c.at, kDefaultTenant, c.limit, c.direction, source,
                                      c.limits);
    } else {
      LogQuery params;
      params.logql = c.query;
      params.range = {c.start, c.end};
      params.step_ns = c.step;
      params.limit = c.limit;
      params.direction = c.direction;
      result = logql::execute(c.query, params, source, c.limits);
    }
    std::vector<std::string> actual = render(result, c.instant);
    std::vector<std::string> expected;
    std::vector<std::string> message_parts;
    for (const auto& line : c.expect) {
      if (line.rfind("message: ", 0) == 0) {
        message_parts.push_back(line.substr(9));
      } else {
        expected.push_back(line);
      }
    }
    bool same = expected.size() == actual.size();
    bool metric = !expected.empty() && (expected[0] == "matrix" || expected[0] == "vector" ||
                                        expected[0] == "scalar");
    for (std::size_t i = 0; same && i < expected.size(); ++i) {
      same = metric ? same_metric_line(expected[i], actual[i]) : expected[i] == actual[i];
    }
    for (const auto& part : message_parts) {
      same = same && !result.ok() && result.error().message.find(part) != std::string::npos;
    }
    INFO(file << ":" << c.line << " " << c.title << "\nquery: " << c.query << "\nexpected:\n"
              << joined(expected) << "actual:\n"
              << joined(actual) << (result.ok() ? "" : "message: " + result.error().message));
    CHECK(same);
  }
}

}  // namespace

TEST_CASE("log queries over the conformance dataset give Loki's streams") {
  run_file("log_queries.txt");
}

TEST_CASE("parsers and formatters over the conformance dataset give Loki's labels and lines") {
  run_file("parsers.txt");
}

TEST_CASE("templates over the conformance dataset render as Loki's template functions do") {
  run_file("templates.txt");
}

TEST_CASE("range aggregations over the conformance dataset give Loki's samples") {
  run_file("range_aggregations.txt");
}

TEST_CASE("vector aggregations and binary operators give Loki's series") {
  run_file("vector_aggregations.txt");
}

TEST_CASE("invalid queries and limits fail with Loki's errors") {
  run_file("errors.txt");
}
