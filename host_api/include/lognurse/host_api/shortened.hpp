#pragma once

// Text that goes back to a client or into a log line whole, cut to a size a reader can use:
// an error about a 5 MB label value need not quote all of it.

#include <cstddef>
#include <string>
#include <string_view>

namespace lognurse {

/// The default bound of an error message in a response or a log line.
inline constexpr std::size_t kMaxMessageBytes = 2048;

/// `text` when it has at most `max_bytes` bytes; else its start, cut at a UTF-8 character
/// boundary, and how much was left out.
inline std::string shortened(std::string_view text, std::size_t max_bytes = kMaxMessageBytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "… (" + std::to_string(text.size() - cut) +
         " more bytes left out)";
}

}  // namespace lognurse
