// The hint keeper: delivers the hints this node holds (writes it took as a fallback for a home
// replica that was down) once their target is up again. Each round (every interval) it asks
// storage for the backlog, and for each target that is up sends a batch of hints to the target's
// vnodes as ordinary merges; a hint is deleted only after its target acknowledged the merge, so a
// crash anywhere in between delivers it again (merges are idempotent) rather than losing it.
// A batch is charged to the node's memory budget while it is delivered; a batch that does not
// fit goes back to storage untouched and waits for a later round. Hints for a member gone for good
// (removed, or left with its handoff finished: its node tells the keeper) are never delivered:
// they are dropped, `drop_batch` at a time, one storage batch per request.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cluster-config/memory_budget.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

class metrics_registry; // cluster-config/metrics.hpp

struct hint_keeper_options {
  std::string node;
  storage_actor storage;
  uint32_t batch = 64;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{5000}; ///< per delivery request
  std::shared_ptr<memory_budget> budget{}; ///< null: no budget
  /// Counts hints delivered (actorkv_hints_delivered_total); null: not counted.
  std::shared_ptr<metrics_registry> metrics{};
  uint32_t drop_batch = 512; ///< hints for a departed member dropped per storage request
};

hint_keeper_actor spawn_hint_keeper(caf::actor_system& sys, hint_keeper_options options);

} // namespace actorkv
