#include "otlp.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/json.hpp"
#include "protobuf_wire.hpp"

namespace lognurse::host {

using nlohmann::json;
using wire::Field;
using wire::Reader;
using wire::WireType;

const std::vector<std::string_view> kOtlpIndexAttributes = {
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "container.name",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
};

const std::vector<std::string_view> kServiceNameDiscovery = {
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
};

namespace {

/// Nesting deeper than this in AnyValue is refused, so that a hostile body cannot exhaust
/// the stack of a decoder.
constexpr int kMaxValueDepth = 32;

constexpr const char* kUnknownService = "unknown_service";

std::size_t index_of(const std::vector<std::string_view>& list, std::string_view name) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i] == name) return i;
  }
  return list.size();
}

// ---------------------------------------------------------------------------------------------
// Protobuf

Error malformed(const std::string& path, const std::string& what) {
  return invalid_argument("otlp.malformed_protobuf", path + ": " + what);
}

/// Checks a field's wire type; `names` maps field numbers to names for the message.
bool expect(const Field& field, WireType type, const char* message, const char* name,
            const std::string& path, Error& error) {
  if (field.type == type) return true;
  error = invalid_argument("otlp.malformed_protobuf",
                           path + ": " + wire::wrong_type(message, name, field, type));
  return false;
}

Result<OtlpValue> read_value(std::string_view bytes, std::size_t offset, const std::string& path,
                             int depth);

Result<OtlpKeyValue> read_key_value(std::string_view bytes, std::size_t offset,
                                                         const std::string& path, int depth) {
  Reader reader(bytes, offset);
  Field field;
  OtlpKeyValue pair;
  Error error;
  while (reader.next(field)) {
    if (field.number == 1) {
      if (!expect(field, WireType::length_delimited, "KeyValue", "key", path, error)) return error;
      pair.first = std::string(field.bytes);
    } else if (field.number == 2) {
      if (!expect(field, WireType::length_delimited, "KeyValue", "value", path, error)) {
        return error;
      }
      auto value = read_value(field.bytes, field.bytes_offset, path + ".value", depth + 1);
      if (!value) return value.error();
      pair.second = std::move(value.value());
    }
  }
  if (reader.failed()) return malformed(path, reader.error());
  return pair;
}

Status read_attribute(std::string_view bytes, std::size_t offset, const std::string& path,
                      OtlpAttributes& into, int depth) {
  auto pair = read_key_value(bytes, offset, path, depth);
  if (!pair) return pair.error();
  into.push_back(std::move(pair.value()));
  return success();
}

