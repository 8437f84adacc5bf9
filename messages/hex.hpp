// Hex text for bytes: how tools show binary values and opaque contexts to people.
#pragma once

#include <optional>
#include <string>

#include "messages/record.hpp"

namespace actorkv {

inline std::string to_hex(const bytes& data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (auto b : data) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
  return out;
}

/// A key as log lines show it: hex, cut after its first 32 bytes ("..." then).
inline std::string key_for_log(const bytes& key) {
  if (key.size() <= 32)
    return to_hex(key);
  return to_hex(bytes(key.begin(), key.begin() + 32)) + "...";
}

/// The value of one hex digit (either case), -1 for any other character.
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Parses hex text (either case); nullopt for odd length or a non-hex character.
inline std::optional<bytes> from_hex(const std::string& text) {
  if (text.size() % 2 != 0)
    return std::nullopt;
  bytes out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

} // namespace actorkv
