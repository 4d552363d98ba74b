#include "lognurse/logql/template.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/lexer.hpp"

namespace lognurse::logql {
namespace {

enum class Function {
  none,
  to_upper,
  to_lower,
  title,
  trim,
  trim_prefix,
  trim_suffix,
  trunc,
  replace,
  substr,
  default_value,
  printf_,
  regex_replace_all,
  regex_replace_all_literal,
  contains,
  has_prefix,
  has_suffix,
  len,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  and_,
  or_,
  not_,
  line,
  timestamp,
  trim_all,
  trim_cutset,
  trim_left,
  trim_right,
  align_left,
  align_right,
  repeat,
  b64enc,
  b64dec,
  urlencode,
  urldecode,
  indent,
  nindent,
  add,
  sub,
  mul,
  div,
  mod,
  addf,
  subf,
  mulf,
  divf,
  max_,
  min_,
  maxf,
  minf,
  ceil_,
  floor_,
  round_,
  float64,
  int_,
  date,
  to_date,
  to_date_in_zone,
  unix_epoch,
  unix_epoch_millis,
  unix_epoch_nanos,
  unix_to_time,
  now,
  duration_seconds,
  bytes,
  go_replace,
  count,
  from_json,
  index,
  print,
  println,
};

struct FunctionInfo {
  const char* name;
  Function function;
  int min_args;
  int max_args;  ///< -1: any number
};

constexpr FunctionInfo kFunctions[] = {
    {"ToUpper", Function::to_upper, 1, 1},
    {"upper", Function::to_upper, 1, 1},
    {"ToLower", Function::to_lower, 1, 1},
    {"lower", Function::to_lower, 1, 1},
    {"title", Function::title, 1, 1},
    {"Title", Function::title, 1, 1},
    {"trim", Function::trim, 1, 1},
    {"TrimSpace", Function::trim, 1, 1},
    {"trimPrefix", Function::trim_prefix, 2, 2},
    {"TrimPrefix", Function::trim_prefix, 2, 2},
    {"trimSuffix", Function::trim_suffix, 2, 2},
    {"TrimSuffix", Function::trim_suffix, 2, 2},
    {"trunc", Function::trunc, 2, 2},
    {"replace", Function::replace, 3, 3},
    {"substr", Function::substr, 3, 3},
    {"default", Function::default_value, 2, 2},
    {"printf", Function::printf_, 1, -1},
    {"regexReplaceAll", Function::regex_replace_all, 3, 3},
    {"regexReplaceAllLiteral", Function::regex_replace_all_literal, 3, 3},
    {"contains", Function::contains, 2, 2},
    {"hasPrefix", Function::has_prefix, 2, 2},
    {"hasSuffix", Function::has_suffix, 2, 2},
    {"len", Function::len, 1, 1},
    {"eq", Function::eq, 2, -1},
    {"ne", Function::ne, 2, 2},
    {"lt", Function::lt, 2, 2},
    {"le", Function::le, 2, 2},
    {"gt", Function::gt, 2, 2},
    {"ge", Function::ge, 2, 2},
    {"and", Function::and_, 1, -1},
    {"or", Function::or_, 1, -1},
    {"not", Function::not_, 1, 1},
    {"__line__", Function::line, 0, 0},
    {"__timestamp__", Function::timestamp, 0, 0},
    {"trimAll", Function::trim_all, 2, 2},
    {"Trim", Function::trim_cutset, 2, 2},
    {"TrimLeft", Function::trim_left, 2, 2},
    {"TrimRight", Function::trim_right, 2, 2},
    {"alignLeft", Function::align_left, 2, 2},
    {"alignRight", Function::align_right, 2, 2},
    {"repeat", Function::repeat, 2, 2},
    {"b64enc", Function::b64enc, 1, 1},
    {"b64dec", Function::b64dec, 1, 1},
    {"urlencode", Function::urlencode, 1, 1},
    {"urldecode", Function::urldecode, 1, 1},
    {"indent", Function::indent, 2, 2},
    {"nindent", Function::nindent, 2, 2},
    {"add", Function::add, 1, -1},
    {"sub", Function::sub, 2, 2},
    {"mul", Function::mul, 1, -1},
    {"div", Function::div, 2, 2},
    {"mod", Function::mod, 2, 2},
    {"addf", Function::addf, 1, -1},
    {"subf", Function::subf, 1, -1},
    {"mulf", Function::mulf, 1, -1},
    {"divf", Function::divf, 1, -1},
    {"max", Function::max_, 1, -1},
    {"min", Function::min_, 1, -1},
    {"maxf", Function::maxf, 1, -1},
    {"minf", Function::minf, 1, -1},
    {"ceil", Function::ceil_, 1, 1},
    {"floor", Function::floor_, 1, 1},
    {"round", Function::round_, 2, 3},
    {"float64", Function::float64, 1, 1},
    {"int", Function::int_, 1, 1},
    {"date", Function::date, 2, 2},
    {"toDate", Function::to_date, 2, 2},
    {"toDateInZone", Function::to_date_in_zone, 3, 3},
    {"unixEpoch", Function::unix_epoch, 1, 1},
    {"unixEpochMillis", Function::unix_epoch_millis, 1, 1},
    {"unixEpochNanos", Function::unix_epoch_nanos, 1, 1},
    {"unixToTime", Function::unix_to_time, 1, 1},
    {"now", Function::now, 0, 0},
    {"duration", Function::duration_seconds, 1, 1},
    {"duration_seconds", Function::duration_seconds, 1, 1},
    {"bytes", Function::bytes, 1, 1},
    {"Replace", Function::go_replace, 4, 4},
    {"count", Function::count, 2, 2},
    {"fromJson", Function::from_json, 1, 1},
    {"index", Function::index, 1, -1},
    {"print", Function::print, 0, -1},
    {"println", Function::println, 0, -1},
};

const FunctionInfo* find_function(std::string_view name) {
  for (const auto& info : kFunctions) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Go time layouts ("2006-01-02T15:04:05Z07:00"), in UTC: what date, toDate,
// toDateInZone (UTC and Local only, both UTC here) and __timestamp__ need.

struct CivilTime {
  long long year = 1970;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0;
  long long nanos = 0;
  int weekday = 4;  ///< 0 = Sunday
  int yday = 1;
};

long long days_from_civil(long long y, int m, int d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  long long yoe = y - era * 400;
  long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilTime civil_from_ns(std::int64_t ns) {
  CivilTime t;
  long long seconds = ns / 1'000'000'000LL;
  t.nanos = ns % 1'000'000'000LL;
  if (t.nanos < 0) {
    t.nanos += 1'000'000'000LL;
    --seconds;
  }
  long long days = seconds / 86400;
  long long rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  t.hour = static_cast<int>(rest / 3600);
  t.minute = static_cast<int>(rest % 3600 / 60);
  t.second = static_cast<int>(rest % 60);
  t.weekday = static_cast<int>(((days % 7) + 11) % 7);
  long long z = days + 719468;
  long long era = (z >= 0 ? z : z - 146096) / 146097;
  long long doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153;
  t.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  t.year = yoe + era * 400 + (t.month <= 2);
  t.yday = static_cast<int>(days - days_from_civil(t.year, 1, 1) + 1);
  return t;
}

constexpr const char* kMonthNames[] = {"January", "February", "March",     "April",
                                       "May",     "June",     "July",      "August",
                                       "September", "October", "November", "December"};
constexpr const char* kDayNames[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};

/// The layout elements Go recognises, longest first where one prefixes another.
constexpr const char* kLayoutElements[] = {
    "January", "Jan", "Monday", "Mon", "MST", "2006", "Z07:00:00", "-07:00:00", "Z07:00",
    "-07:00",  "Z0700", "-0700", "Z07", "-07", "002", "__2", "_2", "01", "02", "03", "04",
    "05",      "06",  "15",    "PM",  "pm",  "1",   "2",   "3",   "4",   "5"};

/// The layout element at `layout[i]`, or "" for literal text; fractional
/// seconds (.000, .999) are matched separately.
std::string_view layout_element(std::string_view layout, std::size_t i) {
  for (const char* element : kLayoutElements) {
    std::string_view e(element);
    if (layout.substr(i, e.size()) == e) return e;
  }
  return {};
}

std::size_t fraction_length(std::string_view layout, std::size_t i) {
  if (i >= layout.size() || (layout[i] != '.' && layout[i] != ',')) return 0;
  if (i + 1 >= layout.size() || (layout[i + 1] != '0' && layout[i + 1] != '9')) return 0;
  char digit = layout[i + 1];
  std::size_t end = i + 1;
  while (end < layout.size() && layout[end] == digit) ++end;
  if (end < layout.size() && std::isdigit(static_cast<unsigned char>(layout[end]))) return 0;
  return end - i;
}

std::string pad(long long value, int width, char fill = '0') {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out = value < 0 ? "-" : "";
  if (static_cast<int>(digits.size()) < width) out.append(width - digits.size(), fill);
  return out + digits;
}

std::string go_format_time(std::int64_t ns, std::string_view layout) {
  CivilTime t = civil_from_ns(ns);
  std::string out;
  for (std::size_t i = 0; i < layout.size();) {
    if (std::size_t n = fraction_length(layout, i)) {
      std::string digits = pad(t.nanos, 9).substr(0, n - 1);
      if (layout[i + 1] == '9') {
        while (!digits.empty() && digits.back() == '0') digits.pop_back();
        if (!digits.empty()) out += layout[i] + digits;
      } else {
        out += layout[i] + digits;
      }
      i += n;
      continue;
    }
    std::string_view e = layout_element(layout, i);
    if (e.empty()) {
      out += layout[i++];
      continue;
    }
    int hour12 = t.hour % 12 == 0 ? 12 : t.hour % 12;
    if (e == "January") out += kMonthNames[t.month - 1];
    else if (e == "Jan") out += std::string(kMonthNames[t.month - 1]).substr(0, 3);
    else if (e == "Monday") out += kDayNames[t.weekday];
    else if (e == "Mon") out += std::string(kDayNames[t.weekday]).substr(0, 3);
    else if (e == "MST") out += "UTC";
    else if (e == "2006") out += pad(t.year, 4);
    else if (e == "06") out += pad(t.year % 100, 2);
    else if (e[0] == 'Z') out += 'Z';
    else if (e == "-07:00:00") out += "+00:00:00";
    else if (e == "-07:00") out += "+00:00";
    else if (e == "-0700") out += "+0000";
    else if (e == "-07") out += "+00";
    else if (e == "002") out += pad(t.yday, 3);
    else if (e == "__2") out += pad(t.yday, 3, ' ');
    else if (e == "_2") out += pad(t.day, 2, ' ');
    else if (e == "01") out += pad(t.month, 2);
    else if (e == "02") out += pad(t.day, 2);
    else if (e == "03") out += pad(hour12, 2);
    else if (e == "04") out += pad(t.minute, 2);
    else if (e == "05") out += pad(t.second, 2);
    else if (e == "15") out += pad(t.hour, 2);
    else if (e == "PM") out += t.hour >= 12 ? "PM" : "AM";
    else if (e == "pm") out += t.hour >= 12 ? "pm" : "am";
    else if (e == "1") out += std::to_string(t.month);
    else if (e == "2") out += std::to_string(t.day);
    else if (e == "3") out += std::to_string(hour12);
    else if (e == "4") out += std::to_string(t.minute);
    else if (e == "5") out += std::to_string(t.second);
    i += e.size();
  }
  return out;
}

/// Go's default rendering of a time.Time, as {{ __timestamp__ }} prints it.
std::string go_time_string(std::int64_t ns) {
  return go_format_time(ns, "2006-01-02 15:04:05.999999999 -0700 MST");
}

/// Reads up to `max` digits (at least `min`) at text[pos].
bool read_number(std::string_view text, std::size_t& pos, int min, int max, long long& out) {
  std::size_t start = pos;
  out = 0;
  while (pos < text.size() && static_cast<int>(pos - start) < max &&
         std::isdigit(static_cast<unsigned char>(text[pos]))) {
    out = out * 10 + (text[pos++] - '0');
  }
  return static_cast<int>(pos - start) >= min;
}

/// Parses `text` with a Go layout; numeric fields, month names, fractions and
/// Z or numeric UTC offsets. Returns false when the text does not fit.
bool go_parse_time(std::string_view layout, std::string_view text, std::int64_t& out_ns) {
  long long year = 1, month = 1, day = 1, hour = 0, minute = 0, second = 0, nanos = 0;
  long long offset_seconds = 0;
  bool pm = false;
  bool has_pm = false;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < layout.size();) {
    if (std::size_t n = fraction_length(layout, i)) {
      if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        long long digits = 0;
        std::size_t start = pos;
        if (!read_number(text, pos, 1, 9, digits)) return false;
        for (std::size_t k = pos - start; k < 9; ++k) digits *= 10;
        nanos = digits;
      } else if (layout[i + 1] == '0') {
        return false;
      }
      i += n;
      continue;
    }
    std::string_view e = layout_element(layout, i);
    if (e.empty()) {
      if (pos >= text.size() || text[pos] != layout[i]) return false;
      ++pos;
      ++i;
      continue;
    }
    i += e.size();
    long long value = 0;
    if (e == "January" || e == "Jan") {
      bool found = false;
      for (int m = 0; m < 12 && !found; ++m) {
        std::string name = e == "Jan" ? std::string(kMonthNames[m]).substr(0, 3) : kMonthNames[m];
        if (text.substr(pos, name.size()) == name) {
          month = m + 1;
          pos += name.size();
          found = true;
        }
      }
      if (!found) return false;
    } else if (e == "Monday" || e == "Mon") {
      bool found = false;
      for (int d = 0; d < 7 && !found; ++d) {
        std::string name = e == "Mon" ? std::string(kDayNames[d]).substr(0, 3) : kDayNames[d];
        if (text.substr(pos, name.size()) == name) {
          pos += name.size();
          found = true;
        }
      }
      if (!found) return false;
    } else if (e == "MST") {
      while (pos < text.size() && std::isupper(static_cast<unsigned char>(text[pos]))) ++pos;
    } else if (e == "2006") {
      if (!read_number(text, pos, 4, 4, year)) return false;
    } else if (e == "06") {
      if (!read_number(text, pos, 2, 2, value)) return false;
      year = value + (value >= 69 ? 1900 : 2000);
    } else if (e[0] == 'Z' || e[0] == '-') {
      if (e[0] == 'Z' && pos < text.size() && text[pos] == 'Z') {
        ++pos;
        continue;
      }
      if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return false;
      int sign = text[pos++] == '-' ? -1 : 1;
      long long hours = 0, minutes = 0;
      if (!read_number(text, pos, 2, 2, hours)) return false;
      if (e.size() > 3) {
        if (e.find(':') != std::string_view::npos) {
          if (pos >= text.size() || text[pos] != ':') return false;
          ++pos;
        }
        if (!read_number(text, pos, 2, 2, minutes)) return false;
      }
      offset_seconds = sign * (hours * 3600 + minutes * 60);
    } else if (e == "002" || e == "__2") {
      return false;
    } else if (e == "01" || e == "1") {
      if (!read_number(text, pos, e.size(), 2, month)) return false;
    } else if (e == "02" || e == "2" || e == "_2") {
      if (e == "_2" && pos < text.size() && text[pos] == ' ') ++pos;
      if (!read_number(text, pos, e == "02" ? 2 : 1, 2, day)) return false;
    } else if (e == "15") {
      if (!read_number(text, pos, 1, 2, hour)) return false;
    } else if (e == "03" || e == "3") {
      if (!read_number(text, pos, e.size(), 2, hour)) return false;
    } else if (e == "04" || e == "4") {
      if (!read_number(text, pos, e.size(), 2, minute)) return false;
    } else if (e == "05" || e == "5") {
      if (!read_number(text, pos, e.size(), 2, second)) return false;
    } else if (e == "PM" || e == "pm") {
      std::string_view marker = text.substr(pos, 2);
      if (marker != "AM" && marker != "PM" && marker != "am" && marker != "pm") return false;
      has_pm = true;
      pm = marker[0] == 'P' || marker[0] == 'p';
      pos += 2;
    }
  }
  if (pos != text.size()) return false;
  if (has_pm) hour = hour % 12 + (pm ? 12 : 0);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  long long seconds = days_from_civil(year, static_cast<int>(month), static_cast<int>(day)) *
                          86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  out_ns = seconds * 1'000'000'000LL + nanos;
  return true;
}

struct Value;
using ValueList = std::vector<Value>;
/// A decoded JSON object, sorted by key: Go ranges over and prints maps in key order.
using ValueMap = std::vector<std::pair<std::string, Value>>;

std::string go_float_string(double value);

/// A runtime value: templates see strings (labels), numbers (literals, len),
/// booleans (comparisons), times, the entry's labels (the initial dot) and,
/// from fromJson, nulls, lists and maps.
struct Value {
  enum class Kind { string, number, boolean, time, null, list, map, labels } kind = Kind::string;
  std::string text;
  double number = 0;
  bool boolean = false;
  std::int64_t time_ns = 0;  ///< for Kind::time, Unix nanoseconds
  /// A number decoded from JSON, a Go float64: printed as Go prints one (1e+06).
  bool json_number = false;
  std::shared_ptr<const ValueList> list;
  std::shared_ptr<const ValueMap> map;

