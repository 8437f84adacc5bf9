#include "cluster-config/json_text.hpp"

#include <cstdint>

namespace actorkv {

namespace {

/// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one (overlong
/// forms, surrogates and code points above U+10FFFF included).
size_t utf8_sequence(std::string_view text, size_t i) {
  auto at = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  uint8_t c = at(i);
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size())
    return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((at(i + k) & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (at(i + k) & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

} // namespace

std::string json_quote(std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<uint8_t>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += digits[c >> 4];
      out += digits[c & 15];
    } else if (c >= 0x80) {
      auto len = utf8_sequence(text, i);
      if (len == 0) {
        out += "\xef\xbf\xbd"; // U+FFFD: JSON text must be UTF-8
        ++i;
        continue;
      }
      out.append(text.substr(i, len));
      i += len;
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
  return out;
}

} // namespace actorkv
