// Cluster-wide figures from each member's own status: which members a cluster view asks, and the
// sums of their figures. Pure logic, unit-tested directly; kvsh `status --all` (which asks each
// member through its endpoint) and the node's cluster view (HTTPS `GET /v1/status?scope=cluster`,
// which asks each member over the peer connections) both sum with it, so they agree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages/client.hpp"

namespace actorkv {

/// Whether a cluster view asks `m` (as a node's status lists it) for its own figures: every
/// member but those that left or were removed and own nothing.
bool asked_in_cluster_view(const member_status& m);

/// The sums of the members' own figures; members that did not answer are not counted, only named.
struct cluster_totals {
  size_t members = 0;                   ///< members asked
  size_t answered = 0;                  ///< of which answered
  std::vector<std::string> unreachable; ///< names of those that did not, in the order given
  uint64_t pending_hints = 0;
  uint64_t handoff_keys_sent = 0;
  uint64_t handoff_keys_total = 0;
  uint64_t handoff_queued = 0;
  uint64_t ae_rounds = 0;
  uint64_t ae_repairs_total = 0;
  uint64_t ae_repairs_running = 0;
  uint64_t memory_in_flight = 0;
  uint64_t overloaded_refusals = 0;
  uint64_t tombstones_collected = 0;
  uint64_t collection_sweeps = 0;
  uint64_t entries_pruned = 0;

  /// Every member asked answered.
  bool complete() const { return unreachable.empty(); }
};

/// Sums what each member that answered reports of itself.
cluster_totals sum_members(const std::vector<member_answer>& members);

} // namespace actorkv