Result<OtlpValue> read_value(std::string_view bytes, std::size_t offset, const std::string& path,
                             int depth) {
  if (depth > kMaxValueDepth) {
    return malformed(
        path, "values are nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
  }
  Reader reader(bytes, offset);
  Field field;
  OtlpValue value;
  Error error;
  static const char* const kNames[] = {"",
                                       "string_value",
                                       "bool_value",
                                       "int_value",
                                       "double_value",
                                       "array_value",
                                       "kvlist_value",
                                       "bytes_value"};
  while (reader.next(field)) {
    if (field.number < 1 || field.number > 7) continue;
    const char* name = kNames[field.number];
    switch (field.number) {
      case 1:
      case 7:
        if (!expect(field, WireType::length_delimited, "AnyValue", name, path, error)) {
          return error;
        }
        value = OtlpValue{};
        value.kind = field.number == 1 ? OtlpValue::Kind::string : OtlpValue::Kind::bytes;
        value.text = std::string(field.bytes);
        break;
      case 2:
      case 3:
        if (!expect(field, WireType::varint, "AnyValue", name, path, error)) return error;
        value = OtlpValue{};
        if (field.number == 2) {
          value.kind = OtlpValue::Kind::boolean;
          value.boolean = field.scalar != 0;
        } else {
          value.kind = OtlpValue::Kind::integer;
          value.integer = static_cast<std::int64_t>(field.scalar);
        }
        break;
      case 4: {
        if (!expect(field, WireType::fixed64, "AnyValue", name, path, error)) return error;
        value = OtlpValue{};
        value.kind = OtlpValue::Kind::floating;
        std::uint64_t bits = field.scalar;
        static_assert(sizeof(double) == sizeof(bits));
        std::memcpy(&value.floating, &bits, sizeof(bits));
        break;
      }
      case 5:
      case 6: {
        if (!expect(field, WireType::length_delimited, "AnyValue", name, path, error)) {
          return error;
        }
        value = OtlpValue{};
        value.kind = field.number == 5 ? OtlpValue::Kind::array : OtlpValue::Kind::kvlist;
        Reader list(field.bytes, field.bytes_offset);
        Field item;
        while (list.next(item)) {
          if (item.number != 1) continue;
          const std::string item_path =
              path + "." + name + "[" +
              std::to_string(field.number == 5 ? value.items.size() : value.fields.size()) + "]";
          if (!expect(item, WireType::length_delimited,
                      field.number == 5 ? "ArrayValue" : "KeyValueList", "values", item_path,
                      error)) {
            return error;
          }
          if (field.number == 5) {
            auto element = read_value(item.bytes, item.bytes_offset, item_path, depth + 1);
            if (!element) return element.error();
            value.items.push_back(std::move(element.value()));
          } else {
            auto added =
                read_attribute(item.bytes, item.bytes_offset, item_path, value.fields, depth + 1);
            if (!added) return added.error();
          }
        }
        if (list.failed()) return malformed(path, list.error());
        break;
      }
    }
  }
  if (reader.failed()) return malformed(path, reader.error());
  return value;
}

Result<OtlpLogRecord> read_record(std::string_view bytes, std::size_t offset,
                                  const std::string& path) {
  Reader reader(bytes, offset);
  Field field;
  OtlpLogRecord record;
  Error error;
  while (reader.next(field)) {
    switch (field.number) {
      case 1:
      case 11:
        if (!expect(field, WireType::fixed64, "LogRecord",
                    field.number == 1 ? "time_unix_nano" : "observed_time_unix_nano", path,
                    error)) {
          return error;
        }
        if (field.scalar > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return malformed(path, "timestamp " + std::to_string(field.scalar) +
                                     " is after the year 2262, beyond nanosecond time");
        }
        (field.number == 1 ? record.time_unix_nano : record.observed_time_unix_nano) = field.scalar;
        break;
      case 2:
        if (!expect(field, WireType::varint, "LogRecord", "severity_number", path, error)) {
          return error;
        }
        record.severity_number = static_cast<int>(static_cast<std::int32_t>(field.scalar));
        break;
      case 3:
        if (!expect(field, WireType::length_delimited, "LogRecord", "severity_text", path, error)) {
          return error;
        }
        record.severity_text = std::string(field.bytes);
        break;
      case 5: {
        if (!expect(field, WireType::length_delimited, "LogRecord", "body", path, error)) {
          return error;
        }
        auto body = read_value(field.bytes, field.bytes_offset, path + ".body", 0);
        if (!body) return body.error();
        record.body = std::move(body.value());
        break;
      }
      case 6: {
        const std::string item =
            path + ".attributes[" + std::to_string(record.attributes.size()) + "]";
        if (!expect(field, WireType::length_delimited, "LogRecord", "attributes", path, error)) {
          return error;
        }
        auto added = read_attribute(field.bytes, field.bytes_offset, item, record.attributes, 0);
        if (!added) return added.error();
        break;
      }
      case 7:
        if (!expect(field, WireType::varint, "LogRecord", "dropped_attributes_count", path,
                    error)) {
          return error;
        }
        record.dropped_attributes_count = static_cast<std::uint32_t>(field.scalar);
        break;
      case 8:
        if (!expect(field, WireType::fixed32, "LogRecord", "flags", path, error)) return error;
        record.flags = static_cast<std::uint32_t>(field.scalar);
        break;
      case 9:
      case 10: {
        const bool trace = field.number == 9;
        if (!expect(field, WireType::length_delimited, "LogRecord", trace ? "trace_id" : "span_id",
                    path, error)) {
          return error;
        }
        const std::size_t width = trace ? 16 : 8;
        if (!field.bytes.empty() && field.bytes.size() != width) {
          return malformed(path + (trace ? ".trace_id" : ".span_id"),
                           "is " + std::to_string(field.bytes.size()) + " bytes; it must be " +
                               std::to_string(width) + " bytes or empty");
        }
        (trace ? record.trace_id : record.span_id) = std::string(field.bytes);
        break;
      }
      default:
        break;
    }
  }
  if (reader.failed()) return malformed(path, reader.error());
  return record;
}

Result<OtlpScopeLogs> read_scope_logs(std::string_view bytes, std::size_t offset,
                                      const std::string& path) {
  Reader reader(bytes, offset);
  Field field;
  OtlpScopeLogs scope;
  Error error;
  while (reader.next(field)) {
    if (field.number == 1) {
      if (!expect(field, WireType::length_delimited, "ScopeLogs", "scope", path, error)) {
        return error;
      }
      Reader inner(field.bytes, field.bytes_offset);
      Field item;
      while (inner.next(item)) {
        if (item.number == 1 || item.number == 2) {
          if (!expect(item, WireType::length_delimited, "InstrumentationScope",
                      item.number == 1 ? "name" : "version", path + ".scope", error)) {
            return error;
          }
          (item.number == 1 ? scope.name : scope.version) = std::string(item.bytes);
        } else if (item.number == 3) {
          if (!expect(item, WireType::length_delimited, "InstrumentationScope", "attributes",
                      path + ".scope", error)) {
            return error;
          }
          auto added = read_attribute(
              item.bytes, item.bytes_offset,
              path + ".scope.attributes[" + std::to_string(scope.attributes.size()) + "]",
              scope.attributes, 0);
          if (!added) return added.error();
        } else if (item.number == 4) {
          if (!expect(item, WireType::varint, "InstrumentationScope", "dropped_attributes_count",
                      path + ".scope", error)) {
            return error;
          }
          scope.dropped_attributes_count = static_cast<std::uint32_t>(item.scalar);
        }
      }
      if (inner.failed()) return malformed(path + ".scope", inner.error());
    } else if (field.number == 2) {
      if (!expect(field, WireType::length_delimited, "ScopeLogs", "log_records", path, error)) {
        return error;
      }
      auto record =
          read_record(field.bytes, field.bytes_offset,
                      path + ".log_records[" + std::to_string(scope.records.size()) + "]");
      if (!record) return record.error();
      scope.records.push_back(std::move(record.value()));
    }
  }
  if (reader.failed()) return malformed(path, reader.error());
  return scope;
}

Result<OtlpResourceLogs> read_resource_logs(std::string_view bytes, std::size_t offset,
                                            const std::string& path) {
  Reader reader(bytes, offset);
  Field field;
  OtlpResourceLogs resource;
  Error error;
  while (reader.next(field)) {
    if (field.number == 1) {
      if (!expect(field, WireType::length_delimited, "ResourceLogs", "resource", path, error)) {
        return error;
      }
      Reader inner(field.bytes, field.bytes_offset);
      Field item;
      while (inner.next(item)) {
        if (item.number != 1) continue;
        if (!expect(item, WireType::length_delimited, "Resource", "attributes", path + ".resource",
                    error)) {
          return error;
        }
        auto added = read_attribute(
            item.bytes, item.bytes_offset,
            path + ".resource.attributes[" + std::to_string(resource.attributes.size()) + "]",
            resource.attributes, 0);
        if (!added) return added.error();
      }
      if (inner.failed()) return malformed(path + ".resource", inner.error());
    } else if (field.number == 2) {
      if (!expect(field, WireType::length_delimited, "ResourceLogs", "scope_logs", path, error)) {
        return error;
      }
      auto scope =
          read_scope_logs(field.bytes, field.bytes_offset,
                          path + ".scope_logs[" + std::to_string(resource.scopes.size()) + "]");
      if (!scope) return scope.error();
      resource.scopes.push_back(std::move(scope.value()));
    }
  }
  if (reader.failed()) return malformed(path, reader.error());
  return resource;
}

// ---------------------------------------------------------------------------------------------
// JSON

Error bad_json(const std::string& path, const std::string& what) {
  return invalid_argument("otlp.malformed_json", path + ": " + what);
}

/// The member named in lowerCamelCase, or in the proto's snake_case; nullptr when absent or null.
const json* member(const json& object, const char* camel, const char* snake) {
  auto found = object.find(camel);
  if (found == object.end() && snake != nullptr) found = object.find(snake);
  if (found == object.end() || found->is_null()) return nullptr;
  return &*found;
}

Result<const json*> array_member(const json& object, const char* camel, const char* snake,
                                 const std::string& path) {
  const json* value = member(object, camel, snake);
  if (value != nullptr && !value->is_array())
    return bad_json(path + "." + camel, "must be an array");
  return value;
}

Result<std::string> string_member(const json& object, const char* camel, const char* snake,
                                  const std::string& path) {
  const json* value = member(object, camel, snake);
  if (value == nullptr) return std::string();
  if (!value->is_string()) return bad_json(path + "." + camel, "must be a string");
  return value->get<std::string>();
}

/// The integer a decimal number's text denotes, exactly: digits with an optional sign,
/// fraction and exponent ("1700000000000000000", "1.7e18", "-25", "2.50e1"), as the protobuf
/// JSON mapping accepts them for integer fields. Nothing when the text is not such a number,
/// is not a whole number, or does not fit 64 signed bits.
std::optional<std::int64_t> exact_decimal_integer(std::string_view text) {
  std::size_t at = 0;
  const bool negative = at < text.size() && text[at] == '-';
  if (negative) ++at;
  std::string digits;  // every significant digit, the decimal point taken out
  std::int64_t point = 0;  // where the decimal point stands in `digits`
  bool any_digit = false;
  for (; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) != 0; ++at) {
    digits += text[at];
    any_digit = true;
  }
  point = static_cast<std::int64_t>(digits.size());
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t before = digits.size();
    for (; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) != 0; ++at) {
      digits += text[at];
    }
    if (digits.size() == before) return std::nullopt;  // "1." and "1.e3" are not JSON
    any_digit = true;
  }
  if (!any_digit) return std::nullopt;
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    ++at;
    bool exponent_negative = false;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
      exponent_negative = text[at] == '-';
      ++at;
    }
    std::int64_t exponent = 0;
    const std::size_t first = at;
    for (; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) != 0; ++at) {
      // Any exponent past a few hundred already makes the number zero or too large.
      exponent = std::min<std::int64_t>(exponent * 10 + (text[at] - '0'), 100'000);
    }
    if (at == first) return std::nullopt;
    point += exponent_negative ? -exponent : exponent;
  }
  if (at != text.size()) return std::nullopt;

  // The digits after the point must all be zeros; those before it make the integer.
  std::uint64_t magnitude = 0;
  const std::uint64_t limit = negative ? std::uint64_t{1} << 63U : (std::uint64_t{1} << 63U) - 1;
  for (std::int64_t i = 0; i < std::max<std::int64_t>(point, 0); ++i) {
    const int digit = i < static_cast<std::int64_t>(digits.size()) ? digits[i] - '0' : 0;
    if (magnitude > (limit - static_cast<std::uint64_t>(digit)) / 10) return std::nullopt;
    magnitude = magnitude * 10 + static_cast<std::uint64_t>(digit);
  }
  for (std::int64_t i = std::max<std::int64_t>(point, 0);
       i < static_cast<std::int64_t>(digits.size()); ++i) {
    if (digits[i] != '0') return std::nullopt;
  }
  if (!negative) return static_cast<std::int64_t>(magnitude);
  return magnitude == (std::uint64_t{1} << 63U) ? std::numeric_limits<std::int64_t>::min()
                                                 : -static_cast<std::int64_t>(magnitude);
}

