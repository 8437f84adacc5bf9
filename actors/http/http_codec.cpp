#include "actors/http/http_codec.hpp"

#include <algorithm>

#include "messages/hex.hpp"

namespace actorkv {

namespace {

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_digit(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// Recursive descent over RFC 8259; `depth` counts open arrays and objects.
class json_parser {
public:
  json_parser(std::string_view text, unsigned max_depth) : text_(text), max_depth_(max_depth) {}

  std::optional<json_value> parse(std::string& error) {
    json_value v;
    skip_space();
    if (!value(v, 0) || (skip_space(), pos_ != text_.size())) {
      error = error_.empty() ? "unexpected text at offset " + std::to_string(pos_) : error_;
      return std::nullopt;
    }
    return v;
  }

private:
  bool fail(const std::string& why) {
    if (error_.empty())
      error_ = why + " at offset " + std::to_string(pos_);
    return false;
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word)
      return fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool value(json_value& v, unsigned depth) {
    if (pos_ >= text_.size())
      return fail("unexpected end");
    switch (text_[pos_]) {
    case '{':
      return object(v, depth + 1);
    case '[':
      return array(v, depth + 1);
    case '"':
      v.type = json_value::kind::string;
      return string(v.text);
    case 't':
      v.type = json_value::kind::boolean;
      v.boolean = true;
      return literal("true");
    case 'f':
      v.type = json_value::kind::boolean;
      return literal("false");
    case 'n':
      return literal("null");
    default:
      return number(v);
    }
  }

  bool digits() {
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
      ++pos_;
    return pos_ > start;
  }

  bool number(json_value& v) {
    size_t start = pos_;
    if (text_[pos_] == '-')
      ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0')
      ++pos_;
    else if (!digits())
      return fail("invalid value");
    if (pos_ < text_.size() && text_[pos_] == '.' && (++pos_, !digits()))
      return fail("invalid number");
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
        ++pos_;
      if (!digits())
        return fail("invalid number");
    }
    v.type = json_value::kind::number;
    v.text = std::string{text_.substr(start, pos_ - start)};
    return true;
  }

  bool hex4(uint32_t& out) {
    if (pos_ + 4 > text_.size())
      return fail("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int d = hex_digit(text_[pos_++]);
      if (d < 0)
        return fail("invalid \\u escape");
      out = out << 4 | static_cast<uint32_t>(d);
    }
    return true;
  }

  bool string(std::string& out) {
    ++pos_; // the opening quote
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<uint8_t>(c) < 0x20)
        return fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= text_.size())
        break;
      switch (text_[pos_++]) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp = 0;
        if (!hex4(cp))
          return false;
        if (cp >= 0xdc00 && cp <= 0xdfff)
          return fail("lone low surrogate");
        if (cp >= 0xd800 && cp <= 0xdbff) {
          uint32_t low = 0;
          if (text_.substr(pos_, 2) != "\\u" || (pos_ += 2, !hex4(low)) || low < 0xdc00 ||
              low > 0xdfff)
            return fail("lone high surrogate");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        append_utf8(out, cp);
        break;
      }
      default:
        return fail("invalid escape");
      }
    }
    return fail("unterminated string");
  }

  bool array(json_value& v, unsigned depth) {
    if (depth > max_depth_)
      return fail("nested too deeply");
    v.type = json_value::kind::array;
    ++pos_;
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      v.items.emplace_back();
      if (!value(v.items.back(), depth))
        return false;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        skip_space();
      } else if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
      } else {
        return fail("expected , or ]");
      }
    }
  }

  bool object(json_value& v, unsigned depth) {
    if (depth > max_depth_)
      return fail("nested too deeply");
    v.type = json_value::kind::object;
    ++pos_;
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      if (pos_ >= text_.size() || text_[pos_] != '"')
        return fail("expected a member name");
      std::string name;
      if (!string(name))
        return false;
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != ':')
        return fail("expected :");
      ++pos_;
      skip_space();
      v.members.emplace_back(std::move(name), json_value{});
      if (!value(v.members.back().second, depth))
        return false;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        skip_space();
      } else if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      } else {
        return fail("expected , or }");
      }
    }
  }

  std::string_view text_;
  unsigned max_depth_;
  size_t pos_ = 0;
  std::string error_;
};

