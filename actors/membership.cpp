#include "actors/membership.hpp"

#include <random>

#include <caf/all.hpp>

#include "actors/event_log.hpp"
#include "cluster-config/membership_view.hpp"

namespace actorkv {

namespace {

using membership_impl = membership_actor::extend<caf::reacts_to<caf::tick_atom>>;

struct membership_state {
  static inline const char* name = "membership";
  membership_options options;
  membership_view view;
  std::vector<peer_view> peers;
  std::minstd_rand rng{std::random_device{}()};
};

using self_ptr = membership_impl::stateful_pointer<membership_state>;

void adopt(self_ptr self, const membership_view& incoming) {
  auto& st = self->state;
  auto merged = merge(st.view, incoming);
  if (merged == st.view)
    return;
  for (auto& m : merged.members) {
    auto* old = find_member(st.view, m.name);
    if (!old || old->version != m.version || old->incarnation != m.incarnation)
      log_event(st.options.node, "view: " + m.name + " incarnation " +
                                     std::to_string(m.incarnation) + " version " +
                                     std::to_string(m.version));
  }
  st.view = std::move(merged);
}

membership_impl::behavior_type membership_behavior(self_ptr self, membership_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.view = view_from_manifest(st.options.cluster);
  if (auto* own = find_member(st.view, st.options.node)) {
    auto mine = *own;
    mine.incarnation = st.options.incarnation;
    // Wall-clock microseconds: a later start of this node outranks every earlier one.
    mine.version = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    upsert(st.view, mine);
  }
  self->send(self, caf::tick_atom::value);
  return {
      [=](peer_atom, std::vector<peer_view>& peers) { self->state.peers = std::move(peers); },
      [=](gossip_atom, const membership_view& theirs) {
        adopt(self, theirs);
        return self->state.view;
      },
      [=](view_atom) { return self->state.view; },
      [=](caf::tick_atom) {
        auto& st = self->state;
        std::vector<node_actor> reachable;
        for (auto& p : st.peers)
          if (p.up && p.node)
            reachable.push_back(p.node);
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