/// A 64-bit integer given as a JSON number or a string holding one. A number written with a
/// fraction or an exponent is taken when it is whole: JSON encoders write large integral
/// doubles so ("1.7e+18"), and the double they wrote is the value they meant.
Result<std::int64_t> integer_of(const json& value, const std::string& path, bool allow_negative) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return bad_json(path, "is larger than a signed 64-bit integer");
    }
    const auto number = value.get<std::int64_t>();
    if (!allow_negative && number < 0) return bad_json(path, "must not be negative");
    return number;
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::floor(number) != number) {
      return bad_json(path, "must be a whole number, not " + value.dump());
    }
    // 2^63 is the first double past int64's range; every double below it converts exactly.
    if (number >= 9.223372036854775808e18 || number < -9.223372036854775808e18) {
      return bad_json(path, value.dump() + " does not fit a signed 64-bit integer");
    }
    if (!allow_negative && number < 0) return bad_json(path, "must not be negative");
    return static_cast<std::int64_t>(number);
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    const auto number = exact_decimal_integer(text);
    if (!number) {
      return bad_json(path, "\"" + text + "\" is not a 64-bit integer");
    }
    if (!allow_negative && *number < 0) return bad_json(path, "must not be negative");
    return *number;
  }
  return bad_json(path, "must be an integer or a string of digits");
}

