// The membership protocol: the versioned cluster view that nodes gossip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace actorkv {

/// A member's place in the cluster's life cycle (in this order: on equal versions the later state
/// wins a merge).
enum class member_state : uint8_t {
  joining = 0, ///< started with kvnode --join; owns nothing until an admin's `join` admits it
  valid = 1,   ///< owns partitions in proportion to its capacity
  leaving = 2, ///< hands its partitions off, then stops
  removed = 3, ///< gone for good; its partitions were given to the others
};

/// The state's name as status prints it.
inline const char* state_name(member_state s) {
  switch (s) {
  case member_state::joining:
    return "joining";
  case member_state::valid:
    return "valid";
  case member_state::leaving:
    return "leaving";
  case member_state::removed:
    return "removed";
  }
  return "?";
}

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
  std::string zone = "default"; ///< failure domain: a partition's home replicas avoid sharing one
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("actorkv::member_info"), x.name, x.host, x.port, x.capacity,
           x.state, x.incarnation, x.version, x.zone);
}

/// One partition copied to a node that becomes one of its home replicas.
struct partition_transfer {
  uint32_t partition = 0;
  std::string target;
};

inline bool operator<(const partition_transfer& a, const partition_transfer& b) {
  return a.partition != b.partition ? a.partition < b.partition : a.target < b.target;
}
inline bool operator==(const partition_transfer& a, const partition_transfer& b) {
  return a.partition == b.partition && a.target == b.target;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_transfer& x) {
  return f(caf::meta::type_name("actorkv::partition_transfer"), x.partition, x.target);
}

/// Who owns which partition, and the change under way. An admin change sets next_owners (the
/// rebalanced ring) and bumps the epoch; while next_owners is set, every write also goes to the
/// replicas it adds, and the old replicas stream each partition to its new ones, recording each
/// finished transfer in `done`. When every transfer the change needs is done, any node that sees
/// it promotes next_owners to owners (epoch + 1): the outcome is the same on every node.
struct ring_layout {
  uint64_t epoch = 0;
  std::vector<std::string> owners;      ///< owner of each partition
  std::vector<std::string> next_owners; ///< target while a handoff runs; empty otherwise
  std::vector<partition_transfer> done; ///< finished transfers toward next_owners, sorted
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ring_layout& x) {
  return f(caf::meta::type_name("actorkv::ring_layout"), x.epoch, x.owners, x.next_owners, x.done);
}

/// The layout of membership_view this build sends and accepts. 1 (no field; before zones) and
/// any other value are refused: a view from another format is never merged into this one.
constexpr uint32_t membership_format = 2;

/// The cluster view: every member ever known, sorted by name, and the ring.
struct membership_view {
  uint32_t format = membership_format; ///< first on the wire, so that any later layout is told
  std::vector<member_info> members;
  ring_layout layout;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership_view& x) {
  return f(caf::meta::type_name("actorkv::membership_view"), x.format, x.members, x.layout);
}

} // namespace actorkv
