#include "timestamps.hpp"

#include <array>
#include <cctype>
#include <cstring>
#include <ctime>
#include <string>

#include "lognurse/host_api/time.hpp"

namespace lognurse::host {

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

std::int64_t days_from_civil(int year, int month, int day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool valid(int month, int day, int hour, int minute, int second) {
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
         second <= 60;
}

std::int64_t to_ns(int year, int month, int day, int hour, int minute, int second,
                   std::int64_t fraction_ns, std::int64_t offset_seconds) {
  const std::int64_t seconds =
      days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return (seconds - offset_seconds) * kNanosPerSecond + fraction_ns;
}

/// Reads ".ddd" or ",ddd" at pos; advances pos.
std::int64_t fraction(std::string_view s, std::size_t& pos) {
  if (pos >= s.size() || (s[pos] != '.' && s[pos] != ',')) return 0;
  std::size_t p = pos + 1;
  std::int64_t value = 0;
  std::int64_t scale = 100'000'000;
  while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
    if (scale > 0) value += (s[p] - '0') * scale;
    scale /= 10;
    ++p;
  }
  if (p == pos + 1) return 0;
  pos = p;
  return value;
}

/// Reads "Z", "+hh:mm", "+hhmm" or "-…" at pos; 0 when absent.
std::int64_t zone(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return 0;
  if (s[pos] != '+' && s[pos] != '-') return 0;
  int hours = 0, minutes = 0;
  if (!digits(s, pos + 1, 2, hours)) return 0;
  std::size_t p = pos + 3;
  if (p < s.size() && s[p] == ':') ++p;
  if (!digits(s, p, 2, minutes)) return 0;
  const std::int64_t offset = hours * 3600 + minutes * 60;
  return s[pos] == '+' ? offset : -offset;
}

int month_index(std::string_view name) {
  static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < months.size(); ++i) {
    if (name == months[i]) return static_cast<int>(i) + 1;
  }
  return 0;
}

std::optional<std::int64_t> leading_iso(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, year) || (s.size() < 19) || (s[4] != '-' && s[4] != '/') ||
      s[7] != s[4] || !digits(s, 5, 2, month) || !digits(s, 8, 2, day) ||
      (s[10] != 'T' && s[10] != ' ') || !digits(s, 11, 2, hour) || s[13] != ':' ||
      !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second) ||
      !valid(month, day, hour, minute, second)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  const std::int64_t frac = fraction(s, pos);
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    offset = 0;
  } else {
    offset = zone(s, pos);
  }
  return to_ns(year, month, day, hour, minute, second, frac, offset);
}

/// A date after one leading word, as apt and update-alternatives write them:
/// "Start-Date: 2025-06-24  14:36:25", "update-alternatives 2025-06-24 14:36:53: ...".
/// Spaces between the date and the time may repeat.
std::optional<std::int64_t> labelled_iso(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size() && pos < 40 &&
         (std::isalnum(static_cast<unsigned char>(s[pos])) || s[pos] == '-' || s[pos] == '_' ||
          s[pos] == '.')) {
    ++pos;
  }
  if (pos == 0 || !std::isalpha(static_cast<unsigned char>(s[0]))) return std::nullopt;
  if (pos < s.size() && s[pos] == ':') ++pos;
  if (pos >= s.size() || s[pos] != ' ') return std::nullopt;
  while (pos < s.size() && s[pos] == ' ') ++pos;
  const std::string_view rest = s.substr(pos);
  if (rest.size() < 19 || rest[10] != ' ') return leading_iso(rest);
  std::size_t time = 10;
  while (time < rest.size() && rest[time] == ' ') ++time;
  std::string joined(rest.substr(0, 10));
  joined += ' ';
  joined += rest.substr(time);
  return leading_iso(joined);
}

std::optional<std::int64_t> common_log_format(std::string_view s) {
  // [04/Dec/2026:14:33:11 +0000]
  for (std::size_t start = s.find('['); start != std::string_view::npos;
       start = s.find('[', start + 1)) {
    const auto t = s.substr(start + 1);
    int day, year, hour, minute, second;
    if (t.size() < 26 || !digits(t, 0, 2, day) || t[2] != '/' || t[6] != '/' ||
        !digits(t, 7, 4, year) || t[11] != ':' || !digits(t, 12, 2, hour) || t[14] != ':' ||
        !digits(t, 15, 2, minute) || t[17] != ':' || !digits(t, 18, 2, second)) {
      continue;
    }
    const int month = month_index(t.substr(3, 3));
    if (month == 0 || !valid(month, day, hour, minute, second)) continue;
    std::size_t pos = 20;
    const std::int64_t frac = fraction(t, pos);
    const std::int64_t offset = (pos < t.size() && t[pos] == ' ') ? zone(t, pos + 1) : 0;
    return to_ns(year, month, day, hour, minute, second, frac, offset);
  }
  return std::nullopt;
}

std::optional<std::int64_t> syslog(std::string_view s, std::int64_t reference_ns) {
  // "Dec  4 14:33:11" or "Dec 14 14:33:11"
  if (s.size() < 15 || s[3] != ' ') return std::nullopt;
  const int month = month_index(s.substr(0, 3));
  if (month == 0) return std::nullopt;
  int day = 0, hour, minute, second;
  if (s[4] == ' ') {
    if (!digits(s, 5, 1, day)) return std::nullopt;
  } else if (!digits(s, 4, 2, day)) {
    return std::nullopt;
  }
  if (s[6] != ' ' || !digits(s, 7, 2, hour) || s[9] != ':' || !digits(s, 10, 2, minute) ||
      s[12] != ':' || !digits(s, 13, 2, second) || !valid(month, day, hour, minute, second)) {
    return std::nullopt;
  }
  std::time_t reference = static_cast<std::time_t>(reference_ns / kNanosPerSecond);
  std::tm tm{};
  gmtime_r(&reference, &tm);
  int year = tm.tm_year + 1900;
  std::int64_t ns = to_ns(year, month, day, hour, minute, second, 0, 0);
  if (ns > reference_ns + 86400 * kNanosPerSecond) {
    ns = to_ns(year - 1, month, day, hour, minute, second, 0, 0);
  }
  return ns;
}

}  // namespace

std::optional<std::int64_t> parse_line_timestamp(std::string_view line, std::int64_t reference_ns) {
  if (auto ts = leading_iso(line)) return ts;
  if (auto ts = common_log_format(line)) return ts;
  if (auto ts = syslog(line, reference_ns)) return ts;
  if (auto ts = labelled_iso(line)) return ts;
  return std::nullopt;
}

}  // namespace lognurse::host