/// A uint32 field (a count or flags), given as integer_of takes it.
Result<std::uint32_t> uint32_of(const json& value, const std::string& path) {
  auto parsed = integer_of(value, path, false);
  if (!parsed) return parsed.error();
  if (parsed.value() > std::numeric_limits<std::uint32_t>::max()) {
    return bad_json(path, "is larger than 32 bits");
  }
  return static_cast<std::uint32_t>(parsed.value());
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> hex_id(const json& object, const char* camel, const char* snake,
                           std::size_t width, const std::string& path) {
  auto text = string_member(object, camel, snake, path);
  if (!text) return text.error();
  const std::string& hex = text.value();
  if (hex.empty()) return std::string();
  if (hex.size() != width * 2) {
    return bad_json(path + "." + camel, "\"" + hex + "\" must be " + std::to_string(width * 2) +
                                            " hex digits (" + std::to_string(width) + " bytes)");
  }
  std::string raw(width, '\0');
  for (std::size_t i = 0; i < width; ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return bad_json(path + "." + camel, "\"" + hex + "\" is not hexadecimal");
    }
    raw[i] = static_cast<char>(high * 16 + low);
  }
  return raw;
}

Result<std::string> base64_decode(const std::string& text, const std::string& path) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const int value = sextet(c);
    if (value < 0) return bad_json(path, "is not base64");
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

Result<OtlpValue> value_from_json(const json& node, const std::string& path, int depth);

Status attributes_from_json(const json* list, const std::string& path, OtlpAttributes& into,
                            int depth) {
  if (list == nullptr) return success();
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    if (!item.is_object()) return bad_json(item_path, "must be an object {\"key\", \"value\"}");
    auto key = string_member(item, "key", nullptr, item_path);
    if (!key) return key.error();
    OtlpValue value;
    if (const json* node = member(item, "value", nullptr)) {
      auto parsed = value_from_json(*node, item_path + ".value", depth + 1);
      if (!parsed) return parsed.error();
      value = std::move(parsed.value());
    }
    into.push_back(OtlpKeyValue{std::move(key.value()), std::move(value)});
  }
  return success();
}

