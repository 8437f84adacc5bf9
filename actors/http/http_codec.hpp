// The text encodings of the HTTP API: percent-encoded keys, base64 values in JSON, JSON itself
// and multipart bodies for siblings. Pure functions, free of CAF and Beast, so that every corner
// is unit-tested without a socket.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster-config/json_text.hpp" // json_quote

namespace actorkv {

using bytes = std::vector<uint8_t>; // the same alias as messages/record.hpp, without CAF

/// Decodes %XX escapes (either case); every other character stands for itself ('+' too: this is
/// a path, not a form). nullopt for a '%' not followed by two hex digits.
std::optional<bytes> percent_decode(std::string_view text);

/// Escapes every byte outside RFC 3986's unreserved set, so any key fits in one path segment.
std::string percent_encode(const bytes& data);

/// RFC 4648 base64 with padding.
std::string base64_encode(const bytes& data);

/// Parses RFC 4648 base64; padding is required (length a multiple of 4). nullopt for any other
/// character, misplaced padding or a wrong length.
std::optional<bytes> base64_decode(std::string_view text);

/// A parsed JSON document. Numbers keep their literal text so integers are read exactly.
struct json_value {
  enum class kind : uint8_t { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool boolean = false;
  std::string text; ///< a string's value, or a number's literal
  std::vector<json_value> items;
  std::vector<std::pair<std::string, json_value>> members; ///< in document order

  /// The member named `key` of an object (the first, if repeated); nullptr when absent.
  const json_value* find(std::string_view key) const;

  /// A number that is a non-negative integer literal no larger than `max`.
  std::optional<uint64_t> as_uint(uint64_t max) const;
};

/// Parses one JSON document (RFC 8259; whitespace around it allowed, nothing else). Nesting is
/// bounded by `max_depth` so that hostile input cannot exhaust the stack. nullopt with a reason
/// in `error` when the text is not JSON.
std::optional<json_value> parse_json(std::string_view text, std::string& error,
                                     unsigned max_depth = 32);

/// A multipart boundary that occurs in none of `parts`, derived from `seed` (pass a random
/// number; the same seed and parts give the same boundary).
std::string multipart_boundary(const std::vector<bytes>& parts, uint64_t seed);

/// A multipart/mixed body (RFC 2046) with one application/octet-stream part per element of
/// `parts`, delimited by `boundary` (which must occur in none of them).
bytes multipart_body(const std::vector<bytes>& parts, const std::string& boundary);

} // namespace actorkv
