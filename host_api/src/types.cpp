#include "lognurse/host_api/types.hpp"

#include <algorithm>

namespace lognurse {

void normalize_labels(Labels& labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const Label& a, const Label& b) { return a.first < b.first; });
  // Keep the last value given for a repeated name.
  Labels unique;
  unique.reserve(labels.size());
  for (auto& label : labels) {
    if (!unique.empty() && unique.back().first == label.first) {
      unique.back().second = std::move(label.second);
    } else {
      unique.push_back(std::move(label));
    }
  }
  labels = std::move(unique);
}

const std::string* find_label(const Labels& labels, const std::string& name) {
  for (const auto& label : labels) {
    if (label.first == name) return &label.second;
  }
  return nullptr;
}

std::string labels_to_string(const Labels& labels) {
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ", ";
    out += labels[i].first;
    out += "=\"";
    for (char c : labels[i].second) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        default: out += c;
      }
    }
    out += '"';
  }
  out += '}';
  return out;
}

const char* to_string(Direction direction) {
  return direction == Direction::forward ? "forward" : "backward";
}

}  // namespace lognurse
