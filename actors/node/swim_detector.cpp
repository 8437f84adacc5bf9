#include "actors/node/swim_detector.hpp"

#include <optional>
#include <set>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/peer_clocks.hpp"

namespace actorkv {

namespace {

using detector_impl = swim_detector_actor::extend<caf::reacts_to<caf::tick_atom>>;

/// The probe of the current period.
struct probe {
  uint64_t seq = 0; ///< which period's probe an answer belongs to
  std::string target;
  bool reached = false;
};

struct swim_state {
  static inline const char* name = "swim_detector";
  failure_detector_options options;
  swim_detector_options config;
  std::optional<swim> logic;
  std::optional<peer_clocks> clocks;
  /// Per member number (swim::number_of): how to reach it; null for a number never watched.
  std::vector<swim_peer_actor> handles;
  /// Per member number: watched at some point (its handle may since have been taken back).
  std::vector<bool> watched;
  std::set<std::string> reported_down; ///< the peers the listener last heard were down
  probe current;
};

using self_ptr = detector_impl::stateful_pointer<swim_state>;

/// The handle of the watched peer `name`, or nullptr.
const swim_peer_actor* handle_of(const swim_state& st, const std::string& name) {
  auto m = st.logic->number_of(name);
  if (!m || *m >= st.handles.size() || !st.handles[*m])
    return nullptr;
  return &st.handles[*m];
}

/// Whether the peer `name` was ever watched: the listener knows it.
bool watched(const swim_state& st, const std::string& name) {
  auto m = st.logic->number_of(name);
  return m && *m < st.watched.size() && st.watched[*m];
}

/// Calls `then(handle)` with a handle of the watched peer `target`; when its idle connection was
/// closed, once the node has connected to it again (within `within`); `failed()` when it cannot.
template <class Then, class Failed>
void reach(self_ptr self, const std::string& target, std::chrono::milliseconds within, Then then,
           Failed failed) {
  auto& st = self->state;
  if (auto* handle = handle_of(st, target)) {
    then(*handle);
    return;
  }
  if (!watched(st, target) || !st.config.waker) {
    failed();
    return;
  }
  // The node sends the new handle (watch) before it answers.
  self->request(st.config.waker, within, wake_atom::value, target)
      .then(
          [=](caf::ok_atom) mutable {
            if (auto* handle = handle_of(self->state, target))
              then(*handle);
            else
              failed();
          },
          [=](caf::error&) mutable { failed(); });
}

/// Tells the listener when what SWIM believes of `name` turns it up or down.
void sync(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto health = st.logic->health(name);
  if (!health || !watched(st, name))
    return;
  bool up = *health != swim_health::dead;
  if (up != (st.reported_down.count(name) > 0))
    return;
  if (up)
    st.reported_down.erase(name);
  else
    st.reported_down.insert(name);
  st.clocks->set_up(name, up);
  self->send(st.options.listener, alive_atom::value, name, up);
}

/// A message from a member arrived: this node's I/O works (swim::heard), and `from`, when it
/// names the member the message proves alive, is no longer silent (swim::heard_from).
void heard(self_ptr self, const std::string& from = {}) {
  auto now = self->clock().now();
  self->state.logic->heard(now);
  if (!from.empty())
    self->state.logic->heard_from(from, now);
}

void hear(self_ptr self, const std::vector<swim_rumor>& rumors) {
  auto now = self->clock().now();
  for (auto& r : rumors)
    if (self->state.logic->hear(r, now))
      sync(self, r.member);
}

/// The rumors for a probe of `target` (or for an ack to its probe), with what this node
/// believes of `target` itself when that is a suspicion or a verdict, so that it can refute.
std::vector<swim_rumor> rumors_for(self_ptr self, const std::string& target) {
  auto out = self->state.logic->rumors_to_send();
  if (auto claim = self->state.logic->about(target))
    out.push_back(*claim);
  return out;
}

std::chrono::milliseconds ping_timeout(const swim_state& st) {
  return st.config.ping_timeout.count() > 0 ? st.config.ping_timeout
                                            : st.config.swim.period * 3 / 10;
}

void watch(self_ptr self, const std::string& name, swim_peer_actor handle) {
  auto& st = self->state;
  st.logic->add(name);
  auto m = *st.logic->number_of(name);
  if (m >= st.handles.size()) {
    st.handles.resize(m + 1);
    st.watched.resize(m + 1);
  }
  st.watched[m] = true;
  bool connected = static_cast<bool>(handle);
  st.handles[m] = std::move(handle);
  // Without a handle: its idle connection was closed, or the node never connected to it (it
  // shares no partition with this node); still a member, probed through a wake.
  if (!connected)
    return;
  // A new connection (first, or after a restart): the node counts the peer up again, as the
  // handshake that produced the handle was just answered. A peer SWIM had declared dead is
  // probed again as a suspect: it refutes, or is declared dead once more.
  st.logic->revive(name, self->clock().now());
  st.reported_down.erase(name);
  st.clocks->reset(name);
}

void ask_helpers(self_ptr self, uint64_t seq, const std::string& target) {
  auto& st = self->state;
  for (auto& helper : st.logic->indirect_helpers(target)) {
    auto* handle = handle_of(st, helper);
    if (!handle)
      continue;
    self->request(*handle, ping_timeout(st) * 2, swim_atom::value,
                  swim_relay{target, st.logic->rumors_to_send()})
        .then(
            [=](const swim_ack& ack) {
              heard(self, ack.reached ? target : std::string{});
              hear(self, ack.rumors);
              if (ack.reached && self->state.current.seq == seq)
                self->state.current.reached = true;
            },
            [](caf::error&) {});
  }
}

/// The end of a period: the last probe's outcome, the suspicions that expired, the next probe.
void period(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (!st.current.target.empty() && !st.current.reached) {
    st.logic->unreachable(st.current.target, now);
    sync(self, st.current.target);
  }
  // A suspect whose large message is still arriving is alive: its acks wait behind it on the
  // same connection. Its suspicion counts from that sign (few suspects: constant work).
  if (st.config.progress)
    for (auto& name : st.logic->suspects())
      if (auto when = st.config.progress(name))
        st.logic->heard_from(name, *when);
  for (auto& name : st.logic->expire(now)) {
    log_event(log_subsystem::peers, st.options.node,
              "peer " + name + " declared down by SWIM: suspected for " +
                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     st.logic->suspicion_timeout())
                                     .count()) +
                  " ms without refuting");
    sync(self, name);
  }
  st.current = probe{st.current.seq + 1, {}, false};
  auto target = st.logic->next_target();
  if (!target)
    return;
  if (!watched(st, *target))
    return;
  st.current.target = *target;
  auto seq = st.current.seq;
  auto name = *target;
  // A dead member gets the direct probe only: its silence is no news.
  auto no_answer = [=] {
    if (self->state.current.seq == seq && !self->state.current.reached &&
        self->state.logic->health(name) != swim_health::dead)
      ask_helpers(self, seq, name);
  };
  reach(
      self, name, st.config.swim.period / 2,
      [=](const swim_peer_actor& handle) {
        auto& st = self->state;
        auto sent_us = st.clocks->wall();
        self->request(handle, ping_timeout(st), swim_atom::value,
                      swim_ping{st.options.node, rumors_for(self, name)})
            .then(
                [=](const swim_ack& ack) {
                  heard(self, name);
                  self->state.clocks->answered(name, sent_us, ack.clock);
                  hear(self, ack.rumors);
                  if (self->state.current.seq == seq)
                    self->state.current.reached = true;
                },
                [=](caf::error&) { no_answer(); });
      },
      no_answer);
}