  static Value of_string(std::string s) {
    Value v;
    v.text = std::move(s);
    return v;
  }
  static Value of_kind(Kind kind) {
    Value v;
    v.kind = kind;
    return v;
  }
  static Value of_number(double n) {
    Value v = of_kind(Kind::number);
    v.number = n;
    return v;
  }
  static Value of_bool(bool b) {
    Value v = of_kind(Kind::boolean);
    v.boolean = b;
    return v;
  }
  static Value of_time(std::int64_t ns) {
    Value v = of_kind(Kind::time);
    v.time_ns = ns;
    return v;
  }

  /// Elements of a list or entries of a map.
  std::size_t size() const {
    if (kind == Kind::list) return list->size();
    if (kind == Kind::map) return map->size();
    return 0;
  }

  bool truthy() const {
    switch (kind) {
      case Kind::string: return !text.empty();
      case Kind::number: return number != 0;
      case Kind::boolean: return boolean;
      case Kind::time:
      case Kind::labels: return true;
      case Kind::null: return false;
      case Kind::list:
      case Kind::map: return size() > 0;
    }
    return false;
  }

  /// The text an action prints. A null prints nothing, as Loki documents for a
  /// fromJson input that is not JSON.
  std::string to_string() const {
    std::string out;
    append_to(out, false);
    return out;
  }

  /// Go's %v: lists as [a b], maps as map[k:v] in key order, and a null
  /// inside them as <nil>.
  void append_to(std::string& out, bool nested) const {
    switch (kind) {
      case Kind::string: out += text; return;
      case Kind::number:
        out += json_number ? go_float_string(number) : format_number(number);
        return;
      case Kind::boolean: out += boolean ? "true" : "false"; return;
      case Kind::time: out += go_time_string(time_ns); return;
      case Kind::null:
        if (nested) out += "<nil>";
        return;
      case Kind::labels: out += text; return;
      case Kind::list:
        out += '[';
        for (std::size_t i = 0; i < list->size(); ++i) {
          if (i > 0) out += ' ';
          (*list)[i].append_to(out, true);
        }
        out += ']';
        return;
      case Kind::map:
        out += "map[";
        for (std::size_t i = 0; i < map->size(); ++i) {
          if (i > 0) out += ' ';
          out += (*map)[i].first;
          out += ':';
          (*map)[i].second.append_to(out, true);
        }
        out += ']';
        return;
    }
  }

  /// The name of the Go type that holds such a value, for error messages.
  const char* go_type() const {
    switch (kind) {
      case Kind::string: return "string";
      case Kind::number: return json_number ? "float64" : "int";
      case Kind::boolean: return "bool";
      case Kind::time: return "time.Time";
      case Kind::null: return "nil";
      case Kind::list: return "[]interface {}";
      case Kind::map: return "map[string]interface {}";
      case Kind::labels: return "map[string]string";
    }
    return "";
  }

