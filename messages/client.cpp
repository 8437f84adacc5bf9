#include "messages/client.hpp"

#include "messages/error.hpp"

namespace actorkv {

caf::error check_ttl(uint64_t ttl_s) {
  if (ttl_s == 0)
    return caf::make_error(ec::bad_request, "a TTL must be at least 1 second");
  if (ttl_s > max_ttl_s)
    return caf::make_error(ec::bad_request, "a TTL of " + std::to_string(ttl_s) +
                                                " seconds is longer than the limit of " +
                                                std::to_string(max_ttl_s) + " (ten years)");
  return caf::none;
}

caf::expected<uint32_t> parse_ttl(const std::string& text) {
  auto refuse = [&] {
    return caf::make_error(ec::bad_request, "a TTL is a whole number of seconds, 1 to " +
                                                std::to_string(max_ttl_s) + "; got \"" +
                                                text.substr(0, 32) + "\"");
  };
  if (text.empty() || text.size() > 20)
    return refuse();
  uint64_t x = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return refuse();
    x = x * 10 + static_cast<uint64_t>(c - '0');
    if (x > max_ttl_s) // also keeps the sum from overflowing
      return check_ttl(x);
  }
  if (auto err = check_ttl(x))
    return err;
  return static_cast<uint32_t>(x);
}

} // namespace actorkv
