#include "actors/node/membership.hpp"

#include <algorithm>
#include <random>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/peer_directory.hpp"
#include "cluster-config/membership_view.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

using membership_impl = membership_actor::extend<caf::reacts_to<caf::tick_atom>>;

struct membership_state {
  static inline const char* name = "membership";
  membership_options options;
  membership_view view;
  view_digest digest; ///< digest_of(view), kept with it: an idle round costs no O(Q) work
  purge_clock purges;
  peer_directory peers;
  std::minstd_rand rng;
  uint32_t refused_format = membership_format; ///< the last foreign format logged (log it once)

  const std::string& node() const { return options.self.name; }
  uint32_t replicas() const { return options.cluster.store.replicas; }
};

using self_ptr = membership_impl::stateful_pointer<membership_state>;

void log_ring(self_ptr self, const ring_layout& before) {
  auto& st = self->state;
  auto& now = st.view.layout;
  if (now.epoch == before.epoch)
    return;
  if (!now.next_owners.empty())
    log_event(log_subsystem::gossip, st.node(),
              "ring epoch " + std::to_string(now.epoch) + ": handoff started, " +
                  std::to_string(transfers_needed(st.view, st.replicas()).size()) +
                  " partition transfers to make");
  else
    log_event(log_subsystem::gossip, st.node(),
              "ring epoch " + std::to_string(now.epoch) + ": ring in force");
}

/// After any change: finish a complete handoff, keep the view on disk, tell the node.
void changed(self_ptr self, const ring_layout& before) {
  auto& st = self->state;
  promote_if_complete(st.view, st.replicas());
  st.digest = digest_of(st.view);
  log_ring(self, before);
  if (st.options.storage)
    self->request(st.options.storage, st.options.timeout, meta_atom::value,
                  std::string{"membership_view"}, encode_view(st.view))
        .then([](caf::ok_atom) {},
              [=](caf::error& err) {
                log_event(log_subsystem::gossip, log_level::error, self->state.node(),
                          "cannot keep the membership view: " + describe(err));
              });
  if (st.options.listener)
    self->send(st.options.listener, view_atom::value, st.view);
}

/// Whether a peer's message is in this build's format (a foreign one is logged once, not merged).
bool accepted(self_ptr self, uint32_t format) {
  auto& st = self->state;
  if (auto why = format_refusal(format); !why.empty()) {
    if (st.refused_format != format)
      log_event(log_subsystem::gossip, st.node(), why);
    st.refused_format = format;
    return false;
  }
  return true;
}

void log_entry(self_ptr self, const std::string& name) {
  auto& st = self->state;
  if (auto* m = find_member(st.view, name))
    log_event(log_subsystem::gossip, st.node(),
              "view: " + m->name + " " + state_name(m->state) + ", incarnation " +
                  std::to_string(m->incarnation) + " version " + std::to_string(m->version));
  else if (auto* t = find_tombstone(st.view, name))
    log_event(log_subsystem::gossip, st.node(),
              "view: " + name + " purged (tombstone at version " + std::to_string(t->version) +
                  ")");
  else
    log_event(log_subsystem::gossip, st.node(),
              "view: " + name + " dropped: its incarnation is retired (removed and purged while "
                                "this view was away)");
}

/// Removes the tombstones this node has dropped (or would) from what a peer sent.
void drop_expired(self_ptr self, std::vector<member_tombstone>& tombstones) {
  auto& st = self->state;
  auto wall = st.options.now_us();
  auto grace_ms = int64_t(st.options.cluster.gossip.tombstone_grace_s) * 1000;
  tombstones.erase(std::remove_if(tombstones.begin(), tombstones.end(),
                                  [&](const member_tombstone& t) {
                                    return tombstone_expired(t, wall, grace_ms);
                                  }),
                   tombstones.end());
}

