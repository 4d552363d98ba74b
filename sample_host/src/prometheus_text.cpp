#include "prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace lognurse::host::prometheus {

namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

bool is_identifier(std::string_view name) {
  if (name.empty() || !is_name_start(name.front())) return false;
  for (const char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

/// `text` with backslash and newline escaped, and double quotes when `quotes`.
std::string escaped(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\' || (quotes && c == '"')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

bool is_metric_name(std::string_view name) { return is_identifier(name); }

bool is_label_name(std::string_view name) {
  return is_identifier(name) && name.substr(0, 2) != "__";
}

std::string escape_label_value(std::string_view value) { return escaped(value, true); }

std::string escape_help(std::string_view help) { return escaped(help, false); }

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto written = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, written.ptr);
}

std::string render_labels(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += name + "=\"" + escape_label_value(value) + "\"";
  }
  return out;
}

std::string family_header(const std::string& name, std::string_view help, std::string_view type) {
  return "# HELP " + name + " " + escape_help(help) + "\n# TYPE " + name + " " +
         std::string(type) + "\n";
}

void append_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const std::vector<double>& bounds, const std::vector<std::uint64_t>& counts,
                      double sum) {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += counts[i];
    out += name + "_bucket{" + prefix + "le=\"" + number(bounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += counts[bounds.size()];
  out += name + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum) + "\n";
  out += name + "_count" + braces + " " + std::to_string(cumulative) + "\n";
}

}  // namespace lognurse::host::prometheus