detector_impl::behavior_type swim_behavior(self_ptr self, failure_detector_options options,
                                           swim_detector_options config) {
  auto& st = self->state;
  st.options = std::move(options);
  st.config = config;
  st.logic.emplace(st.options.node, config.swim, config.seed ? config.seed : fresh_seed());
  st.clocks.emplace(st.options.node, st.options.clock, st.options.max_clock_skew);
  st.logic->reserve(config.expected_peers);
  st.handles.reserve(config.expected_peers);
  st.watched.reserve(config.expected_peers);
  self->send(self, caf::tick_atom::value);
  return {
      [=](watch_atom, const std::string& name, const node_actor& handle) {
        watch(self, name, handle);
      },
      [=](watch_atom, const std::string& name, const swim_peer_actor& handle) {
        watch(self, name, handle);
      },
      [=](lost_atom, const std::string& name) {
        // Evidence of our own (a lost connection), as a failed probe is: a suspicion now, and a
        // rumor that reaches the members no longer connected to it.
        self->state.logic->unreachable(name, self->clock().now());
        sync(self, name);
      },
      [=](status_atom) { return self->state.clocks->status(); },
      [=](swim_atom, const swim_ping& ping) {
        heard(self, ping.from);
        hear(self, ping.rumors);
        return swim_ack{self->state.clocks->reading(), rumors_for(self, ping.from), true};
      },
      [=](swim_atom, const swim_relay& relay) -> caf::result<swim_ack> {
        heard(self);
        hear(self, relay.rumors);
        auto& st = self->state;
        if (!watched(st, relay.target))
          return swim_ack{st.clocks->reading(), st.logic->rumors_to_send(), false};
        auto rp = self->make_response_promise<swim_ack>();
        auto target = relay.target;
        auto not_reached = [=]() mutable {
          auto& s = self->state;
          rp.deliver(swim_ack{s.clocks->reading(), s.logic->rumors_to_send(), false});
        };
        reach(
            self, target, st.config.swim.period / 2,
            [=](const swim_peer_actor& handle) mutable {
              auto& s = self->state;
              self->request(handle, ping_timeout(s), swim_atom::value,
                            swim_ping{s.options.node, rumors_for(self, target)})
                  .then(
                      [=](const swim_ack& ack) mutable {
                        heard(self, target);
                        hear(self, ack.rumors);
                        auto& s = self->state;
                        rp.deliver(swim_ack{s.clocks->reading(), s.logic->rumors_to_send(), true});
                      },
                      [=](caf::error&) mutable { not_reached(); });
            },
            not_reached);
        return rp;
      },
      [=](caf::tick_atom) {
        period(self);
        self->state.clocks->check(self->clock().now());
        self->delayed_send(self, self->state.config.swim.period, caf::tick_atom::value);
      },
  };
}

} // namespace

swim_detector_actor spawn_swim_detector(caf::actor_system& sys, failure_detector_options options,
                                        swim_detector_options swim) {
  return sys.spawn(swim_behavior, std::move(options), swim);
}

} // namespace actorkv