/// A whole view (a joining node's): merged by merge's rules.
void adopt(self_ptr self, membership_view incoming) {
  auto& st = self->state;
  if (!accepted(self, incoming.format))
    return;
  drop_expired(self, incoming.tombstones);
  auto merged = merge(st.view, incoming);
  if (merged == st.view)
    return;
  auto old = std::move(st.view);
  auto before = old.layout;
  st.view = std::move(merged);
  for (auto& m : st.view.members) {
    auto* was = find_member(old, m.name);
    if (!was || was->version != m.version || was->incarnation != m.incarnation ||
        was->state != m.state)
      log_entry(self, m.name);
  }
  for (auto& t : st.view.tombstones)
    if (!find_tombstone(old, t.name))
      log_entry(self, t.name);
  for (auto& m : old.members)
    if (!find_member(st.view, m.name) && !find_tombstone(st.view, m.name))
      log_entry(self, m.name);
  changed(self, before);
}

/// A delta (an answer to this node's digest, or what a peer was asked for): O(entries) merges.
void adopt(self_ptr self, view_delta delta) {
  auto& st = self->state;
  if (!accepted(self, delta.format))
    return;
  drop_expired(self, delta.tombstones);
  ring_layout before; // log_ring compares epochs only: no O(Q) copy
  before.epoch = st.view.layout.epoch;
  auto outcome = apply_delta(st.view, st.digest.ring, delta);
  if (!outcome.changed)
    return;
  for (auto& name : outcome.names)
    log_entry(self, name);
  changed(self, before);
}

/// Drops the placeholders among `names`, which a peer's view lacks (membership_view.hpp).
void forget_placeholders(self_ptr self, const std::vector<std::string>& names) {
  auto& st = self->state;
  if (names.empty())
    return;
  auto dropped = drop_placeholders(st.view, names);
  for (auto& name : dropped)
    log_event(log_subsystem::gossip, st.node(),
              "view: " + name + " dropped: known here only from the manifest, and a peer's view "
                                "does not name it (removed and purged)");
  if (!dropped.empty())
    changed(self, st.view.layout);
}

/// Purges members removed long enough ago, and drops tombstones kept long enough.
void purge(self_ptr self) {
  auto& st = self->state;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 self->clock().now().time_since_epoch())
                 .count();
  auto& g = st.options.cluster.gossip;
  // The removal's grace counts on this node's clock from when it saw the removal; a tombstone's
  // on the wall clock from its stamp, alike on every node (else nodes would hand a dropped one
  // back to each other as new, for ever).
  auto outcome = purge_departed(st.view, st.purges, now, st.options.now_us(),
                                int64_t(g.removed_grace_s) * 1000,
                                int64_t(g.tombstone_grace_s) * 1000);
  for (auto& name : outcome.purged)
    log_event(log_subsystem::gossip, st.node(),
              "view: " + name + " purged " + std::to_string(g.removed_grace_s) +
                  " s after its removal (a tombstone remains)");
  for (auto& name : outcome.forgotten)
    log_event(log_subsystem::gossip, st.node(), "view: the tombstone of " + name + " dropped");
  if (!outcome.purged.empty() || !outcome.forgotten.empty())
    changed(self, st.view.layout);
}

bool is_up(self_ptr self, const std::string& name) {
  return name == self->state.node() || self->state.peers.alive(name);
}

caf::result<std::string> admin(self_ptr self, const std::string& action, const std::string& subject,
                               bool apply) {
  auto& st = self->state;
  // Liveness decides between the two ways out: a live node hands its data off itself, a dead
  // one's partitions are re-replicated from the others.
  if (action == "leave" && !is_up(self, subject))
    return caf::make_error(ec::bad_request, subject + " is not reachable from " + st.node() +
                                                ": use remove for a node that is down");
  if (action == "remove" && find_member(st.view, subject) && is_up(self, subject))
    return caf::make_error(ec::bad_request,
                           subject + " is up: use leave to let it hand its partitions off");
  auto after = apply_change(st.view, action, subject, st.replicas(),
                            static_cast<uint64_t>(st.options.now_us()));
  if (!after)
    return std::move(after.error());
  auto text = describe_change(st.view, *after, st.replicas());
  if (!apply)
    return "plan for " + action + " " + subject + ":\n" + text;
  log_event(log_subsystem::gossip, st.node(), "admin: " + action + " " + subject);
  auto before = st.view.layout;
  st.view = std::move(*after);
  changed(self, before);
  return action + " " + subject + " applied (ring epoch " + std::to_string(st.view.layout.epoch) +
         "):\n" + text;
}