  bool to_number(double& out) const {
    if (kind == Kind::number) {
      out = number;
      return true;
    }
    if (kind != Kind::string || text.empty()) return false;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
};

/// Go's %v of a float64 (strconv's shortest 'g'): the shortest digits that
/// read back the same, in exponent form when the decimal exponent is below -4
/// or at least 6, so 123456 stays as it is and 1234567 prints 1.234567e+06.
std::string go_float_string(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto written =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string_view scientific(buffer, static_cast<std::size_t>(written.ptr - buffer));
  std::size_t e = scientific.find('e');
  int exponent = std::atoi(std::string(scientific.substr(e + 1)).c_str());
  if (exponent < -4 || exponent >= 6) {
    // Go writes at least two exponent digits: 1e+06, 1e-05.
    std::string out(scientific.substr(0, e));
    out += exponent < 0 ? "e-" : "e+";
    int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
    return out;
  }
  auto fixed = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  return std::string(buffer, fixed.ptr);
}

struct Pipeline;

struct Argument {
  enum class Kind { field, dot, literal, function, pipeline, variable } kind = Kind::literal;
  std::string name;                ///< the variable name of $x
  std::vector<std::string> chain;  ///< the fields of .a.b or $x.a.b
  Value literal;
  const FunctionInfo* function = nullptr;
  std::shared_ptr<Pipeline> pipeline;
};

struct Command {
  std::vector<Argument> args;
  std::shared_ptr<RE2> regex;  ///< precompiled first argument of regexReplaceAll*
};

struct Pipeline {
  std::vector<Command> commands;
};

}  // namespace

struct TemplateNode {
  enum class Kind { list, text, action, branch, range, break_, continue_ } kind = Kind::list;
  std::string text;
  /// For an action: the variable it declares ({{ $x := ... }}) or assigns
  /// ({{ $x = ... }}), which then renders nothing. For a range: the variable
  /// of the element, or of the index or key when `element_variable` is set too.
  std::string variable;
  std::string element_variable;
  bool declares = true;
  /// For a branch: whether it is {{with}}, which also sets dot to the value in its body.
  bool is_with = false;
  Pipeline pipeline;
  std::vector<TemplateNode> body;
  std::vector<TemplateNode> else_body;
};

namespace {

std::string trim_space(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

/// Tokens inside {{ }}.
struct ActionToken {
  enum class Kind {
    identifier,
    field,
    dot,
    string,
    number,
    pipe,
    lparen,
    rparen,
    variable,
    declare,
    assign,
    comma
  } kind;
  std::string text;
  double number = 0;
  std::vector<std::string> chain;  ///< for field and variable: .a.b
};

/// Reads an identifier at body[i], returning its end.
std::size_t identifier_end(std::string_view body, std::size_t i) {
  while (i < body.size() && (std::isalnum(static_cast<unsigned char>(body[i])) || body[i] == '_')) {
    ++i;
  }
  return i;
}

/// Reads the field chain .a.b.c at body[i] into `chain`, returning its end.
std::size_t field_chain(std::string_view body, std::size_t i, std::vector<std::string>& chain) {
  while (i + 1 < body.size() && body[i] == '.') {
    std::size_t end = identifier_end(body, i + 1);
    if (end == i + 1) break;
    chain.emplace_back(body.substr(i + 1, end - i - 1));
    i = end;
  }
  return i;
}

bool lex_action(std::string_view body, std::vector<ActionToken>& out, std::string& error) {
  std::size_t i = 0;
  while (i < body.size()) {
    char c = body[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '|') {
      out.push_back({ActionToken::Kind::pipe, "|"});
      ++i;
    } else if (c == '$') {
      std::size_t end = identifier_end(body, i + 1);
      ActionToken token{ActionToken::Kind::variable, std::string(body.substr(i, end - i))};
      i = field_chain(body, end, token.chain);
      out.push_back(std::move(token));
    } else if (c == ',') {
      out.push_back({ActionToken::Kind::comma, ","});
      ++i;
    } else if (c == ':' && i + 1 < body.size() && body[i + 1] == '=') {
      out.push_back({ActionToken::Kind::declare, ":="});
      i += 2;
    } else if (c == '=') {
      out.push_back({ActionToken::Kind::assign, "="});
      ++i;
    } else if (c == '(') {
      out.push_back({ActionToken::Kind::lparen, "("});
      ++i;
    } else if (c == ')') {
      out.push_back({ActionToken::Kind::rparen, ")"});
      ++i;
    } else if (c == '"' || c == '`') {
      // Reuse the LogQL lexer's Go string decoding on the literal alone.
      std::size_t end = i + 1;
      while (end < body.size() && body[end] != c) end += (c == '"' && body[end] == '\\') ? 2 : 1;
      if (end >= body.size()) {
        error = "unterminated string in template action";
        return false;
      }
      auto tokens = tokenize(body.substr(i, end + 1 - i));
      if (!tokens.ok()) {
        error = "invalid string in template action";
        return false;
      }
      out.push_back({ActionToken::Kind::string, tokens.value()[0].text});
      i = end + 1;
    } else if (c == '.') {
      ActionToken token{ActionToken::Kind::field, "."};
      std::size_t end = field_chain(body, i, token.chain);
      if (token.chain.empty()) {
        token.kind = ActionToken::Kind::dot;
        end = i + 1;
      } else {
        token.text = std::string(body.substr(i, end - i));
      }
      out.push_back(std::move(token));
      i = end;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < body.size() &&
                std::isdigit(static_cast<unsigned char>(body[i + 1])))) {
      std::size_t end = i + 1;
      while (end < body.size() &&
             (std::isdigit(static_cast<unsigned char>(body[end])) || body[end] == '.')) {
        ++end;
      }
      ActionToken token{ActionToken::Kind::number, std::string(body.substr(i, end - i))};
      std::from_chars(token.text.data(), token.text.data() + token.text.size(), token.number);
      out.push_back(std::move(token));
      i = end;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t end = i + 1;
      while (end < body.size() &&
             (std::isalnum(static_cast<unsigned char>(body[end])) || body[end] == '_')) {
        ++end;
      }
      out.push_back({ActionToken::Kind::identifier, std::string(body.substr(i, end - i))});
      i = end;
    } else {
      error = std::string("unexpected \"") + c + "\" in template action";
      return false;
    }
  }
  return true;
}

class ActionParser {
public:
  ActionParser(const std::vector<ActionToken>& tokens, std::size_t start)
      : tokens_(tokens), pos_(start) {}

  bool parse_pipeline(Pipeline& pipeline, std::string& error, bool nested) {
    // Parenthesised pipelines recurse: bound them so input cannot exhaust the stack.
    if (++depth_ > kMaxDepth) {
      error = "template action nested more than " + std::to_string(kMaxDepth) + " levels deep";
      return false;
    }
    bool ok = parse_pipeline_body(pipeline, error, nested);
    --depth_;
    return ok;
  }

private:
  static constexpr int kMaxDepth = 100;

  bool parse_pipeline_body(Pipeline& pipeline, std::string& error, bool nested) {
    while (true) {
      Command command;
      if (!parse_command(command, error)) return false;
      pipeline.commands.push_back(std::move(command));
      if (pos_ < tokens_.size() && tokens_[pos_].kind == ActionToken::Kind::pipe) {
        ++pos_;
        continue;
      }
      break;
    }
    if (nested) {
      if (pos_ >= tokens_.size() || tokens_[pos_].kind != ActionToken::Kind::rparen) {
        error = "missing \")\" in template action";
        return false;
      }
      ++pos_;
    } else if (pos_ < tokens_.size()) {
      error = "unexpected \"" + tokens_[pos_].text + "\" in template action";
      return false;
    }
    return check_arity(pipeline, error);
  }

private:
  bool parse_command(Command& command, std::string& error) {
    while (pos_ < tokens_.size()) {
      const ActionToken& token = tokens_[pos_];
      if (token.kind == ActionToken::Kind::pipe || token.kind == ActionToken::Kind::rparen) break;
      ++pos_;
      Argument arg;
      switch (token.kind) {
        case ActionToken::Kind::field:
          arg.kind = Argument::Kind::field;
          arg.chain = token.chain;
          break;
        case ActionToken::Kind::dot: arg.kind = Argument::Kind::dot; break;
        case ActionToken::Kind::variable:
          arg.kind = Argument::Kind::variable;
          arg.name = token.text;
          arg.chain = token.chain;
          break;
        case ActionToken::Kind::string: arg.literal = Value::of_string(token.text); break;
        case ActionToken::Kind::number: arg.literal = Value::of_number(token.number); break;
        case ActionToken::Kind::lparen: {
          arg.kind = Argument::Kind::pipeline;
          arg.pipeline = std::make_shared<Pipeline>();
          if (!parse_pipeline(*arg.pipeline, error, true)) return false;
          break;
        }
        case ActionToken::Kind::identifier: {
          if (token.text == "true" || token.text == "false") {
            arg.literal = Value::of_bool(token.text == "true");
            break;
          }
          arg.kind = Argument::Kind::function;
          arg.function = find_function(token.text);
          if (arg.function == nullptr) {
            error = "function \"" + token.text + "\" not defined";
            return false;
          }
          break;
        }
        default:
          error = "unexpected \"" + token.text + "\" in template action";
          return false;
      }
      command.args.push_back(std::move(arg));
    }
    if (command.args.empty()) {
      error = "empty command in template action";
      return false;
    }
    if (command.args.size() > 1 && command.args[0].kind != Argument::Kind::function) {
      error = "can't give arguments to a non-function in template action";
      return false;
    }
    return precompile_regex(command, error);
  }

  static bool precompile_regex(Command& command, std::string& error) {
    const Argument& head = command.args[0];
    if (head.kind != Argument::Kind::function || command.args.size() < 2) return true;
    if (head.function->function != Function::regex_replace_all &&
        head.function->function != Function::regex_replace_all_literal &&
        head.function->function != Function::count) {
      return true;
    }
    const Argument& pattern = command.args[1];
    if (pattern.kind != Argument::Kind::literal) return true;
    command.regex = std::make_shared<RE2>(pattern.literal.to_string(), RE2::Quiet);
    if (!command.regex->ok()) {
      error = std::string("invalid regular expression in ") + head.function->name + ": " +
              command.regex->error();
      return false;
    }
    return true;
  }

  static bool check_arity(const Pipeline& pipeline, std::string& error) {
    for (std::size_t i = 0; i < pipeline.commands.size(); ++i) {
      const Command& command = pipeline.commands[i];
      // A function named as an argument is called with no arguments, as in Go.
      for (std::size_t a = 1; a < command.args.size(); ++a) {
        const Argument& arg = command.args[a];
        if (arg.kind == Argument::Kind::function && arg.function->min_args > 0) {
          error = std::string("wrong number of arguments for ") + arg.function->name + ": got 0";
          return false;
        }
      }
      if (command.args[0].kind != Argument::Kind::function) {
        if (i > 0) {
          error = "a pipeline stage of a template must be a function";
          return false;
        }
        continue;
      }
      const FunctionInfo& info = *command.args[0].function;
      int given = static_cast<int>(command.args.size()) - 1 + (i > 0 ? 1 : 0);
      if (given < info.min_args || (info.max_args >= 0 && given > info.max_args)) {
        error = std::string("wrong number of arguments for ") + info.name + ": got " +
                std::to_string(given);
        return false;
      }
    }
    return true;
  }