Result<OtlpValue> value_from_json(const json& node, const std::string& path, int depth) {
  if (depth > kMaxValueDepth) {
    return bad_json(
        path, "values are nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
  }
  if (!node.is_object())
    return bad_json(path, "must be an AnyValue object such as {\"stringValue\": \"x\"}");
  OtlpValue value;
  if (const json* text = member(node, "stringValue", "string_value")) {
    if (!text->is_string()) return bad_json(path + ".stringValue", "must be a string");
    value.kind = OtlpValue::Kind::string;
    value.text = text->get<std::string>();
  } else if (const json* flag = member(node, "boolValue", "bool_value")) {
    if (!flag->is_boolean()) return bad_json(path + ".boolValue", "must be true or false");
    value.kind = OtlpValue::Kind::boolean;
    value.boolean = flag->get<bool>();
  } else if (const json* integer = member(node, "intValue", "int_value")) {
    auto parsed = integer_of(*integer, path + ".intValue", true);
    if (!parsed) return parsed.error();
    value.kind = OtlpValue::Kind::integer;
    value.integer = parsed.value();
  } else if (const json* number = member(node, "doubleValue", "double_value")) {
    value.kind = OtlpValue::Kind::floating;
    if (number->is_number()) {
      value.floating = number->get<double>();
    } else if (number->is_string() &&
               (*number == "NaN" || *number == "Infinity" || *number == "-Infinity")) {
      const auto& text = number->get_ref<const std::string&>();
      value.floating = text == "NaN"        ? std::numeric_limits<double>::quiet_NaN()
                       : text == "Infinity" ? std::numeric_limits<double>::infinity()
                                            : -std::numeric_limits<double>::infinity();
    } else {
      return bad_json(path + ".doubleValue", "must be a number");
    }
  } else if (const json* bytes = member(node, "bytesValue", "bytes_value")) {
    if (!bytes->is_string()) return bad_json(path + ".bytesValue", "must be a base64 string");
    auto decoded = base64_decode(bytes->get<std::string>(), path + ".bytesValue");
    if (!decoded) return decoded.error();
    value.kind = OtlpValue::Kind::bytes;
    value.text = std::move(decoded.value());
  } else if (const json* array = member(node, "arrayValue", "array_value")) {
    if (!array->is_object()) return bad_json(path + ".arrayValue", "must be {\"values\": [...]}");
    value.kind = OtlpValue::Kind::array;
    auto values = array_member(*array, "values", nullptr, path + ".arrayValue");
    if (!values) return values.error();
    if (values.value() != nullptr) {
      for (std::size_t i = 0; i < values.value()->size(); ++i) {
        auto element =
            value_from_json((*values.value())[i],
                            path + ".arrayValue.values[" + std::to_string(i) + "]", depth + 1);
        if (!element) return element.error();
        value.items.push_back(std::move(element.value()));
      }
    }
  } else if (const json* list = member(node, "kvlistValue", "kvlist_value")) {
    if (!list->is_object()) return bad_json(path + ".kvlistValue", "must be {\"values\": [...]}");
    value.kind = OtlpValue::Kind::kvlist;
    auto values = array_member(*list, "values", nullptr, path + ".kvlistValue");
    if (!values) return values.error();
    auto status =
        attributes_from_json(values.value(), path + ".kvlistValue.values", value.fields, depth + 1);
    if (!status) return status.error();
  }
  return value;
}

const std::map<std::string, int, std::less<>>& severity_names() {
  static const std::map<std::string, int, std::less<>> names = [] {
    std::map<std::string, int, std::less<>> table{{"SEVERITY_NUMBER_UNSPECIFIED", 0}};
    const char* const levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    for (int level = 0; level < 6; ++level) {
      for (int step = 1; step <= 4; ++step) {
        std::string name = std::string("SEVERITY_NUMBER_") + levels[level];
        if (step > 1) name += std::to_string(step);
        table.emplace(name, level * 4 + step);
      }
    }
    return table;
  }();
  return names;
}

Result<OtlpLogRecord> record_from_json(const json& node, const std::string& path) {
  if (!node.is_object()) return bad_json(path, "must be a LogRecord object");
  OtlpLogRecord record;
  const std::pair<const char*, const char*> times[] = {
      {"timeUnixNano", "time_unix_nano"}, {"observedTimeUnixNano", "observed_time_unix_nano"}};
  for (const auto& [camel, snake] : times) {
    if (const json* value = member(node, camel, snake)) {
      auto parsed = integer_of(*value, path + "." + camel, false);
      if (!parsed) return parsed.error();
      (std::string_view(camel) == "timeUnixNano" ? record.time_unix_nano
                                                 : record.observed_time_unix_nano) =
          static_cast<std::uint64_t>(parsed.value());
    }
  }
  if (const json* severity = member(node, "severityNumber", "severity_number")) {
    if (severity->is_string()) {
      const auto& name = severity->get_ref<const std::string&>();
      const auto found = severity_names().find(name);
      if (found == severity_names().end()) {
        return bad_json(path + ".severityNumber", "\"" + name + "\" is not a SeverityNumber");
      }
      record.severity_number = found->second;
    } else {
      auto parsed = integer_of(*severity, path + ".severityNumber", true);
      if (!parsed) return parsed.error();
      if (parsed.value() < std::numeric_limits<std::int32_t>::min() ||
          parsed.value() > std::numeric_limits<std::int32_t>::max()) {
        return bad_json(path + ".severityNumber", "is out of range");
      }
      record.severity_number = static_cast<int>(parsed.value());
    }
  }
  auto text = string_member(node, "severityText", "severity_text", path);
  if (!text) return text.error();
  record.severity_text = std::move(text.value());
  if (const json* body = member(node, "body", nullptr)) {
    auto parsed = value_from_json(*body, path + ".body", 0);
    if (!parsed) return parsed.error();
    record.body = std::move(parsed.value());
  }
  auto attributes = array_member(node, "attributes", nullptr, path);
  if (!attributes) return attributes.error();
  auto status =
      attributes_from_json(attributes.value(), path + ".attributes", record.attributes, 0);
  if (!status) return status.error();
  const std::pair<const char*, const char*> counts[] = {
      {"droppedAttributesCount", "dropped_attributes_count"}, {"flags", nullptr}};
  for (const auto& [camel, snake] : counts) {
    if (const json* value = member(node, camel, snake)) {
      auto parsed = uint32_of(*value, path + "." + camel);
      if (!parsed) return parsed.error();
      (std::string_view(camel) == "flags" ? record.flags : record.dropped_attributes_count) =
          parsed.value();
    }
  }
  auto trace = hex_id(node, "traceId", "trace_id", 16, path);
  if (!trace) return trace.error();
  record.trace_id = std::move(trace.value());
  auto span = hex_id(node, "spanId", "span_id", 8, path);
  if (!span) return span.error();
  record.span_id = std::move(span.value());
  return record;
}

// ---------------------------------------------------------------------------------------------
// Mapping

void append_base64(std::string& out, std::string_view bytes) {
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (static_cast<unsigned char>(bytes[i]) << 16) |
                   (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                   static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    const auto n = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const auto n = (static_cast<unsigned char>(bytes[i]) << 16) |
                   (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
}

/// ECMAScript's number-to-string, which OTLP's AsString follows: plain decimals between
/// 1e-6 and 1e21, exponent form outside.
std::string format_double(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == 0) return "0";
  char buffer[64];
  const double magnitude = std::fabs(value);
  const auto format = magnitude < 1e-6 || magnitude >= 1e21 ? std::chars_format::scientific
                                                            : std::chars_format::fixed;
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, format);
  std::string text(buffer, ec == std::errc() ? end : buffer);
  // to_chars writes exponents as e-07; ECMAScript writes e-7.
  const auto e = text.find('e');
  if (e != std::string::npos && e + 2 < text.size() && text[e + 2] == '0') text.erase(e + 2, 1);
  return text;
}

json value_to_json(const OtlpValue& value) {
  switch (value.kind) {
    case OtlpValue::Kind::empty:
      return nullptr;
    case OtlpValue::Kind::string:
      return value.text;
    case OtlpValue::Kind::boolean:
      return value.boolean;
    case OtlpValue::Kind::integer:
      return value.integer;
    case OtlpValue::Kind::floating:
      if (!std::isfinite(value.floating)) return format_double(value.floating);
      return value.floating;
    case OtlpValue::Kind::bytes: {
      std::string encoded;
      append_base64(encoded, value.text);
      return encoded;
    }
    case OtlpValue::Kind::array: {
      json items = json::array();
      for (const auto& item : value.items) items.push_back(value_to_json(item));
      return items;
    }
    case OtlpValue::Kind::kvlist: {
      json object = json::object();
      for (const auto& [key, item] : value.fields) object[key] = value_to_json(item);
      return object;
    }
  }
  return nullptr;
}

/// Appends the attribute as labels: one for a scalar, one per leaf for a map.
void flatten(const std::string& name, const OtlpValue& value, Labels& out) {
  if (value.kind == OtlpValue::Kind::kvlist) {
    for (const auto& [key, item] : value.fields) {
      flatten(normalize_attribute_name(name + "_" + key), item, out);
    }
    return;
  }
  out.emplace_back(name, otlp_value_to_string(value));
}

std::string hex(std::string_view bytes) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

bool all_zero(std::string_view bytes) {
  for (char c : bytes) {
    if (c != 0) return false;
  }
  return true;
}

const char* level_of_severity(int number) {
  if (number <= 0) return "unknown";
  if (number <= 4) return "trace";
  if (number <= 8) return "debug";
  if (number <= 12) return "info";
  if (number <= 16) return "warn";
  if (number <= 20) return "error";
  if (number <= 24) return "fatal";
  return "unknown";
}

const std::string* find_metadata(const Labels& metadata, std::string_view name) {
  for (const auto& [key, value] : metadata) {
    if (key == name) return &value;
  }
  return nullptr;
}

void protobuf_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void protobuf_bytes(std::string& out, std::uint32_t number, std::string_view bytes) {
  protobuf_varint(out, (static_cast<std::uint64_t>(number) << 3) | 2);
  protobuf_varint(out, bytes.size());
  out.append(bytes);
}

}  // namespace

