#include "actors/node/membership.hpp"

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

void adopt(self_ptr self, const membership_view& incoming) {
  auto& st = self->state;
  if (auto why = format_refusal(incoming); !why.empty()) {
    if (st.refused_format != incoming.format)
      log_event(log_subsystem::gossip, st.node(), why);
    st.refused_format = incoming.format;
    return;
  }
  auto merged = merge(st.view, incoming);
  if (merged == st.view)
    return;
  for (auto& m : merged.members) {
    auto* old = find_member(st.view, m.name);
    if (!old || old->version != m.version || old->incarnation != m.incarnation ||
        old->state != m.state)
      log_event(log_subsystem::gossip, st.node(),
                "view: " + m.name + " " + state_name(m.state) + ", incarnation " +
                    std::to_string(m.incarnation) + " version " + std::to_string(m.version));
  }
  auto before = st.view.layout;
  st.view = std::move(merged);
  changed(self, before);
}

bool is_up(self_ptr self, const std::string& name) {
  return name == self->state.node() || self->state.peers.up(name);
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
  upsert(st.view, mine);
  changed(self, st.view.layout);
  self->send(self, caf::tick_atom::value);
  return {
      [=](peer_atom, std::vector<peer_view>& peers) {
        self->state.peers.replace(std::move(peers));
      },
      [=](gossip_atom, const membership_view& theirs) {
        adopt(self, theirs);
        return self->state.view;
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
        auto reachable = st.peers.up_nodes();
        if (!reachable.empty()) {
          auto target = reachable[st.rng() % reachable.size()];
          self->request(target, st.options.timeout, gossip_atom::value, st.view)
              .then([=](const membership_view& theirs) { adopt(self, theirs); },
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
