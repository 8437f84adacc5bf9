// Where each partition's replicas are, for a node's coordinator and its background work.
//
// Pure decisions from the ring in force, the ring a membership change leads to (while one runs),
// the store settings and which peers the node can reach now; the node recomputes them whenever
// any of these change. This node (`self`) always counts as reachable, so `reachable` is asked
// about peers only; an empty `reachable` reaches no peer. Partitions must be below the ring's
// partition count (ring's std::out_of_range otherwise); the rings must have the same count.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cluster-config/ring.hpp"
#include "messages/membership.hpp"
#include "messages/replication.hpp"

namespace actorkv {

/// Whether a peer can be reached now (by name).
using reachable_fn = std::function<bool(const std::string&)>;

/// One replica a coordinator asks: a home replica, or a fallback holding hints for one.
struct replica_slot {
  std::string node;
  std::string
      hint_for; ///< empty: a home replica; else the home replica this fallback holds writes for
};

bool operator==(const replica_slot& a, const replica_slot& b);
inline bool operator!=(const replica_slot& a, const replica_slot& b) {
  return !(a == b);
}

/// Whom a coordinator asks for one partition.
struct partition_plan {
  /// Reachable home replicas in preference order, this node first when it is one (it then
  /// coordinates writes itself: one hop fewer); then, under a sloppy quorum, one reachable
  /// fallback for each unreachable home replica.
  std::vector<replica_slot> replicas;
  /// While a change runs: reachable nodes that are home replicas under the next ring but not under
  /// the ring in force. They get every write too (not counted towards W), so that nothing written
  /// during the handoff is missing on them once the next ring is in force.
  std::vector<std::string> joining;
};

bool operator==(const partition_plan& a, const partition_plan& b);
inline bool operator!=(const partition_plan& a, const partition_plan& b) {
  return !(a == b);
}

/// What plan_partition decides with besides the rings.
struct placement_inputs {
  std::string self;       ///< this node: always reachable
  uint32_t replicas = 3;  ///< N
  bool fallbacks = true;  ///< a sloppy quorum with hinted handoff enabled
  reachable_fn reachable; ///< whether a peer can be reached now
};

/// The plan of partition `p` under the ring in force, and `next` (nullptr when no change runs).
/// Fallbacks come from the preference list after the home replicas, in order, the first reachable
/// one for the first unreachable home replica and so on; this node can be one. When the list runs
/// out, the remaining unreachable home replicas get none.
partition_plan plan_partition(const ring& in_force, const ring* next, partition_id p,
                              const placement_inputs& in);

/// plan_partition for every partition, in partition order.
std::vector<partition_plan> plan_partitions(const ring& in_force, const ring* next,
                                            const placement_inputs& in);

/// Which partitions' plans can change with one peer's reachability, so that routes are updated
/// in proportion to what changed: a plan asks about its home replicas (in force and next) and,
/// only when one of those is unreachable, about fallbacks further along the preference list; so
/// those are the peer's home partitions and the partitions with an unreachable home replica. It
/// keeps no plans (Q of them cost a node tens of MiB at Q = 65,536; the coordinator holds them):
/// only, for each node, its home partitions, and the partitions planned with a home replica
/// unreachable. The rings and inputs given to refresh() must be those of the last rebuild() but
/// for the peer's reachability.
class plan_book {
public:
  /// Plans every partition (after a ring change, or with other inputs): plan_partitions().
  std::vector<partition_plan> rebuild(const ring& in_force, const ring* next,
                                      const placement_inputs& in);

  /// After `peer`'s reachability changed (or it reconnected: its handles changed): plans again
  /// the partitions whose plan can depend on it, in partition order, each with its new plan. Every
  /// other partition's plan is as the last rebuild() or refresh() gave it.
  std::vector<std::pair<partition_id, partition_plan>> refresh(const ring& in_force,
                                                               const ring* next,
                                                               const placement_inputs& in,
                                                               const std::string& peer);

  /// After the rings changed (a new ring in force, a change begun or ended) from `old_in_force`
  /// and `old_next` to `in_force` and `next`: indexes the new rings as rebuild() does, and plans
  /// again only the partitions whose home replicas in force or joining ones (the next ring's
  /// that are not home replicas in force) changed and those with an unreachable home replica, in partition order, each with its new plan; every other
  /// partition's plan is the same under the new rings (a plan depends on nothing else). So a
  /// join's ring change replans what moves, not all Q. The old rings must be those of the last
  /// rebuild(), refresh() or change_rings(), with the same inputs.
  std::vector<std::pair<partition_id, partition_plan>>
  change_rings(const ring& old_in_force, const ring* old_next, const ring& in_force,
               const ring* next, const placement_inputs& in);
  /// Partitions planned again by the last refresh() or change_rings(), for measurement.
  size_t last_replanned() const { return last_replanned_; }

private:
  /// Plans `p` and notes whether one of its home replicas is unreachable.
  partition_plan plan(const ring& in_force, const ring* next, const placement_inputs& in,
                      partition_id p);

  /// Plans the `affected` partitions again, in partition order.
  std::vector<std::pair<partition_id, partition_plan>> replan(const ring& in_force,
                                                              const ring* next,
                                                              const placement_inputs& in,
                                                              const std::set<partition_id>& affected);
  /// Indexes partition p under its home replicas in force and its joining ones.
  void index(partition_id p, const std::vector<std::string>& homes,
             const std::vector<std::string>& joining);
  /// The partitions each node is a home replica of, under the ring in force or the next one.
  std::map<std::string, std::vector<partition_id>> homes_;
  /// Partitions with an unreachable home replica: their plans walk the fallbacks.
  std::set<partition_id> degraded_;
  size_t last_replanned_ = 0;
};

/// For each partition `self` is a home replica of under `r` (N = `replicas`), in partition order:
/// the partition and its other home replicas in preference order (anti-entropy's peers).
std::vector<std::pair<partition_id, std::vector<std::string>>>
home_partitions(const ring& r, const std::string& self, uint32_t replicas);

/// After the ring in force changed from `before` to `now`: updates `releases` (partition -> the
/// nodes that took it over from `self`). A partition `self` is a home replica of again is erased
/// (nothing to release); one it was a home replica of and no longer is maps to its new home
/// replicas that were not home replicas before, when there are any (with fewer nodes than N
/// there may be none: the partition is then left alone). Rings with the same owners change
/// nothing.
void update_releases(std::map<partition_id, std::vector<std::string>>& releases, const ring& before,
                     const ring& now, const std::string& self, uint32_t replicas);

/// This node's share of the change under way in `view`: for every transfer of
/// transfers_needed(view, replicas) not in view.layout.done whose sender is `self`, grouped into
/// one task per partition (targets in transfer order); then one release task per entry of
/// `releases`, in partition order. A partition's sender is its first home replica under
/// `in_force` that is not a removed member and is `self` or reachable, so a dead or removed
/// sender's transfers pass to the next home replica. With no change under way: the releases only.
std::vector<handoff_task>
handoff_tasks(const membership_view& view, const ring& in_force,
              const std::map<partition_id, std::vector<std::string>>& releases,
              const std::string& self, uint32_t replicas, const reachable_fn& reachable);

} // namespace actorkv