  const std::vector<ActionToken>& tokens_;
  std::size_t pos_;
  int depth_ = 0;
};

/// Expands $1, ${1}, $name and ${name} in a Go regexp replacement template.
void expand_replacement(const RE2& re, std::string_view repl, const re2::StringPiece* groups,
                        int group_count, std::string& out) {
  for (std::size_t i = 0; i < repl.size(); ++i) {
    if (repl[i] != '$' || i + 1 >= repl.size()) {
      out += repl[i];
      continue;
    }
    if (repl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::size_t start = i + 1;
    std::size_t end = start;
    bool braced = repl[start] == '{';
    if (braced) ++start, ++end;
    while (end < repl.size() && (std::isalnum(static_cast<unsigned char>(repl[end])) ||
                                 repl[end] == '_')) {
      ++end;
    }
    if (end == start || (braced && (end >= repl.size() || repl[end] != '}'))) {
      out += '$';
      continue;
    }
    std::string name(repl.substr(start, end - start));
    int index = -1;
    if (std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(c); })) {
      index = std::atoi(name.c_str());
    } else {
      const auto& named = re.NamedCapturingGroups();
      auto it = named.find(name);
      if (it != named.end()) index = it->second;
    }
    if (index >= 0 && index < group_count) out.append(groups[index].data(), groups[index].size());
    i = braced ? end : end - 1;
  }
}

std::string regex_replace_all(const RE2& re, std::string_view input, std::string_view repl,
                              bool literal) {
  std::string out;
  int group_count = re.NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> groups(static_cast<std::size_t>(group_count));
  re2::StringPiece text(input.data(), input.size());
  std::size_t pos = 0;
  std::size_t last_match_end = std::string_view::npos;
  while (pos <= input.size()) {
    if (!re.Match(text, pos, input.size(), RE2::UNANCHORED, groups.data(), group_count)) break;
    std::size_t match_start = static_cast<std::size_t>(groups[0].data() - input.data());
    std::size_t match_end = match_start + groups[0].size();
    if (groups[0].empty() && match_start == last_match_end) {
      // An empty match right after the previous match is skipped, as in Go.
      if (match_start >= input.size()) break;
      out += input[match_start];
      pos = match_start + 1;
      continue;
    }
    out.append(input.substr(pos, match_start - pos));
    if (literal) {
      out.append(repl);
    } else {
      expand_replacement(re, repl, groups.data(), group_count, out);
    }
    last_match_end = match_end;
    if (match_end == match_start) {
      if (match_start < input.size()) out += input[match_start];
      pos = match_start + 1;
    } else {
      pos = match_end;
    }
  }
  if (pos < input.size()) out.append(input.substr(pos));
  return out;
}

/// Go's fmt refuses a width or precision over a million ("%!(BADWIDTH)"): so does printf
/// here, which bounds what one call can make.
constexpr std::size_t kMaxPrintfWidth = 1'000'000;

/// snprintf of one value into a string of whatever length it takes.
template <typename T>
void append_formatted(std::string& out, const std::string& spec, T value) {
  const int length = std::snprintf(nullptr, 0, spec.c_str(), value);
  if (length <= 0) return;
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(length) + 1);
  std::snprintf(out.data() + at, static_cast<std::size_t>(length) + 1, spec.c_str(), value);
  out.resize(at + static_cast<std::size_t>(length));
}

std::string go_printf(const std::vector<Value>& args) {
  std::string out;
  const std::string& format = args[0].text;
  std::size_t next_arg = 1;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    std::size_t spec_start = i++;
    while (i < format.size() && std::strchr("-+ 0#", format[i]) != nullptr) ++i;
    std::string flags = format.substr(spec_start, i - spec_start);
    // A number of digits, kept only while it is within the bound.
    auto number_at = [&](std::size_t& at, bool& too_large) {
      const std::size_t start = at;
      std::size_t value = 0;
      while (at < format.size() && std::isdigit(static_cast<unsigned char>(format[at]))) {
        if (value <= kMaxPrintfWidth) {
          value = value * 10 + static_cast<std::size_t>(format[at] - '0');
        }
        ++at;
      }
      too_large = value > kMaxPrintfWidth;
      return format.substr(start, at - start);
    };
    bool bad_width = false;
    bool bad_precision = false;
    const std::string width = number_at(i, bad_width);
    if (!bad_width) flags += width;
    if (i < format.size() && format[i] == '.') {
      ++i;
      const std::string precision = number_at(i, bad_precision);
      if (!bad_precision) flags += "." + precision;
    }
    if (bad_width) out += "%!(BADWIDTH)";
    if (bad_precision) out += "%!(BADPREC)";
    if (i >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    char verb = format[i];
    if (verb == '%') {
      out += '%';
      continue;
    }
    if (next_arg >= args.size()) {
      out += std::string("%!") + verb + "(MISSING)";
      continue;
    }
    const Value& arg = args[next_arg++];
    double number = 0;
    if (verb == 'd' || verb == 'x' || verb == 'X' || verb == 'o' || verb == 'c') {
      if (!arg.to_number(number)) {
        out += std::string("%!") + verb + "(string=" + arg.to_string() + ")";
        continue;
      }
      append_formatted(out, flags + "ll" + verb, static_cast<long long>(number));
    } else if (verb == 'f' || verb == 'F' || verb == 'e' || verb == 'E' || verb == 'g' ||
               verb == 'G') {
      if (!arg.to_number(number)) {
        out += std::string("%!") + verb + "(string=" + arg.to_string() + ")";
        continue;
      }
      append_formatted(out, flags + verb, number);
    } else if (verb == 'q') {
      out += '"';
      for (char c : arg.to_string()) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    } else if (verb == 's' || verb == 'v' || verb == 't') {
      std::string text = arg.to_string();
      if (flags.size() == 1) {
        out += text;
      } else {
        append_formatted(out, flags + "s", text.c_str());
      }
    } else {
      out += std::string("%!") + verb + "(" + arg.to_string() + ")";
    }
  }
  for (; next_arg < args.size(); ++next_arg) {
    out += (next_arg == 1 ? "%!(EXTRA " : ", ") + args[next_arg].to_string();
    if (next_arg + 1 == args.size()) out += ")";
  }
  return out;
}

int compare_values(const Value& a, const Value& b) {
  double x = 0;
  double y = 0;
  if (a.to_number(x) && b.to_number(y)) return x < y ? -1 : (x > y ? 1 : 0);
  std::string sa = a.to_string();
  std::string sb = b.to_string();
  return sa < sb ? -1 : (sa > sb ? 1 : 0);
}

/// How rendering a node ended: normally, with an execution error, or with
/// {{break}} / {{continue}} on their way to the enclosing {{range}}.
enum class Flow { next, failed, break_loop, continue_loop };

/// Nesting deeper than this is not converted: fromJson gives a null instead,
/// so that a hostile line cannot exhaust the stack.
constexpr int kMaxJsonDepth = 200;

bool json_to_value(const nlohmann::json& json, int depth, Value& out) {
  if (depth > kMaxJsonDepth) return false;
  switch (json.type()) {
    case nlohmann::json::value_t::object: {
      auto map = std::make_shared<ValueMap>();
      map->reserve(json.size());
      // nlohmann keeps object members sorted by key, the order Go ranges in.
      for (const auto& [key, member] : json.items()) {
        Value value;
        if (!json_to_value(member, depth + 1, value)) return false;
        map->emplace_back(key, std::move(value));
      }
      out = Value::of_kind(Value::Kind::map);
      out.map = std::move(map);
      return true;
    }
    case nlohmann::json::value_t::array: {
      auto list = std::make_shared<ValueList>();
      list->reserve(json.size());
      for (const auto& element : json) {
        Value value;
        if (!json_to_value(element, depth + 1, value)) return false;
        list->push_back(std::move(value));
      }
      out = Value::of_kind(Value::Kind::list);
      out.list = std::move(list);
      return true;
    }
    case nlohmann::json::value_t::string:
      out = Value::of_string(json.get<std::string>());
      return true;
    case nlohmann::json::value_t::boolean: out = Value::of_bool(json.get<bool>()); return true;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      // Go decodes every JSON number into a float64, and refuses one out of its range.
      out = Value::of_number(json.get<double>());
      out.json_number = true;
      return std::isfinite(out.number);
    default: out = Value::of_kind(Value::Kind::null); return true;
  }
}

/// sprig's fromJson: the decoded document, or a null when `text` is not JSON.
Value from_json(const std::string& text) {
  Value out = Value::of_kind(Value::Kind::null);
  try {
    auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded() || !json_to_value(json, 0, out)) {
      return Value::of_kind(Value::Kind::null);
    }
  } catch (const nlohmann::json::exception&) {
    // A number out of range is reported by an exception even without allow_exceptions.
    return Value::of_kind(Value::Kind::null);
  }
  return out;
}

/// The most bytes one value a template computes, and its whole output, may hold: the bound
/// that keeps repeat, indent, alignLeft or a printf that doubles a variable in a range from
/// taking all memory.
constexpr std::size_t kMaxValueBytes = 16 << 20;

/// The characters (UTF-8 code points) of `text`: its bytes that do not continue a sequence.
std::size_t count_characters(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

/// The byte offset of character `index` of `text` (its size when there are fewer).
std::size_t character_offset(std::string_view text, std::size_t index) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (seen++ == index) return i;
  }
  return text.size();
}

class Renderer {
public:
  explicit Renderer(const TemplateData& data) : data_(data) {
    variables_.emplace_back("$", Value::of_kind(Value::Kind::labels));
  }

  Flow render(const TemplateNode& node, std::string& out) {
    const Flow flow = render_node(node, out);
    if (flow != Flow::failed && out.size() > kMaxValueBytes) {
      error = "the template's output is " + std::to_string(out.size()) +
              " bytes, more than the " + std::to_string(kMaxValueBytes) + " it may produce";
      return Flow::failed;
    }
    return flow;
  }

  std::string error;

private:
  Flow render_node(const TemplateNode& node, std::string& out) {
    switch (node.kind) {
      case TemplateNode::Kind::text: out += node.text; return Flow::next;
      case TemplateNode::Kind::list: return render_all(node.body, out);
      case TemplateNode::Kind::action: {
        Value value;
        if (!eval_pipeline(node.pipeline, value)) return Flow::failed;
        if (node.variable.empty()) {
          if (value.kind == Value::Kind::labels) {
            value = Value::of_string(std::string(data_.line()));
          }
          value.append_to(out, false);
        } else if (node.declares) {
          variables_.emplace_back(node.variable, std::move(value));
        } else {
          *find_variable(node.variable) = std::move(value);
        }
        return Flow::next;
      }
      case TemplateNode::Kind::branch: {
        Value condition;
        if (!eval_pipeline(node.pipeline, condition)) return Flow::failed;
        bool taken = condition.truthy();
        bool sets_dot = node.is_with && taken;
        if (sets_dot) dots_.push_back(std::move(condition));
        Flow flow = render_scope(taken ? node.body : node.else_body, out);
        if (sets_dot) dots_.pop_back();
        return flow;
      }
      case TemplateNode::Kind::range: return render_range(node, out);
      case TemplateNode::Kind::break_: return Flow::break_loop;
      case TemplateNode::Kind::continue_: return Flow::continue_loop;
    }
    return Flow::next;
  }

