// The ring: MD5 key positions, Q equal partitions, capacity-weighted ownership, preference lists.
//
// Pure and deterministic: every node that knows the same members derives the same ring.
// Preconditions (a validated manifest meets them) are checked: build() and rebalance() throw
// std::invalid_argument for a partition count that is not a power of two, no members, a
// duplicate name or a capacity of 0; owner() and preference_list() throw std::out_of_range for a
// partition >= partitions().
//
// Zones: every member belongs to one (a data centre, a rack; "" is a zone like any other). A
// partition's home replicas are the owners met walking the ring from it, skipping an owner whose
// zone is already listed while the remaining places are needed for zones not yet listed: the N
// home replicas span min(N, zones) zones. build() and rebalance() also keep neighbouring
// partitions in different zones where they can, so that walk stays short. With one zone
// everything is as if zones did not exist.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "messages/membership.hpp"
#include "messages/record.hpp"

namespace actorkv {

using partition_id = uint32_t;

/// MD5 of `key`: its 128-bit position on the ring, most significant byte first.
std::array<uint8_t, 16> ring_position(const bytes& key);

/// The partition holding `key` with `partitions` (a power of two) partitions: the top
/// log2(partitions) bits of ring_position(key).
partition_id partition_of(const bytes& key, uint32_t partitions);

/// A node as the ring sees it.
struct ring_member {
  ring_member() = default;
  ring_member(std::string name_, uint32_t capacity_ = 1, std::string zone_ = {})
      : name(std::move(name_)), capacity(capacity_), zone(std::move(zone_)) {}

  std::string name;
  uint32_t capacity = 1;
  std::string zone; ///< members of one zone share failures; home replicas avoid sharing one
};

class ring {
public:
  /// The initial ring for `members` (any order; names unique, capacities >= 1, at least one):
  /// each node owns a number of partitions proportional to its capacity (largest remainder), and
  /// owners are interleaved so that consecutive partitions belong to different nodes wherever the
  /// capacities allow, which keeps preference lists spread over distinct nodes.
  static ring build(uint32_t partitions, std::vector<ring_member> members);

  /// The ring after a membership change: keeps every partition where it is unless its owner left
  /// or holds more than its new capacity share, and gives the freed partitions to the nodes most
  /// below their share. Moves as few partitions as the new shares require.
  ring rebalance(std::vector<ring_member> members) const;

  /// The ring whose partition p belongs to owners[p] (a layout kept in the membership view).
  /// `members` gives the capacities and must list every owner; members owning nothing are
  /// fallbacks only. Throws std::invalid_argument otherwise, or for a partition count that is not
  /// a power of two.
  static ring from_owners(std::vector<ring_member> members, const std::vector<std::string>& owners);

  /// owner(p) for every partition, in partition order.
  std::vector<std::string> owner_names() const;

  uint32_t partitions() const { return static_cast<uint32_t>(owners_.size()); }
  const std::vector<ring_member>& members() const { return members_; }

  /// The name of the owner of partition `p`.
  const std::string& owner(partition_id p) const;

  /// The home replicas of `p` for N = `n` (at most the number of members): its owner, then the
  /// owners of p+1, p+2, ... (wrapping), skipping nodes already listed and, while the places left
  /// are all needed for zones not yet listed, nodes of a listed zone; members owning nothing come
  /// last. Costs the length of that walk, not the number of members.
  std::vector<std::string> home_replicas(partition_id p, uint32_t n) const;

  /// Calls `visit` with the fallbacks of `p` for N = `n`, in order, until it returns false: the
  /// owners of p, p+1, ... that are not home replicas (each once), then the members owning
  /// nothing. Lazy, so a sloppy quorum walks only as far as it needs reachable fallbacks.
  void for_each_fallback(partition_id p, uint32_t n,
                         const std::function<bool(const std::string&)>& visit) const;

  /// home_replicas(p, n), then up to `fallbacks` entries of for_each_fallback: the preference
  /// list. The default lists every member (O(members); for tests and diagnostics).
  std::vector<std::string> preference_list(partition_id p, uint32_t n,
                                           size_t fallbacks = SIZE_MAX) const;

  /// How many distinct zones the members are in.
  uint32_t zones() const { return zone_count_; }

  /// How many partitions each member owns, in members() order.
  std::vector<uint32_t> partitions_owned() const;

  /// Number of partitions whose owner differs between *this and `other` (same Q).
  uint32_t moves_to(const ring& other) const;

private:
  /// Sets zone_of_, zone_count_, owning_ and owning_zones_ from members_ and owners_.
  void index();
  /// home_replicas() as indices into members_.
  std::vector<uint32_t> homes(partition_id p, uint32_t n) const;

  std::vector<ring_member> members_; ///< sorted by name
  std::vector<uint32_t> owners_;     ///< index into members_, one per partition
  std::vector<uint32_t> zone_of_;    ///< zone number of each member (zones numbered by name)
  uint32_t zone_count_ = 0;
  uint32_t owning_ = 0;       ///< members owning at least one partition
  uint32_t owning_zones_ = 0; ///< zones of those members
};

/// What moving from ring `from` to ring `to` (same Q) must copy for N = n: for every partition,
/// one transfer to each of its home replicas under `to` that is not one under `from`. Sorted.
std::vector<partition_transfer> transfers_between(const ring& from, const ring& to, uint32_t n);

} // namespace actorkv
