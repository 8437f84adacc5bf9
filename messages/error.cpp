#include "messages/error.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace actorkv {

std::string to_string(ec code) {
  switch (code) {
  case ec::none:
    return "none";
  case ec::unavailable:
    return "unavailable";
  case ec::maybe_applied:
    return "maybe_applied";
  case ec::timeout:
    return "timeout";
  case ec::empty_key:
    return "empty_key";
  case ec::key_too_large:
    return "key_too_large";
  case ec::value_too_large:
    return "value_too_large";
  case ec::bad_context:
    return "bad_context";
  case ec::corrupt_record:
    return "corrupt_record";
  case ec::storage_failure:
    return "storage_failure";
  case ec::manifest_invalid:
    return "manifest_invalid";
  case ec::settings_mismatch:
    return "settings_mismatch";
  case ec::peer_mismatch:
    return "peer_mismatch";
  case ec::bad_request:
    return "bad_request";
  case ec::forbidden:
    return "forbidden";
  case ec::too_many_siblings:
    return "too_many_siblings";
  case ec::record_too_large:
    return "record_too_large";
  case ec::overloaded:
    return "overloaded";
  }
  return "unknown(" + std::to_string(static_cast<int>(code)) + ")";
}

std::string describe(const caf::error& err) {
  if (!err)
    return "ok";
  if (err.category() == caf::atom("actorkv")) {
    auto text = to_string(static_cast<ec>(err.code()));
    const auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      text += ": " + ctx.get_as<std::string>(0);
    return text;
  }
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return "timeout: no answer in time";
    if (code == caf::sec::request_receiver_down)
      return "unavailable: the node went away";
  }
  return caf::to_string(err);
}

} // namespace actorkv