  Flow render_all(const std::vector<TemplateNode>& nodes, std::string& out) {
    for (const auto& child : nodes) {
      Flow flow = render(child, out);
      if (flow != Flow::next) return flow;
    }
    return Flow::next;
  }

  /// Renders a block whose variables end with it, as Go scopes them.
  Flow render_scope(const std::vector<TemplateNode>& nodes, std::string& out) {
    std::size_t mark = variables_.size();
    Flow flow = render_all(nodes, out);
    variables_.resize(mark);
    return flow;
  }

  /// {{range}} over a list (index, element), a map or the labels (key,
  /// value, in key order); nothing to iterate (an empty collection, a null)
  /// runs the else branch, anything else is an execution error, as in Go.
  Flow render_range(const TemplateNode& node, std::string& out) {
    Value subject;
    if (!eval_pipeline(node.pipeline, subject)) return Flow::failed;
    std::size_t iterations = 0;
    bool stopped = false;
    auto iterate = [&](Value key, Value element) {
      ++iterations;
      std::size_t mark = variables_.size();
      if (!node.element_variable.empty()) {
        variables_.emplace_back(node.variable, std::move(key));
        variables_.emplace_back(node.element_variable, element);
      } else if (!node.variable.empty()) {
        variables_.emplace_back(node.variable, element);
      }
      dots_.push_back(std::move(element));
      Flow flow = render_all(node.body, out);
      dots_.pop_back();
      variables_.resize(mark);
      if (flow == Flow::break_loop) stopped = true;
      return flow == Flow::failed ? Flow::failed : Flow::next;
    };
    switch (subject.kind) {
      case Value::Kind::list:
        for (std::size_t i = 0; i < subject.list->size() && !stopped; ++i) {
          if (iterate(Value::of_number(static_cast<double>(i)), (*subject.list)[i]) ==
              Flow::failed) {
            return Flow::failed;
          }
        }
        break;
      case Value::Kind::map:
        for (std::size_t i = 0; i < subject.map->size() && !stopped; ++i) {
          const auto& [key, element] = (*subject.map)[i];
          if (iterate(Value::of_string(key), element) == Flow::failed) return Flow::failed;
        }
        break;
      case Value::Kind::labels: {
        std::vector<std::pair<std::string, std::string>> labels;
        data_.each_label([&labels](std::string_view name, std::string_view value) {
          labels.emplace_back(name, value);
        });
        std::sort(labels.begin(), labels.end());
        for (std::size_t i = 0; i < labels.size() && !stopped; ++i) {
          if (iterate(Value::of_string(labels[i].first), Value::of_string(labels[i].second)) ==
              Flow::failed) {
            return Flow::failed;
          }
        }
        break;
      }
      case Value::Kind::null: break;
      default:
        error = "range can't iterate over " + subject.to_string();
        return Flow::failed;
    }
    if (iterations > 0) return Flow::next;
    return render_scope(node.else_body, out);
  }

  /// The innermost variable of that name; the parser has checked that one exists.
  Value* find_variable(const std::string& name) {
    for (auto it = variables_.rbegin(); it != variables_.rend(); ++it) {
      if (it->first == name) return &it->second;
    }
    return &variables_.front().second;
  }

  /// Go's field access: a label of the entry, a member of a map (a null when
  /// absent, since Loki executes with missingkey=zero), a null of a null; a
  /// field of anything else is an execution error.
  bool field(const Value& base, const std::string& name, Value& out) {
    switch (base.kind) {
      case Value::Kind::labels: {
        const std::string* value = data_.label(name);
        out = Value::of_string(value != nullptr ? *value : std::string());
        return true;
      }
      case Value::Kind::map: {
        auto it = std::lower_bound(
            base.map->begin(), base.map->end(), name,
            [](const std::pair<std::string, Value>& entry, const std::string& key) {
              return entry.first < key;
            });
        out = it != base.map->end() && it->first == name ? it->second
                                                         : Value::of_kind(Value::Kind::null);
        return true;
      }
      case Value::Kind::null: out = Value::of_kind(Value::Kind::null); return true;
      default:
        error = "can't evaluate field " + name + " in type " + base.go_type();
        return false;
    }
  }

  bool field_chain(Value base, const std::vector<std::string>& chain, Value& out) {
    for (const auto& name : chain) {
      Value next;
      if (!field(base, name, next)) return false;
      base = std::move(next);
    }
    out = std::move(base);
    return true;
  }

  bool eval_pipeline(const Pipeline& pipeline, Value& result) {
    bool has_piped = false;
    Value piped;
    for (const auto& command : pipeline.commands) {
      if (!eval_command(command, has_piped ? &piped : nullptr, result)) return false;
      piped = result;
      has_piped = true;
    }
    return true;
  }

  bool eval_argument(const Argument& arg, Value& out) {
    switch (arg.kind) {
      case Argument::Kind::field: {
        if (dots_.empty()) return field_chain(Value::of_kind(Value::Kind::labels), arg.chain, out);
        return field_chain(dots_.back(), arg.chain, out);
      }
      case Argument::Kind::dot:
        out = dots_.empty() ? Value::of_kind(Value::Kind::labels) : dots_.back();
        return true;
      case Argument::Kind::variable: return field_chain(*find_variable(arg.name), arg.chain, out);
      case Argument::Kind::literal: out = arg.literal; return true;
      case Argument::Kind::pipeline: return eval_pipeline(*arg.pipeline, out);
      case Argument::Kind::function: {
        Command call;
        call.args.push_back(arg);
        return eval_command(call, nullptr, out);
      }
    }
    return true;
  }

  bool eval_command(const Command& command, const Value* piped, Value& result) {
    const Argument& head = command.args[0];
    if (head.kind != Argument::Kind::function) return eval_argument(head, result);
    std::vector<Value> args;
    args.reserve(command.args.size());
    for (std::size_t i = 1; i < command.args.size(); ++i) {
      Value value;
      if (!eval_argument(command.args[i], value)) return false;
      args.push_back(std::move(value));
    }
    if (piped != nullptr) args.push_back(*piped);
    // Functions see the initial dot as the line, as {{ . }} prints it.
    for (auto& arg : args) {
      if (arg.kind == Value::Kind::labels) arg = Value::of_string(std::string(data_.line()));
    }
    if (!call(*head.function, command.regex.get(), args, result)) return false;
    if (result.kind == Value::Kind::string && result.text.size() > kMaxValueBytes) {
      error = std::string(head.function->name) + ": the result is " +
              std::to_string(result.text.size()) + " bytes, more than the " +
              std::to_string(kMaxValueBytes) + " a template value may hold";
      return false;
    }
    return true;
  }

  bool need_int(const Value& value, const char* function, long long& out) {
    // Whole numbers in [-2^63, 2^63), the range of long long; the bounds are exact doubles.
    constexpr double kLimit = 9223372036854775808.0;
    double number = 0;
    if (!value.to_number(number) || number != std::floor(number) || number < -kLimit ||
        number >= kLimit) {
      error = std::string(function) + ": expected an integer, got \"" + value.to_string() + "\"";
      return false;
    }
    out = static_cast<long long>(number);
    return true;
  }

