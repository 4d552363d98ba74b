#include "lognurse/logql/ip.hpp"

#include <cctype>
#include <charconv>
#include <vector>

namespace lognurse::logql {
namespace {

bool parse_v4(std::string_view text, std::array<std::uint8_t, 4>& out) {
  std::size_t part = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find('.', start);
    std::string_view digits =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part == 4 || digits.empty() || digits.size() > 3) return false;
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || value > 255) return false;
    out[part++] = static_cast<std::uint8_t>(value);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return part == 4;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::optional<IpRange::Address> IpRange::parse_address(std::string_view text) {
  Address out{};
  if (text.find(':') == std::string_view::npos) {
    std::array<std::uint8_t, 4> v4{};
    if (!parse_v4(text, v4)) return std::nullopt;
    out[10] = 0xff;
    out[11] = 0xff;
    for (int i = 0; i < 4; ++i) out[12 + i] = v4[i];
    return out;
  }
  // IPv6: groups of up to four hex digits, at most one "::", optionally an
  // IPv4 tail.
  std::vector<std::uint16_t> head;
  std::vector<std::uint16_t> tail;
  bool gap = false;
  std::size_t i = 0;
  if (text.substr(0, 2) == "::") {
    gap = true;
    i = 2;
  } else if (!text.empty() && text[0] == ':') {
    return std::nullopt;
  }
  while (i < text.size()) {
    std::size_t end = text.find(':', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view group = text.substr(i, end - i);
    auto& groups = gap ? tail : head;
    if (group.find('.') != std::string_view::npos && end == text.size()) {
      std::array<std::uint8_t, 4> v4{};
      if (!parse_v4(group, v4)) return std::nullopt;
      groups.push_back(static_cast<std::uint16_t>(v4[0] << 8 | v4[1]));
      groups.push_back(static_cast<std::uint16_t>(v4[2] << 8 | v4[3]));
    } else {
      if (group.empty() || group.size() > 4) return std::nullopt;
      unsigned value = 0;
      for (char c : group) {
        if (!is_hex(c)) return std::nullopt;
        value = value * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(c))
                                                       ? c - '0'
                                                       : std::tolower(c) - 'a' + 10);
      }
      groups.push_back(static_cast<std::uint16_t>(value));
    }
    if (end == text.size()) break;
    if (end + 1 < text.size() && text[end + 1] == ':') {
      if (gap) return std::nullopt;
      gap = true;
      i = end + 2;
      continue;
    }
    if (end + 1 == text.size()) return std::nullopt;
    i = end + 1;
  }
  std::size_t total = head.size() + tail.size();
  if (gap ? total > 7 : total != 8) return std::nullopt;
  std::vector<std::uint16_t> all = head;
  all.resize(8 - tail.size(), 0);
  all.insert(all.end(), tail.begin(), tail.end());
  for (int g = 0; g < 8; ++g) {
    out[2 * g] = static_cast<std::uint8_t>(all[g] >> 8);
    out[2 * g + 1] = static_cast<std::uint8_t>(all[g] & 0xff);
  }
  return out;
}

std::optional<IpRange> IpRange::parse(std::string_view spec, std::string& error) {
  IpRange range;
  if (std::size_t slash = spec.find('/'); slash != std::string_view::npos) {
    auto base = parse_address(spec.substr(0, slash));
    std::string_view bits_text = spec.substr(slash + 1);
    unsigned bits = 0;
    auto [ptr, ec] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
    bool v4 = spec.substr(0, slash).find(':') == std::string_view::npos;
    unsigned max_bits = v4 ? 32 : 128;
    if (!base || bits_text.empty() || ec != std::errc() ||
        ptr != bits_text.data() + bits_text.size() || bits > max_bits) {
      error = "ip(\"" + std::string(spec) + "\") is not a valid CIDR range such as 10.0.0.0/8";
      return std::nullopt;
    }
    unsigned prefix = v4 ? bits + 96 : bits;
    range.low_ = *base;
    range.high_ = *base;
    for (unsigned bit = prefix; bit < 128; ++bit) {
      auto mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
      range.low_[bit / 8] &= static_cast<std::uint8_t>(~mask);
      range.high_[bit / 8] |= mask;
    }
    return range;
  }
  if (std::size_t dash = spec.find('-'); dash != std::string_view::npos) {
    auto low = parse_address(spec.substr(0, dash));
    auto high = parse_address(spec.substr(dash + 1));
    if (!low || !high || *high < *low) {
      error = "ip(\"" + std::string(spec) +
              "\") is not a valid address range such as 192.168.1.1-192.168.1.100";
      return std::nullopt;
    }
    range.low_ = *low;
    range.high_ = *high;
    return range;
  }
  auto single = parse_address(spec);
  if (!single) {
    error = "ip(\"" + std::string(spec) +
            "\") is not an IP address, a CIDR range or a range a-b";
    return std::nullopt;
  }
  range.low_ = *single;
  range.high_ = *single;
  return range;
}

bool IpRange::contains(std::string_view address) const {
  auto parsed = parse_address(address);
  return parsed && !(*parsed < low_) && !(high_ < *parsed);
}

bool IpRange::matches_line(std::string_view line) const {
  std::size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (!is_hex(c) && c != ':' && c != '.') {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < line.size() && (is_hex(line[end]) || line[end] == ':' || line[end] == '.')) ++end;
    std::string_view token = line.substr(i, end - i);
    while (!token.empty() && (token.back() == '.' || token.back() == ':')) token.remove_suffix(1);
    if (contains(token)) return true;
    // "10.0.0.5:443": an IPv4 address followed by a port, or inside other colons.
    if (token.find('.') != std::string_view::npos && token.find(':') != std::string_view::npos) {
      std::size_t start = 0;
      while (start <= token.size()) {
        std::size_t colon = token.find(':', start);
        std::string_view piece = token.substr(start, colon == std::string_view::npos
                                                         ? std::string_view::npos
                                                         : colon - start);
        if (piece.find('.') != std::string_view::npos && contains(piece)) return true;
        if (colon == std::string_view::npos) break;
        start = colon + 1;
      }
    }
    i = end;
  }
  return false;
}

}  // namespace lognurse::logql