/// splitmix64: spreads a seed into well-mixed bits.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool contains(const bytes& haystack, const std::string& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

} // namespace

std::optional<bytes> percent_decode(std::string_view text) {
  bytes out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(static_cast<uint8_t>(text[i]));
      continue;
    }
    if (i + 2 >= text.size())
      return std::nullopt;
    int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    i += 2;
  }
  return out;
}

std::string percent_encode(const bytes& data) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(data.size() * 3);
  for (auto b : data) {
    bool unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
                      b == '-' || b == '.' || b == '_' || b == '~';
    if (unreserved) {
      out += static_cast<char>(b);
    } else {
      out += '%';
      out += digits[b >> 4];
      out += digits[b & 15];
    }
  }
  return out;
}

std::string base64_encode(const bytes& data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t n = uint32_t{data[i]} << 16 | uint32_t{data[i + 1]} << 8 | data[i + 2];
    out += base64_alphabet[n >> 18];
    out += base64_alphabet[n >> 12 & 63];
    out += base64_alphabet[n >> 6 & 63];
    out += base64_alphabet[n & 63];
  }
  if (auto rest = data.size() - i; rest > 0) {
    uint32_t n = uint32_t{data[i]} << 16 | (rest == 2 ? uint32_t{data[i + 1]} << 8 : 0);
    out += base64_alphabet[n >> 18];
    out += base64_alphabet[n >> 12 & 63];
    out += rest == 2 ? base64_alphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<bytes> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  bytes out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    size_t padding = 0;
    if (last)
      padding = (text[i + 3] == '=') + (text[i + 3] == '=' && text[i + 2] == '=');
    uint32_t n = 0;
    for (size_t k = 0; k < 4; ++k) {
      int d = k >= 4 - padding ? 0 : base64_digit(text[i + k]);
      if (d < 0)
        return std::nullopt;
      n = n << 6 | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<uint8_t>(n >> 16));
    if (padding < 2)
      out.push_back(static_cast<uint8_t>(n >> 8));
    if (padding < 1)
      out.push_back(static_cast<uint8_t>(n));
  }
  return out;
}


const json_value* json_value::find(std::string_view key) const {
  for (auto& [name, value] : members)
    if (name == key)
      return &value;
  return nullptr;
}

std::optional<uint64_t> json_value::as_uint(uint64_t max) const {
  if (type != kind::number || text.empty() || text.size() > 20)
    return std::nullopt;
  uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt; // a sign, fraction or exponent
    auto d = static_cast<uint64_t>(c - '0');
    if (n > (max - d) / 10)
      return std::nullopt;
    n = n * 10 + d;
  }
  return n;
}

std::optional<json_value> parse_json(std::string_view text, std::string& error,
                                     unsigned max_depth) {
  return json_parser{text, max_depth}.parse(error);
}

std::string multipart_boundary(const std::vector<bytes>& parts, uint64_t seed) {
  static constexpr char digits[] = "0123456789abcdef";
  for (uint64_t attempt = 0;; ++attempt) {
    std::string boundary = "actorkv-";
    for (int half = 0; half < 2; ++half) {
      auto x = mix(seed + 2 * attempt + static_cast<uint64_t>(half));
      for (int i = 0; i < 16; ++i, x >>= 4)
        boundary += digits[x & 15];
    }
    // 128 random bits: a collision needs a value built to contain it; then draw again.
    if (std::none_of(parts.begin(), parts.end(),
                     [&](const bytes& p) { return contains(p, boundary); }))
      return boundary;
  }
}

bytes multipart_body(const std::vector<bytes>& parts, const std::string& boundary) {
  std::string head = "--" + boundary + "\r\nContent-Type: application/octet-stream\r\n\r\n";
  std::string next = "\r\n";
  std::string tail = "\r\n--" + boundary + "--\r\n";
  bytes out;
  size_t total = tail.size();
  for (auto& p : parts)
    total += head.size() + next.size() + p.size();
  out.reserve(total);
  for (size_t i = 0; i < parts.size(); ++i) {
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046), not to the part.
    if (i > 0)
      out.insert(out.end(), next.begin(), next.end());
    out.insert(out.end(), head.begin(), head.end());
    out.insert(out.end(), parts[i].begin(), parts[i].end());
  }
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

} // namespace actorkv
