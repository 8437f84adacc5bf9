// JSON string literals, for everything actorkv writes as JSON (the HTTPS API's bodies, kvsh
// --json, kvnode's JSON log lines): one quoting rule, so every output is valid JSON whatever bytes
// a key, a name or a message holds.
#pragma once

#include <string>
#include <string_view>

namespace actorkv {

/// `text` as a JSON string literal, quotes included. Control characters are escaped; bytes that
/// are not valid UTF-8 become U+FFFD so that the output is always valid JSON.
std::string json_quote(std::string_view text);

} // namespace actorkv