  bool call(const FunctionInfo& info, const RE2* precompiled, std::vector<Value>& args,
            Value& result) {
    auto text = [&](std::size_t i) { return args[i].to_string(); };
    switch (info.function) {
      case Function::to_upper:
      case Function::to_lower: {
        std::string s = text(0);
        for (char& c : s) {
          c = static_cast<char>(info.function == Function::to_upper
                                    ? std::toupper(static_cast<unsigned char>(c))
                                    : std::tolower(static_cast<unsigned char>(c)));
        }
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::title: {
        std::string s = text(0);
        bool start = true;
        for (char& c : s) {
          if (start && std::isalpha(static_cast<unsigned char>(c))) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          }
          start = std::isspace(static_cast<unsigned char>(c)) != 0;
        }
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::trim: result = Value::of_string(trim_space(text(0))); return true;
      case Function::trim_prefix: {
        std::string prefix = text(0);
        std::string s = text(1);
        if (s.compare(0, prefix.size(), prefix) == 0) s.erase(0, prefix.size());
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::trim_suffix: {
        std::string suffix = text(0);
        std::string s = text(1);
        if (s.size() >= suffix.size() &&
            s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
          s.erase(s.size() - suffix.size());
        }
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::trunc: {
        long long n = 0;
        if (!need_int(args[0], "trunc", n)) return false;
        std::string s = text(1);
        auto size = static_cast<long long>(s.size());
        if (n >= 0 && size > n) s.resize(static_cast<std::size_t>(n));
        if (n < 0 && size + n > 0) s.erase(0, static_cast<std::size_t>(size + n));
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::replace: {
        std::string from = text(0);
        std::string to = text(1);
        std::string s = text(2);
        result = Value::of_string(replace_all(s, from, to));
        return true;
      }
      case Function::substr: {
        long long start = 0;
        long long end = 0;
        if (!need_int(args[0], "substr", start) || !need_int(args[1], "substr", end)) return false;
        std::string s = text(2);
        auto size = static_cast<long long>(s.size());
        if (start < 0) start = 0;
        if (end < 0 || end > size) end = size;
        result = Value::of_string(start >= end ? std::string()
                                                : s.substr(static_cast<std::size_t>(start),
                                                           static_cast<std::size_t>(end - start)));
        return true;
      }
      case Function::default_value:
        result = args[1].truthy() ? args[1] : args[0];
        return true;
      case Function::printf_: result = Value::of_string(go_printf(args)); return true;
      case Function::regex_replace_all:
      case Function::regex_replace_all_literal: {
        std::unique_ptr<RE2> compiled;
        const RE2* re = regex_argument(info, precompiled, text(0), compiled);
        if (re == nullptr) return false;
        result = Value::of_string(regex_replace_all(
            *re, text(1), text(2), info.function == Function::regex_replace_all_literal));
        return true;
      }
      case Function::contains:
        result = Value::of_bool(text(1).find(text(0)) != std::string::npos);
        return true;
      case Function::has_prefix: {
        std::string s = text(1);
        std::string prefix = text(0);
        result = Value::of_bool(s.compare(0, prefix.size(), prefix) == 0);
        return true;
      }
      case Function::has_suffix: {
        std::string s = text(1);
        std::string suffix = text(0);
        result = Value::of_bool(s.size() >= suffix.size() &&
                                s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0);
        return true;
      }
      case Function::len: {
        bool collection = args[0].kind == Value::Kind::list || args[0].kind == Value::Kind::map;
        std::size_t size = collection ? args[0].size() : text(0).size();
        result = Value::of_number(static_cast<double>(size));
        return true;
      }
      case Function::eq: {
        bool equal = false;
        for (std::size_t i = 1; i < args.size(); ++i) {
          equal = equal || compare_values(args[0], args[i]) == 0;
        }
        result = Value::of_bool(equal);
        return true;
      }
      case Function::ne: result = Value::of_bool(compare_values(args[0], args[1]) != 0); return true;
      case Function::lt: result = Value::of_bool(compare_values(args[0], args[1]) < 0); return true;
      case Function::le: result = Value::of_bool(compare_values(args[0], args[1]) <= 0); return true;
      case Function::gt: result = Value::of_bool(compare_values(args[0], args[1]) > 0); return true;
      case Function::ge: result = Value::of_bool(compare_values(args[0], args[1]) >= 0); return true;
      case Function::and_: {
        // Go's and: the first falsy argument, else the last.
        result = args.back();
        for (const auto& arg : args) {
          if (!arg.truthy()) {
            result = arg;
            break;
          }
        }
        return true;
      }
      case Function::or_: {
        result = args.back();
        for (const auto& arg : args) {
          if (arg.truthy()) {
            result = arg;
            break;
          }
        }
        return true;
      }
      case Function::not_: result = Value::of_bool(!args[0].truthy()); return true;
      case Function::line: result = Value::of_string(std::string(data_.line())); return true;
      case Function::timestamp: result = Value::of_time(data_.timestamp_ns()); return true;
      case Function::trim_all:
        result = Value::of_string(trim_cutset(text(1), text(0), true, true));
        return true;
      case Function::trim_cutset:
      case Function::trim_left:
      case Function::trim_right:
        result = Value::of_string(trim_cutset(text(0), text(1),
                                              info.function != Function::trim_right,
                                              info.function != Function::trim_left));
        return true;
      case Function::align_left:
      case Function::align_right: {
        // Loki's: the width counts characters (UTF-8 code points); a negative one leaves
        // the text as it is.
        long long n = 0;
        if (!need_int(args[0], info.name, n)) return false;
        std::string value = text(1);
        if (n > static_cast<long long>(kMaxValueBytes)) {
          error = std::string(info.name) + ": width " + std::to_string(n) +
                  " is more than the " + std::to_string(kMaxValueBytes) +
                  " bytes a template value may hold";
          return false;
        }
        if (n >= 0) {
          const auto width = static_cast<std::size_t>(n);
          const std::size_t characters = count_characters(value);
          const bool left = info.function == Function::align_left;
          if (characters > width) {
            value = left ? value.substr(0, character_offset(value, width))
                         : value.substr(character_offset(value, characters - width));
          } else if (left) {
            value.append(width - characters, ' ');
          } else {
            value.insert(0, width - characters, ' ');
          }
        }
        result = Value::of_string(std::move(value));
        return true;
      }
      case Function::repeat: {
        long long n = 0;
        if (!need_int(args[0], "repeat", n)) return false;
        std::string value = text(1);
        if (n > 0 && !value.empty() &&
            static_cast<unsigned long long>(n) > kMaxValueBytes / value.size()) {
          error = "repeat: " + std::to_string(n) + " copies of " + std::to_string(value.size()) +
                  " bytes are more than the " + std::to_string(kMaxValueBytes) +
                  " a template value may hold";
          return false;
        }
        std::string out;
        // An empty text repeated is empty however many times: no loop of 2^63 turns.
        if (n > 0 && !value.empty()) {
          out.reserve(static_cast<std::size_t>(n) * value.size());
          for (long long i = 0; i < n; ++i) out += value;
        }
        result = Value::of_string(std::move(out));
        return true;
      }
      case Function::b64enc: result = Value::of_string(base64_encode(text(0))); return true;
      case Function::b64dec: result = Value::of_string(base64_decode(text(0))); return true;
      case Function::urlencode: result = Value::of_string(query_escape(text(0))); return true;
      case Function::urldecode: result = Value::of_string(query_unescape(text(0))); return true;
      case Function::indent:
      case Function::nindent: {
        long long n = 0;
        if (!need_int(args[0], info.name, n)) return false;
        const std::string value = text(1);
        const auto lines =
            static_cast<std::size_t>(std::count(value.begin(), value.end(), '\n')) + 1;
        if (n > 0 && static_cast<unsigned long long>(n) >
                         (kMaxValueBytes - std::min(value.size(), kMaxValueBytes)) / lines) {
          error = std::string(info.name) + ": " + std::to_string(n) + " spaces before each of " +
                  std::to_string(lines) + " lines are more than the " +
                  std::to_string(kMaxValueBytes) + " bytes a template value may hold";
          return false;
        }
        std::string padding(static_cast<std::size_t>(n < 0 ? 0 : n), ' ');
        std::string out = (info.function == Function::nindent ? "\n" : "") + padding;
        for (char c : value) {
          out += c;
          if (c == '\n') out += padding;
        }
        result = Value::of_string(std::move(out));
        return true;
      }
      case Function::add:
      case Function::mul:
      case Function::max_:
      case Function::min_: {
        long long acc = to_int64(args[0]);
        for (std::size_t i = 1; i < args.size(); ++i) {
          long long x = to_int64(args[i]);
          if (info.function == Function::add) acc += x;
          if (info.function == Function::mul) acc *= x;
          if (info.function == Function::max_) acc = std::max(acc, x);
          if (info.function == Function::min_) acc = std::min(acc, x);
        }
        result = Value::of_number(static_cast<double>(acc));
        return true;
      }
      case Function::sub:
        result = Value::of_number(static_cast<double>(to_int64(args[0]) - to_int64(args[1])));
        return true;
      case Function::div:
      case Function::mod: {
        long long b = to_int64(args[1]);
        if (b == 0) {
          error = std::string(info.name) + ": integer divide by zero";
          return false;
        }
        long long a = to_int64(args[0]);
        result = Value::of_number(static_cast<double>(info.function == Function::div ? a / b
                                                                                     : a % b));
        return true;
      }
      case Function::addf:
      case Function::subf:
      case Function::mulf:
      case Function::divf:
      case Function::maxf:
      case Function::minf: {
        double acc = to_float(args[0]);
        for (std::size_t i = 1; i < args.size(); ++i) {
          double x = to_float(args[i]);
          switch (info.function) {
            case Function::addf: acc += x; break;
            case Function::subf: acc -= x; break;
            case Function::mulf: acc *= x; break;
            case Function::divf: acc /= x; break;
            case Function::maxf: acc = std::max(acc, x); break;
            default: acc = std::min(acc, x); break;
          }
        }
        result = Value::of_number(acc);
        return true;
      }
      case Function::ceil_: result = Value::of_number(std::ceil(to_float(args[0]))); return true;
      case Function::floor_: result = Value::of_number(std::floor(to_float(args[0]))); return true;
      case Function::round_: {
        // sprig's round: scale, round half up on the fraction, scale back.
        double on = args.size() > 2 ? to_float(args[2]) : 0.5;
        double scale = std::pow(10.0, static_cast<double>(to_int64(args[1])));
        double digit = to_float(args[0]) * scale;
        double whole = 0;
        double fraction = std::modf(digit, &whole);
        result = Value::of_number((fraction >= on ? std::ceil(digit) : std::floor(digit)) / scale);
        return true;
      }
      case Function::float64: result = Value::of_number(to_float(args[0])); return true;
      case Function::int_:
        result = Value::of_number(static_cast<double>(to_int64(args[0])));
        return true;
      case Function::date: {
        std::int64_t ns = 0;
        if (!to_time(args[1], ns)) {
          error = "date: \"" + args[1].to_string() + "\" is not a time";
          return false;
        }
        result = Value::of_string(go_format_time(ns, text(0)));
        return true;
      }
      case Function::to_date:
      case Function::to_date_in_zone: {
        bool in_zone = info.function == Function::to_date_in_zone;
        if (in_zone && text(1) != "UTC" && text(1) != "Local") {
          error = "toDateInZone: only the UTC and Local zones are known, not \"" + text(1) + "\"";
          return false;
        }
        std::int64_t ns = 0;
        std::string value = text(in_zone ? 2 : 1);
        if (!go_parse_time(text(0), value, ns)) {
          error = std::string(info.name) + ": \"" + value + "\" does not match the layout \"" +
                  text(0) + "\"";
          return false;
        }
        result = Value::of_time(ns);
        return true;
      }
      case Function::unix_epoch:
      case Function::unix_epoch_millis:
      case Function::unix_epoch_nanos: {
        std::int64_t ns = 0;
        if (!to_time(args[0], ns)) {
          error = std::string(info.name) + ": \"" + args[0].to_string() + "\" is not a time";
          return false;
        }
        std::int64_t divisor = info.function == Function::unix_epoch          ? 1'000'000'000
                               : info.function == Function::unix_epoch_millis ? 1'000'000
                                                                              : 1;
        std::int64_t value = ns / divisor;
        if (ns % divisor < 0) --value;
        result = Value::of_string(std::to_string(value));
        return true;
      }
      case Function::unix_to_time: {
        std::string epoch = text(0);
        long long value = 0;
        auto [ptr, ec] = std::from_chars(epoch.data(), epoch.data() + epoch.size(), value);
        // The number of digits says the unit: days, seconds, ms, us or ns.
        std::int64_t scale = 0;
        switch (epoch.size()) {
          case 5: scale = 86'400'000'000'000LL; break;
          case 10: scale = 1'000'000'000LL; break;
          case 13: scale = 1'000'000LL; break;
          case 16: scale = 1'000LL; break;
          case 19: scale = 1; break;
          default: break;
        }
        if (ec != std::errc() || ptr != epoch.data() + epoch.size() || scale == 0) {
          error = "unixToTime: \"" + epoch + "\" is not an epoch in days, s, ms, us or ns";
          return false;
        }
        result = Value::of_time(value * scale);
        return true;
      }
      case Function::now:
        result = Value::of_time(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
        return true;
      case Function::duration_seconds: {
        std::int64_t ns = 0;
        std::string value = text(0);
        bool negative = !value.empty() && value[0] == '-';
        if (!parse_duration_literal(negative ? value.substr(1) : value, ns) && value != "0") {
          error = "duration: \"" + value + "\" is not a duration such as 1m30s";
          return false;
        }
        result = Value::of_number((negative ? -1.0 : 1.0) * static_cast<double>(ns) / 1e9);
        return true;
      }
      case Function::bytes: {
        std::uint64_t value = 0;
        if (!parse_bytes_literal(text(0), value)) {
          error = "bytes: \"" + text(0) + "\" is not a byte size such as 20MB";
          return false;
        }
        result = Value::of_number(static_cast<double>(value));
        return true;
      }
      case Function::go_replace: {
        // Go's strings.Replace(s, old, new, n): at most n replacements, all when n < 0.
        long long n = 0;
        if (!need_int(args[3], "Replace", n)) return false;
        std::string source = text(0);
        std::string from = text(1);
        std::string to = text(2);
        std::string out;
        std::size_t pos = 0;
        for (long long done = 0; n < 0 || done < n; ++done) {
          std::size_t found = from.empty() ? std::string::npos : source.find(from, pos);
          if (found == std::string::npos) break;
          out.append(source, pos, found - pos);
          out += to;
          pos = found + from.size();
        }
        out.append(source, pos, std::string::npos);
        result = Value::of_string(std::move(out));
        return true;
      }
      case Function::count: {
        std::unique_ptr<RE2> compiled;
        const RE2* re = regex_argument(info, precompiled, text(0), compiled);
        if (re == nullptr) return false;
        result = Value::of_number(static_cast<double>(count_matches(*re, text(1))));
        return true;
      }
      case Function::from_json: result = from_json(text(0)); return true;
      case Function::index: return index(args, result);
      case Function::print:
      case Function::println: result = Value::of_string(go_print(args, info.function)); return true;
      case Function::none: break;
    }
    return true;
  }

  /// The regex a function takes first: compiled with the template when it is a
  /// literal, else compiled now into `compiled`; nullptr (and error set) when invalid.
  const RE2* regex_argument(const FunctionInfo& info, const RE2* precompiled,
                            const std::string& pattern, std::unique_ptr<RE2>& compiled) {
    if (precompiled != nullptr) return precompiled;
    compiled = std::make_unique<RE2>(pattern, RE2::Quiet);
    if (compiled->ok()) return compiled.get();
    error = std::string(info.name) + ": invalid regular expression: " + compiled->error();
    return nullptr;
  }

  /// Go's index: successive keys of maps and indexes of lists. A missing map
  /// key gives a null (missingkey=zero); an index outside a list fails.
  bool index(const std::vector<Value>& args, Value& result) {
    result = args[0];
    for (std::size_t i = 1; i < args.size(); ++i) {
      Value next;
      if (result.kind == Value::Kind::map || result.kind == Value::Kind::null) {
        if (!field(result, args[i].to_string(), next)) return false;
      } else if (result.kind == Value::Kind::list) {
        long long at = 0;
        if (!need_int(args[i], "index", at)) return false;
        if (at < 0 || static_cast<std::size_t>(at) >= result.list->size()) {
          error = "index: index out of range: " + std::to_string(at);
          return false;
        }
        next = (*result.list)[static_cast<std::size_t>(at)];
      } else {
        error = std::string("index: can't index item of type ") + result.go_type();
        return false;
      }
      result = std::move(next);
    }
    return true;
  }

  /// Go's fmt.Sprint (a space between operands when neither is a string) and
  /// fmt.Sprintln (a space between all of them, and a newline).
  static std::string go_print(const std::vector<Value>& args, Function function) {
    std::string out;
    for (std::size_t i = 0; i < args.size(); ++i) {
      bool space = i > 0 && (function == Function::println ||
                             (args[i - 1].kind != Value::Kind::string &&
                              args[i].kind != Value::Kind::string));
      if (space) out += ' ';
      args[i].append_to(out, true);
    }
    if (function == Function::println) out += '\n';
    return out;
  }

  /// Go's len(FindAllStringIndex(src, -1)): non-overlapping matches, left to
  /// right; an empty match right after the previous match does not count.
  static std::size_t count_matches(const RE2& re, std::string_view input) {
    re2::StringPiece text(input.data(), input.size());
    re2::StringPiece match;
    std::size_t count = 0;
    std::size_t pos = 0;
    std::size_t last_end = std::string_view::npos;
    while (pos <= input.size()) {
      if (!re.Match(text, pos, input.size(), RE2::UNANCHORED, &match, 1)) break;
      auto start = static_cast<std::size_t>(match.data() - input.data());
      std::size_t end = start + match.size();
      if (!(match.empty() && start == last_end)) ++count;
      last_end = end;
      pos = end > start ? end : start + 1;
    }
    return count;
  }

  /// Go's cast.ToInt64 as sprig uses it: numbers truncate, strings parse as
  /// integers, anything else is 0.
  static long long to_int64(const Value& value) {
    if (value.kind == Value::Kind::number) return static_cast<long long>(value.number);
    if (value.kind == Value::Kind::boolean) return value.boolean ? 1 : 0;
    if (value.kind == Value::Kind::time) return value.time_ns / 1'000'000'000;
    long long out = 0;
    const std::string& t = value.text;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc() && ptr == t.data() + t.size() ? out : 0;
  }

  /// Go's cast.ToFloat64: numbers as they are, strings parsed, else 0.
  static double to_float(const Value& value) {
    double out = 0;
    if (value.kind == Value::Kind::boolean) return value.boolean ? 1 : 0;
    return value.to_number(out) ? out : 0;
  }

  /// A time argument: a time value, or a number of Unix seconds as sprig's date takes.
  static bool to_time(const Value& value, std::int64_t& ns) {
    if (value.kind == Value::Kind::time) {
      ns = value.time_ns;
      return true;
    }
    double seconds = 0;
    if (!value.to_number(seconds)) return false;
    ns = static_cast<std::int64_t>(seconds * 1e9);
    return true;
  }

  static std::string trim_cutset(const std::string& s, const std::string& cutset, bool left,
                                 bool right) {
    std::size_t b = 0;
    std::size_t e = s.size();
    while (left && b < e && cutset.find(s[b]) != std::string::npos) ++b;
    while (right && e > b && cutset.find(s[e - 1]) != std::string::npos) --e;
    return s.substr(b, e - b);
  }

  static std::string base64_encode(const std::string& in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
      unsigned n = static_cast<unsigned char>(in[i]) << 16 |
                   static_cast<unsigned char>(in[i + 1]) << 8 |
                   static_cast<unsigned char>(in[i + 2]);
      out += kAlphabet[n >> 18 & 63];
      out += kAlphabet[n >> 12 & 63];
      out += kAlphabet[n >> 6 & 63];
      out += kAlphabet[n & 63];
    }
    if (i < in.size()) {
      unsigned n = static_cast<unsigned char>(in[i]) << 16;
      if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
      out += kAlphabet[n >> 18 & 63];
      out += kAlphabet[n >> 12 & 63];
      out += i + 1 < in.size() ? kAlphabet[n >> 6 & 63] : '=';
      out += '=';
    }
    return out;
  }

  /// Standard base64 with padding; like sprig, a malformed input yields Go's
  /// error text instead of failing the template.
  static std::string base64_decode(const std::string& in) {
    auto sextet = [](char c) -> int {
      if (c >= 'A' && c <= 'Z') return c - 'A';
      if (c >= 'a' && c <= 'z') return c - 'a' + 26;
      if (c >= '0' && c <= '9') return c - '0' + 52;
      if (c == '+') return 62;
      if (c == '/') return 63;
      return -1;
    };
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    std::size_t i = 0;
    for (; i < in.size() && in[i] != '='; ++i) {
      int v = sextet(in[i]);
      if (v < 0) return "illegal base64 data at input byte " + std::to_string(i);
      buffer = buffer << 6 | static_cast<unsigned>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += static_cast<char>(buffer >> bits & 0xFF);
      }
    }
    if (in.size() % 4 != 0) return "illegal base64 data at input byte " + std::to_string(i);
    return out;
  }

  static std::string query_escape(const std::string& in) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : in) {
      auto u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += c;
      } else if (c == ' ') {
        out += '+';
      } else {
        out += '%';
        out += kHex[u >> 4];
        out += kHex[u & 15];
      }
    }
    return out;
  }

