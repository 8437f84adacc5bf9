// The handoff worker: one per node. After a membership change it streams the partitions this
// node must hand to their new home replicas (the node decides which: handoff_tasks in
// cluster-config/placement.hpp), one (partition, target) at a time, in batches of `batch` records
// merged at the target, each batch read after the last key the target acknowledged (a cursor:
// storage reads a batch as a range, so a partition of P records costs O(P)). A failure (target
// down, timeout) leaves the transfer queued; after `retry` it resumes after its last acknowledged
// key. Writes made meanwhile to keys before the cursor may have missed the target (coordinators
// send a joining replica writes only while it is reachable), so once through, the stream makes one
// more pass that sends only the records with a sibling stamped since the interruption (less
// `clock_margin`), and so on until a pass runs without one. Each finished transfer is reported to
// the node. A release (a partition this node no longer replicates) waits `release_grace` so that
// coordinators still using the old ring finish, sends its new replicas the records they lack
// (the leaves whose Merkle digests differ, and in them the keys whose digests differ), then
// deletes it here.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "actors/node/background_gate.hpp"
#include "actors/node/wall_clock.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct handoff_options {
  std::string node;
  storage_actor storage;
  handoff_listener_actor listener;
  uint32_t batch = 64;
  std::chrono::milliseconds retry{1000};
  std::chrono::milliseconds release_grace{8000};
  std::chrono::milliseconds timeout{5000};
  /// The node's wall clock, which sibling timestamps are compared with after an interruption.
  wall_clock wall = system_wall_clock_us;
  /// How long before the last acknowledged batch was read a write may have been stamped and yet
  /// not reached the target: a request timeout plus the clock skew tolerated between nodes.
  std::chrono::milliseconds clock_margin{6000};
  /// Records deleted per storage request when a released partition is dropped (the steps wait
  /// the background pause as batches do).
  uint32_t drop_batch = 512;
  /// Pauses between batches while foreground requests are slow; null: none.
  std::shared_ptr<background_gate> background{};
};

handoff_actor spawn_handoff(caf::actor_system& sys, handoff_options options);

} // namespace actorkv
