#include "cluster-config/write_limits.hpp"

#include <algorithm>

#include "messages/error.hpp"

namespace actorkv {

namespace {

/// What the client can do about a key that collected siblings.
constexpr const char* how_to_resolve =
    ": read the key and write it back with the context of that read to resolve them";

} // namespace

uint64_t record_value_bytes(const record& r) {
  uint64_t n = 0;
  for (auto& s : r.siblings)
    n += s.value.size();
  return n;
}

caf::error check_client_write(const record& before, const record& after,
                              const write_limits& limits) {
  auto had = std::to_string(before.siblings.size());
  auto siblings = after.siblings.size();
  if (limits.max_siblings > 0 && siblings > limits.max_siblings)
    return caf::make_error(ec::too_many_siblings,
                           "the key has " + had +
                               " siblings (concurrent versions, deletions included) and this "
                               "write would leave " +
                               std::to_string(siblings) + ", above max_siblings = " +
                               std::to_string(limits.max_siblings) + how_to_resolve);
  auto size = record_value_bytes(after);
  if (limits.max_record_bytes > 0 && size > limits.max_record_bytes)
    return caf::make_error(ec::record_too_large,
                           "the key's values would take " + std::to_string(size) + " bytes in " +
                               std::to_string(siblings) + " siblings (now " +
                               std::to_string(record_value_bytes(before)) + " in " + had +
                               "), above max_record_bytes = " +
                               std::to_string(limits.max_record_bytes) + how_to_resolve);
  return caf::none;
}

std::string sibling_warning_text(size_t siblings, uint32_t sibling_warning, uint32_t max_siblings) {
  if (sibling_warning == 0 || siblings <= sibling_warning)
    return {};
  auto refused = max_siblings == 0 ? std::string{}
                                   : " (writes that would make more than " +
                                         std::to_string(max_siblings) + " are refused)";
  return "the key has " + std::to_string(siblings) +
         " siblings, above sibling_warning = " + std::to_string(sibling_warning) + refused +
         how_to_resolve;
}

warning_throttle::warning_throttle(std::chrono::milliseconds interval, size_t max_keys)
    : interval_(interval), max_keys_(std::max<size_t>(max_keys, 1)) {}

bool warning_throttle::due(const bytes& key, time_point now) {
  if (auto i = last_.find(key); i != last_.end()) {
    if (now - i->second < interval_)
      return false;
    i->second = now;
    return true;
  }
  if (last_.size() >= max_keys_) {
    // Keys whose interval has passed would be due again anyway: forget them first.
    for (auto i = last_.begin(); i != last_.end();)
      i = now - i->second >= interval_ ? last_.erase(i) : std::next(i);
    if (last_.size() >= max_keys_)
      last_.erase(std::min_element(last_.begin(), last_.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; }));
  }
  last_.emplace(key, now);
  return true;
}

} // namespace actorkv