std::size_t OtlpLogs::record_count() const {
  std::size_t count = 0;
  for (const auto& resource : resources) {
    for (const auto& scope : resource.scopes) count += scope.records.size();
  }
  return count;
}

Result<OtlpLogs> otlp_logs_from_protobuf(std::string_view message) {
  OtlpLogs logs;
  Reader reader(message);
  Field field;
  while (reader.next(field)) {
    if (field.number != 1) continue;
    const std::string path = "resource_logs[" + std::to_string(logs.resources.size()) + "]";
    Error error;
    if (!expect(field, WireType::length_delimited, "ExportLogsServiceRequest", "resource_logs",
                "request", error)) {
      return error;
    }
    auto resource = read_resource_logs(field.bytes, field.bytes_offset, path);
    if (!resource) return resource.error();
    logs.resources.push_back(std::move(resource.value()));
  }
  if (reader.failed()) return malformed("request", reader.error());
  return logs;
}

Result<OtlpLogs> otlp_logs_from_json(std::string_view body) {
  json root;
  if (const auto problem = parse_json_text(body, root); !problem.empty()) {
    return bad_json("request", problem + "; send an ExportLogsServiceRequest object");
  }
  if (!root.is_object()) return bad_json("request", "must be an object {\"resourceLogs\": [...]}");
  OtlpLogs logs;
  auto resources = array_member(root, "resourceLogs", "resource_logs", "request");
  if (!resources) return resources.error();
  if (resources.value() == nullptr) return logs;
  for (std::size_t r = 0; r < resources.value()->size(); ++r) {
    const json& node = (*resources.value())[r];
    const std::string path = "resourceLogs[" + std::to_string(r) + "]";
    if (!node.is_object()) return bad_json(path, "must be a ResourceLogs object");
    OtlpResourceLogs resource;
    if (const json* res = member(node, "resource", nullptr)) {
      if (!res->is_object()) return bad_json(path + ".resource", "must be an object");
      auto attributes = array_member(*res, "attributes", nullptr, path + ".resource");
      if (!attributes) return attributes.error();
      auto status = attributes_from_json(attributes.value(), path + ".resource.attributes",
                                         resource.attributes, 0);
      if (!status) return status.error();
    }
    auto scopes = array_member(node, "scopeLogs", "scope_logs", path);
    if (!scopes) return scopes.error();
    if (scopes.value() != nullptr) {
      for (std::size_t s = 0; s < scopes.value()->size(); ++s) {
        const json& scope_node = (*scopes.value())[s];
        const std::string scope_path = path + ".scopeLogs[" + std::to_string(s) + "]";
        if (!scope_node.is_object()) return bad_json(scope_path, "must be a ScopeLogs object");
        OtlpScopeLogs scope;
        if (const json* info = member(scope_node, "scope", nullptr)) {
          if (!info->is_object()) return bad_json(scope_path + ".scope", "must be an object");
          auto name = string_member(*info, "name", nullptr, scope_path + ".scope");
          if (!name) return name.error();
          scope.name = std::move(name.value());
          auto version = string_member(*info, "version", nullptr, scope_path + ".scope");
          if (!version) return version.error();
          scope.version = std::move(version.value());
          auto attributes = array_member(*info, "attributes", nullptr, scope_path + ".scope");
          if (!attributes) return attributes.error();
          auto status = attributes_from_json(attributes.value(), scope_path + ".scope.attributes",
                                             scope.attributes, 0);
          if (!status) return status.error();
          if (const json* dropped =
                  member(*info, "droppedAttributesCount", "dropped_attributes_count")) {
            auto parsed = uint32_of(*dropped, scope_path + ".scope.droppedAttributesCount");
            if (!parsed) return parsed.error();
            scope.dropped_attributes_count = parsed.value();
          }
        }
        auto records = array_member(scope_node, "logRecords", "log_records", scope_path);
        if (!records) return records.error();
        if (records.value() != nullptr) {
          for (std::size_t i = 0; i < records.value()->size(); ++i) {
            auto record = record_from_json((*records.value())[i],
                                           scope_path + ".logRecords[" + std::to_string(i) + "]");
            if (!record) return record.error();
            scope.records.push_back(std::move(record.value()));
          }
        }
        resource.scopes.push_back(std::move(scope));
      }
    }
    logs.resources.push_back(std::move(resource));
  }
  return logs;
}

