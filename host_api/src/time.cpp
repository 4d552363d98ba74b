#include "lognurse/host_api/time.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <utility>

namespace lognurse {

namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool read_int(std::string_view text, std::size_t pos, std::size_t width, int& out) {
  if (pos + width > text.size()) return false;
  const auto part = text.substr(pos, width);
  if (!all_digits(part)) return false;
  std::from_chars(part.data(), part.data() + part.size(), out);
  return true;
}

Error bad_time(std::string_view text) {
  return invalid_argument(
      "time.invalid",
      "cannot parse time \"" + std::string(text.substr(0, 64)) +
          "\": use RFC 3339 (2026-12-04T14:33:11Z), Unix seconds (1733322791 or "
          "1733322791.25) or Unix nanoseconds (19 digits)");
}

/// `seconds` and `fraction_ns` (0 to 999,999,999) as Unix nanoseconds, or an error when they
/// fall outside what 64 bits of nanoseconds hold (1677-09-21 to 2262-04-11).
Result<std::int64_t> nanoseconds(std::string_view text, std::int64_t seconds,
                                 std::int64_t fraction_ns) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  const bool fits = seconds >= 0 ? seconds <= (kMax - fraction_ns) / kNanosPerSecond
                                 : seconds >= kMin / kNanosPerSecond;
  if (!fits) {
    return invalid_argument("time.out_of_range",
                            "time \"" + std::string(text.substr(0, 64)) +
                                "\" is outside what Unix nanoseconds in 64 bits can hold "
                                "(1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z)");
  }
  return seconds * kNanosPerSecond + fraction_ns;
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
std::int64_t days_from_civil(int year, int month, int day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

Result<std::int64_t> parse_rfc3339(std::string_view text) {
  int year, month, day, hour, minute, second;
  if (text.size() < 20 || !read_int(text, 0, 4, year) || text[4] != '-' ||
      !read_int(text, 5, 2, month) || text[7] != '-' || !read_int(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !read_int(text, 11, 2, hour) ||
      text[13] != ':' || !read_int(text, 14, 2, minute) || text[16] != ':' ||
      !read_int(text, 17, 2, second)) {
    return bad_time(text);
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return bad_time(text);
  }
  std::size_t pos = 19;
  std::int64_t fraction_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::int64_t scale = 100'000'000;
    const std::size_t digits_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      fraction_ns += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == digits_start) return bad_time(text);
  }
  std::int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh, om;
    if (!read_int(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !read_int(text, pos + 4, 2, om)) {
      return bad_time(text);
    }
    offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad_time(text);
  }
  if (pos != text.size()) return bad_time(text);

  const std::int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 +
                               minute * 60 + second - offset_seconds;
  return nanoseconds(text, seconds, fraction_ns);
}

}  // namespace

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::int64_t> parse_time(std::string_view text) {
  if (text.empty()) return bad_time(text);
  if (text.find('-', 1) != std::string_view::npos || text.find(':') != std::string_view::npos) {
    return parse_rfc3339(text);
  }
  const auto dot = text.find('.');
  const auto whole = text.substr(0, dot);
  if (!all_digits(whole) || whole.size() > 19) return bad_time(text);
  std::int64_t value = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), value);
  if (dot == std::string_view::npos) {
    // Loki's rule: more than 10 digits means nanoseconds would overflow
    // seconds only in year 2286, so 19-digit values are nanoseconds.
    if (whole.size() >= 16) return value;
    return nanoseconds(text, value, 0);
  }
  const auto fraction = text.substr(dot + 1);
  if (!all_digits(fraction) || whole.size() > 11) return bad_time(text);
  std::int64_t fraction_ns = 0;
  std::int64_t scale = 100'000'000;
  for (std::size_t i = 0; i < fraction.size() && i < 9; ++i) {
    fraction_ns += (fraction[i] - '0') * scale;
    scale /= 10;
  }
  return nanoseconds(text, value, fraction_ns);
}

Result<std::int64_t> parse_duration(std::string_view text) {
  auto bad = [&] {
    return invalid_argument("time.invalid_duration",
                            "cannot parse duration \"" + std::string(text.substr(0, 64)) +
                                "\": use a number of seconds or units ms, s, m, h, d, w, y "
                                "(e.g. 90s, 1h30m, 250ms)");
  };
  if (text.empty()) return bad();
  if (all_digits(text) || (text.find_first_not_of("0123456789.") == std::string_view::npos)) {
    double seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || end != text.data() + text.size()) return bad();
    return static_cast<std::int64_t>(seconds * 1e9);
  }
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t digits_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == digits_start) return bad();
    std::int64_t amount = 0;
    std::from_chars(text.data() + digits_start, text.data() + pos, amount);
    const std::size_t unit_start = pos;
    while (pos < text.size() && ((text[pos] >= 'a' && text[pos] <= 'z') || text[pos] == 'u' ||
                                 static_cast<unsigned char>(text[pos]) >= 0x80)) {
      ++pos;
    }
    const auto unit = text.substr(unit_start, pos - unit_start);
    std::int64_t scale = 0;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "µs") scale = 1'000;
    else if (unit == "ms") scale = 1'000'000;
    else if (unit == "s") scale = kNanosPerSecond;
    else if (unit == "m") scale = 60 * kNanosPerSecond;
    else if (unit == "h") scale = 3600 * kNanosPerSecond;
    else if (unit == "d") scale = 86400 * kNanosPerSecond;
    else if (unit == "w") scale = 7 * 86400 * kNanosPerSecond;
    else if (unit == "y") scale = 365 * 86400 * kNanosPerSecond;
    else return bad();
    total += amount * scale;
  }
  return total;
}

std::string format_time(std::int64_t unix_ns) {
  std::int64_t seconds = unix_ns / kNanosPerSecond;
  std::int64_t nanos = unix_ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --seconds;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  if (nanos == 0) {
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else {
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(nanos));
  }
  return buffer;
}

std::string format_duration(std::int64_t ns) {
  if (ns == 0) return "0s";
  std::string out = ns < 0 ? "-" : "";
  std::uint64_t rest = ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  if (rest < static_cast<std::uint64_t>(kNanosPerSecond)) {
    if (rest % 1'000'000 == 0) return out + std::to_string(rest / 1'000'000) + "ms";
    return out + std::to_string(rest) + "ns";
  }
  constexpr std::pair<const char*, std::uint64_t> units[] = {
      {"d", 86400ULL * kNanosPerSecond}, {"h", 3600ULL * kNanosPerSecond},
      {"m", 60ULL * kNanosPerSecond},    {"s", static_cast<std::uint64_t>(kNanosPerSecond)},
      {"ms", 1'000'000ULL}};
  for (const auto& [unit, size] : units) {
    if (rest >= size) {
      out += std::to_string(rest / size) + unit;
      rest %= size;
    }
  }
  return out;
}

}  // namespace lognurse
