// The membership protocol: the versioned cluster view that nodes gossip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace actorkv {

/// A member's place in the cluster's life cycle.
enum class member_state : uint8_t {
  valid = 0,   ///< owns partitions in proportion to its capacity
  leaving = 1, ///< hands its partitions off, then stops
  removed = 2, ///< gone for good; its partitions were given to the others
};

/// One member as far as the view knows. Each entry carries its own version: the member bumps it
/// when its own facts change (a restart with new data, a new capacity, leaving); an admin bumps
/// it to remove a dead member. The higher version wins on merge.
struct member_info {
  std::string name;
  std::string host;
  uint16_t port = 0;
  uint32_t capacity = 1;
  member_state state = member_state::valid;
  uint64_t incarnation = 0; ///< the member's replica id (new when its data directory is new)
  uint64_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("actorkv::member_info"), x.name, x.host, x.port, x.capacity,
           x.state, x.incarnation, x.version);
}

/// The cluster view: every member ever known, sorted by name.
struct membership_view {
  std::vector<member_info> members;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership_view& x) {
  return f(caf::meta::type_name("actorkv::membership_view"), x.members);
}

} // namespace actorkv
