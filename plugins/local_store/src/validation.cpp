#include "validation.hpp"

#include <cctype>

#include "lognurse/host_api/time.hpp"

namespace lognurse::local_store {
namespace {

constexpr std::size_t kMaxTenantLength = 150;
constexpr std::size_t kShownNameLength = 64;
const std::string kServiceNameLabel = "service_name";
constexpr const char* kUnknownService = "unknown_service";

/// Long names and values are cut in messages so that a refusal stays readable.
std::string shown(const std::string& text) {
  if (text.size() <= kShownNameLength) return text;
  return text.substr(0, kShownNameLength) + "...";
}

/// A length as Go's time.Duration prints it ("721h0m0.000000001s", "1m30s", "250ms"): the
/// form of the query length in Loki's messages.
std::string go_duration(std::uint64_t ns) {
  if (ns == 0) return "0s";
  auto with_fraction = [](std::uint64_t whole, std::uint64_t fraction, int digits) {
    std::string out = std::to_string(whole);
    if (fraction == 0) return out;
    std::string decimals = std::to_string(fraction);
    decimals.insert(0, static_cast<std::size_t>(digits) - decimals.size(), '0');
    while (decimals.back() == '0') decimals.pop_back();
    return out + "." + decimals;
  };
  if (ns < 1'000) return std::to_string(ns) + "ns";
  if (ns < 1'000'000) return with_fraction(ns / 1'000, ns % 1'000, 3) + "\u00b5s";
  if (ns < 1'000'000'000) return with_fraction(ns / 1'000'000, ns % 1'000'000, 6) + "ms";
  const std::uint64_t seconds = ns / 1'000'000'000;
  std::string out;
  if (seconds >= 3600) out += std::to_string(seconds / 3600) + "h";
  if (seconds >= 60) out += std::to_string(seconds / 60 % 60) + "m";
  return out + with_fraction(seconds % 60, ns % 1'000'000'000, 9) + "s";
}

std::string where_stream(std::size_t index) { return "streams[" + std::to_string(index) + "]"; }

std::string where_entry(std::size_t stream, std::size_t entry) {
  return where_stream(stream) + ".values[" + std::to_string(entry) + "]";
}

Status validate_labels(const Labels& raw, std::size_t index, const StoreLimits& limits) {
  std::string where = where_stream(index) + ": ";
  if (raw.empty()) {
    return invalid_argument("store.missing_labels",
                            where + "error at least one label pair is required per stream");
  }
  std::string stream = labels_to_string(raw);
  for (const auto& [name, value] : raw) {
    if (name.size() > limits.max_label_name_length) {
      return limit_exceeded("store.label_name_too_long",
                            where + "stream '" + stream + "' has label name too long: '" +
                                shown(name) + "' (" + std::to_string(name.size()) +
                                " bytes, limit " + std::to_string(limits.max_label_name_length) +
                                "); shorten it or raise limits.max_label_name_length");
    }
    if (!is_valid_label_name(name)) {
      return invalid_argument("store.invalid_label_name",
                              where + "stream '" + stream + "' has invalid label name: '" +
                                  shown(name) + "'; a name must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (value.empty()) {
      return invalid_argument("store.empty_label_value",
                              where + "stream '" + stream + "' has an empty value for label '" +
                                  name + "'; give it a value or leave the label out");
    }
    if (value.size() > limits.max_label_value_length) {
      return limit_exceeded("store.label_value_too_long",
                            where + "stream '" + stream + "' has label value too long: '" +
                                shown(value) + "' (" + std::to_string(value.size()) +
                                " bytes, limit " + std::to_string(limits.max_label_value_length) +
                                "); shorten it or raise limits.max_label_value_length");
    }
  }
  for (std::size_t i = 0; i < raw.size(); ++i) {
    for (std::size_t j = i + 1; j < raw.size(); ++j) {
      if (raw[i].first == raw[j].first) {
        return invalid_argument(
            "store.duplicate_label_name",
            where + "stream '" + stream + "' has duplicate label name: '" + raw[i].first + "'");
      }
    }
  }
  if (raw.size() > limits.max_label_names_per_series) {
    return limit_exceeded("store.too_many_labels",
                          where + "entry for stream '" + stream + "' has " +
                              std::to_string(raw.size()) + " label names; limit " +
                              std::to_string(limits.max_label_names_per_series) +
                              "; drop labels or raise limits.max_label_names_per_series");
  }
  return success();
}

Status validate_entry(const LogEntry& entry, const std::string& stream, const std::string& where,
                      const StoreLimits& limits, std::int64_t now_ns) {
  if (entry.line.size() > limits.max_line_size) {
    return limit_exceeded("store.line_too_long",
                          where + ": max entry size '" + std::to_string(limits.max_line_size) +
                              "' bytes exceeded for stream '" + stream +
                              "' while adding an entry with length '" +
                              std::to_string(entry.line.size()) +
                              "' bytes; split the line or raise limits.max_line_size");
  }
  if (limits.reject_old_samples &&
      entry.timestamp_ns < now_ns - limits.reject_old_samples_max_age_ns) {
    return invalid_argument("store.too_old",
                            where + ": entry for stream '" + stream +
                                "' has timestamp too old: " + format_time(entry.timestamp_ns) +
                                ", oldest acceptable timestamp is: " +
                                format_time(now_ns - limits.reject_old_samples_max_age_ns) +
                                "; set limits.reject_old_samples to false to load old logs");
  }
  if (limits.creation_grace_period_ns > 0 &&
      entry.timestamp_ns > now_ns + limits.creation_grace_period_ns) {
    return invalid_argument("store.too_far_in_future",
                            where + ": entry for stream '" + stream +
                                "' has timestamp too new: " + format_time(entry.timestamp_ns) +
                                ", newest acceptable timestamp is: " +
                                format_time(now_ns + limits.creation_grace_period_ns) +
                                "; check the sender's clock or raise limits.creation_grace_period");
  }
  if (entry.metadata.size() > limits.max_structured_metadata_entries_count) {
    return limit_exceeded("store.structured_metadata_too_many",
                          where + ": stream '" + stream +
                              "' has too many structured metadata labels: '" +
                              std::to_string(entry.metadata.size()) + "', limit: '" +
                              std::to_string(limits.max_structured_metadata_entries_count) +
                              "'; raise limits.max_structured_metadata_entries_count");
  }
  std::size_t metadata_bytes = 0;
  for (const auto& [name, value] : entry.metadata) metadata_bytes += name.size() + value.size();
  if (metadata_bytes > limits.max_structured_metadata_size) {
    return limit_exceeded("store.structured_metadata_too_large",
                          where + ": stream '" + stream + "' has structured metadata too large: '" +
                              std::to_string(metadata_bytes) + "' bytes, limit: '" +
                              std::to_string(limits.max_structured_metadata_size) +
                              "' bytes; raise limits.max_structured_metadata_size");
  }
  return success();
}

}  // namespace

std::uint64_t fingerprint(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool ok = std::isalpha(c) || c == '_' || (i > 0 && std::isdigit(c));
    if (!ok || c > 127) return false;
  }
  return true;
}

Status validate_query_range(const TimeRange& range, const StoreLimits& limits) {
  if (range.end_ns < range.start_ns) {
    return invalid_argument("store.invalid_range",
                            "time range end (" + format_time(range.end_ns) +
                                ") is before its start (" + format_time(range.start_ns) +
                                "); swap start and end");
  }
  // The difference of two int64 times can overflow int64; as end >= start, it fits uint64.
  const std::uint64_t length =
      static_cast<std::uint64_t>(range.end_ns) - static_cast<std::uint64_t>(range.start_ns);
  if (limits.max_query_length_ns > 0 &&
      length > static_cast<std::uint64_t>(limits.max_query_length_ns)) {
    return limit_exceeded("store.query_too_long",
                          "the query time range exceeds the limit (query length: " +
                              go_duration(length) +
                              ", limit: " + format_duration(limits.max_query_length_ns) +
                              "); narrow start and end, or raise limits.max_query_length");
  }
  return success();
}

Status validate_tenant(const std::string& tenant) {
  auto refuse = [&](const std::string& why) -> Status {
    return invalid_argument("store.invalid_tenant", "tenant ID '" + shown(tenant) + "' " + why);
  };
  if (tenant.empty()) return refuse("is empty; send X-Scope-OrgID or use the default 'fake'");
  if (tenant.size() > kMaxTenantLength) {
    return refuse("is longer than " + std::to_string(kMaxTenantLength) + " bytes");
  }
  if (tenant == "." || tenant == "..") return refuse("is not allowed");
  for (unsigned char c : tenant) {
    bool ok = (c < 128 && std::isalnum(c)) ||
              std::string_view("!-_.*'()").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return refuse("may hold only letters, digits and !-_.*'()");
  }
  return success();
}

void add_service_name(Labels& labels, const std::vector<std::string>& discovery) {
  if (discovery.empty() || find_label(labels, kServiceNameLabel) != nullptr) return;
  for (const auto& name : discovery) {
    const std::string* value = find_label(labels, name);
    if (value != nullptr && !value->empty()) {
      labels.emplace_back(kServiceNameLabel, *value);
      return;
    }
  }
  labels.emplace_back(kServiceNameLabel, kUnknownService);
}

Result<std::vector<ValidatedStream>> validate_push(const PushRequest& request,
                                                   const StoreLimits& limits, std::int64_t now_ns) {
  auto tenant = validate_tenant(request.tenant);
  if (!tenant) return tenant.error();

  std::vector<ValidatedStream> result;
  result.reserve(request.streams.size());
  for (std::size_t i = 0; i < request.streams.size(); ++i) {
    const LogStream& stream = request.streams[i];
    auto labels_ok = validate_labels(stream.labels, i, limits);
    if (!labels_ok) return labels_ok.error();

    ValidatedStream valid;
    valid.labels = stream.labels;
    normalize_labels(valid.labels);
    valid.key = labels_to_string(valid.labels);
    // Refusals name the stream as the sender wrote it.
    for (std::size_t j = 0; j < stream.entries.size(); ++j) {
      auto entry_ok =
          validate_entry(stream.entries[j], valid.key, where_entry(i, j), limits, now_ns);
      if (!entry_ok) return entry_ok.error();
    }
    if (stream.entries.empty()) continue;
    if (find_label(valid.labels, kServiceNameLabel) == nullptr &&
        !limits.discover_service_name.empty()) {
      add_service_name(valid.labels, limits.discover_service_name);
      normalize_labels(valid.labels);
      valid.key = labels_to_string(valid.labels);
    }
    valid.fingerprint = fingerprint(valid.key);
    valid.source = &stream;
    result.push_back(std::move(valid));
  }
  return result;
}

}  // namespace lognurse::local_store
