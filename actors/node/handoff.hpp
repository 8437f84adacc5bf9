// The handoff worker: one per node. After a membership change it streams the partitions this
// node must hand to their new home replicas (the node decides which: handoff_tasks in
// cluster-config/placement.hpp), one (partition, target) at a time, in batches of `batch`
// records merged at the target, the next batch only after the target acknowledged the last. A failure (target down, timeout) leaves the
// transfer queued; it is retried from the partition's first key after `retry`, so nothing written
// meanwhile is skipped (merges are idempotent, resending costs only bandwidth). Each finished
// transfer is reported to the node. A release (a partition this node no longer replicates) waits
// `release_grace` so that coordinators still using the old ring finish, streams the partition to
// its new replicas once more, then deletes it here.
#pragma once

#include <chrono>
#include <string>

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
};

handoff_actor spawn_handoff(caf::actor_system& sys, handoff_options options);

} // namespace actorkv
