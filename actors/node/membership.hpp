// The membership actor: one per node. Holds the versioned cluster view, starting from the
// manifest's nodes (the seeds; none is special), or from the view kept in the data directory or
// fetched from a seed when joining, plus this node's own entry, stamped with its incarnation and
// a version above any earlier incarnation's. Every interval it gossips with one random reachable
// peer (push-pull: sends its view, merges the answer); merges are deterministic
// (cluster-config/membership_view.hpp), so views converge after any change. It makes admins'
// membership changes, records finished partition transfers and promotes the ring once a handoff
// is complete. Every change is logged, kept in the data directory (so a restart resumes from it)
// and told to the node.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "actors/node/wall_clock.hpp"
#include "cluster-config/manifest.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct membership_options {
  member_info self; ///< this node's own entry (name, endpoint, capacity)
  replica_id incarnation = 0;
  manifest cluster;
  std::optional<membership_view> initial; ///< kept in the data directory, or fetched from a seed
  storage_actor storage;                  ///< where the view is kept
  view_listener_actor listener;           ///< the node, told of every change
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{5000};
  /// Stamps this node's entry: a later start must outrank every earlier one, across processes.
  wall_clock now_us = system_wall_clock_us;
  uint64_t seed = fresh_seed(); ///< picks the gossip partners
};

membership_actor spawn_membership(caf::actor_system& sys, membership_options options);

} // namespace actorkv
