#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lognurse/logql/parser.hpp"
#include "lognurse/logql/pipeline.hpp"

using namespace lognurse;
using namespace lognurse::logql;

namespace {

LogPipeline compile(const std::string& query) {
  auto parsed = parse(query);
  REQUIRE(parsed.ok());
  return LogPipeline(std::get<LogExpr>(parsed.value()));
}

Labels run(LogPipeline& pipeline, const Labels& stream, const std::string& line) {
  LogEntry entry;
  entry.timestamp_ns = 1;
  entry.line = line;
  REQUIRE(pipeline.process(stream, entry));
  pipeline.labels().finish();
  Labels out;
  pipeline.labels().copy_to(out);
  return out;
}

/// What `| logfmt` extracts from a line, written as plainly as possible, one
/// byte at a time: a key runs to a space, control character, '=' or '"'; a
/// value is bare (to a space or control character) or quoted (a backslash takes
/// the next byte). In the default mode a bad token is skipped to the next
/// space; strict mode stops at it with an error. Returns false for an error.
bool reference_logfmt(std::string_view text, bool strict, bool keep_empty,
                      std::vector<std::pair<std::string, std::string>>& out) {
  auto space = [](char c) { return static_cast<unsigned char>(c) <= ' '; };
  auto stop = [&](char c) { return space(c) || c == '=' || c == '"'; };
  std::size_t i = 0;
  auto bad = [&] {
    if (strict) return false;
    while (i < text.size() && !space(text[i])) ++i;
    return true;
  };
  while (i < text.size()) {
    while (i < text.size() && space(text[i])) ++i;
    if (i >= text.size()) break;
    std::size_t start = i;
    while (i < text.size() && !stop(text[i])) ++i;
    std::string key(text.substr(start, i - start));
    if (key.empty()) {
      if (!bad()) return false;
      continue;
    }
    std::string value;
    if (i < text.size() && text[i] == '"') {
      if (!bad()) return false;
      continue;
    }
    if (i < text.size() && text[i] == '=') {
      ++i;
      if (i < text.size() && text[i] == '"') {
        ++i;
        bool closed = false;
        while (i < text.size()) {
          char c = text[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\' && i < text.size()) {
            char e = text[i++];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
          } else if (c == '\\') {
            break;
          }
          value += c;
        }
        if (!closed) {
          i = text.size();
          if (!bad()) return false;
          continue;
        }
      } else {
        start = i;
        while (i < text.size() && !stop(text[i])) ++i;
        if (i < text.size() && !space(text[i])) {
          if (!bad()) return false;
          continue;
        }
        value = std::string(text.substr(start, i - start));
      }
    }
    if (value.empty() && !keep_empty) continue;
    out.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

/// The labels the reference gives, as the pipeline reports them: keys
/// sanitised, the last of repeated keys kept, on top of the stream's labels.
Labels expected_labels(const Labels& stream,
                       const std::vector<std::pair<std::string, std::string>>& pairs) {
  Labels out = stream;
  for (const auto& [key, value] : pairs) {
    std::string name;
    sanitize_label_name(key, name);
    if (name.empty()) continue;
    if (std::any_of(stream.begin(), stream.end(),
                    [&](const Label& label) { return label.first == name; })) {
      name += "_extracted";
    }
    auto found = std::find_if(out.begin(), out.end(),
                              [&](const Label& label) { return label.first == name; });
    if (found != out.end()) {
      found->second = value;
    } else {
      out.emplace_back(name, value);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("logfmt extracts what a byte-at-a-time reading of the line gives, on random lines",
          "[pipeline][logfmt]") {
  // Lines of the bytes that matter to logfmt, long enough that keys, values and
  // quotes fall on every position of the sixteen-byte blocks the scanner reads.
  const std::string alphabet = std::string("aab_1=  \"\\\t-.\x01", 15) + "\x80\xff" + "lvl";
  std::mt19937 random(20261205);
  const Labels stream{{"app", "api"}};
  LogPipeline plain = compile("{app=\"api\"} | logfmt");
  LogPipeline keep_empty = compile("{app=\"api\"} | logfmt --keep-empty");
  LogPipeline strict = compile("{app=\"api\"} | logfmt --strict");
  for (int n = 0; n < 20000; ++n) {
    std::string line;
    const std::size_t length = random() % 90;
    for (std::size_t i = 0; i < length; ++i) line += alphabet[random() % alphabet.size()];
    if (n % 7 == 0) line = "app=x level=warn msg=\"" + line + "\" took=12ms";
    INFO("line: " << line);

    std::vector<std::pair<std::string, std::string>> pairs;
    REQUIRE(reference_logfmt(line, false, false, pairs));
    CHECK(run(plain, stream, line) == expected_labels(stream, pairs));

    pairs.clear();
    REQUIRE(reference_logfmt(line, false, true, pairs));
    CHECK(run(keep_empty, stream, line) == expected_labels(stream, pairs));

    pairs.clear();
    const bool parsed = reference_logfmt(line, true, false, pairs);
    const Labels strict_labels = run(strict, stream, line);
    const bool has_error = std::any_of(strict_labels.begin(), strict_labels.end(),
                                       [](const Label& label) {
                                         return label.first == kErrorLabel &&
                                                label.second == "LogfmtParserErr";
                                       });
    CHECK(has_error == !parsed);
  }
}

TEST_CASE("logfmt reads quoted values with escapes across the scanner's blocks",
          "[pipeline][logfmt]") {
  const Labels stream{{"app", "api"}};
  LogPipeline pipeline = compile("{app=\"api\"} | logfmt");
  const std::string padding(21, 'p');
  auto labels = run(pipeline, stream,
                    "msg=\"" + padding + "\\\"quoted\\\" and \\\\ back\" " + padding + "=1 tail");
  CHECK(labels == Labels{{"app", "api"},
                         {"msg", padding + "\"quoted\" and \\ back"},
                         {padding, "1"}});
  // An unclosed quote in the default mode drops that token and what follows it.
  labels = run(pipeline, stream, "a=1 msg=\"" + padding + " b=2");
  CHECK(labels == Labels{{"a", "1"}, {"app", "api"}});
  // A backslash as the last byte escapes nothing: the quote stays open.
  labels = run(pipeline, stream, "a=1 msg=\"" + padding + "\\");
  CHECK(labels == Labels{{"a", "1"}, {"app", "api"}});
}

TEST_CASE("logfmt looking only for the labels a metric query needs finds what reading every key "
          "finds", "[pipeline][logfmt]") {
  // Lines made of the pieces that could mislead a search for `level=`: the key inside
  // quoted values, at the end of longer keys and values, repeated, empty, with bad values.
  const std::vector<std::string> pieces = {
      "level=",  "level=info", "level=\"a b\"", "xlevel=warn", "level",  " ",     " ",
      "\t",      "\"",         "msg=\"",        "\\\"",        "=",      "a=b=c", "status=500",
      "level=x=y", "level=\"", "Level=up",     "{\"level\":\"debug\"}", "levels=2",
      "__error__=bad", "..error..=1", "-_error.details_=2", "level=error", "error"};
  std::mt19937 random(5122026);
  const Labels plain_stream{{"app", "api"}};
  const Labels clashing_stream{{"app", "api"}, {"level", "stream"}};
  auto parsed = parse("{app=\"api\"} | logfmt");
  REQUIRE(parsed.ok());
  const LogExpr& expr = std::get<LogExpr>(parsed.value());
  LogPipeline hinted(expr, std::vector<std::string>{"level", "status"});
  REQUIRE(hinted.uses_hints());
  for (int n = 0; n < 20000; ++n) {
    std::string line;
    const std::size_t count = random() % 12;
    for (std::size_t i = 0; i < count; ++i) line += pieces[random() % pieces.size()];
    INFO("line: " << line);
    std::vector<std::pair<std::string, std::string>> pairs;
    REQUIRE(reference_logfmt(line, false, false, pairs));
    for (const Labels* stream : {&plain_stream, &clashing_stream}) {
      Labels expected;
      for (const auto& label : expected_labels(*stream, pairs)) {
        if (label.first == "level" || label.first == "status" || label.first == "app" ||
            label.first == kErrorLabel || label.first == kErrorDetailsLabel) {
          expected.push_back(label);
        }
      }
      if (stream == &clashing_stream) {
        // The stream's own level stays; the line's becomes level_extracted, not wanted.
        expected.emplace_back("level", "stream");
        std::sort(expected.begin(), expected.end());
        expected.erase(std::unique(expected.begin(), expected.end(),
                                   [](const Label& a, const Label& b) {
                                     return a.first == b.first;
                                   }),
                       expected.end());
      }
      CHECK(run(hinted, *stream, line) == expected);
    }
  }
}

TEST_CASE("a json extraction with an array index past any size selects nothing",
          "[pipeline]") {
  // As an index past the array's end does.
  auto huge = compile(R"({app="a"} | json first="list[0]", other="list[99999999999999999999999]")");
  auto past = compile(R"({app="a"} | json first="list[0]", other="list[5]")");
  const std::string line = R"({"list":["x","y"]})";
  const Labels labels = run(huge, {{"app", "a"}}, line);
  CHECK(labels == run(past, {{"app", "a"}}, line));
  CHECK(labels == Labels{{"app", "a"}, {"first", "x"}});
}