membership_impl::behavior_type membership_behavior(self_ptr self, membership_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.rng.seed(static_cast<std::minstd_rand::result_type>(st.options.seed));
  // A view kept on disk or fetched from a seed knows better than the manifest (which may even
  // describe a cluster that has changed since).
  st.view = st.options.initial ? *st.options.initial : view_from_manifest(st.options.cluster);
  auto mine = st.options.self;
  if (auto* known = find_member(st.view, mine.name)) {
    mine.state = known->state;
    mine.version = known->version;
    // Zones decide home replicas directly (not through a rebalance with a handoff): a member's
    // zone changing under its data would leave partitions on nodes no longer their replicas.
    if (known->zone != mine.zone) {
      log_event(log_subsystem::gossip, mine.name,
                "keeps zone '" + known->zone + "' from the cluster's view, not '" + mine.zone +
                    "': a member's zone cannot change; remove the node and join it "
                    "again under a new name to move it");
      mine.zone = known->zone;
    }
  } else {
    mine.state = member_state::joining; // a node no view knows waits for an admin's join
  }
  mine.incarnation = st.options.incarnation;
  // Wall-clock microseconds: a later start of this node outranks every earlier one (a removal,
  // at the largest version, stays).
  if (mine.state != member_state::removed)
    mine.version = std::max(mine.version + 1, static_cast<uint64_t>(st.options.now_us()));
  // A purged node's entry is not brought back: its tombstone tells the node it was removed.
  if (!find_tombstone(st.view, mine.name))
    upsert(st.view, mine);
  changed(self, st.view.layout);
  self->send(self, caf::tick_atom::value);
  return {
      [=](peer_atom, std::vector<peer_view>& peers) {
        self->state.peers.update(std::move(peers),
                                 caf::actor_cast<peer_waker_actor>(self->current_sender()));
      },
      [=](gossip_atom, membership_view& theirs) {
        adopt(self, std::move(theirs));
        return self->state.view;
      },
      [=](gossip_atom, const view_digest& theirs) -> caf::result<view_delta> {
        auto& st = self->state;
        if (!accepted(self, theirs.format))
          return caf::make_error(ec::bad_request, format_refusal(theirs.format));
        forget_placeholders(self, placeholders_unknown_to(st.view, theirs));
        return answer_digest(st.view, st.digest, theirs);
      },
      [=](gossip_atom, view_delta& delta) {
        adopt(self, std::move(delta));
        return caf::ok_atom::value;
      },
      [=](view_atom) { return self->state.view; },
      [=](admin_atom, const std::string& action, const std::string& subject, bool apply) {
        return admin(self, action, subject, apply);
      },
      [=](transfer_atom, uint64_t epoch, const partition_transfer& t) {
        auto& st = self->state;
        auto& done = st.view.layout.done;
        if (epoch != st.view.layout.epoch || st.view.layout.next_owners.empty())
          return; // a transfer of a change that is over
        auto at = std::lower_bound(done.begin(), done.end(), t);
        if (at != done.end() && *at == t)
          return;
        auto before = st.view.layout;
        done.insert(at, t);
        changed(self, before);
      },
      [=](caf::tick_atom) {
        auto& st = self->state;
        purge(self);
        auto reachable = st.peers.up_nodes();
        if (!reachable.empty()) {
          auto target = reachable[st.rng() % reachable.size()];
          // Push-pull by digests: the peer answers with what this node lacks and asks for what
          // it lacks; that goes back only when it asked for something.
          self->request(target, st.options.timeout, gossip_atom::value, st.digest)
              .then(
                  [=](view_delta& answer) {
                    adopt(self, answer);
                    if (!accepted(self, answer.format))
                      return;
                    // It wants what it lacks.
                    forget_placeholders(self, answer.wanted);
                    auto& st = self->state;
                    auto back = fulfil(st.view, st.digest.ring, answer);
                    if (!carries_nothing(back))
                      self->request(target, st.options.timeout, gossip_atom::value,
                                    std::move(back))
                          .then([](caf::ok_atom) {}, [](caf::error&) {});
                  },
                  [](caf::error&) {});
        }
        self->delayed_send(self, st.options.interval, caf::tick_atom::value);
      },
  };
}

} // namespace

membership_actor spawn_membership(caf::actor_system& sys, membership_options options) {
  return sys.spawn(membership_behavior, std::move(options));
}

} // namespace actorkv
