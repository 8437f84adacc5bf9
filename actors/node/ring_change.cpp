// Following the membership view (see node_state.hpp): the ring in force and the change under way,
// this node's share of the handoff, and its departure once it has left.
#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/node_state.hpp"
#include "cluster-config/membership_view.hpp"
#include "cluster-config/placement.hpp"

namespace actorkv::node_internals {

namespace {

void depart(self_ptr self, const std::string& why) {
  auto& st = self->state;
  st.departed = true;
  log_event(log_subsystem::node, st.options.self_name, why);
  if (st.options.on_departure)
    st.options.on_departure(why);
}

} // namespace

std::vector<std::pair<partition_id, std::vector<std::string>>> home_partitions(self_ptr self) {
  auto& st = self->state;
  return actorkv::home_partitions(st.placement, st.options.self_name, st.replicas());
}

std::vector<std::pair<partition_id, std::vector<std::string>>>
collectable_partitions(self_ptr self) {
  // While a change is under way the home replicas are in flux (new ones still being filled,
  // old ones still streaming): collect nothing until it is done.
  if (next_ring(self->state.view))
    return {};
  return home_partitions(self);
}

/// Gives the handoff worker this node's share of the change under way (the partitions it is the
/// first live old home replica of, so a dead sender's transfers pass to the next), plus the
/// pending releases.
void refresh_handoff(self_ptr self) {
  auto& st = self->state;
  if (!st.handoff)
    return;
  auto up = [&](const std::string& name) {
    auto* peer = st.find_peer(name);
    return peer && usable(*peer);
  };
  self->send(
      st.handoff, handoff_atom::value, st.view.layout.epoch,
      handoff_tasks(st.view, st.placement, st.releases, st.options.self_name, st.replicas(), up));
}

/// A leaving node stops once it owns nothing, no handoff runs, its old partitions are handed off
/// and deleted, and the hints it holds for others are delivered; a removed node stops at once.
void check_departure(self_ptr self) {
  auto& st = self->state;
  if (st.departed)
    return;
  auto& me = st.options.self_name;
  if (was_removed(st.view, me)) {
    depart(self, "this node was removed from the cluster; stopping (its data directory is no "
                 "longer part of the cluster)");
    return;
  }
  // A view that holds members but not this node dropped its entry as of a retired incarnation.
  if (!st.view.members.empty() && !find_member(st.view, me)) {
    depart(self, "this node's incarnation is retired in the cluster's view: it was removed (and "
                 "purged) while this node was away, or its name went on with another data "
                 "directory; stopping (this data directory is no longer part of the cluster)");
    return;
  }
  if (!has_left(st.view, st.options.self_name) || !st.releases.empty())
    return;
  auto again = [=] {
    if (self->state.departure_check_scheduled)
      return;
    self->state.departure_check_scheduled = true;
    self->delayed_send(self, std::chrono::seconds{1}, caf::tick_atom::value);
  };
  self->request(st.options.storage, st.request_timeout(), backlog_atom::value)
      .then(
          [=](const std::vector<hint_backlog>& backlog) {
            // Hints for removed nodes can never be delivered: they do not hold a departure up.
            uint64_t held = 0;
            for (auto& b : backlog) {
              if (!was_removed(self->state.view, b.target))
                held += b.count;
            }
            if (held > 0 || self->state.departed) {
              again();
              return;
            }
            depart(self, "left the cluster: every partition is handed off and every hint "
                         "delivered; the data directory is no longer needed");
          },
          [=](caf::error&) { again(); });
}

namespace {

/// Whether two rings place every partition alike: the same owners, members, capacities and zones
/// (home replicas and fallbacks depend on nothing else).
bool same_placement(const ring& a, const ring& b) {
  if (a.owner_names() != b.owner_names() || a.members().size() != b.members().size())
    return false;
  for (size_t i = 0; i < a.members().size(); ++i) {
    auto& x = a.members()[i];
    auto& y = b.members()[i];
    if (x.name != y.name || x.capacity != y.capacity || x.zone != y.zone)
      return false;
  }
  return true;
}

/// Whether `view` places every partition as the rings held for the node's current view: the same
/// owners and next owners, and the same capacity and zone for each ring member (all ring_of
/// reads). Most views differ from the last in a member's version only; for those this spares
/// building both rings again and listing their owners, O(Q) names and lookups each.
bool same_rings(const node_state& st, const membership_view& view) {
  if (view.layout.owners != st.view.layout.owners ||
      view.layout.next_owners != st.view.layout.next_owners)
    return false;
  auto alike = [&](const ring& r) {
    for (auto& m : r.members()) {
      auto* now = find_member(view, m.name);
      auto capacity = now ? std::max<uint32_t>(now->capacity, 1) : 1;
      if (capacity != m.capacity || (now ? now->zone : member_info{}.zone) != m.zone)
        return false;
    }
    return true;
  };
  return alike(st.placement) && (!st.next || alike(*st.next));
}

/// Takes a view whose rings may differ from those held: the ring in force and the next one
/// again, what this node replicates for anti-entropy and the collector, and the coordinator's
/// plans of the partitions that moved. Most views change no ring (a member's version, a finished
/// transfer): the routes stay, and a peer's reachability updates them on its own
/// (publish_peers).
void follow_rings(self_ptr self, membership_view view) {
  auto& st = self->state;
  auto before = st.placement;
  auto next_before = st.next;
  st.view = std::move(view);
  follow_members(self);
  auto now = current_ring(st.view);
  bool rings_changed = now.owner_names() != before.owner_names();
  if (rings_changed) {
    auto& me = st.options.self_name;
    update_releases(st.releases, before, now, me, st.replicas());
    st.placement = std::move(now);
    auto replicated = home_partitions(self);
    log_event(log_subsystem::gossip, me,
              "ring epoch " + std::to_string(st.view.layout.epoch) + " in force: " +
                  std::to_string(replicated.size()) + " partitions replicated here, " +
                  std::to_string(st.releases.size()) + " to hand off");
    if (st.options.cluster.anti_entropy.enabled)
      self->send(st.anti_entropy, replicas_atom::value, std::move(replicated));
  }
  st.next = next_ring(st.view);
  rings_changed = rings_changed || st.next.has_value() != next_before.has_value() ||
                  (st.next && !same_placement(*st.next, *next_before));
  if (st.collector)
    self->send(st.collector, replicas_atom::value, collectable_partitions(self));
  if (rings_changed) {
    keep_replica_peers(self);
    publish_ring_change(self, before, next_before);
  }
}

} // namespace

void apply_view(self_ptr self, membership_view view) {
  auto& st = self->state;
  if (same_rings(st, view)) {
    st.view = std::move(view);
    follow_members(self);
  } else {
    follow_rings(self, std::move(view));
  }
  // Retired replica ids: storage keeps merges from giving pruned entries back, the collector
  // prunes them.
  if (auto prunable = prunable_ids(st.view); prunable != st.prunable) {
    st.prunable = std::move(prunable);
    self->send(st.options.storage, prune_atom::value, st.prunable);
    if (st.collector)
      self->send(st.collector, prune_atom::value, st.prunable);
  }
  if (st.hint_keeper)
    self->send(st.hint_keeper, departed_atom::value, departed_members(st.view));
  refresh_handoff(self);
  check_departure(self);
}

} // namespace actorkv::node_internals
