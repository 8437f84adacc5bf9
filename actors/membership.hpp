// The membership actor: one per node. Holds the versioned cluster view, starting from the
// manifest's nodes (the seeds; none is special) plus this node's own entry, stamped with its
// incarnation and a version above any earlier incarnation's. Every interval it gossips with one
// random reachable peer (push-pull: sends its view, merges the answer); merges are deterministic
// (cluster-config/membership_view.hpp), so views converge after any change. Each change of the
// view is logged.
#pragma once

#include <chrono>
#include <string>

#include "cluster-config/manifest.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct membership_options {
  std::string node;
  replica_id incarnation = 0;
  manifest cluster;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{5000};
};

membership_actor spawn_membership(caf::actor_system& sys, membership_options options);

} // namespace actorkv