std::string normalize_attribute_name(std::string_view key) {
  std::string name;
  name.reserve(key.size());
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (ok) {
      name += static_cast<char>(c);
      continue;
    }
    name += '_';
    // One underscore for a whole UTF-8 sequence, as for one character.
    if (c >= 0xc0) {
      while (i + 1 < key.size() && (static_cast<unsigned char>(key[i + 1]) & 0xc0) == 0x80) ++i;
    }
  }
  if (name.empty()) return name;
  if (name[0] >= '0' && name[0] <= '9') return "key_" + name;
  if (name[0] == '_' && (name.size() < 2 || name[1] != '_')) return "key" + name;
  return name;
}

std::string otlp_value_to_string(const OtlpValue& value) {
  switch (value.kind) {
    case OtlpValue::Kind::empty:
      return "";
    case OtlpValue::Kind::string:
      return value.text;
    case OtlpValue::Kind::boolean:
      return value.boolean ? "true" : "false";
    case OtlpValue::Kind::integer:
      return std::to_string(value.integer);
    case OtlpValue::Kind::floating:
      return format_double(value.floating);
    case OtlpValue::Kind::bytes: {
      std::string encoded;
      append_base64(encoded, value.text);
      return encoded;
    }
    case OtlpValue::Kind::array:
    case OtlpValue::Kind::kvlist:
      return value_to_json(value).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return "";
}

PushRequest otlp_logs_to_push(const OtlpLogs& logs, const std::string& tenant,
                              std::int64_t receipt_ns) {
  PushRequest request;
  request.tenant = tenant;
  std::map<std::string, std::size_t> stream_of;

  for (const auto& resource : logs.resources) {
    Labels labels;
    Labels resource_metadata;
    bool has_service_name = false;
    for (const auto& [key, value] : resource.attributes) {
      const bool index = index_of(kOtlpIndexAttributes, key) < kOtlpIndexAttributes.size();
      Labels flat;
      flatten(normalize_attribute_name(key), value, flat);
      for (auto& pair : flat) {
        if (!index) {
          resource_metadata.push_back(std::move(pair));
        } else if (!pair.second.empty()) {
          // A service.name that is a map flattens to service_name_<key> labels, which name
          // no service: discovery still gives the stream its service_name.
          if (pair.first == "service_name") has_service_name = true;
          labels.push_back(std::move(pair));
        }
      }
    }
    normalize_labels(labels);
    if (!has_service_name) {
      std::string service = kUnknownService;
      for (const auto candidate : kServiceNameDiscovery) {
        if (const std::string* found = find_label(labels, std::string(candidate))) {
          service = *found;
          break;
        }
      }
      labels.emplace_back("service_name", std::move(service));
      normalize_labels(labels);
    }
    const std::string key = labels_to_string(labels);
    auto [slot, inserted] = stream_of.try_emplace(key, request.streams.size());
    if (inserted) request.streams.push_back(LogStream{labels, {}});

    for (const auto& scope : resource.scopes) {
      Labels scope_metadata;
      for (const auto& [name, value] : scope.attributes) {
        flatten(normalize_attribute_name(name), value, scope_metadata);
      }
      if (!scope.name.empty()) scope_metadata.emplace_back("scope_name", scope.name);
      if (!scope.version.empty()) scope_metadata.emplace_back("scope_version", scope.version);
      if (scope.dropped_attributes_count != 0) {
        scope_metadata.emplace_back("scope_dropped_attributes_count",
                                    std::to_string(scope.dropped_attributes_count));
      }

      for (const auto& record : scope.records) {
        LogEntry entry;
        for (const auto& [name, value] : record.attributes) {
          flatten(normalize_attribute_name(name), value, entry.metadata);
        }
        if (record.time_unix_nano != 0 && record.observed_time_unix_nano != 0) {
          entry.metadata.emplace_back("observed_timestamp",
                                      std::to_string(record.observed_time_unix_nano));
        }
        if (record.severity_number != 0) {
          entry.metadata.emplace_back("severity_number", std::to_string(record.severity_number));
        }
        if (!record.severity_text.empty()) {
          entry.metadata.emplace_back("severity_text", record.severity_text);
        }
        if (record.dropped_attributes_count != 0) {
          entry.metadata.emplace_back("dropped_attributes_count",
                                      std::to_string(record.dropped_attributes_count));
        }
        if (record.flags != 0) entry.metadata.emplace_back("flags", std::to_string(record.flags));
        if (!record.trace_id.empty() && !all_zero(record.trace_id)) {
          entry.metadata.emplace_back("trace_id", hex(record.trace_id));
        }
        if (!record.span_id.empty() && !all_zero(record.span_id)) {
          entry.metadata.emplace_back("span_id", hex(record.span_id));
        }
        entry.metadata.insert(entry.metadata.end(), resource_metadata.begin(),
                              resource_metadata.end());
        entry.metadata.insert(entry.metadata.end(), scope_metadata.begin(), scope_metadata.end());

        if (find_metadata(entry.metadata, "detected_level") == nullptr) {
          const std::string* level = nullptr;
          for (const char* name : {"level", "LEVEL", "Level", "severity", "SEVERITY", "Severity",
                                   "lvl", "LVL", "Lvl"}) {
            if ((level = find_metadata(entry.metadata, name)) != nullptr) break;
          }
          if (level != nullptr) {
            entry.metadata.emplace_back("detected_level", *level);
          } else if (record.severity_number != 0) {
            entry.metadata.emplace_back("detected_level",
                                        level_of_severity(record.severity_number));
          }
        }

        entry.timestamp_ns = record.time_unix_nano != 0
                                 ? static_cast<std::int64_t>(record.time_unix_nano)
                             : record.observed_time_unix_nano != 0
                                 ? static_cast<std::int64_t>(record.observed_time_unix_nano)
                                 : receipt_ns;
        entry.line = otlp_value_to_string(record.body);
        request.streams[slot->second].entries.push_back(std::move(entry));
      }
    }
  }
  // A resource without records adds no stream.
  std::vector<LogStream> kept;
  kept.reserve(request.streams.size());
  for (auto& stream : request.streams) {
    if (!stream.entries.empty()) kept.push_back(std::move(stream));
  }
  request.streams = std::move(kept);
  return request;
}

std::string otlp_response_protobuf(std::int64_t rejected, const std::string& message) {
  if (rejected == 0 && message.empty()) return {};
  std::string partial;
  if (rejected != 0) {
    protobuf_varint(partial, 1 << 3);
    protobuf_varint(partial, static_cast<std::uint64_t>(rejected));
  }
  if (!message.empty()) protobuf_bytes(partial, 2, message);
  std::string out;
  protobuf_bytes(out, 1, partial);
  return out;
}

std::string otlp_response_json(std::int64_t rejected, const std::string& message) {
  if (rejected == 0 && message.empty()) return "{}";
  json partial = json::object();
  // proto3's JSON mapping writes int64 as a string.
  if (rejected != 0) partial["rejectedLogRecords"] = std::to_string(rejected);
  if (!message.empty()) partial["errorMessage"] = message;
  return json{{"partialSuccess", partial}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string otlp_status_protobuf(int grpc_code, const std::string& message) {
  std::string out;
  protobuf_varint(out, 1 << 3);
  protobuf_varint(out, static_cast<std::uint64_t>(grpc_code));
  protobuf_bytes(out, 2, message);
  return out;
}

std::string otlp_status_json(int grpc_code, const std::string& message) {
  return json{{"code", grpc_code}, {"message", message}}.dump(-1, ' ', false,
                                                              json::error_handler_t::replace);
}

}  // namespace lognurse::host
