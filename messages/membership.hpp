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

/// What remains of a removed member once its grace period is over: enough that no older entry
/// of it (at a version up to `version`) can bring it back. On equal versions it outranks any
/// entry (as if it were a state after removed). Every node drops it a while after `purged_us`
/// (a wall-clock time, the same on every node, so that no node hands it back to another that
/// already dropped it as if it were new).
struct member_tombstone {
  std::string name;
  uint64_t version = 0;
  int64_t purged_us = 0; ///< wall-clock microseconds when a node first purged the member
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_tombstone& x) {
  return f(caf::meta::type_name("actorkv::member_tombstone"), x.name, x.version, x.purged_us);
}

/// The layout of membership_view (and of the gossip digests) this build sends and accepts.
/// 1 (no field; before zones), 2 (before tombstones), 3 (before retired replica ids) and any
/// other value are refused: a view from another format is never merged into this one.
constexpr uint32_t membership_format = 4;

/// The cluster view: every member known, sorted by name, the tombstones of purged ones (sorted
/// by name, no name in both lists), the ring, and the retired replica ids.
struct membership_view {
  uint32_t format = membership_format; ///< first on the wire, so that any later layout is told
  std::vector<member_info> members;
  ring_layout layout;
  std::vector<member_tombstone> tombstones;
  /// Replica ids that never coordinate a write again, sorted, without 0: the incarnation of every
  /// member removed, and every incarnation a member replaced by a new one (a wiped data directory,
  /// a restored backup). Grow-only (8 bytes per id); version vectors may drop their entries
  /// (docs/design.md section 6, "Pruning retired replica ids").
  std::vector<uint64_t> retired;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership_view& x) {
  return f(caf::meta::type_name("actorkv::membership_view"), x.format, x.members, x.layout,
           x.tombstones, x.retired);
}

/// One member (or tombstone) in a gossip digest: its version, and a stamp of the rest of the
/// entry, so that two entries of equal version but different content are told apart.
struct member_digest {
  std::string name;
  uint64_t version = 0;
  uint64_t stamp = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_digest& x) {
  return f(caf::meta::type_name("actorkv::member_digest"), x.name, x.version, x.stamp);
}

/// What identifies a ring layout and its progress: the epoch, a stamp of the change (owners and
/// next owners) and of the finished transfers.
struct ring_digest {
  uint64_t epoch = 0;
  uint64_t change = 0;
  uint32_t done = 0; ///< how many transfers are done
  uint64_t done_stamp = 0;
};

inline bool operator==(const ring_digest& a, const ring_digest& b) {
  return a.epoch == b.epoch && a.change == b.change && a.done == b.done &&
         a.done_stamp == b.done_stamp;
}
inline bool operator!=(const ring_digest& a, const ring_digest& b) {
  return !(a == b);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ring_digest& x) {
  return f(caf::meta::type_name("actorkv::ring_digest"), x.epoch, x.change, x.done, x.done_stamp);
}

/// What identifies a set of retired replica ids: its size and a stamp of its ids.
struct retired_digest {
  uint32_t count = 0;
  uint64_t stamp = 0;
};

inline bool operator==(const retired_digest& a, const retired_digest& b) {
  return a.count == b.count && a.stamp == b.stamp;
}
inline bool operator!=(const retired_digest& a, const retired_digest& b) {
  return !(a == b);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retired_digest& x) {
  return f(caf::meta::type_name("actorkv::retired_digest"), x.count, x.stamp);
}

/// The first message of a gossip round: the sender's view in brief (members and tombstones
/// sorted by name together; O(members) bytes, no ring, no retired ids).
struct view_digest {
  uint32_t format = membership_format; ///< first, as in membership_view
  std::vector<member_digest> members;
  ring_digest ring;
  retired_digest retired;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, view_digest& x) {
  return f(caf::meta::type_name("actorkv::view_digest"), x.format, x.members, x.ring, x.retired);
}

/// How much of a ring layout a view_delta carries or asks for.
enum class ring_part : uint8_t {
  none = 0,
  done = 1, ///< only finished transfers (of the change ring_digest names)
  full = 2, ///< the whole layout (Q owner names, and the next owners while a change runs)
};

/// The answer to a digest (and the sender's reply to that answer): the entries the other side
/// lacks or holds older, the names whose entries the sender wants, and a ring part when the
/// digests' rings differ.
struct view_delta {
  uint32_t format = membership_format;
  std::vector<member_info> members;
  std::vector<member_tombstone> tombstones;
  std::vector<std::string> wanted; ///< names whose entries the receiver is asked to send back
  ring_digest ring_of;             ///< the sender's ring (what `ring` belongs to)
  ring_part ring_sent = ring_part::none;
  ring_layout ring; ///< ring_sent full: the layout; done: only `done` is filled
  ring_part ring_wanted = ring_part::none;
  /// The sender's retired ids, all of them, when the digests' sets differ (a grow-only set of
  /// 8-byte ids: sending it whole keeps the exchange simple); empty otherwise.
  std::vector<uint64_t> retired;
  bool retired_wanted = false; ///< whether the receiver is asked to send its retired ids back
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, view_delta& x) {
  return f(caf::meta::type_name("actorkv::view_delta"), x.format, x.members, x.tombstones, x.wanted,
           x.ring_of, x.ring_sent, x.ring, x.ring_wanted, x.retired, x.retired_wanted);
}

} // namespace actorkv
