// Where each partition's replicas are, for the coordinator, and who is up, for the background
// workers (see node_state.hpp). The decisions are cluster-config/placement.hpp's; this file
// resolves the names they return to the handles the actors use.
#include <caf/all.hpp>

#include "actors/node/node_state.hpp"
#include "cluster-config/placement.hpp"

namespace actorkv::node_internals {

namespace {

/// A replica a coordinator can ask: this node's storage, or a peer's replica
/// gateway; nullopt when it cannot be reached now.
std::optional<replica_target> replica_at(self_ptr self, const std::string& name,
                                         const std::string& hint_for = {}) {
  auto& st = self->state;
  if (name == st.options.self_name)
    return replica_target{name, hint_for, st.options.storage, {}};
  if (auto* peer = st.find_peer(name); peer && usable(*peer) && (peer->gateway || peer->dormant))
    return replica_target{name, hint_for, {}, peer->gateway}; // dormant: woken when asked
  return std::nullopt;
}

placement_inputs inputs(self_ptr self) {
  auto& st = self->state;
  auto& cluster = st.options.cluster;
  placement_inputs in;
  in.self = st.options.self_name;
  in.replicas = cluster.store.replicas;
  in.fallbacks = cluster.store.quorum == quorum_mode::sloppy && cluster.handoff.enabled;
  in.reachable = [=](const std::string& name) { return replica_at(self, name).has_value(); };
  return in;
}

/// A partition's plan resolved to handles.
coordination_plan resolve(self_ptr self, const partition_plan& decided) {
  auto& st = self->state;
  auto& store = st.options.cluster.store;
  coordination_plan plan;
  plan.replicas_total = store.replicas;
  plan.read_quorum = store.read_quorum;
  plan.write_quorum = store.write_quorum;
  plan.conflicts = store.conflicts;
  for (auto& slot : decided.replicas)
    plan.replicas.push_back(*replica_at(self, slot.node, slot.hint_for));
  for (auto& name : decided.joining)
    plan.joining.push_back(*replica_at(self, name));
  return plan;
}

/// Tells the coordinator the new plans of some partitions; it keeps the others.
void send_route_changes(self_ptr self,
                        std::vector<std::pair<partition_id, partition_plan>> changed) {
  auto& st = self->state;
  if (changed.empty() || !st.coordinator)
    return;
  route_changes out;
  out.partitions.reserve(changed.size());
  out.plans.reserve(changed.size());
  for (auto& [p, plan] : changed) {
    out.partitions.push_back(p);
    out.plans.push_back(resolve(self, plan));
  }
  self->send(st.coordinator, routes_atom::value, std::move(out));
}

/// Tells the coordinator the plans of the partitions that can have changed with `peer`'s
/// reachability.
void publish_route_changes(self_ptr self, const std::string& peer) {
  auto& st = self->state;
  send_route_changes(
      self, st.plans.refresh(st.placement, st.next ? &*st.next : nullptr, inputs(self), peer));
}

} // namespace

routes make_routes(self_ptr self) {
  auto& st = self->state;
  auto& cluster = st.options.cluster;
  auto plans = st.plans.rebuild(st.placement, st.next ? &*st.next : nullptr, inputs(self));
  routes out;
  out.plans.reserve(plans.size());
  for (partition_id p = 0; p < plans.size(); ++p)
    out.plans.push_back(resolve(self, plans[p]));
  out.local = st.options.storage;
  out.max_key_bytes = cluster.limits.max_key_bytes;
  out.max_value_bytes = cluster.limits.max_value_bytes;
  out.writes.max_siblings = cluster.limits.max_siblings;
  out.writes.max_record_bytes = cluster.limits.max_record_bytes;
  out.sibling_warning = cluster.limits.sibling_warning;
  return out;
}

void publish_ring_change(self_ptr self, const ring& old_in_force,
                         const std::optional<ring>& old_next) {
  auto& st = self->state;
  send_route_changes(self, st.plans.change_rings(old_in_force, old_next ? &*old_next : nullptr,
                                                 st.placement, st.next ? &*st.next : nullptr,
                                                 inputs(self)));
}

void publish_peers(self_ptr self, const std::string& changed) {
  auto& st = self->state;
  std::vector<peer_view> views; // the changed peer only: the workers keep the others
  bool usability_changed = true;
  if (auto* p = st.find_peer(changed)) {
    views.push_back(
        peer_view{p->name, p->up && p->alive, p->vnodes, p->handle, p->dormant && p->alive});
    // A connection closed for idleness or dialed again changes handles, not who is usable.
    usability_changed = usable(*p) != p->published_usable;
    p->published_usable = usable(*p);
  }
  if (st.membership)
    self->send(st.membership, peer_atom::value, views);
  if (st.hint_keeper)
    self->send(st.hint_keeper, peer_atom::value, views);
  if (st.handoff) {
    self->send(st.handoff, peer_atom::value, views);
    if (usability_changed)
      refresh_handoff(self); // who sends a partition depends on who is usable
  }
  if (st.collector)
    self->send(st.collector, peer_atom::value, views);
  if (st.anti_entropy)
    self->send(st.anti_entropy, peer_atom::value, std::move(views));
  publish_route_changes(self, changed);
}

} // namespace actorkv::node_internals
