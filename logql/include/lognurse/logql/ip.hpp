#pragma once

// The value of Loki's ip() filter: one address ("10.0.0.5"), a CIDR range
// ("10.0.0.0/8", "2001:db8::/32") or an inclusive dash range
// ("192.168.1.1-192.168.1.100"), IPv4 or IPv6. IPv4 addresses are held as
// IPv4-mapped IPv6 addresses so that one comparison serves both families.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lognurse::logql {

/// A parsed ip() argument. Immutable; safe to share between threads.
class IpRange {
public:
  /// Parses `spec`; on failure returns nullopt and sets `error` to what is wrong.
  static std::optional<IpRange> parse(std::string_view spec, std::string& error);

  /// Whether `address` (the whole text) is an address inside the range.
  bool contains(std::string_view address) const;

  /// Whether any address written in `line` is inside the range, as the ip()
  /// line filter asks: addresses are maximal runs of hex digits, dots and colons.
  bool matches_line(std::string_view line) const;

private:
  using Address = std::array<std::uint8_t, 16>;
  static std::optional<Address> parse_address(std::string_view text);

  Address low_{};
  Address high_{};
};

}  // namespace lognurse::logql