  static std::string query_unescape(const std::string& in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        out += ' ';
      } else if (in[i] == '%') {
        if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
          return "";
        }
        out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += in[i];
      }
    }
    return out;
  }

  static std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string out;
    std::size_t pos = 0;
    while (true) {
      std::size_t found = s.find(from, pos);
      if (found == std::string::npos) break;
      out.append(s, pos, found - pos);
      out += to;
      pos = found + from.size();
    }
    out.append(s, pos, std::string::npos);
    return out;
  }

  const TemplateData& data_;
  std::vector<Value> dots_;  ///< dot inside {{with}} and {{range}} blocks
  /// $ and the $x in scope, innermost last; blocks cut it back when they end.
  std::vector<std::pair<std::string, Value>> variables_;
};

/// Builds the node tree from text and actions, tracking open if blocks.
class TemplateParser {
public:
  bool parse(std::string_view text, TemplateNode& root, std::string& error) {
    root.kind = TemplateNode::Kind::list;
    stack_.push_back({&root.body, nullptr, false, false, 0});
    std::size_t pos = 0;
    bool trim_next_text = false;
    while (pos <= text.size()) {
      std::size_t open = text.find("{{", pos);
      std::string_view literal =
          text.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos);
      bool trim_before = open != std::string_view::npos && open + 2 < text.size() &&
                         text[open + 2] == '-' && open + 3 < text.size() &&
                         std::isspace(static_cast<unsigned char>(text[open + 3]));
      add_text(literal, trim_next_text, trim_before);
      if (open == std::string_view::npos) break;
      std::size_t body_start = open + 2 + (trim_before ? 1 : 0);
      std::size_t close = action_end(text, body_start);
      if (close == std::string_view::npos) {
        error = "unclosed action";
        return false;
      }
      std::size_t body_end = close;
      trim_next_text = close >= 2 && text[close - 1] == '-' &&
                       std::isspace(static_cast<unsigned char>(text[close - 2]));
      if (trim_next_text) --body_end;
      if (!add_action(text.substr(body_start, body_end - body_start), error)) return false;
      pos = close + 2;
    }
    if (stack_.size() > 1) {
      error = "unexpected EOF: missing {{end}}";
      return false;
    }
    return true;
  }

