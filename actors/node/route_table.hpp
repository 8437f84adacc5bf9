// The coordinator's routes: every partition's plan, held as small numbers.
//
// The node sends its coordinator one coordination_plan per partition, each a few replica_targets
// (two names and two handles each). Kept as they come, Q plans cost about 370 bytes a partition:
// 24 MiB at Q = 65,536, the largest part of a node's state in a cluster of 1,000 nodes. The
// targets themselves are few (one per reachable peer, plus the fallbacks in use), so the table
// keeps each target once and a partition's plan as indices into them: 4 bytes a replica, about
// 28 bytes a partition at N = 3 (docs/scale.md).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "messages/interfaces.hpp"

namespace actorkv {

/// One replica as a coordinator asks it; shared by every plan that names it, and held by the
/// requests under way, so a target outlives the routes that named it until they finish.
using target_ptr = std::shared_ptr<const replica_target>;

/// A partition's plan as a request takes it: coordination_plan's replicas and joining nodes.
struct plan_targets {
  std::vector<target_ptr> replicas;
  std::vector<target_ptr> joining;
};

class route_table {
public:
  /// Replaces every plan: `plans[p]` is partition p's.
  void assign(std::vector<coordination_plan>& plans);
  /// Replaces partition p's plan; false (nothing changed) when p is beyond the table.
  bool replace(partition_id p, const coordination_plan& plan);
  /// How many partitions have plans.
  size_t partitions() const { return sizes_.size(); }
  /// Partition p's plan (p below partitions()).
  plan_targets plan_of(partition_id p) const;
  /// Whether some plan names a replica at `addr`: calls in flight to one that none names fail.
  bool routes_to(const caf::actor_addr& addr) const { return routed_.count(addr) != 0; }
  /// A target of node `name` with a peer's gateway (its own or a fallback's: the same gateway);
  /// null when the plans name none.
  target_ptr remote_of(const std::string& name) const;
  /// Distinct targets the plans name, for tests and measurement.
  size_t targets() const { return index_.size(); }

private:
  struct sizes {
    uint16_t replicas = 0;
    uint16_t joining = 0;
  };
  struct entry {
    target_ptr target;
    uint32_t uses = 0;
  };
  using target_key = std::tuple<std::string, std::string, caf::actor_addr>;

  uint32_t intern(const replica_target& t);
  void release(uint32_t slot);
  void store(partition_id p, const coordination_plan& plan);
  /// Lays the slots out again with room for `stride` replicas and as many joining nodes.
  void restride(size_t stride);

  size_t stride_ = 0;            ///< room for replicas, and again for joining, per partition
  std::vector<uint32_t> slots_;  ///< partition p: [2p·stride, 2p·stride + 2·stride) into entries_
  std::vector<sizes> sizes_;     ///< by partition
  std::vector<entry> entries_;   ///< targets by number; uses == 0: free
  std::vector<uint32_t> free_;   ///< numbers of free entries
  std::map<target_key, uint32_t> index_;
  /// Entries by address: a peer can be a home replica and a fallback, two entries.
  std::map<caf::actor_addr, size_t> routed_;
};

} // namespace actorkv
