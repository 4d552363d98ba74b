#include "exposition_check.hpp"

#include <cstdlib>
#include <set>
#include <sstream>

namespace lognurse::test {

namespace {

bool is_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool is_number(const std::string& text) {
  if (text == "NaN" || text == "+Inf" || text == "-Inf") return true;
  if (text.empty()) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

/// The family a sample name belongs to, given the families' types.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      const auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

bool refuse(std::string& problem, const std::string& what) {
  problem = what;
  return false;
}

/// Parses `{a="x",b="y"}` from `line` at `pos` (just after the name).
bool read_labels(const std::string& line, std::size_t& pos,
                 std::map<std::string, std::string>& labels, std::string& problem) {
  if (pos >= line.size() || line[pos] != '{') return true;
  ++pos;
  while (pos < line.size() && line[pos] != '}') {
    const std::size_t eq = line.find('=', pos);
    if (eq == std::string::npos) return refuse(problem, "label without '=': " + line);
    const std::string name = line.substr(pos, eq - pos);
    if (!is_name(name) || name.find(':') != std::string::npos) {
      return refuse(problem, "bad label name \"" + name + "\": " + line);
    }
    pos = eq + 1;
    if (pos >= line.size() || line[pos] != '"') return refuse(problem, "unquoted value: " + line);
    ++pos;
    std::string value;
    for (;; ++pos) {
      if (pos >= line.size()) return refuse(problem, "unterminated value: " + line);
      const char c = line[pos];
      if (c == '"') break;
      if (c == '\\') {
        ++pos;
        if (pos >= line.size()) return refuse(problem, "dangling backslash: " + line);
        const char e = line[pos];
        if (e == 'n') {
          value += '\n';
        } else if (e == '\\' || e == '"') {
          value += e;
        } else {
          return refuse(problem, std::string("bad escape \\") + e + ": " + line);
        }
        continue;
      }
      value += c;
    }
    ++pos;  // closing quote
    if (!labels.emplace(name, value).second) {
      return refuse(problem, "label " + name + " given twice: " + line);
    }
    if (pos < line.size() && line[pos] == ',') ++pos;
  }
  if (pos >= line.size()) return refuse(problem, "unterminated labels: " + line);
  ++pos;  // '}'
  return true;
}

}  // namespace

std::vector<Sample> read_exposition(const std::string& text, std::string& problem) {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::set<std::string> finished;  // families whose block has ended
  std::string current;             // family of the block being read
  std::set<std::string> series;    // name + labels, to find duplicates
  std::set<std::string> sampled;   // families with samples so far
  const auto fail = [&](const std::string& what) {
    problem = what;
    return std::vector<Sample>{};
  };

  const auto enter = [&](const std::string& family) {
    if (family == current) return true;
    if (finished.count(family) != 0) {
      return refuse(problem, "family " + family + " appears in two blocks");
    }
    if (!current.empty()) finished.insert(current);
    current = family;
    return true;
  };

  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const bool help = line[2] == 'H';
      const std::size_t space = line.find(' ', 7);
      const std::string name = line.substr(7, space == std::string::npos ? std::string::npos
                                                                           : space - 7);
      if (!is_name(name)) return fail("bad family name: " + line);
      if (!enter(name)) return {};
      if (sampled.count(name) != 0) {
        return fail("HELP or TYPE after samples: " + line);
      }
      if (help) {
        if (!helped.insert(name).second) return fail("second HELP: " + line);
      } else {
        const std::string type = space == std::string::npos ? "" : line.substr(space + 1);
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped") {
          return fail("bad TYPE: " + line);
        }
        if (!types.emplace(name, type).second) {
          return fail("second TYPE: " + line);
        }
      }
      continue;
    }
    if (line[0] == '#') continue;

    Sample sample;
    std::size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    sample.name = line.substr(0, pos);
    if (!is_name(sample.name)) return fail("bad sample name: " + line);
    if (!read_labels(line, pos, sample.labels, problem)) return {};
    if (pos >= line.size() || line[pos] != ' ') return fail("no value: " + line);
    const std::string rest = line.substr(pos + 1);
    sample.value = rest.substr(0, rest.find(' '));  // an optional timestamp may follow
    if (!is_number(sample.value)) return fail("bad value: " + line);
    const std::string family = family_of(sample.name, types);
    if (!enter(family)) return {};
    sampled.insert(family);
    std::string key = sample.name;
    for (const auto& [name, value] : sample.labels) key += "\x1f" + name + "=" + value;
    if (!series.insert(key).second) return fail("duplicate series: " + line);
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::string sample_value(const std::vector<Sample>& samples, const std::string& name,
                         const std::map<std::string, std::string>& labels) {
  for (const auto& sample : samples) {
    if (sample.name != name) continue;
    bool all = true;
    for (const auto& [label, value] : labels) {
      const auto it = sample.labels.find(label);
      all = all && it != sample.labels.end() && it->second == value;
    }
    if (all) return sample.value;
  }
  return "";
}

}  // namespace lognurse::test