private:
  /// Where the action starting at `from` closes: the first "}}" outside its
  /// quoted strings, raw strings and comment, as Go's lexer finds it.
  static std::size_t action_end(std::string_view text, std::size_t from) {
    std::size_t i = from;
    while (i < text.size()) {
      char c = text[i];
      if (c == '"' || c == '`' || c == '\'') {
        for (++i; i < text.size() && text[i] != c; ++i) {
          if (c != '`' && text[i] == '\\') ++i;
        }
        if (i >= text.size()) return std::string_view::npos;
        ++i;
      } else if (text.compare(i, 2, "/*") == 0) {
        std::size_t close = text.find("*/", i + 2);
        if (close == std::string_view::npos) return close;
        i = close + 2;
      } else if (text.compare(i, 2, "}}") == 0) {
        return i;
      } else {
        ++i;
      }
    }
    return std::string_view::npos;
  }

  struct Frame {
    std::vector<TemplateNode>* target;  ///< where new nodes go
    TemplateNode* branch;               ///< the if, with or range node, or nullptr at the root
    bool in_else;
    bool chained;  ///< opened by {{else if}}: closed by its parent's {{end}}
    std::size_t declared_mark;  ///< variables declared before the block opened
  };

  void add_text(std::string_view literal, bool trim_left, bool trim_right) {
    std::string text(literal);
    if (trim_left) {
      std::size_t b = 0;
      while (b < text.size() && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
      text.erase(0, b);
    }
    if (trim_right) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    }
    if (text.empty()) return;
    TemplateNode node;
    node.kind = TemplateNode::Kind::text;
    node.text = std::move(text);
    stack_.back().target->push_back(std::move(node));
  }

  bool add_action(std::string_view body, std::string& error) {
    std::string trimmed = trim_space(body);
    if (trimmed.size() >= 4 && trimmed.compare(0, 2, "/*") == 0 &&
        trimmed.compare(trimmed.size() - 2, 2, "*/") == 0) {
      return true;  // a comment
    }
    std::vector<ActionToken> tokens;
    if (!lex_action(trimmed, tokens, error)) return false;
    if (tokens.empty()) {
      error = "missing value for command";
      return false;
    }
    const ActionToken& first = tokens[0];
    bool keyword = first.kind == ActionToken::Kind::identifier;
    if (keyword && first.text == "if") return open_if(tokens, 1, error);
    if (keyword && first.text == "with") return open_if(tokens, 1, error, false, true);
    if (keyword && first.text == "range") return open_range(tokens, error);
    if (keyword && (first.text == "break" || first.text == "continue")) {
      return add_loop_control(tokens, error);
    }
    if (first.kind == ActionToken::Kind::variable && first.chain.empty() && tokens.size() > 1 &&
        (tokens[1].kind == ActionToken::Kind::declare ||
         tokens[1].kind == ActionToken::Kind::assign)) {
      return add_assignment(tokens, error);
    }
    if (keyword && first.text == "else") return add_else(tokens, error);
    if (keyword && first.text == "end") {
      if (tokens.size() != 1 || stack_.size() < 2) {
        error = "unexpected {{end}}";
        return false;
      }
      // Pop the block and every else-if chained into it; its variables end with it.
      while (stack_.back().chained) stack_.pop_back();
      declared_.resize(stack_.back().declared_mark);
      stack_.pop_back();
      return true;
    }
    TemplateNode node;
    node.kind = TemplateNode::Kind::action;
    if (!parse_pipeline(tokens, 0, node.pipeline, error)) return false;
    stack_.back().target->push_back(std::move(node));
    return true;
  }

  /// {{ $x := pipeline }} declares $x until the end of the enclosing block;
  /// {{ $x = pipeline }} assigns a variable already declared.
  bool add_assignment(const std::vector<ActionToken>& tokens, std::string& error) {
    const std::string& name = tokens[0].text;
    if (tokens.size() == 2) {
      error = "missing value for " + name;
      return false;
    }
    TemplateNode node;
    node.kind = TemplateNode::Kind::action;
    node.variable = name;
    node.declares = tokens[1].kind == ActionToken::Kind::declare;
    if (!node.declares && !declared(name)) {
      error = "undefined variable \"" + name + "\"";
      return false;
    }
    if (!parse_pipeline(tokens, 2, node.pipeline, error)) return false;
    if (node.declares) declared_.push_back(name);
    stack_.back().target->push_back(std::move(node));
    return true;
  }

  /// Parses a pipeline from tokens[start] and checks that every variable it
  /// reads is in scope, as Go's parser does.
  bool parse_pipeline(const std::vector<ActionToken>& tokens, std::size_t start,
                      Pipeline& pipeline, std::string& error) {
    if (!ActionParser(tokens, start).parse_pipeline(pipeline, error, false)) return false;
    return check_variables(pipeline, error);
  }

  bool check_variables(const Pipeline& pipeline, std::string& error) const {
    for (const auto& command : pipeline.commands) {
      for (const auto& arg : command.args) {
        if (arg.kind == Argument::Kind::variable && !declared(arg.name)) {
          error = "undefined variable \"" + arg.name + "\"";
          return false;
        }
        if (arg.kind == Argument::Kind::pipeline && !check_variables(*arg.pipeline, error)) {
          return false;
        }
      }
    }
    return true;
  }

  bool declared(const std::string& name) const {
    return name == "$" || std::find(declared_.begin(), declared_.end(), name) != declared_.end();
  }

  bool open_if(const std::vector<ActionToken>& tokens, std::size_t start, std::string& error,
               bool chained = false, bool is_with = false) {
    if (start >= tokens.size()) {
      error = is_with ? "missing value for with" : "missing value for if";
      return false;
    }
    TemplateNode node;
    node.kind = TemplateNode::Kind::branch;
    node.is_with = is_with;
    if (!parse_pipeline(tokens, start, node.pipeline, error)) return false;
    return push_block(std::move(node), chained, error);
  }

  /// {{range pipeline}}, {{range $v := pipeline}}, {{range $i, $v := pipeline}}.
  bool open_range(const std::vector<ActionToken>& tokens, std::string& error) {
    TemplateNode node;
    node.kind = TemplateNode::Kind::range;
    std::size_t start = 1;
    auto is_variable = [&tokens](std::size_t i) {
      return i < tokens.size() && tokens[i].kind == ActionToken::Kind::variable &&
             tokens[i].chain.empty();
    };
    auto is = [&tokens](std::size_t i, ActionToken::Kind kind) {
      return i < tokens.size() && tokens[i].kind == kind;
    };
    if (is_variable(1) && is(2, ActionToken::Kind::declare)) {
      node.variable = tokens[1].text;
      start = 3;
    } else if (is_variable(1) && is(2, ActionToken::Kind::comma) && is_variable(3) &&
               is(4, ActionToken::Kind::declare)) {
      node.variable = tokens[1].text;
      node.element_variable = tokens[3].text;
      start = 5;
    } else if (is_variable(1) && is(2, ActionToken::Kind::comma)) {
      error = "range can only initialize variables with :=, as $index, $element :=";
      return false;
    }
    if (start >= tokens.size()) {
      error = "missing value for range";
      return false;
    }
    if (!parse_pipeline(tokens, start, node.pipeline, error)) return false;
    std::string index = node.variable;
    std::string element = node.element_variable;
    if (!push_block(std::move(node), false, error)) return false;
    if (!index.empty()) declared_.push_back(index);
    if (!element.empty()) declared_.push_back(element);
    return true;
  }

  /// {{break}} and {{continue}} belong to the body of an enclosing range.
  bool add_loop_control(const std::vector<ActionToken>& tokens, std::string& error) {
    const std::string& word = tokens[0].text;
    bool in_loop = std::any_of(stack_.begin(), stack_.end(), [](const Frame& frame) {
      return frame.branch != nullptr && frame.branch->kind == TemplateNode::Kind::range &&
             !frame.in_else;
    });
    if (tokens.size() != 1 || !in_loop) {
      error = "{{" + word + "}} outside {{range}}";
      return false;
    }
    TemplateNode node;
    node.kind = word == "break" ? TemplateNode::Kind::break_ : TemplateNode::Kind::continue_;
    stack_.back().target->push_back(std::move(node));
    return true;
  }

  /// Opens an if, with or range block. Their nesting, {{else if}} chains counted, is bounded:
  /// executing and freeing a template walk it recursively.
  bool push_block(TemplateNode node, bool chained, std::string& error) {
    if (stack_.size() > kMaxBlockDepth) {
      error = "template blocks ({{if}}, {{else if}}, {{with}}, {{range}}) nested more than " +
              std::to_string(kMaxBlockDepth) + " levels deep";
      return false;
    }
    auto& target = *stack_.back().target;
    target.push_back(std::move(node));
    TemplateNode* branch = &target.back();
    stack_.push_back({&branch->body, branch, false, chained, declared_.size()});
    return true;
  }
  static constexpr std::size_t kMaxBlockDepth = 256;

  bool add_else(const std::vector<ActionToken>& tokens, std::string& error) {
    Frame& frame = stack_.back();
    if (frame.branch == nullptr || frame.in_else) {
      error = "unexpected {{else}}";
      return false;
    }
    frame.target = &frame.branch->else_body;
    frame.in_else = true;
    if (tokens.size() == 1) return true;
    bool is_range = frame.branch->kind == TemplateNode::Kind::range;
    if (is_range || tokens[1].kind != ActionToken::Kind::identifier || tokens[1].text != "if") {
      error = "unexpected \"" + tokens[1].text + "\" after else";
      return false;
    }
    // {{else if x}} opens an if inside the else branch that closes with the same {{end}}.
    return open_if(tokens, 2, error, true);
  }

  std::vector<Frame> stack_;
  std::vector<std::string> declared_;  ///< variables in scope, innermost last
};

}  // namespace

Template::Template() : root_(std::make_unique<TemplateNode>()) {}
Template::~Template() = default;

std::shared_ptr<const Template> Template::compile(std::string_view text, std::string& error) {
  auto compiled = std::make_shared<Template>();
  TemplateParser parser;
  if (!parser.parse(text, *compiled->root_, error)) return nullptr;
  return compiled;
}

bool Template::render(const TemplateData& data, std::string& out, std::string& error) const {
  out.clear();
  Renderer renderer(data);
  if (renderer.render(*root_, out) == Flow::failed) {
    error = renderer.error;
    return false;
  }
  return true;
}

bool Template::is_literal() const {
  for (const auto& node : root_->body) {
    if (node.kind != TemplateNode::Kind::text) return false;
  }
  return true;
}

}  // namespace lognurse::logql
