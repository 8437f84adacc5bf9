// The cluster as this node sees it, for kvsh status (see node_state.hpp): the members and the
// ring from the node's own state, plus what its workers know (hints held, anti-entropy progress,
// the membership view's fingerprint, handoff progress, the clocks' offsets, the integrity check),
// asked of them at once.
#include <map>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/node/node_state.hpp"
#include "cluster-config/membership_view.hpp"

namespace actorkv::node_internals {

namespace {

cluster_status make_status(self_ptr self) {
  auto& st = self->state;
  cluster_status out;
  out.node = st.options.self_name;
  out.settings = st.settings;
  // Partitions per member counted once per ring (O(Q + members), not O(Q) per member).
  auto counts_of = [](const ring& r) {
    std::map<std::string, uint32_t> out;
    auto owned = r.partitions_owned();
    for (size_t i = 0; i < owned.size(); ++i)
      out[r.members()[i].name] = owned[i];
    return out;
  };
  auto now_counts = counts_of(st.placement);
  auto next_counts = st.next ? counts_of(*st.next) : now_counts;
  auto count = [](const std::map<std::string, uint32_t>& counts, const std::string& name) {
    auto it = counts.find(name);
    return it == counts.end() ? 0u : it->second;
  };
  for (auto& e : st.view.members) {
    member_status m;
    m.name = e.name;
    m.endpoint = e.host + ":" + std::to_string(e.port);
    m.capacity = e.capacity;
    m.zone = e.zone;
    m.state = has_left(st.view, e.name) ? "left" : state_name(e.state);
    if (e.name == st.options.self_name)
      m.up = true;
    else if (auto* peer = st.find_peer(e.name))
      m.up = usable(*peer);
    m.partitions = count(now_counts, e.name);
    m.next_partitions = count(next_counts, e.name);
    out.members.push_back(std::move(m));
  }
  out.owners = st.placement.owner_names();
  out.ring_epoch = st.view.layout.epoch;
  out.max_clock_skew_ms = st.options.cluster.timeouts.max_clock_skew_ms;
  if (auto& budget = st.options.budget) {
    out.memory_budget = budget->limit();
    out.memory_in_flight = budget->used();
    out.memory_peak = budget->peak();
    out.overloaded_refusals = budget->refused();
  }
  if (st.background) {
    auto pace = st.background->read(self->clock().now());
    out.background_rate = pace.rate;
    out.background_max_rate = pace.max_rate;
    out.background_p99_us = static_cast<uint64_t>(pace.p99.count());
    out.background_target_us = static_cast<uint64_t>(pace.target.count());
  }
  if (auto now = check_startup(self); !now.serving)
    out.starting = now.reason;
  if (st.next) {
    out.handoff_running = true;
    out.transfers_total = static_cast<uint32_t>(transfers_needed(st.view, st.replicas()).size());
    out.transfers_done = static_cast<uint32_t>(st.view.layout.done.size());
  }
  return out;
}

} // namespace

caf::result<cluster_status> full_status(self_ptr self) {
  // The workers are asked at once; the status goes out when the last has answered. Only the
  // storage's backlog is essential: without the others, their figures stay 0.
  struct gathering {
    caf::typed_response_promise<cluster_status> rp;
    cluster_status status;
    caf::error failed;
    int left = 7;
    void one_done() {
      if (--left > 0)
        return;
      if (failed)
        rp.deliver(std::move(failed));
      else
        rp.deliver(std::move(status));
    }
  };
  auto g = std::make_shared<gathering>();
  g->rp = self->make_response_promise<cluster_status>();
  g->status = make_status(self);
  auto& st = self->state;
  auto timeout = st.request_timeout();
  auto ignore = [g](caf::error&) { g->one_done(); };
  self->request(st.options.storage, timeout, backlog_atom::value)
      .then(
          [g](const std::vector<hint_backlog>& backlog) {
            for (auto& b : backlog)
              g->status.pending_hints += b.count;
            g->one_done();
          },
          [g](caf::error& err) {
            g->failed = std::move(err);
            g->one_done();
          });
  self->request(st.anti_entropy, timeout, status_atom::value)
      .then(
          [g](const anti_entropy_stats& ae) {
            g->status.ae_rounds = ae.rounds;
            g->status.ae_repairs_last_round = ae.repairs_last_round;
            g->status.ae_repairs_total = ae.repairs_total;
            g->status.ae_partition = ae.partition;
            g->status.ae_partitions = ae.partitions;
            g->status.ae_repairs_running = ae.repairs_running;
            g->status.ae_repairs_this_round = ae.repairs_this_round;
            g->one_done();
          },
          ignore);
  self->request(st.collector, timeout, status_atom::value)
      .then(
          [g](uint64_t collected, uint64_t sweeps) {
            g->status.tombstones_collected = collected;
            g->status.collection_sweeps = sweeps;
            g->one_done();
          },
          ignore);
  self->request(st.options.storage, timeout, status_atom::value)
      .then(
          [g](std::string& check) {
            g->status.integrity_check = std::move(check);
            g->one_done();
          },
          ignore);
  self->request(st.membership, timeout, view_atom::value)
      .then(
          [g](const membership_view& view) {
            g->status.view_fingerprint = fingerprint(view);
            g->one_done();
          },
          ignore);
  self->request(st.handoff, timeout, status_atom::value)
      .then(
          [g](const handoff_stats& h) {
            g->status.handoff_keys_sent = h.keys_sent;
            g->status.handoff_keys_total = h.keys_total;
            g->status.handoff_queued = h.tasks_queued;
            g->one_done();
          },
          ignore);
  self->request(st.detector, timeout, status_atom::value)
      .then(
          [g](const clock_report& clocks) {
            auto& s = g->status;
            s.clock_skew_ms = clocks.skew_ms;
            s.clock_skewed = clocks.skewed;
            for (auto& [name, offset] : clocks.peer_offsets_ms)
              for (auto& m : s.members)
                if (m.name == name)
                  m.clock_offset_ms = offset;
            g->one_done();
          },
          ignore);
  return g->rp;
}

} // namespace actorkv::node_internals
