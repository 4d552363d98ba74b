#pragma once

// A small allocation-light JSON reader for the json and unpack parsers. It
// validates as it walks and never builds a document tree.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lognurse::logql {

/// One step of a json extraction path: a key or an array index.
struct JsonPathStep {
  bool is_index = false;
  std::string key;
  std::size_t index = 0;
};

/// Parses a json extraction expression as Loki accepts it: `a.b`, `a[0]`,
/// `a["key with.dots"]`, `a.b[2].c`. Returns false for a malformed one.
bool parse_json_path(std::string_view expression, std::vector<JsonPathStep>& out);

/// What json_flatten reports for each scalar it finds.
using JsonFieldSink = std::function<void(std::string_view key, std::string_view value)>;

/// Walks a JSON object and reports every scalar member: nested object keys are
/// joined with '_' (each part sanitised), arrays are skipped, strings are
/// unescaped, numbers keep their text, true/false/null read as words
/// ("null" as the empty string). Returns false with `error` set when `text`
/// is not a JSON object.
bool json_flatten(std::string_view text, const JsonFieldSink& sink, std::string& error);

/// Walks a JSON object and reports each top-level member whose value is a
/// string (unpack). Returns false with `error` set when `text` is not a JSON
/// object.
bool json_string_members(std::string_view text, const JsonFieldSink& sink, std::string& error);

/// Finds `path` in the JSON document `text`. A string value is unescaped, an
/// object or array is returned as its JSON text, other scalars as written.
/// Returns false when the path does not exist or `text` is not valid JSON up
/// to the value.
bool json_extract(std::string_view text, const std::vector<JsonPathStep>& path, std::string& out);

/// Whether `text` is one valid JSON value (with surrounding whitespace).
bool json_valid(std::string_view text, std::string& error);

}  // namespace lognurse::logql
