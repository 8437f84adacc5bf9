#include "cluster-config/cluster_totals.hpp"

namespace actorkv {

bool asked_in_cluster_view(const member_status& m) {
  return !((m.state == "removed" || m.state == "left") && m.partitions == 0);
}

cluster_totals sum_members(const std::vector<member_answer>& members) {
  cluster_totals t;
  for (auto& m : members) {
    ++t.members;
    if (!m.answered) {
      t.unreachable.push_back(m.name);
      continue;
    }
    ++t.answered;
    auto& s = m.status;
    t.pending_hints += s.pending_hints;
    t.handoff_keys_sent += s.handoff_keys_sent;
    t.handoff_keys_total += s.handoff_keys_total;
    t.handoff_queued += s.handoff_queued;
    t.ae_rounds += s.ae_rounds;
    t.ae_repairs_total += s.ae_repairs_total;
    t.ae_repairs_running += s.ae_repairs_running;
    t.memory_in_flight += s.memory_in_flight;
    t.overloaded_refusals += s.overloaded_refusals;
    t.tombstones_collected += s.tombstones_collected;
    t.collection_sweeps += s.collection_sweeps;
    t.entries_pruned += s.entries_pruned;
  }
  return t;
}

} // namespace actorkv
