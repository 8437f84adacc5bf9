// The cluster as this node sees it, for kvsh status (see node_state.hpp): the members and the
// ring from the node's own state, plus what its workers know (hints held, anti-entropy progress,
// the membership view's fingerprint, handoff progress, the clocks' offsets, the integrity check),
// asked of them at once.
#include <map>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/node/node_state.hpp"
#include "cluster-config/cluster_totals.hpp"
#include "cluster-config/membership_view.hpp"
#include "messages/error.hpp"

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
    out.background_floor_p99_us = static_cast<uint64_t>(pace.floor_p99.count());
    out.background_configured_target_us = static_cast<uint64_t>(pace.configured_target.count());
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
            g->status.ae_peer_pause_ms = ae.peer_pause_ms;
            g->status.ae_paced_by = ae.paced_by;
            g->one_done();
          },
          ignore);
  self->request(st.collector, timeout, status_atom::value)
      .then(
          [g](uint64_t collected, uint64_t sweeps, uint64_t pruned) {
            g->status.tombstones_collected = collected;
            g->status.collection_sweeps = sweeps;
            g->status.entries_pruned = pruned;
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

caf::result<cluster_answers> cluster_view(self_ptr self) {
  // One request per member at once, over the connections the node already holds (its peers'
  // node actors; its own through its mailbox). The answer goes out when the last has answered or
  // failed; each is bounded by the request timeout, so a silent member costs at most that.
  struct gathering {
    caf::typed_response_promise<cluster_answers> rp;
    cluster_answers out;
    size_t left = 0;
    void one_done() {
      if (--left == 0)
        rp.deliver(std::move(out));
    }
  };
  auto g = std::make_shared<gathering>();
  g->rp = self->make_response_promise<cluster_answers>();
  auto& st = self->state;
  g->out.asked_by = st.options.self_name;
  auto timeout = st.request_timeout();
  auto listed = make_status(self);
  std::vector<std::pair<size_t, node_actor>> asks;
  std::vector<std::pair<size_t, std::string>> wakes; // dormant peers: connected first
  for (auto& m : listed.members) {
    if (!asked_in_cluster_view(m))
      continue;
    member_answer a;
    a.name = m.name;
    a.endpoint = m.endpoint;
    if (m.name == st.options.self_name) {
      asks.emplace_back(g->out.members.size(), caf::actor_cast<node_actor>(self));
    } else if (auto* peer = st.find_peer(m.name); peer && usable(*peer) && peer->handle) {
      asks.emplace_back(g->out.members.size(), peer->handle);
    } else if (peer && usable(*peer)) {
      wakes.emplace_back(g->out.members.size(), m.name);
    } else {
      a.error = to_string(ec::unavailable);
      a.message = m.name + " is not connected to " + st.options.self_name;
    }
    g->out.members.push_back(std::move(a));
  }
  g->left = asks.size() + wakes.size() + 1; // and this function's own turn: nothing early
  auto failed = [g, timeout](size_t i, const caf::error& err) {
    auto& a = g->out.members[i];
    if (err == caf::sec::request_timeout) {
      a.error = to_string(ec::timeout);
      a.message = "no answer within " + std::to_string(timeout.count()) + " ms";
    } else {
      a.error = err.category() == caf::atom("actorkv") ? to_string(static_cast<ec>(err.code()))
                                                       : "unavailable";
      a.message = describe(err);
    }
    g->one_done();
  };
  auto ask = [self, g, timeout, failed](size_t i, const node_actor& handle) {
    self->request(handle, timeout, status_atom::value)
        .then(
            [g, i](cluster_status& s) {
              g->out.members[i].answered = true;
              g->out.members[i].status = std::move(s);
              g->one_done();
            },
            [failed, i](caf::error& err) { failed(i, err); });
  };
  for (auto& [index, handle] : asks)
    ask(index, handle);
  for (auto& [index, name] : wakes) {
    auto i = index;
    auto peer_name = name;
    self->request(caf::actor_cast<peer_waker_actor>(self), timeout, wake_atom::value, peer_name)
        .then(
            [self, ask, failed, i, peer_name](caf::ok_atom) {
              auto* peer = self->state.find_peer(peer_name);
              if (peer && peer->handle)
                ask(i, peer->handle);
              else
                failed(i, caf::make_error(ec::unavailable, peer_name + " is not connected"));
            },
            [failed, i](caf::error& err) { failed(i, err); });
  }
  g->one_done();
  return g->rp;
}

} // namespace actorkv::node_internals
